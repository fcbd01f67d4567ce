"""``ClusteringModule``: the CM of Boubekki et al. (2021) as a scikit-learn estimator."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils.validation import check_is_fitted

from aecm import paper
from aecm._params import (
    ARRAY_LIKE,
    AUTO,
    BOOLEAN,
    DEVICE,
    NONE,
    ON_NAN,
    RANDOM_STATE,
    Interval,
    Options,
    is_auto,
    validate_params,
)
from aecm._runtime import resolve_device, torch_runtime
from aecm.data.batches import BatchSource, InputUnits, make_source
from aecm.distributed import current_shard
from aecm.estimators._base import (
    CHECKPOINT_CONSTRAINTS,
    check_collapse,
    check_init_sample_size,
    check_n_clusters,
    cpu_generator,
    init_sample,
    open_checkpoints,
    output_dtype,
    restart_seeds,
    sparse_checks_not_applicable,
    validate_input,
)
from aecm.init import Mixture, posterior_layer
from aecm.losses import CM_TERMS, PRIOR_EPS, _alpha_by_rank, cm_loss
from aecm.methods.cm import CMObjective
from aecm.methods.pruning import (
    PruningConfig,
    best_restart,
    default_max_clusters,
    extend_history,
    prune_clusters,
)
from aecm.nn.cm import ClusteringLayer
from aecm.persistence import PersistenceMixin
from aecm.training import FlatAdam, LoopConfig, TrainingResult, run_steps, train

__all__ = ["ClusteringModule"]


class ClusteringModule(PersistenceMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """The clustering module (CM): a Gaussian mixture trained as an autoencoder by SGD.

    The CM is a one-hidden-layer autoencoder ``γ = softmax(W x + b)``, ``x̂ = γ μ`` whose loss
    ``E1 + E2 + E3 + E4`` equals the objective of an isotropic Gaussian mixture with one shared
    variance and a Dirichlet(α) prior on the mixture weights (Boubekki et al., 2021). It clusters
    like that mixture, in mini-batches, on CPU or GPU.

    Parameters
    ----------
    n_clusters : int or "auto", default=8
        Number of clusters ``K``. ``"auto"``: start with ``max_clusters`` clusters, train with a
        Dirichlet prior ``α < 1`` that empties the clusters the data do not need, and remove
        every cluster whose weight ``π̂_k`` falls below ``min_cluster_weight`` (see Notes); the
        number found is ``n_clusters_``.
    alpha : float or array-like of shape (n_clusters,), default=1.0
        Concentration of the Dirichlet prior on the mixture weights. ``1`` is no prior; ``> 1``
        pushes towards balanced clusters; ``< 1`` rewards emptying clusters. A vector is sorted
        and paired with the sorted mixture weights. **The prior is not divided by the batch
        size** while the data terms grow with it, so the strength of a given ``α`` falls as
        ``batch_size`` grows; its effect is roughly that of ``(α − 1) / batch_size`` relative to
        squared distances in the training units (see ``standardize``), so a given ``α`` acts
        alike on data of any scale. The paper's tuned pairs (for the data's own units) are
        available through :meth:`from_paper`. With ``n_clusters="auto"``, ``alpha`` must be a
        number: it is the prior of the last stage, at the number of clusters found; the
        pruning stage sets its own ``α`` (see Notes).
    batch_size : int, default=256
        Rows per mini-batch (the last batch of an epoch may be smaller).
    n_epochs : int, default=150
        Maximum number of epochs (before the averaging epoch). An epoch takes at least 20
        optimiser steps: data of fewer than 20 batches are passed over several times in one
        epoch, so a small data set gets as many steps as a large one.
    learning_rate : float, default=1e-3
        Adam's step size (the authors' optimiser: Adam with ``eps=1e-3``).
    init : {"kmeans", "kmeans++", "random"} or array-like of shape (n_clusters, n_features), \
            default="kmeans"
        How the centroids ``U`` start. The CM then starts as the isotropic Gaussian mixture
        that the partition of the initialisation sample by ``U`` defines (weights: the
        clusters' shares; one variance: the mean squared distance to the nearest centroid):
        the decoder holds ``U`` and ``γ`` are that mixture's posteriors
        (:func:`aecm.init.posterior_layer`; exact with ``bias``, a least-squares fit
        without).
        ``"kmeans"``: ``U`` from k-means run to convergence (one k-means++ seeding).
        ``"kmeans++"``: k-means++ seeding and a single Lloyd step (the paper's "pre").
        ``"random"``: Glorot-uniform weights (the paper's "rand"), no ``U``. An array:
        ``U`` itself, in the data's units (of shape ``(max_clusters, n_features)`` with
        ``n_clusters="auto"``).
    init_sample_size : int or None, default=10000
        k-means for ``init="kmeans"``/``"kmeans++"`` runs on this many rows drawn at random
        from the random state (all rows when None or when the data has fewer); the CM then
        trains on all rows. On MNIST this cut the initialisation from 5.0 s to 0.55 s. With
        data larger than memory only the sample is held in memory (None reads every row).
        Must be at least the number of clusters (``max_clusters`` with ``"auto"``).
    n_init : int, default=1
        Number of restarts with different seeds; the run with the lowest final loss is kept.
    averaging : bool, default=True
        After the last epoch, run one more and set the weights to their mean over its batches.
    normalize_loss : bool, default=False
        Divide E1–E3 by ``batch_size × n_features`` (the authors' PyTorch example); ``alpha``
        must then be chosen on that scale (e.g. 1.1).
    bias : bool, default=True
        Biases in the encoder and decoder. With them the start is exactly the mixture's
        posteriors (see ``init``) and the CM can separate clusters in any position. Without
        them (the authors' PyTorch example) ``softmax(W x)`` cuts space into cones from the
        origin: clusters around the origin cannot all be told apart, so ``standardize`` then
        does not shift the data, and the start is only the closest bias-free fit.
    standardize : bool, default=True
        Train in units where the data (the initialisation sample) has mean per-feature
        variance 1 and, with ``bias``, a fixed position: ``(x − input_offset_) /
        input_scale_``, one scale for every feature, so the isotropic model and its partitions
        are those of the data's own units. Adam's steps, ``alpha`` and ``tol`` then act alike
        on data of any scale or offset. ``loss_``, ``history_``, :meth:`score` and
        :meth:`loss_terms` are in these units; ``cluster_centers_`` in the data's. It does not
        make features of different units comparable: scale them first (e.g.
        ``StandardScaler``) when they are not. False: train in the data's units (the paper;
        :meth:`from_paper`).
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
    max_clusters : int or None, default=None
        With ``n_clusters="auto"``: the number of clusters to start from, at least 2 and at
        most ``n_samples``. None: ``min(50, n_samples // 10)``, at least 2. Ignored otherwise.
    min_cluster_weight : float in (0, 1), default=0.01
        With ``n_clusters="auto"``: a cluster is removed as soon as its weight ``π̂_k`` (its
        share of the data) falls below this; clusters smaller than this cannot be found.
        Ignored otherwise.
    prune_strength : float > 0, default=4.0
        With ``n_clusters="auto"``: ``λ`` of the rule for the pruning stage's ``α`` (see Notes).
        Larger values give fewer clusters. Ignored otherwise.
    on_nan : {"raise", "restore"}, default="raise"
        What a non-finite loss does. ``"raise"``: put back the weights of the end of the last
        finite epoch and raise ``FloatingPointError`` naming the epoch, batch and term.
        ``"restore"``: put them back, halve the learning rate, reset Adam's moments and run
        the epoch again (at most 5 times per training run, then raise);
        ``history_["nan_restarts"]`` counts the restarts before each epoch.
    checkpoint_dir : str, path or None, default=None
        Write checkpoints of the training to this folder, and resume from it: a ``fit`` whose
        folder holds checkpoints of the same run (same parameters but ``device``, ``verbose``
        and the two ``checkpoint_*``; the same data) goes on from the newest valid one and
        ends with the same result as an uninterrupted fit (bit-identical on the CPU). A folder
        of another run is refused with a ``ValueError`` naming what differs. A corrupted or
        truncated checkpoint is skipped with a :class:`aecm.exceptions.CheckpointWarning` for
        the one before. The folder stays after the fit: fitting again with it loads the
        finished training instead of repeating it; delete it to train anew. See
        :mod:`aecm.checkpoint`.
    checkpoint_every : int, default=10
        Epochs between checkpoints; each training stage also writes one at its end. A CM epoch
        takes milliseconds and a checkpoint about 20 ms (two synced files), hence 10
        (``benchmarks/checkpoints.py``).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The centroids ``μ`` in input space.
    input_offset_ : ndarray of shape (n_features,) or None
        The shift of the training units (see ``standardize``); None: no shift.
    input_scale_ : float
        The scale of the training units (1 without ``standardize``).
    labels_ : ndarray of shape (n_samples,)
        ``argmax_k γ_ik`` of the training data.
    n_clusters_ : int
        The number of clusters: ``n_clusters``, or the number found with ``"auto"``.
    weights_ : ndarray of shape (``n_clusters_``,)
        Mixture weights ``π̂_k``, the mean soft assignment over the training data.
    cluster_weights_ : ndarray of shape (``n_clusters_``,)
        The same array as ``weights_`` (named to go with ``n_clusters_``).
    loss_ : float
        Final loss on all the training data, in the training units: E1–E3 summed over all
        rows (divided by ``n_samples × n_features`` if ``normalize_loss``), plus E4 with the
        mixture weights of the whole data set.
    loss_curve_ : list of float
        Loss per epoch (sum over the batches of the epoch), the averaging epoch last.
    history_ : dict of str to list
        Per epoch: ``"E1"`` … ``"E4"``, ``"loss"`` (sums over the epoch's batches) and
        ``"seconds"``. With ``n_clusters="auto"`` also, per epoch, ``"n_clusters"`` (the number
        of clusters trained in that epoch) and ``"alpha"`` (the ``α`` used), and ``"pruned"``:
        one ``[epoch, ids]`` pair per removal, ``ids`` being the removed clusters' indices among
        the ``max_clusters`` initial ones, removed after ``epoch`` epochs (counted from 1).
        At the end, ``"empty_clusters"`` and ``"largest_cluster_fraction"``: one-element lists
        measured on ``labels_``; a :class:`aecm.exceptions.CollapseWarning` is emitted when a
        cluster is empty or (with an integer ``n_clusters`` ≥ 2) holds more than 90 % of the
        points. With ``"auto"`` only the clusters kept count: pruned ones are not empty ones.
    n_iter_ : int
        Epochs trained before the averaging epoch (both stages with ``"auto"``).
    converged_ : bool
        Whether training stopped on ``tol`` before ``n_epochs``.
    n_batches_seen_ : int
        After :meth:`partial_fit`: optimiser steps taken by the calls so far.
    n_samples_seen_ : int
        After :meth:`partial_fit`: rows passed to the calls so far.
    module_ : ClusteringLayer
        The trained torch module (on ``device_``); it takes rows in the training units,
        ``(x − input_offset_) / input_scale_``.
    device_ : torch.device
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string feature names (a DataFrame).

    Notes
    -----
    ``transform`` returns the soft assignments ``γ`` (the same as ``predict_proba``): the CM's
    representation of a point is its posterior over clusters.

    **Data larger than memory.** ``fit``, ``predict``, ``predict_proba``, ``transform`` and
    ``score`` accept a ``np.memmap`` (``np.load(path, mmap_mode="r")``), any 2-D array-like
    with ``shape``, ``dtype`` and row slicing (HDF5, zarr), and a map-style
    ``torch.utils.data.Dataset`` or ``DataLoader`` (an item is a row, or an ``(x, y)`` tuple
    whose ``x`` is used; a ``DataLoader`` is read through its dataset, its sampler, batch size
    and workers unused). Rows are read a batch at a time and checked for NaN/inf as they are
    read (``ValueError`` naming the rows); k-means runs on ``init_sample_size`` rows. Arrays
    are shuffled by blocks (:mod:`aecm.data.lazy`): a memmap of up to 4 MiB (as float32)
    gives exactly the fit of the same array in memory, a larger one another order of batches.
    What stays in memory is ``labels_`` (one int64 per row) and the outputs asked for.

    **Streaming** (:meth:`partial_fit`). The first call measures the training units (see
    ``standardize``) on its chunk. Each call takes one Adam step per ``batch_size`` rows
    of the chunk, in order, with the loss of :meth:`fit`: E1–E3 summed over the batch (divided
    by its ``rows × n_features`` with ``normalize_loss``) and E4 with the batch's own mixture
    weights ``π̂``. The loss uses no total number of samples, so a step of ``partial_fit`` is
    the step ``fit`` takes on the same batch (a test checks it bit for bit), whatever the
    length of the stream. The prior's strength depends on the rows per step (see ``alpha``):
    chunks whose length is a multiple of ``batch_size`` keep every step at ``batch_size`` rows;
    shuffle the stream if it is ordered (e.g. by class). After each call ``labels_`` holds the
    clusters of that chunk, ``weights_`` the mean ``γ`` of all rows seen (each chunk assigned
    by the model of its call), ``history_``/``loss_curve_`` one entry per call (the sums of the
    terms over its steps); ``loss_``, ``n_iter_`` and ``converged_`` are not set.
    ``n_clusters="auto"`` and ``n_init`` apply to :meth:`fit` only; a non-finite loss puts the
    model back as it was before the call and raises ``FloatingPointError``. Calling
    :meth:`partial_fit` after :meth:`fit` continues from the fitted model with a fresh Adam;
    :meth:`fit` starts afresh.

    **Several processes** (``torchrun``; see :mod:`aecm.distributed`). When a process group of
    more than one process is initialised, :meth:`fit` splits each global batch of
    ``batch_size`` rows over the processes and sums their gradients; ``π̂`` of E4 and the row
    count of ``normalize_loss`` are those of the global batch, so the fit equals the
    one-process fit with the same ``batch_size`` and seed, to float rounding. :meth:`partial_fit`
    is not split: each process would update its own model.

    **n_clusters="auto".** E4's gradient adds ``(1 − α) / (n_B π̂_k)`` to the cost of putting a
    point of a batch of ``n_B`` rows in cluster ``k``: with ``α < 1`` every point pays
    ``τ / π̂_k``, ``τ = (1 − α) / n_B``, for its cluster, so small clusters lose their points
    and empty. Summed over a cluster's points the price is ``τ`` per sample whatever the
    cluster's size, so a cluster survives roughly when removing it would raise the mean squared
    distance ``Σ_k γ_ik ‖x_i − μ_k‖² / n`` by more than ``τ``. The fit therefore runs in two
    stages:

    1. *Pruning*: ``max_clusters`` clusters (k-means on the initialisation sample), trained in
       phases of 5 epochs. Before each phase ``α`` is set to
       ``1 − λ · σ²_max · n_B / K`` (``n_B / K`` becomes ``1 / (K · n_features)`` with
       ``normalize_loss``), where ``λ = prune_strength``, ``K`` is the current number of
       clusters and ``σ²_max`` the within-cluster variance along its main direction (the largest
       eigenvalue of ``Σ_i Σ_k γ_ik (x_i − μ_k)(x_i − μ_k)ᵀ / n``), its smallest value so far:
       merging two clusters widens it, and a prior that grew with it would feed the merging
       (without the minimum, 3 clusters 4σ apart collapsed to 1). A cluster then survives
       when ``K π̂_k`` (its size relative to an even share) times the rise in squared distance
       of its points when they move to the next cluster exceeds about ``λ σ²_max``: a split of
       one Gaussian cluster gains about ``σ²`` and is undone, a cluster ``Δ`` away from the
       next gains about ``Δ²``, so clusters need about ``Δ² > 3λσ²`` to survive. ``α`` starts
       near 1 and falls as clusters go (``K`` shrinks). After each
       phase, clusters with ``π̂_k < min_cluster_weight`` are removed (their rows of ``W``,
       ``V`` and ``b``; Adam's moments of the others are kept). The stage ends after
       ``n_epochs`` epochs, when one cluster is left, or once no cluster was removed and no
       cluster's weight fell by more than 5 % (relative) over the last
       ``2 · n_iter_no_change`` epochs: no cluster is on its way out. (Stopping once the
       number of clusters had not changed for a while stopped USPS at 45 clusters: the
       clusters left over by k-means went in the first phase, the next ones only after more
       than 20 epochs.)
    2. *Refinement*: the ``K`` clusters left are trained with ``alpha`` as with an integer
       ``n_clusters`` (``n_epochs``, ``tol``, the averaging epoch).

    The encoder starts as the posterior of the isotropic mixture of the k-means partition (see
    ``init``). The paper's pseudo-inverse encoder cannot separate more clusters than features
    and left most points softly assigned: on Pendigits (16 features, 50 clusters) every
    cluster fell below the threshold at once.

    What it finds (``docs/results.md``, "Choosing the number of clusters"): the exact number
    of isotropic clusters 4σ to 8σ apart (``K`` from 3 to 20), and on real data with no clear
    cluster structure a number that falls steadily with ``prune_strength`` and with training
    time rather than settling (Pendigits and USPS, 10 classes: 20 to 26). Pruning moves at
    Adam's pace (about ``learning_rate`` per step), so it needs steps, not epochs: with the
    defaults, 4 clusters 8σ apart out of 12 took about 90 epochs. E4 uses the batch's weights,
    so small batches make the prior noisy. Without biases ``softmax(W x)`` cannot separate
    clusters that surround the origin (see ``bias``).
    With restarts (``n_init``), the most frequent number of clusters wins (the smaller on ties),
    then the lowest final loss.
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left"), AUTO],
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
        "standardize": [BOOLEAN],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "device": [DEVICE],
        "random_state": [RANDOM_STATE],
        "verbose": [BOOLEAN, Interval(Integral, 0, None, closed="left")],
        "max_clusters": [Interval(Integral, 2, None, closed="left"), NONE],
        "min_cluster_weight": [Interval(Real, 0, 1, closed="neither")],
        "prune_strength": [Interval(Real, 0, None, closed="neither")],
        "on_nan": [ON_NAN],
        **CHECKPOINT_CONSTRAINTS,
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
        bias=True,
        standardize=True,
        tol=1e-3,
        n_iter_no_change=10,
        device="auto",
        random_state=None,
        verbose=False,
        max_clusters=None,
        min_cluster_weight=0.01,
        prune_strength=4.0,
        on_nan="raise",
        checkpoint_dir=None,
        checkpoint_every=10,
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
        self.standardize = standardize
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.max_clusters = max_clusters
        self.min_cluster_weight = min_cluster_weight
        self.prune_strength = prune_strength
        self.on_nan = on_nan
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every

    @classmethod
    def from_paper(cls, dataset: str, **params) -> ClusteringModule:
        """The CM as the authors ran it: tuned ``alpha`` and ``batch_size``, ``init="random"``,
        no biases, trained in the data's own units (``standardize=False``).

        Known data sets: mnist, fashion_mnist, usps, cifar10, reuters10k, 20newsgroups, 10x73k,
        pendigits. ``n_clusters`` is the number of classes. Keyword arguments override or add
        parameters. The random initialisation is the one of the authors' PyTorch code; with
        these ``alpha`` values no initialisation won everywhere (mean NMI % over 5 seeds,
        Pendigits / USPS: random 66.7 / 62.2, k-means++ and one Lloyd step 65.7 / 63.9; see
        ``docs/results.md``).
        """
        paper_settings = {"init": "random", "bias": False, "standardize": False}
        return cls(**{**paper.tuned(paper.CM_TUNED, dataset), **paper_settings, **params})

    # ------------------------------------------------------------------ validation
    def _check_params(self, X) -> tuple[float | np.ndarray, np.ndarray | None, int]:
        """Validated ``alpha`` and ``init``, and the number of clusters to start with."""
        validate_params(self, self._parameter_constraints)
        n_samples, n_features = X.shape
        auto = is_auto(self.n_clusters)
        if auto:
            n_clusters, name = self._max_clusters(n_samples), "max_clusters"
        else:
            check_n_clusters(self.n_clusters, n_samples)
            n_clusters, name = self.n_clusters, "n_clusters"
        check_init_sample_size(self.init_sample_size, n_clusters, name)
        alpha = self.alpha
        if not isinstance(alpha, Real):
            if auto:
                raise ValueError(
                    "With n_clusters='auto', alpha must be a single positive number (the prior "
                    "at the number of clusters found); a vector needs an integer n_clusters."
                )
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
            if init.shape != (n_clusters, n_features):
                raise ValueError(
                    f"init must have shape ({name}, n_features) = "
                    f"({n_clusters}, {n_features}); got {init.shape}."
                )
            if not np.all(np.isfinite(init)):
                raise ValueError("init contains NaN or infinite values.")
        return alpha, init, n_clusters

    def _max_clusters(self, n_samples: int) -> int:
        """``max_clusters``, or its default ``min(50, n_samples // 10)`` (at least 2)."""
        if self.max_clusters is None:
            return default_max_clusters(n_samples)
        check_n_clusters(self.max_clusters, n_samples, "max_clusters")
        return self.max_clusters

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Fit the CM to ``X`` of shape (n_samples, n_features).

        ``X``: an array-like, a sparse CSR matrix, or data larger than memory read batch by
        batch: a ``np.memmap``, an HDF5/zarr-like array, a ``torch.utils.data.Dataset`` or
        ``DataLoader`` (see the Notes).
        """
        X = validate_input(self, X, reset=True, float32=True, out_of_core=True)
        alpha, init, n_clusters = self._check_params(X)
        auto = is_auto(self.n_clusters)
        device = resolve_device(self.device)
        shard = current_shard(device)
        alpha_t = torch.as_tensor(alpha, dtype=torch.float32, device=device)
        seeds = restart_seeds(self.random_state, self.n_init, shard)
        checkpoints, seeds = open_checkpoints(self, X, seeds)
        sample = self._init_sample(X, seeds[0])  # also the first restart's
        units = self._input_units(X, sample, n_clusters)
        config = LoopConfig(
            n_epochs=self.n_epochs,
            batch_size=self.batch_size,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            averaging=self.averaging,
            verbose=bool(self.verbose),
            description="CM",
            on_nan=self.on_nan,
            checkpoints=checkpoints,
            min_steps=MIN_STEPS_PER_EPOCH,
        )
        runs = []
        with torch_runtime(num_threads=_training_threads(device, self.batch_size, X.shape[1])):
            source = units.source(make_source(X, device, shard))
            for restart, seed in enumerate(seeds):
                if checkpoints is not None:
                    checkpoints.start_restart(restart)
                if restart > 0:
                    sample = self._init_sample(X, seed)
                start = (sample, units)
                if auto:
                    runs.append(
                        self._fit_auto(X, source, alpha_t, init, config, seed, n_clusters, start)
                    )
                else:
                    runs.append(self._fit_one(X, source, alpha_t, init, config, seed, start))
            layer, loss, result = _best_run(runs, auto)
            self.labels_, counts = _labels_and_counts(layer, source)
        self._forget_stream()
        self._set_model(layer, device, alpha_t, units)
        self.n_clusters_ = layer.n_clusters
        self.weights_ = counts / source.n_samples
        self.cluster_weights_ = self.weights_
        self.loss_ = loss["total"]
        self.history_ = result.history
        self.history_.update(
            check_collapse(self.labels_, layer.n_clusters, "ClusteringModule", dominance=not auto)
        )
        self.loss_curve_ = list(result.history["loss"])
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        return self

    def _fit_one(self, X, source, alpha, init, config, seed, start):
        """One restart: initialise, train, and measure the final loss on all the data."""
        generator = cpu_generator(seed)
        layer = self._initial_layer(X, init, seed, self.n_clusters, start, generator)
        layer = layer.to(source.device)
        objective = CMObjective(layer, alpha, normalize=self.normalize_loss)
        optimizer = FlatAdam(objective.flat, lr=self.learning_rate, eps=1e-3)
        result = train(objective, optimizer, source, config, generator)
        objective.write_back()
        return layer, _full_loss(layer, source, alpha, self.normalize_loss), result

    def _initial_layer(
        self, X, init, seed: int, n_clusters: int, start: tuple, generator: torch.Generator
    ) -> ClusteringLayer:
        """The layer before training, in the training units: random, or the isotropic mixture
        that the partition of the initialisation sample by the centroids ``init`` (or
        k-means') defines (:func:`aecm.init.posterior_layer`). ``start``: the sample (at most
        ``init_sample_size`` rows of ``X``) and the training units."""
        if isinstance(self.init, str) and self.init == "random":
            layer = ClusteringLayer(X.shape[1], n_clusters, bias=self.bias)
            layer.reset_parameters(generator=generator)
            return layer
        sample, units = start
        if init is None:
            # "kmeans++": seeding and one Lloyd step (the paper); "kmeans": Lloyd to the end
            lloyd_steps = 1 if self.init == "kmeans++" else 300
            kmeans = KMeans(n_clusters, n_init=1, max_iter=lloyd_steps, random_state=seed)
            init = kmeans.fit(sample).cluster_centers_
        # the partition's mixture in the data's units, then in the training units
        distances = euclidean_distances(sample, init, squared=True) / units.scale**2
        means = torch.as_tensor(units.apply(init))
        mixture = Mixture.from_distances(means, torch.as_tensor(distances), X.shape[1])
        rows = None
        if not self.bias:  # the bias-free encoder is fitted to the sample's posteriors
            dense = sample.toarray() if hasattr(sample, "toarray") else np.asarray(sample)
            rows = torch.as_tensor(units.apply(dense))
        return posterior_layer(mixture, bias=self.bias, x=rows)

    def _input_units(self, X, sample, n_clusters: int) -> InputUnits:
        """The units the CM trains in (``standardize``), measured on the initialisation
        ``sample`` of ``X``; refuses a sample with fewer distinct rows than clusters."""
        distinct = _distinct_rows(sample)
        if distinct < n_clusters:
            where = "X has"
            if sample.shape[0] < X.shape[0]:
                where = f"the {sample.shape[0]} rows drawn for the initialisation have"
            raise ValueError(
                f"{where} only {distinct} distinct row{'s' * (distinct != 1)}, fewer than the "
                f"{n_clusters} clusters asked for; lower n_clusters (or raise init_sample_size)."
            )
        if not self.standardize:
            return InputUnits()
        return InputUnits.standardizing(sample, center=self.bias)

    def _set_model(self, layer, device, alpha, units: InputUnits) -> None:
        """The fitted model: the layer (in the training units), its units, the centroids."""
        self.module_, self.device_, self._alpha_tensor = layer, device, alpha
        self.input_offset_ = units.offset
        self.input_scale_ = units.scale
        self.cluster_centers_ = units.invert(layer.centroids().detach().cpu().numpy())

    def _units(self) -> InputUnits:
        return InputUnits(self.input_offset_, self.input_scale_)

    def _init_sample(self, X, seed: int):
        """At most ``init_sample_size`` rows of ``X``, drawn without replacement from ``seed``."""
        return init_sample(X, self.init_sample_size, seed)

    # ------------------------------------------------------------------ streaming
    def partial_fit(self, X, y=None):
        """Update the CM with one chunk ``X`` of a stream of data (see "Streaming" in the Notes).

        The first call initialises the model from ``X`` as :meth:`fit` does (``init``; k-means
        on at most ``init_sample_size`` of its rows), or continues from a model that
        :meth:`fit` trained, and sets up Adam. Every call then takes one optimiser step per
        consecutive slice of ``batch_size`` rows of ``X``, in ``X``'s order (the last slice may
        be smaller), exactly the step that :meth:`fit` takes on such a batch.

        Parameters
        ----------
        X : array-like, sparse CSR, or out-of-core data of shape (n_chunk, n_features)
            The chunk; it must have the number of features of the first chunk.

        Returns
        -------
        self
        """
        streaming = hasattr(self, "_stream")
        if not streaming and not hasattr(self, "module_"):
            return self._start_stream(X)
        X = validate_input(self, X, reset=False, float32=True, out_of_core=True)
        if not streaming:  # continue from fit's model, with a fresh optimiser
            objective = CMObjective(self.module_, self._alpha_tensor, self.normalize_loss)
            optimizer = FlatAdam(objective.flat, lr=self.learning_rate, eps=1e-3)
            self._stream = _Stream(objective, optimizer, np.zeros(self.module_.n_clusters))
            self._reset_stream_attributes()
        return self._stream_step(X)

    def _start_stream(self, X):
        """The first :meth:`partial_fit`: validate, initialise from ``X``, set up Adam."""
        X = validate_input(self, X, reset=True, float32=True, out_of_core=True)
        if is_auto(self.n_clusters):
            raise ValueError(
                "partial_fit needs an integer n_clusters; n_clusters='auto' prunes clusters "
                "over whole epochs and is available through fit only."
            )
        alpha, init, _ = self._check_params(X)
        device = resolve_device(self.device)
        alpha_t = torch.as_tensor(alpha, dtype=torch.float32, device=device)
        seed = restart_seeds(self.random_state, 1)[0]
        sample = self._init_sample(X, seed)
        units = self._input_units(X, sample, self.n_clusters)
        start, generator = (sample, units), cpu_generator(seed)
        layer = self._initial_layer(X, init, seed, self.n_clusters, start, generator).to(device)
        objective = CMObjective(layer, alpha_t, normalize=self.normalize_loss)
        optimizer = FlatAdam(objective.flat, lr=self.learning_rate, eps=1e-3)
        self._stream = _Stream(objective, optimizer, np.zeros(self.n_clusters))
        self._set_model(layer, device, alpha_t, units)
        self._reset_stream_attributes()
        return self._stream_step(X)

    def _reset_stream_attributes(self) -> None:
        """Counters and history start with the stream; ``fit``'s whole-data results go."""
        self.n_batches_seen_, self.n_samples_seen_ = 0, 0
        self.history_ = {name: [] for name in (*CM_TERMS, "loss", "seconds")}
        self.loss_curve_ = self.history_["loss"]
        for name in ("loss_", "n_iter_", "converged_"):
            self.__dict__.pop(name, None)

    def _stream_step(self, X):
        """The optimiser steps of one :meth:`partial_fit` call, then the fitted attributes."""
        stream = self._stream
        objective, optimizer, device = stream.objective, stream.optimizer, self.device_
        started = time.perf_counter()
        threads = _training_threads(device, self.batch_size, X.shape[1])
        with torch_runtime(num_threads=threads):
            source = self._units().source(make_source(X, device))
            n_batches = source.n_batches(self.batch_size)
            before = stream.snapshot()
            batches = (
                (torch.arange(b * self.batch_size, b * self.batch_size + len(batch)), batch)
                for b, batch in enumerate(source.ordered_batches(self.batch_size))
            )
            values = run_steps(objective, optimizer, batches, n_batches, device)
            sums = values.double().sum(dim=0).cpu()
            if not bool(torch.isfinite(sums).all()):
                stream.restore(before)
                terms = dict(zip(CM_TERMS, sums.tolist(), strict=True))
                raise FloatingPointError(
                    f"The loss became non-finite in partial_fit call "
                    f"{len(self.history_['loss']) + 1} ({terms}); the model and "
                    "Adam's state were put back as they were before this call. Lower the "
                    "learning rate or check the data's scale."
                )
            objective.write_back()
            self.labels_, counts = _labels_and_counts(objective.layer, source)
        stream.counts += counts
        self.n_batches_seen_ += n_batches
        self.n_samples_seen_ += source.n_samples
        layer = objective.layer
        self.cluster_centers_ = self._units().invert(layer.centroids().detach().cpu().numpy())
        self.n_clusters_ = layer.n_clusters
        self.weights_ = stream.counts / self.n_samples_seen_
        self.cluster_weights_ = self.weights_
        for name, value in zip(CM_TERMS, sums.tolist(), strict=True):
            self.history_[name].append(value)
        self.history_["loss"].append(float(sums.sum()))
        self.history_["seconds"].append(time.perf_counter() - started)
        return self

    def _forget_stream(self) -> None:
        """``fit`` starts afresh: a later ``partial_fit`` continues from its model."""
        for name in ("_stream", "n_batches_seen_", "n_samples_seen_"):
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------------ n_clusters="auto"
    def _fit_auto(self, X, source, alpha, init, config, seed, max_clusters, start):
        """One restart of the automatic number of clusters: pruning stage, then refinement."""
        generator = cpu_generator(seed)
        layer = self._initial_layer(X, init, seed, max_clusters, start, generator)
        layer = layer.to(source.device)
        objective = CMObjective(layer, alpha, normalize=self.normalize_loss)
        optimizer = FlatAdam(objective.flat, lr=self.learning_rate, eps=1e-3)
        # α = 1 − λ σ²_max · scale / K, with scale the factor between the penalty per point
        # and squared distances (n_B, or 1 / n_features when E1–E3 are divided by n_B·d)
        scale = 1.0 / X.shape[1] if self.normalize_loss else min(self.batch_size, X.shape[0])
        pruning = PruningConfig(
            strength=self.prune_strength,
            min_weight=self.min_cluster_weight,
            n_epochs=self.n_epochs,
            scale=scale,
        )
        stage = prune_clusters(
            objective, optimizer, source, replace(config, description="CM auto"), pruning, generator
        )
        objective, history = stage.objective, stage.history
        objective.alpha = alpha
        final = replace(config, description=f"CM auto: K={len(stage.kept)}")
        result = train(objective, stage.optimizer, source, final, generator)
        extend_history(history, result.history, n_clusters=len(stage.kept), alpha=float(alpha))
        history["pruned"] = stage.pruned
        objective.write_back()
        loss = _full_loss(objective.layer, source, alpha, self.normalize_loss)
        n_iter = stage.n_iter + result.n_iter
        return objective.layer, loss, TrainingResult(history, n_iter, result.converged)

    # ------------------------------------------------------------------ inference
    def _soft_assignments(self, layer: ClusteringLayer, source: BatchSource) -> np.ndarray:
        with torch.no_grad():
            parts = [layer(batch).cpu() for batch in source.ordered_batches()]
        return torch.cat(parts).numpy()

    def _source(self, X) -> BatchSource:
        check_is_fitted(self)
        X = validate_input(self, X, reset=False, float32=True, out_of_core=True)
        return X, self._units().source(make_source(X, self.device_))

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
        """Fit to ``X``, then return its soft assignments ``γ`` (see :meth:`transform`)."""
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
        if self.input_offset_ is not None:
            tensors["input_offset_"] = torch.from_numpy(self.input_offset_)
        meta = {name: getattr(self, name) for name in _SAVED_ATTRIBUTES if hasattr(self, name)}
        return tensors, meta

    def _restore(self, tensors, meta, device) -> None:
        n_features = int(meta["n_features_in_"])
        n_clusters = int(meta.get("n_clusters_", tensors["weights_"].shape[0]))
        layer = ClusteringLayer(n_features, n_clusters, bias=self.bias).to(device)
        layer.load_state_dict(
            {k.removeprefix("module."): v for k, v in tensors.items() if k.startswith("module.")}
        )
        self.module_, self.device_ = layer, device
        alpha = self.alpha if isinstance(self.alpha, Real) else np.sort(np.asarray(self.alpha))
        self._alpha_tensor = torch.as_tensor(alpha, dtype=torch.float32, device=device)
        offset = tensors.get("input_offset_")  # models saved before 0.x train in the data's units
        self.input_offset_ = None if offset is None else offset.cpu().numpy()
        self.input_scale_ = float(meta.pop("input_scale_", 1.0))
        self.cluster_centers_ = tensors["cluster_centers_"].cpu().numpy()
        self.labels_ = tensors["labels_"].cpu().numpy()
        self.weights_ = tensors["weights_"].cpu().numpy()
        self.cluster_weights_ = self.weights_
        self.n_clusters_ = n_clusters
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
    "n_clusters_",
    "input_scale_",
    "n_batches_seen_",
    "n_samples_seen_",
    "loss_",
    "loss_curve_",
    "history_",
    "n_iter_",
    "converged_",
    "n_features_in_",
    "feature_names_in_",
)


#: Optimiser steps an epoch takes at least (:class:`aecm.training.LoopConfig`'s ``min_steps``):
#: a data set smaller than this many batches is passed over several times per epoch.
MIN_STEPS_PER_EPOCH = 20


def _distinct_rows(sample) -> int:
    """The number of distinct rows of a dense or sparse array."""
    dense = sample.toarray() if hasattr(sample, "toarray") else np.asarray(sample)
    dense = np.ascontiguousarray(dense)
    return len(np.unique(dense.view(np.dtype((np.void, dense.dtype.itemsize * dense.shape[1])))))


@dataclass
class _Stream:
    """What ``partial_fit`` carries from call to call: the objective, Adam, ``Σ γ`` so far."""

    objective: CMObjective
    optimizer: FlatAdam
    counts: np.ndarray

    def snapshot(self) -> tuple:
        adam = self.optimizer
        tensors = (self.objective.flat, adam.exp_avg, adam.exp_avg_sq)
        return tuple(t.detach().clone() for t in tensors), adam.step_count

    def restore(self, snapshot: tuple) -> None:
        (flat, exp_avg, exp_avg_sq), step_count = snapshot
        adam = self.optimizer
        with torch.no_grad():
            self.objective.flat.copy_(flat)
            adam.exp_avg.copy_(exp_avg)
            adam.exp_avg_sq.copy_(exp_avg_sq)
        adam.step_count = step_count


def _best_run(runs: list, auto: bool):
    """The restart to keep: the lowest final loss; with ``"auto"``, among the restarts that
    found the most frequent number of clusters (the smaller one on ties)."""
    ks = [run[0].n_clusters for run in runs]
    return runs[best_restart(ks, [run[1]["total"] for run in runs], auto)]


def _training_threads(device: torch.device, batch_size: int, n_features: int) -> int | None:
    """One CPU thread for small batches: thread wake-ups then cost more than they save.

    Measured on 2 cores: small batches (e.g. 80 × 16) ran up to 8× slower with 2 threads than
    with 1, and MNIST's 111 × 784 batches 1.4× slower. Large batches keep torch's setting.
    """
    if device.type == "cpu" and batch_size * n_features < 2**20:
        return 1
    return None


def _labels_and_counts(layer: ClusteringLayer, source: BatchSource):
    """``argmax_k γ_ik`` of every row (int64) and ``Σ_i γ_ik`` (float64), in one pass that
    holds one batch's ``γ`` at a time (split by processes under multi-process training)."""
    start, stop = source.own_rows()
    labels = np.empty(stop - start, dtype=np.int64)
    counts = torch.zeros(layer.n_clusters, dtype=torch.float64)
    start = 0
    with torch.no_grad():
        for batch in source.own_batches():
            gamma = layer(batch)
            labels[start : start + len(batch)] = gamma.argmax(dim=1).cpu().numpy()
            counts += gamma.sum(dim=0, dtype=torch.float64).cpu()
            start += len(batch)
    labels = source.gather(torch.from_numpy(labels)).numpy()
    return labels, source.total(counts).numpy()


def _full_loss(layer: ClusteringLayer, source: BatchSource, alpha, normalize: bool):
    """E1–E3 summed over all rows of ``source`` and E4 with the whole data's mixture weights
    (each process sums its rows under multi-process training)."""
    sums = torch.zeros(3 + layer.n_clusters, dtype=torch.float64)
    centroids = layer.centroids().detach()
    with torch.no_grad():
        for batch in source.own_batches():
            gamma = layer(batch)
            terms = cm_loss(batch, gamma, centroids, 1.0)
            sums[:3] += torch.stack([terms[name] for name in CM_TERMS[:3]]).double().cpu()
            sums[3:] += gamma.sum(dim=0).double().cpu()
    sums = source.total(sums)
    sums, counts = sums[:3], sums[3:]
    if normalize:
        sums /= source.n_samples * source.n_features
    log_pi = torch.log(counts / source.n_samples + PRIOR_EPS)
    alpha = torch.as_tensor(alpha, dtype=torch.float64).cpu()
    e4 = ((1.0 - _alpha_by_rank(alpha, log_pi)) * log_pi).sum()
    values = [*sums.tolist(), float(e4)]
    out = dict(zip(CM_TERMS, values, strict=True))
    out["total"] = float(sum(values))
    return out
