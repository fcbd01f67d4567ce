"""``ClusteringModule``: the CM of Boubekki et al. (2021) as a scikit-learn estimator."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted

from aecm import paper
from aecm._params import (
    ARRAY_LIKE,
    BOOLEAN,
    DEVICE,
    NONE,
    RANDOM_STATE,
    Interval,
    Options,
    validate_params,
)
from aecm._runtime import resolve_device, torch_runtime
from aecm.data.batches import BatchSource, make_source
from aecm.estimators._base import (
    check_n_clusters,
    cpu_generator,
    output_dtype,
    restart_seeds,
    sparse_checks_not_applicable,
    validate_input,
)
from aecm.losses import CM_TERMS, PRIOR_EPS, _alpha_by_rank, cm_loss
from aecm.methods.cm import CMObjective
from aecm.nn.cm import ClusteringLayer
from aecm.persistence import PersistenceMixin
from aecm.training import FlatAdam, LoopConfig, train

__all__ = ["ClusteringModule"]


class ClusteringModule(PersistenceMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """The clustering module (CM): a Gaussian mixture trained as an autoencoder by SGD.

    The CM is a one-hidden-layer autoencoder ``γ = softmax(W x + b)``, ``x̂ = γ μ`` whose loss
    ``E1 + E2 + E3 + E4`` equals the objective of an isotropic Gaussian mixture with one shared
    variance and a Dirichlet(α) prior on the mixture weights (Boubekki et al., 2021). It clusters
    like that mixture, in mini-batches, on CPU or GPU.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters ``K``.
    alpha : float or array-like of shape (n_clusters,), default=1.0
        Concentration of the Dirichlet prior on the mixture weights. ``1`` is no prior; ``> 1``
        pushes towards balanced clusters; ``< 1`` rewards emptying clusters. A vector is sorted
        and paired with the sorted mixture weights. **The prior is not divided by the batch
        size** while the data terms grow with it, so the strength of a given ``α`` falls as
        ``batch_size`` grows; its effect is roughly that of ``(α − 1) / batch_size`` relative to
        squared distances in the data's units. The paper's tuned pairs are available through
        :meth:`from_paper`.
    batch_size : int, default=256
        Rows per mini-batch (the last batch of an epoch may be smaller).
    n_epochs : int, default=150
        Maximum number of epochs (before the averaging epoch).
    learning_rate : float, default=1e-3
        Adam's step size (the authors' optimiser: Adam with ``eps=1e-3``).
    init : {"kmeans", "kmeans++", "random"} or array-like of shape (n_clusters, n_features), \
            default="kmeans"
        How the centroids ``U`` start; the decoder is set to ``U`` and the encoder to its
        pseudo-inverse (``x ↦ x · pinv(U)``), biases to zero.
        ``"kmeans"``: ``U`` from k-means run to convergence (one k-means++ seeding).
        ``"kmeans++"``: the paper's "pre" initialisation, k-means++ seeding and a single Lloyd
        step. ``"random"``: Glorot-uniform weights (the paper's "rand"), no ``U``. An array:
        ``U`` itself.
        Mean NMI (%) over 5 seeds, Pendigits / USPS (``docs/results.md``): with the defaults,
        ``"kmeans"`` 68.6 / 64.3; with the paper's tuned ``alpha``/``batch_size``,
        ``"kmeans"`` 66.5 / 64.0, ``"kmeans++"`` 65.7 / 63.9, ``"random"`` 66.7 / 62.2.
    init_sample_size : int or None, default=10000
        k-means for ``init="kmeans"``/``"kmeans++"`` runs on this many rows drawn at random
        (all rows when None or when the data has fewer); the CM then trains on all rows. On
        MNIST this cut the initialisation from 5.0 s to 0.55 s.
    n_init : int, default=1
        Number of restarts with different seeds; the run with the lowest final loss is kept.
    averaging : bool, default=True
        After the last epoch, run one more and set the weights to their mean over its batches.
    normalize_loss : bool, default=False
        Divide E1–E3 by ``batch_size × n_features`` (the authors' PyTorch example); ``alpha``
        must then be chosen on that scale (e.g. 1.1).
    bias : bool, default=False
        Biases in the encoder and decoder.
    tol : float, default=1e-3
        Stop before ``n_epochs`` once the mean loss of the last ``n_iter_no_change`` epochs is
        less than ``tol`` (relative) below the mean of the ``n_iter_no_change`` epochs before.
        ``0`` trains all ``n_epochs`` (the paper's schedule).
    n_iter_no_change : int, default=10
        Length of the windows compared by ``tol``.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``…
    random_state : int, RandomState or None, default=None
        Seeds the initialisation and the order of batches. The same integer gives bit-identical
        results on the CPU.
    verbose : bool, default=False
        Show a progress bar with the current loss terms.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The centroids ``μ`` in input space.
    labels_ : ndarray of shape (n_samples,)
        ``argmax_k γ_ik`` of the training data.
    weights_ : ndarray of shape (n_clusters,)
        Mixture weights ``π̂_k``, the mean soft assignment over the training data.
    loss_ : float
        Final loss on all the training data: E1–E3 summed over all rows (divided by
        ``n_samples × n_features`` if ``normalize_loss``), plus E4 with the mixture weights of
        the whole data set.
    loss_curve_ : list of float
        Loss per epoch (sum over the batches of the epoch), the averaging epoch last.
    history_ : dict of str to list of float
        Per epoch: ``"E1"`` … ``"E4"``, ``"loss"`` (sums over the epoch's batches) and
        ``"seconds"``.
    n_iter_ : int
        Epochs trained before the averaging epoch.
    converged_ : bool
        Whether training stopped on ``tol`` before ``n_epochs``.
    module_ : ClusteringLayer
        The trained torch module (on ``device_``).
    device_ : torch.device
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string feature names (a DataFrame).

    Notes
    -----
    ``transform`` returns the soft assignments ``γ`` (the same as ``predict_proba``): the CM's
    representation of a point is its posterior over clusters.
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither"), ARRAY_LIKE],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "init": [Options(("kmeans", "kmeans++", "random")), ARRAY_LIKE],
        "init_sample_size": [Interval(Integral, 1, None, closed="left"), NONE],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "averaging": [BOOLEAN],
        "normalize_loss": [BOOLEAN],
        "bias": [BOOLEAN],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "device": [DEVICE],
        "random_state": [RANDOM_STATE],
        "verbose": [BOOLEAN, Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        alpha=1.0,
        batch_size=256,
        n_epochs=150,
        learning_rate=1e-3,
        init="kmeans",
        init_sample_size=10_000,
        n_init=1,
        averaging=True,
        normalize_loss=False,
        bias=False,
        tol=1e-3,
        n_iter_no_change=10,
        device="auto",
        random_state=None,
        verbose=False,
    ):
        self.n_clusters = n_clusters
        self.alpha = alpha
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.init = init
        self.init_sample_size = init_sample_size
        self.n_init = n_init
        self.averaging = averaging
        self.normalize_loss = normalize_loss
        self.bias = bias
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def from_paper(cls, dataset: str, **params) -> ClusteringModule:
        """The CM as the authors ran it: tuned ``alpha`` and ``batch_size``, ``init="random"``.

        Known data sets: mnist, fashion_mnist, usps, cifar10, reuters10k, 20newsgroups, 10x73k,
        pendigits. ``n_clusters`` is the number of classes. Keyword arguments override or add
        parameters. The random initialisation is the one of the authors' PyTorch code; with
        these ``alpha`` values no initialisation won everywhere (mean NMI % over 5 seeds,
        Pendigits / USPS: random 66.7 / 62.2, k-means++ and one Lloyd step 65.7 / 63.9; see
        ``docs/results.md``).
        """
        return cls(**{**paper.tuned(paper.CM_TUNED, dataset), "init": "random", **params})

    # ------------------------------------------------------------------ validation
    def _check_params(self, X) -> tuple[torch.Tensor | float, np.ndarray | None]:
        validate_params(self, self._parameter_constraints)
        n_samples, n_features = X.shape
        check_n_clusters(self.n_clusters, n_samples)
        alpha = self.alpha
        if not isinstance(alpha, Real):
            alpha = np.asarray(alpha, dtype=np.float64)
            if alpha.shape != (self.n_clusters,):
                raise ValueError(
                    f"alpha must be a positive number or a vector of length n_clusters="
                    f"{self.n_clusters}; got shape {alpha.shape}."
                )
            if not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
                raise ValueError("Every value of alpha must be finite and > 0.")
            alpha = np.sort(alpha)
        init = None
        if not isinstance(self.init, str):
            init = np.asarray(self.init, dtype=np.float64)
            if init.shape != (self.n_clusters, n_features):
                raise ValueError(
                    f"init must have shape (n_clusters, n_features) = "
                    f"({self.n_clusters}, {n_features}); got {init.shape}."
                )
            if not np.all(np.isfinite(init)):
                raise ValueError("init contains NaN or infinite values.")
        return alpha, init

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Fit the CM to ``X`` (array-like or sparse CSR of shape (n_samples, n_features))."""
        X = validate_input(self, X, reset=True)
        alpha, init = self._check_params(X)
        device = resolve_device(self.device)
        alpha_t = torch.as_tensor(alpha, dtype=torch.float32, device=device)
        config = LoopConfig(
            n_epochs=self.n_epochs,
            batch_size=self.batch_size,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            averaging=self.averaging,
            verbose=bool(self.verbose),
            description="CM",
        )
        best = None
        with torch_runtime(num_threads=_training_threads(device, self.batch_size, X.shape[1])):
            source = make_source(X, device)
            for seed in restart_seeds(self.random_state, self.n_init):
                run = self._fit_one(X, source, alpha_t, init, config, seed)
                if best is None or run[1]["total"] < best[1]["total"]:
                    best = run
            layer, loss, result = best
            gamma = self._soft_assignments(layer, source)
        self.module_ = layer
        self.device_ = device
        self._alpha_tensor = alpha_t
        self.cluster_centers_ = layer.centroids().detach().cpu().numpy().astype(np.float64)
        self.labels_ = gamma.argmax(axis=1)
        self.weights_ = gamma.mean(axis=0).astype(np.float64)
        self.loss_ = loss["total"]
        self.history_ = result.history
        self.loss_curve_ = list(result.history["loss"])
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        return self

    def _fit_one(self, X, source, alpha, init, config, seed):
        """One restart: initialise, train, and measure the final loss on all the data."""
        generator = cpu_generator(seed)
        layer = ClusteringLayer(X.shape[1], self.n_clusters, bias=self.bias)
        if isinstance(self.init, str) and self.init == "random":
            layer.reset_parameters(generator=generator)
        else:
            if init is None:
                # "kmeans++": seeding and one Lloyd step (the paper); "kmeans": Lloyd to the end
                lloyd_steps = 1 if self.init == "kmeans++" else 300
                kmeans = KMeans(self.n_clusters, n_init=1, max_iter=lloyd_steps, random_state=seed)
                init = kmeans.fit(self._init_sample(X, seed)).cluster_centers_
            layer.init_from_centroids(torch.as_tensor(init, dtype=torch.float32))
        layer.to(source.device)
        objective = CMObjective(layer, alpha, normalize=self.normalize_loss)
        optimizer = FlatAdam(objective.flat, lr=self.learning_rate, eps=1e-3)
        result = train(objective, optimizer, source, config, generator)
        objective.write_back()
        return layer, _full_loss(layer, source, alpha, self.normalize_loss), result

    def _init_sample(self, X, seed: int):
        """At most ``init_sample_size`` rows of ``X``, drawn without replacement."""
        size = self.init_sample_size
        if size is None or X.shape[0] <= max(size, self.n_clusters):
            return X
        rows = np.random.default_rng(seed).choice(X.shape[0], max(size, self.n_clusters), False)
        return X[np.sort(rows)]

    # ------------------------------------------------------------------ inference
    def _soft_assignments(self, layer: ClusteringLayer, source: BatchSource) -> np.ndarray:
        with torch.no_grad():
            parts = [layer(batch).cpu() for batch in source.ordered_batches()]
        return torch.cat(parts).numpy()

    def _source(self, X) -> BatchSource:
        check_is_fitted(self)
        X = validate_input(self, X, reset=False)
        return X, make_source(X, self.device_)

    def predict_proba(self, X):
        """Soft assignments ``γ`` (n_samples × n_clusters); rows sum to one."""
        X, source = self._source(X)
        with torch_runtime():
            gamma = self._soft_assignments(self.module_, source)
        return gamma.astype(output_dtype(X))

    def predict(self, X):
        """The cluster of each row: ``argmax_k γ_ik``."""
        return self.predict_proba(X).argmax(axis=1)

    def transform(self, X):
        """The soft assignments ``γ`` (the CM's representation); same as :meth:`predict_proba`."""
        return self.predict_proba(X)

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def loss_terms(self, X) -> dict[str, float]:
        """The CM loss of the fitted model on ``X``: E1–E4 and the total (see ``loss_``)."""
        X, source = self._source(X)
        with torch_runtime():
            return _full_loss(self.module_, source, self._alpha_tensor, self.normalize_loss)

    def score(self, X, y=None) -> float:
        """Minus the mean loss per sample on ``X`` (higher is better)."""
        X, source = self._source(X)
        with torch_runtime():
            terms = _full_loss(self.module_, source, self._alpha_tensor, self.normalize_loss)
        return -terms["total"] / X.shape[0]

    # ------------------------------------------------------------------ persistence
    def _state(self):
        tensors = {f"module.{k}": v for k, v in self.module_.state_dict().items()}
        tensors.update(
            cluster_centers_=torch.from_numpy(self.cluster_centers_),
            labels_=torch.from_numpy(self.labels_.astype(np.int64)),
            weights_=torch.from_numpy(self.weights_),
        )
        meta = {name: getattr(self, name) for name in _SAVED_ATTRIBUTES if hasattr(self, name)}
        return tensors, meta

    def _restore(self, tensors, meta, device) -> None:
        n_features = int(meta["n_features_in_"])
        layer = ClusteringLayer(n_features, self.n_clusters, bias=self.bias).to(device)
        layer.load_state_dict(
            {k.removeprefix("module."): v for k, v in tensors.items() if k.startswith("module.")}
        )
        self.module_, self.device_ = layer, device
        alpha = self.alpha if isinstance(self.alpha, Real) else np.sort(np.asarray(self.alpha))
        self._alpha_tensor = torch.as_tensor(alpha, dtype=torch.float32, device=device)
        self.cluster_centers_ = tensors["cluster_centers_"].cpu().numpy()
        self.labels_ = tensors["labels_"].cpu().numpy()
        self.weights_ = tensors["weights_"].cpu().numpy()
        for name, value in meta.items():
            setattr(
                self,
                name,
                np.asarray(value, dtype=object) if name == "feature_names_in_" else value,
            )

    def _expected_failed_checks(self) -> dict[str, str]:
        """Checks of ``check_estimator`` that cannot apply, with the reason."""
        return sparse_checks_not_applicable(type(self).__name__)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


#: Fitted attributes saved in the JSON part of a saved model.
_SAVED_ATTRIBUTES = (
    "loss_",
    "loss_curve_",
    "history_",
    "n_iter_",
    "converged_",
    "n_features_in_",
    "feature_names_in_",
)


def _training_threads(device: torch.device, batch_size: int, n_features: int) -> int | None:
    """One CPU thread for small batches: thread wake-ups then cost more than they save.

    Measured on 2 cores: small batches (e.g. 80 × 16) ran up to 8× slower with 2 threads than
    with 1, and MNIST's 111 × 784 batches 1.4× slower. Large batches keep torch's setting.
    """
    if device.type == "cpu" and batch_size * n_features < 2**20:
        return 1
    return None


def _full_loss(layer: ClusteringLayer, source: BatchSource, alpha, normalize: bool):
    """E1–E3 summed over all rows of ``source`` and E4 with the whole data's mixture weights."""
    sums = torch.zeros(3, dtype=torch.float64)
    counts = torch.zeros(layer.n_clusters, dtype=torch.float64)
    centroids = layer.centroids().detach()
    with torch.no_grad():
        for batch in source.ordered_batches():
            gamma = layer(batch)
            terms = cm_loss(batch, gamma, centroids, 1.0)
            sums += torch.stack([terms[name] for name in CM_TERMS[:3]]).double().cpu()
            counts += gamma.sum(dim=0).double().cpu()
    if normalize:
        sums /= source.n_samples * source.n_features
    log_pi = torch.log(counts / source.n_samples + PRIOR_EPS)
    alpha = torch.as_tensor(alpha, dtype=torch.float64).cpu()
    e4 = ((1.0 - _alpha_by_rank(alpha, log_pi)) * log_pi).sum()
    values = [*sums.tolist(), float(e4)]
    out = dict(zip(CM_TERMS, values, strict=True))
    out["total"] = float(sum(values))
    return out
