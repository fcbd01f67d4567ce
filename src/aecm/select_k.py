"""Choosing the number of clusters by fitting every candidate: BIC, final loss and stability.

:func:`select_k` fits the CM (or the isotropic GMM fitted by EM) for each ``K`` of a range and
several seeds, and reports per ``K`` the Bayesian information criterion of the fitted isotropic
mixture, the final loss and how stable the clustering is across seeds. The BIC of both methods
comes from one function, :func:`mixture_bic`: for the CM it is the BIC of the mixture the CM
fitted (its centroids, the shared variance of its soft assignments and its weights).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_array

from aecm._files import save_figure
from aecm.estimators._base import restart_seeds
from aecm.estimators.cm import ClusteringModule
from aecm.exceptions import CollapseWarning
from aecm.gmm import IsotropicGMM

__all__ = ["SelectKResult", "cm_mixture", "mixture_bic", "select_k"]

_METHODS = ("cm", "gmm")


def mixture_bic(X, weights, means, variance: float) -> float:
    """BIC of an isotropic Gaussian mixture with one shared variance on ``X`` (lower is better).

    ``-2 log L + p log n`` with ``p = K d + (K − 1) + 1`` free parameters, computed by
    :meth:`aecm.IsotropicGMM.bic` for a mixture with these parameters.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    weights : array-like of shape (n_components,)
        Mixture weights; zeros are raised to the smallest positive float (then renormalised).
    means : array-like of shape (n_components, n_features)
    variance : float
        The shared variance ``σ²`` (every component's covariance is ``σ² I``).

    Returns
    -------
    bic : float
    """
    means = np.asarray(means, dtype=np.float64)
    weights = np.maximum(np.asarray(weights, dtype=np.float64), np.finfo(np.float64).tiny)
    mixture = IsotropicGMM(n_components=means.shape[0])
    mixture.weights_ = weights / weights.sum()
    mixture.means_ = means
    mixture.covariance_ = float(variance)
    mixture.n_features_in_ = means.shape[1]
    return mixture.bic(X)


def cm_mixture(cm: ClusteringModule, X) -> tuple[np.ndarray, np.ndarray, float]:
    """The isotropic mixture a fitted CM stands for: ``(weights, means, variance)``.

    The weights are ``weights_`` (the mean soft assignment), the means ``cluster_centers_``
    and the variance ``Σ_i Σ_k γ_ik ‖x_i − μ_k‖² / (n d)``, the M-step of the shared variance
    with the CM's soft assignments ``γ`` (equal to ``(E1 + E2 + E3) / (n d)`` in the CM's
    training units, times ``input_scale_²``).
    """
    terms = cm.loss_terms(X)
    data = (terms["E1"] + terms["E2"] + terms["E3"]) * cm.input_scale_**2
    n_samples, n_features = X.shape
    variance = data if cm.normalize_loss else data / (n_samples * n_features)
    return cm.weights_, cm.cluster_centers_, max(float(variance), np.finfo(np.float64).tiny)


@dataclass
class SelectKResult:
    """What :func:`select_k` measured, one entry per candidate ``K``.

    Attributes
    ----------
    method : str
        ``"cm"`` or ``"gmm"``.
    table : dict of str to ndarray
        ``"k"``; ``"bic"``: BIC of the seed with the lowest final loss; ``"loss"``: that
        seed's final loss (the CM's ``loss_``, the GMM's negative log-likelihood);
        ``"stability"``: mean adjusted Rand index between the labelings of every pair of
        seeds (NaN with one seed); ``"seconds"``: time of all the seeds' fits.
    best_k : int
        The ``K`` of lowest BIC (the smaller on ties).
    bic_per_seed, loss_per_seed : ndarray of shape (n_k, n_seeds)
    seeds : list of int
    """

    method: str
    table: dict[str, np.ndarray]
    best_k: int
    bic_per_seed: np.ndarray = field(repr=False)
    loss_per_seed: np.ndarray = field(repr=False)
    seeds: list[int] = field(repr=False)

    def rows(self) -> list[dict[str, float]]:
        """The table as one dict per ``K``."""
        names = list(self.table)
        return [
            {name: self.table[name][i].item() for name in names}
            for i in range(len(self.table["k"]))
        ]

    def to_string(self) -> str:
        """A plain-text table, the chosen ``K`` marked with ``*``."""
        lines = [f"{'K':>4}  {'BIC':>14}  {'loss':>14}  {'stability':>9}  {'seconds':>8}"]
        for row in self.rows():
            mark = "*" if row["k"] == self.best_k else " "
            lines.append(
                f"{row['k']:>3d}{mark}  {row['bic']:>14.6g}  {row['loss']:>14.6g}  "
                f"{row['stability']:>9.3f}  {row['seconds']:>8.2f}"
            )
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike) -> Path:
        """Write a PNG of the BIC and the stability against ``K`` to ``path`` (atomically).

        Returns
        -------
        path : Path
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        k = self.table["k"]
        figure = Figure(figsize=(7, 5), layout="constrained")
        FigureCanvasAgg(figure)
        top, bottom = figure.subplots(2, 1, sharex=True)
        top.plot(k, self.table["bic"], marker="o")
        top.axvline(self.best_k, color="tab:red", linestyle="--", label=f"K = {self.best_k}")
        top.set_ylabel("BIC (lower is better)")
        top.set_title(f"select_k, method={self.method!r}, {len(self.seeds)} seed(s)")
        top.legend()
        bottom.plot(k, self.table["stability"], marker="o", color="tab:green")
        bottom.axvline(self.best_k, color="tab:red", linestyle="--")
        bottom.set_ylabel("stability (mean ARI)")
        bottom.set_xlabel("number of clusters K")
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
        finite = self.table["stability"][np.isfinite(self.table["stability"])]
        bottom.set_ylim(min(-0.05, float(finite.min(initial=0.0)) - 0.05), 1.05)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return save_figure(figure, path, dpi=100)


def _check_k_range(k_range: Iterable[int], n_samples: int) -> np.ndarray:
    try:
        values = list(k_range)
    except TypeError as exc:
        raise TypeError(f"k_range must be an iterable of ints; got {k_range!r}.") from exc
    if not values:
        raise ValueError("k_range is empty: give at least one number of clusters.")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, Integral):
            raise TypeError(f"k_range must hold ints; got {k!r}.")
        if k < 1:
            raise ValueError(f"k_range must hold numbers of clusters >= 1; got {k}.")
        if k > n_samples:
            raise ValueError(
                f"k_range holds {k}, more clusters than the number of samples ({n_samples})."
            )
    return np.unique(np.asarray(values, dtype=np.int64))


def select_k(
    X,
    method: str = "cm",
    k_range: Iterable[int] = range(2, 21),
    n_seeds: int = 3,
    random_state=None,
    verbose: bool = False,
    **params,
) -> SelectKResult:
    """Fit each ``K`` of ``k_range`` with ``n_seeds`` seeds and pick the ``K`` of lowest BIC.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The data to cluster (at least 2 rows; a sparse matrix is read as CSR).
    method : {"cm", "gmm"}, default="cm"
        ``"cm"``: :class:`~aecm.ClusteringModule`; its BIC is that of the isotropic mixture it
        fitted (:func:`cm_mixture`). ``"gmm"``: :class:`~aecm.IsotropicGMM` (EM).
    k_range : iterable of int, default=range(2, 21)
        The candidate numbers of clusters (each in ``[1, n_samples]``).
    n_seeds : int, default=3
        Fits per ``K``, with seeds drawn from ``random_state`` (the same seeds for every ``K``).
        The stability needs at least 2.
    random_state : int, RandomState or None, default=None
        Draws the seeds of the fits; an int gives the same seeds, and so the same table, on
        every call.
    verbose : bool, default=False
        Print one line per ``K``.
    **params
        Passed to the estimator (e.g. ``n_epochs``, ``batch_size``, ``device`` for the CM;
        ``max_iter``, ``tol`` for the GMM).

    Returns
    -------
    SelectKResult
        The table per ``K``, the chosen ``best_k`` (lowest BIC) and :meth:`SelectKResult.plot`.

    Notes
    -----
    BIC assumes the isotropic mixture with one shared variance; on data whose clusters are not
    of that shape it keeps adding clusters: on the digit data sets (10 classes), with K in
    2..20, it chose the largest, 20, with both methods on Pendigits and USPS and with EM on
    MNIST (``benchmarks/auto_k.py``, ``docs/results.md``). With the CM, each fit is an
    integer-``K`` CM, whose pseudo-inverse encoder separates poorly more clusters than there
    are features: on 10-feature mixtures of 20 clusters it chose 7 to 11 in five cells of six
    and 25 in the sixth (EM: 20 to 22). The stability (mean pairwise ARI between seeds) is
    reported as a second opinion and is not used by the rule.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}; got {method!r}.")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, Integral) or n_seeds < 1:
        raise ValueError(f"n_seeds must be an int >= 1; got {n_seeds!r}.")
    X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32], ensure_min_samples=2)
    ks = _check_k_range(k_range, X.shape[0])
    seeds = restart_seeds(random_state, n_seeds)
    bic = np.empty((len(ks), n_seeds))
    loss = np.empty((len(ks), n_seeds))
    stability = np.empty(len(ks))
    seconds = np.empty(len(ks))
    for i, k in enumerate(ks):
        started = time.perf_counter()
        labelings = []
        for j, seed in enumerate(seeds):
            bic[i, j], loss[i, j], labels = _fit(X, method, int(k), seed, params)
            labelings.append(labels)
        seconds[i] = time.perf_counter() - started
        pairs = [adjusted_rand_score(a, b) for a, b in combinations(labelings, 2)]
        stability[i] = np.mean(pairs) if pairs else np.nan
        if verbose:
            print(
                f"select_k {method} K={k}: BIC {bic[i].min():.6g}, stability "
                f"{stability[i]:.3f}, {seconds[i]:.1f} s"
            )
    best_seed = loss.argmin(axis=1)
    rows = np.arange(len(ks))
    table = {
        "k": ks,
        "bic": bic[rows, best_seed],
        "loss": loss[rows, best_seed],
        "stability": stability,
        "seconds": seconds,
    }
    best_k = int(ks[int(np.argmin(table["bic"]))])
    return SelectKResult(method, table, best_k, bic, loss, seeds)


def _fit(X, method: str, k: int, seed: int, params: dict) -> tuple[float, float, np.ndarray]:
    """One fit: its BIC, its final loss and its labels.

    Empty clusters are expected when ``K`` is too large (the BIC then says so): their
    :class:`~aecm.exceptions.CollapseWarning` is silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapseWarning)
        return _fit_one(X, method, k, seed, params)


def _fit_one(X, method: str, k: int, seed: int, params: dict):
    if method == "gmm":
        gmm = IsotropicGMM(k, **{**params, "random_state": seed}).fit(X)
        bic = mixture_bic(X, gmm.weights_, gmm.means_, gmm.covariance_)
        return bic, -gmm.lower_bound_ * X.shape[0], gmm.labels_
    cm = ClusteringModule(k, **{**params, "random_state": seed}).fit(X)
    return mixture_bic(X, *cm_mixture(cm, X)), cm.loss_, cm.labels_
