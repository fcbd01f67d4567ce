"""``AECM``: a deep autoencoder with the clustering module on its embedding, trained jointly."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.cluster import KMeans

from aecm import paper
from aecm._params import ARRAY_LIKE, AUTO, BOOLEAN, NONE, Interval, Options, is_auto
from aecm.data.batches import make_source
from aecm.estimators._base import check_init_sample_size, check_n_clusters, sample_rows
from aecm.estimators.deep import DeepClusterer, SoftAssignmentMixin
from aecm.init import Mixture, mixture_em, posterior_layer
from aecm.losses import squared_distances
from aecm.methods.aecm import AECMObjective
from aecm.methods.cm import CMObjective, select_clusters
from aecm.methods.pruning import PruningConfig, default_max_clusters, prune_clusters
from aecm.nn.cm import ClusteringLayer
from aecm.training import FlatAdam, TrainingResult, make_optimizer, train

#: ``beta="auto"``: the autoencoder's reconstruction weighs this much against the CM's data term
#: at the start of the CM phase (both per row; docs/results.md, "Which defaults for AE-CM?").
BETA_RATIO = 0.1

#: ``alpha="auto"``: ``α = 1 + ALPHA_STRENGTH · n_B / K`` (n_B: the batch's rows), so that the
#: prior's gradient on one row's assignment at equal weights, ``(α − 1) K / n_B``, is the same
#: at any batch size (docs/results.md, "Which defaults for AE-CM?").
ALPHA_STRENGTH = 0.3

#: Adam's step in the pruning stage of ``n_clusters="auto"`` (a CM on the sphered embedding):
#: ``ClusteringModule``'s default.
PRUNING_LEARNING_RATE = 1e-3

#: Rows of the embedding that k-means sees when it places the ``max_clusters`` starting
#: clusters of ``n_clusters="auto"`` (ClusteringModule's ``init_sample_size``).
_AUTO_INIT_SAMPLE = 10_000

__all__ = ["AECM"]


class AECM(SoftAssignmentMixin, DeepClusterer):
    """AE-CM (Boubekki et al., 2021): an MLP autoencoder and a CM on its embedding.

    Schedule ``"pre"`` (the paper's better variant):

    1. pretrain the autoencoder on its reconstruction (``pretrain_epochs``);
    2. k-means (20 restarts) on the embedding (rescaled so that the centroids have unit mean
       norm with ``rescale_embedding``); the CM's decoder takes the centroids and its
       encoder starts as ``cm_init`` says: the posteriors of the isotropic mixture of the
       k-means partition (the default, :func:`aecm.init.posterior_layer`; exact with the
       CM's ``bias``) or the paper's pseudo-inverse encoder;
    3. the CM alone on the frozen embedding (``cm_epochs``);
    4. everything jointly (``n_epochs``), then an averaging epoch.

    Schedule ``"rand"`` skips steps 1–3 and trains from a random start.

    With ``n_clusters="auto"`` (schedule "pre"), step 2 becomes the pruning stage of
    :class:`aecm.ClusteringModule`'s ``n_clusters="auto"`` (the same code) run on the frozen
    embedding, sphered (its pooled within-cluster covariance made the identity): k-means places
    ``max_clusters`` clusters, a CM trained with the rule ``α = 1 − λ σ²_max n_B / K`` empties
    the clusters the embedding does not need and each is removed once its weight falls below
    ``min_cluster_weight``. The centroids left start steps 3 and 4; clusters that these phases
    leave with a weight below ``min_cluster_weight`` are removed at the end, and predictions
    use only the clusters left. How these choices were measured: docs/results.md ("AE-CM's
    design choices, measured").

    Parameters
    ----------
    n_clusters : int or "auto", default=8
        Number of clusters ``K``; ``"auto"``: find it on the pretrained embedding (see above;
        needs ``schedule="pre"`` and ``cm_epochs ≥ 1``); the number found is ``n_clusters_``.
    embedding_dim : int, default=10
        Embedding size ``p``; must be ≥ ``n_clusters`` (the centroids are made orthonormal),
        and ≥ ``max_clusters`` with ``"auto"``.
    <the parameters of every deep estimator>
    cm_epochs : int, default=100
        Epochs of the CM alone on the frozen embedding (schedule "pre"). With
        ``n_clusters="auto"`` also the most epochs of the pruning stage before it.
    n_epochs : int, default=1000
        Epochs of joint training.
    learning_rate : float, default=3e-4
        Step size of Adam in the CM phase and of AdamW (``eps=1e-3``) in the joint phase. With
        the default loss Adam's steps are about this size whatever the gradients' scale; at
        1e-3 the joint phase merged clusters on data sets of a few hundred rows
        (docs/results.md, "Which defaults for AE-CM?"). The pruning stage of
        ``n_clusters="auto"`` steps by 1e-3, as :class:`aecm.ClusteringModule`.
    alpha : "auto", float or array-like of shape (n_clusters,), default="auto"
        Dirichlet concentration of the CM's prior (see :class:`aecm.ClusteringModule`); 1 is
        the flat prior, larger values pull the clusters towards equal weights. The prior's
        term does not grow with the batch while the others do, so a value acts in proportion
        to ``α / n_B`` (the paper tunes ``α`` with the batch size). ``"auto"``: ``α = 1 + 0.3
        · n_B / K`` (``ALPHA_STRENGTH``; ``n_B = min(batch_size, n_samples)``), the same pull
        per row at any batch size; without it (``alpha=1``) the joint phase merged clusters
        on small data sets. A vector pairs its sorted values with the clusters sorted by
        weight; ``refine_iter``'s EM is the maximum-likelihood mixture and does not use
        ``alpha``; ``n_clusters="auto"`` needs a single number or ``"auto"`` (with ``K`` the
        number of clusters found).
    beta : float or "auto", default="auto"
        Weight of the autoencoder's reconstruction. ``"auto"``: chosen so that, as the CM
        phase starts, the reconstruction weighs ``BETA_RATIO`` (0.1) times the CM's data term,
        both per row on the initialisation sample: ``β = 0.1 · mean_i min_k ‖z_i − μ_k‖² /
        mean_i ‖x_i − x̂_i‖²`` with ``μ`` the k-means centroids of the embedding ``z`` (for
        the "rand" schedule, of the untrained embedding). It then does not depend on the
        scale of the data, the number of features or how well the autoencoder reconstructs.
        The value used is ``beta_``.
    lbd : float, default=1.0
        Weight ``λ`` of the orthonormality term.
    schedule : {"pre", "rand"}, default="pre"
        ``"pre"``: pretraining, k-means, the CM phase, then joint training (the paper's better
        variant); ``"rand"``: joint training from a random start. ``"rand"`` is kept to compare
        with the paper: with ``beta="auto"`` (measured on the untrained autoencoder, β is then
        near 0) it can merge every cluster into one, and a fixed ``beta`` did not keep the
        three clusters of 400 rows of three separated blobs; prefer ``"pre"``.
    loss : {"pytorch", "paper", "normalized"}, default="pytorch"
        The loss form (see :func:`aecm.losses.aecm_loss`): sums over the batch with the squared
        (``"pytorch"``, the authors' PyTorch module) or absolute (``"paper"``, their TensorFlow
        code) orthonormality penalty, or the CM's terms and the reconstruction as means
        (``"normalized"``, the authors' PyTorch example, whose weights must then be tuned
        again: with ``alpha=1.1, beta=100, lbd=0.1`` it was aecm's default before). How the
        defaults were chosen: docs/results.md, "Which defaults for AE-CM?".
    averaging : bool, default=True
        Polyak-average the weights over a final epoch.
    tol : float, default=0.0
        Windowed loss tolerance of the joint phase (see :class:`aecm.ClusteringModule`).
    refine_iter : int, default=0
        EM iterations of the isotropic Gaussian mixture on the final embedding, started from
        the CM's centroids, after the joint phase; the CM is then set to the result (centroids
        = the mixture's means, encoder fitted to its posteriors, as after k-means in the "pre"
        schedule). 0 keeps the CM as the joint phase left it (the paper). In short schedules
        the CM's centroids trail the embedding, and refining helps (docs/results.md,
        "``refine_iter``"). Costs ``refine_iter`` passes over the
        embedding of ``init_sample_size`` rows.
    cm_init : {"posterior", "pinv"}, default="posterior"
        How the CM's encoder starts in the "pre" schedule, its decoder holding the k-means
        centroids. ``"posterior"``: the posteriors of the isotropic mixture of the k-means
        partition (:func:`aecm.init.posterior_layer`; near-hard on separated clusters).
        ``"pinv"``: the paper's pseudo-inverse encoder ``W = pinv(U)ᵀ``, much softer, whose
        ``argmax`` need not be the nearest centroid (the authors' code; :meth:`from_paper`).
        Which trains better depends on the data and the loss (docs/results.md).
    rescale_embedding : bool, default=True
        Schedule "pre": before the CM phase, divide the pretrained embedding by the mean norm
        of its k-means centroids (the decoder's first layer multiplies it back, so the
        reconstructions do not change), so that the centroids start at the unit norm that the
        loss assumes (its sparsity term takes ``‖μ_k‖ = 1`` and its orthonormality term pulls
        them there). The fit is then the same whatever the scale of the pretrained embedding
        (an autoencoder pretrained elsewhere may embed 10 times larger or smaller than aecm's).
        False trains on the embedding as it is (the authors' code, :meth:`from_paper`).
    bias : bool, default=True
        Whether the CM has biases (:class:`aecm.nn.ClusteringLayer`). With them its ``γ``
        start as exactly the posteriors of the k-means mixture, and two clusters in the same
        direction from the embedding's origin stay apart; without (the authors' PyTorch
        module, :meth:`from_paper`) the encoder is an L-BFGS fit to those posteriors, and on
        iris the joint phase merged two such clusters within one epoch (docs/results.md,
        "Which defaults for AE-CM?").
    max_clusters : int or None, default=None
        With ``n_clusters="auto"``: the number of clusters the pruning starts from, in
        ``[2, min(n_samples, embedding_dim)]``. None: ``min(50, n_samples // 10,
        embedding_dim)``, at least 2. Ignored otherwise.
    min_cluster_weight : float in (0, 1), default=0.01
        With ``n_clusters="auto"``: a cluster is removed once its weight ``π̂_k`` falls below
        this. Ignored otherwise.
    prune_strength : float > 0, default=4.0
        With ``n_clusters="auto"``: ``λ`` of the pruning rule (see
        :class:`aecm.ClusteringModule`); larger values give fewer clusters. Ignored otherwise.

    Attributes
    ----------
    autoencoder_ : Autoencoder
    cm_ : ClusteringLayer
        The clustering module on the embedding.
    cluster_centers_ : ndarray of shape (``n_clusters_``, embedding_dim)
        The CM's centroids in embedding space.
    labels_ : ndarray of shape (n_samples,)
    n_clusters_ : int
        The number of clusters: ``n_clusters``, or the number found with ``"auto"``.
    cluster_weights_ : ndarray of shape (``n_clusters_``,)
        The mean soft assignment of the training data to each cluster.
    loss_ : float
        The AE-CM loss over the training data (batches of ``batch_size``, in order).
    history_ : dict
        Per phase (``"pretrain"``, ``"cm"``, ``"joint"``), per epoch, each loss term. With
        ``"auto"`` also ``"prune"``, the pruning stage: per epoch its CM terms, ``"loss"``,
        ``"seconds"``, ``"n_clusters"`` and ``"alpha"``, and ``"pruned"``, one
        ``[epoch, ids]`` pair per removal (ids among the ``max_clusters`` initial clusters),
        and ``"removed_after_training"``: the ids of those removed after the joint phase. And
        ``"clusters"``: ``{"empty_clusters": [count], "largest_cluster_fraction": [share]}`` of
        ``labels_`` (a :class:`aecm.exceptions.CollapseWarning` is emitted when a cluster is
        empty or, with an integer ``n_clusters``, holds more than 90 % of the points).
    n_iter_ : int
        Epochs of the joint phase.
    beta_ : float
        The weight of the autoencoder's reconstruction that the fit used (``beta``, or the
        value ``"auto"`` chose).

    Notes
    -----
    **Data larger than memory** (all deep estimators). ``X`` may be a ``np.memmap`` (e.g.
    ``np.load(path, mmap_mode="r")``), any 2-D array-like with ``shape``, ``dtype`` and row
    slicing (HDF5, zarr), or a map-style ``torch.utils.data.Dataset``/``DataLoader`` (an item is
    a row, or an ``(x, y)`` tuple whose ``x`` is used; a ``DataLoader``'s sampler, batch size
    and workers are not used). Batches are read as needed (see :mod:`aecm.data.lazy` for the
    order of shuffled batches) and checked for NaN/inf as they are read; pretraining,
    training, ``predict`` and ``transform`` all stream. What stays in memory is per row and
    small: ``labels_`` and, for DEC/IDEC, the target distribution (``n_samples × n_clusters``),
    which DEC recomputes over all rows every ``update_interval`` batches: a full pass over the
    data each time.

    **Several processes** (all deep estimators; ``torchrun``, see :mod:`aecm.distributed`).
    When a process group of more than one process is initialised, every training phase
    (pretraining included) splits each global batch of ``batch_size`` rows over the processes
    and sums their gradients; means, AE-CM's ``π̂``, DCN's centroid updates and DEC's target
    use the global batch or all rows, so the fit equals the one-process fit with the same
    ``batch_size`` and seed, to float rounding.
    """

    _parameter_constraints = {
        **DeepClusterer._common_constraints,
        "n_clusters": [Interval(Integral, 1, None, closed="left"), AUTO],
        "max_clusters": [Interval(Integral, 2, None, closed="left"), NONE],
        "min_cluster_weight": [Interval(Real, 0, 1, closed="neither")],
        "prune_strength": [Interval(Real, 0, None, closed="neither")],
        "cm_epochs": [Interval(Integral, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither"), AUTO, ARRAY_LIKE],
        "beta": [Interval(Real, 0, None, closed="left"), AUTO],
        "lbd": [Interval(Real, 0, None, closed="left")],
        "schedule": [Options(("pre", "rand"))],
        "loss": [Options(("paper", "pytorch", "normalized"))],
        "averaging": [BOOLEAN],
        "refine_iter": [Interval(Integral, 0, None, closed="left")],
        "cm_init": [Options(("posterior", "pinv"))],
        "rescale_embedding": [BOOLEAN],
        "bias": [BOOLEAN],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        embedding_dim=10,
        hidden_dims=(500, 500, 2000),
        pretrain_epochs=100,
        cm_epochs=100,
        n_epochs=1000,
        batch_size=256,
        learning_rate=3e-4,
        pretrain_learning_rate=1e-3,
        alpha="auto",
        beta="auto",
        lbd=1.0,
        schedule="pre",
        loss="pytorch",
        averaging=True,
        pretrained=None,
        init_sample_size=100_000,
        n_init=1,
        tol=0.0,
        device="auto",
        random_state=None,
        verbose=False,
        on_nan="raise",
        checkpoint_dir=None,
        checkpoint_every=1,
        max_clusters=None,
        min_cluster_weight=0.01,
        prune_strength=4.0,
        refine_iter=0,
        cm_init="posterior",
        rescale_embedding=True,
        bias=True,
    ):
        self._store_init_params(locals())

    @classmethod
    def from_paper(cls, dataset: str, **params) -> AECM:
        """AE-CM as the authors' PyTorch code runs it on ``dataset``: their loss
        (``loss="pytorch"``: sums over the batch, squared orthonormality penalty, ``λ = 1``),
        their tuned ``embedding_dim``, ``beta``, ``alpha`` and ``batch_size``, their
        pseudo-inverse start of a CM without biases (``cm_init="pinv"``, ``bias=False``) on the
        embedding as pretrained (``rescale_embedding=False``), and their step size 1e-3.
        Keyword arguments override any of these."""
        defaults = {
            "loss": "pytorch",
            "lbd": 1.0,
            "cm_init": "pinv",
            "rescale_embedding": False,
            "bias": False,
            "learning_rate": 1e-3,
            **paper.tuned(paper.AECM_TUNED, dataset),
        }
        return cls(**{**defaults, **params})

    def _check_method_params(self, X) -> None:
        if is_auto(self.n_clusters):
            self._check_auto(X.shape[0])
            return
        if self.embedding_dim < self.n_clusters:
            raise ValueError(
                f"embedding_dim={self.embedding_dim} must be >= n_clusters={self.n_clusters}: "
                "AE-CM makes the K centroids orthonormal in the embedding space."
            )
        if not isinstance(self.alpha, Real) and not is_auto(self.alpha):
            alpha = np.asarray(self.alpha, dtype=np.float64)
            if alpha.shape != (self.n_clusters,) or np.any(alpha <= 0):
                raise ValueError(
                    f"alpha must be a positive number or a vector of {self.n_clusters} positive "
                    f"values; got {self.alpha!r}."
                )

    def _check_auto(self, n_samples: int) -> None:
        if self.schedule != "pre":
            raise ValueError(
                "n_clusters='auto' needs schedule='pre': the clusters are pruned on the "
                "pretrained embedding."
            )
        if self.cm_epochs < 1:
            raise ValueError(
                "n_clusters='auto' prunes the clusters in the CM phase: cm_epochs must be >= 1."
            )
        if not isinstance(self.alpha, Real) and not is_auto(self.alpha):
            raise ValueError(
                "With n_clusters='auto', alpha must be a single positive number or 'auto' (the "
                "prior at the number of clusters found); a vector needs an integer n_clusters."
            )
        check_init_sample_size(self.init_sample_size, self._max_clusters(n_samples), "max_clusters")

    def _max_clusters(self, n_samples: int) -> int:
        """``max_clusters``, or its default ``min(50, n_samples // 10, embedding_dim)`` (≥ 2)."""
        if self.max_clusters is None:
            max_clusters = max(2, min(default_max_clusters(n_samples), self.embedding_dim))
        else:
            max_clusters = self.max_clusters
        check_n_clusters(max_clusters, n_samples, "max_clusters")
        if max_clusters > self.embedding_dim:
            raise ValueError(
                f"max_clusters={max_clusters} must be <= embedding_dim={self.embedding_dim}: "
                "AE-CM makes the centroids orthonormal in the embedding space, so it keeps at "
                "most embedding_dim clusters; raise embedding_dim to search more."
            )
        return max_clusters

    def _needs_pretraining(self) -> bool:
        return self.schedule == "pre"

    def _saved_alpha(self, meta: dict, device) -> torch.Tensor:
        """The ``α`` a saved fit used (``alpha`` itself for models saved before it was stored)."""
        alpha = np.asarray(meta.get("alpha", self.alpha), dtype=np.float32)
        return torch.as_tensor(np.sort(alpha) if alpha.ndim else alpha, device=device)

    def _alpha_tensor(self, device, n_clusters: int, n_samples: int) -> torch.Tensor:
        """``alpha`` sorted, or with ``"auto"`` ``1 + ALPHA_STRENGTH · n_B / K``."""
        if is_auto(self.alpha):
            batch = min(self.batch_size, n_samples)
            alpha = 1.0 + ALPHA_STRENGTH * batch / n_clusters
        elif isinstance(self.alpha, Real):
            alpha = self.alpha
        else:
            alpha = np.sort(np.asarray(self.alpha))
        return torch.as_tensor(alpha, dtype=torch.float32, device=device)

    def _fit_clusters(self, autoencoder, source, generator, seed):
        phases = {}
        if self.schedule == "pre":
            if is_auto(self.n_clusters):
                z = self._init_embedding(autoencoder, source, seed)
                centroids, phases["prune"], kept = self._pruned_centroids(z, generator, seed)
            else:
                centroids = self._kmeans_centroids(autoencoder, source, seed)
                z = self._init_embedding(autoencoder, source, seed)
            if self.rescale_embedding:
                scale = float(centroids.norm(dim=1).mean())
                autoencoder.rescale_embedding(scale)
                centroids, z = centroids / scale, z / scale
            beta = self._auto_beta(autoencoder, source, seed, z, centroids)
            if self.cm_init == "pinv":
                layer = ClusteringLayer(self.embedding_dim, centroids.shape[0], bias=self.bias)
                layer.init_from_centroids(centroids.cpu())
            else:  # the encoder whose γ are the mixture's posteriors (class docstring)
                mixture = Mixture.from_partition(z, centroids)
                layer = posterior_layer(mixture, bias=self.bias, x=z)
        else:
            layer = ClusteringLayer(self.embedding_dim, self.n_clusters, bias=self.bias)
            layer.reset_parameters(generator)
            beta = self._auto_beta(autoencoder, source, seed)
        layer.to(source.device)
        self._beta = beta
        alpha = self._alpha_tensor(source.device, layer.n_clusters, source.n_samples)
        options = self._loss_options()
        if self.schedule == "pre" and self.cm_epochs > 0:
            objective = AECMObjective(autoencoder, layer, alpha, joint=False, **options)
            optimizer = make_optimizer(
                torch.optim.Adam, objective.parameters(), lr=self.learning_rate, eps=1e-3
            )
            config = self._loop_config(self.cm_epochs, "CM on the embedding", averaging=False)
            phases["cm"] = train(objective, optimizer, source, config, generator)
        objective = AECMObjective(autoencoder, layer, alpha, joint=True, **options)
        if self.n_epochs > 0:
            optimizer = make_optimizer(
                torch.optim.AdamW, objective.parameters(), lr=self.learning_rate, eps=1e-3
            )
            phases["joint"] = self._train_clustering(
                objective,
                optimizer,
                source,
                generator,
                averaging=self.averaging,
                n_clusters=layer.n_clusters,
            )
        if self.refine_iter > 0:
            self._refine(objective.layer, self._init_embedding(autoencoder, source, seed))
        if "prune" in phases:
            history = phases["prune"].history
            objective = self._drop_small_clusters(objective, source, history, kept)
        return objective, phases

    def _loss_options(self) -> dict:
        return {"beta": self._beta, "lbd": self.lbd, "form": self.loss}

    @torch.no_grad()
    def _auto_beta(self, autoencoder, source, seed, z=None, centroids=None) -> float:
        """``beta``, or with ``"auto"`` the β under which the autoencoder's reconstruction
        weighs ``BETA_RATIO`` times the CM's data term, both per row on the initialisation
        sample: ``β = BETA_RATIO · mean_i min_k ‖z_i − μ_k‖² / mean_i ‖x_i − x̂_i‖²`` with
        ``μ`` the k-means centroids of the embedding ``z`` (as the CM phase starts; computed
        here for the "rand" schedule). Invariant to the scale of the data."""
        if not is_auto(self.beta):
            return float(self.beta)
        if centroids is None:
            centroids = self._kmeans_centroids(autoencoder, source, seed)
            z = self._init_embedding(autoencoder, source, seed)
        rows = sample_rows(source.n_samples, self.init_sample_size, seed)
        batches = source.ordered_batches() if rows is None else source.batches_at(np.sort(rows))
        squares = sum(float(((b - autoencoder(b)) ** 2).sum()) for b in batches)
        reconstruction = squares / z.shape[0]
        spread = float(squared_distances(z, centroids).min(dim=1).values.mean())
        if not reconstruction > 0 or not spread > 0:
            return 1.0  # a perfect autoencoder or one point per cluster: nothing to balance
        return BETA_RATIO * spread / reconstruction

    @torch.no_grad()
    def _refine(self, layer: ClusteringLayer, z: torch.Tensor) -> None:
        """``refine_iter`` EM iterations of the isotropic mixture on the final embedding ``z``
        from the CM's centroids; the CM then becomes that mixture, as after k-means in the
        "pre" schedule (:func:`aecm.init.posterior_layer`)."""
        mixture, _ = mixture_em(z, layer.centroids(), self.refine_iter)
        layer.load_state_dict(posterior_layer(mixture, bias=self.bias, x=z).state_dict())

    @torch.no_grad()
    def _drop_small_clusters(self, objective, source, history, kept):
        """Remove the clusters that the CM and joint phases left with a weight below
        ``min_cluster_weight`` (``n_clusters="auto"``); their ids among the initial clusters
        (``kept`` holds those of the current ones) go to
        ``history["removed_after_training"]``."""
        layer = objective.layer
        total = sum(
            layer(objective.autoencoder.encode(b)).double().sum(dim=0)
            for b in source.ordered_batches()
        )
        weights = (total / source.n_samples).cpu().numpy()
        small = weights < self.min_cluster_weight
        small[np.argmax(weights)] = False
        history["removed_after_training"] = kept[small].tolist()
        if not small.any():
            return objective
        keep = torch.as_tensor(np.flatnonzero(~small), device=source.device)
        return AECMObjective(
            objective.autoencoder,
            select_clusters(layer, keep),
            objective.alpha,
            **self._loss_options(),
        )

    def _pruned_centroids(self, z, generator, seed):
        """``n_clusters="auto"``: the centroids left by the CM's pruning stage on the embedding,
        the stage's :class:`~aecm.training.TrainingResult` and the kept clusters' initial ids.

        ``z`` is the embedding of the initialisation sample (``init_sample_size`` rows, all
        rows of data sets up to that size); the stage trains on it. The CM sees it sphered (see
        the class docstring): k-means with ``max_clusters`` on (at most 10 000 rows of) it, the
        pooled covariance of the points around their k-means centroid made the identity, then
        every dimension moved to start at 0. The centroids the stage leaves are mapped back.
        """
        n_samples = z.shape[0]
        max_clusters = self._max_clusters(n_samples)
        embedded = z.double().cpu().numpy()
        sample = embedded
        if n_samples > _AUTO_INIT_SAMPLE:
            rows = np.random.default_rng(seed).choice(n_samples, _AUTO_INIT_SAMPLE, False)
            sample = embedded[np.sort(rows)]
        kmeans = KMeans(max_clusters, n_init=1, random_state=seed).fit(sample)
        sphere = _Sphering.fit(sample, kmeans.cluster_centers_, kmeans.labels_, embedded)
        mixture = Mixture.from_partition(
            torch.as_tensor(sphere.apply(sample)),
            torch.as_tensor(sphere.apply(kmeans.cluster_centers_)),
        )
        layer = posterior_layer(mixture, bias=True)
        objective = CMObjective(layer.to(z.device), torch.ones((), device=z.device))
        optimizer = FlatAdam(objective.flat, lr=PRUNING_LEARNING_RATE, eps=1e-3)
        config = PruningConfig(
            strength=self.prune_strength,
            min_weight=self.min_cluster_weight,
            n_epochs=self.cm_epochs,
            scale=min(self.batch_size, n_samples),
        )
        loop = self._loop_config(self.cm_epochs, "AE-CM auto", averaging=False)
        source = make_source(sphere.apply(embedded).astype(np.float32), z.device)
        stage = prune_clusters(objective, optimizer, source, loop, config, generator)
        history = {**stage.history, "pruned": stage.pruned}
        centroids = sphere.invert(stage.objective.layer.centroids().detach().double().cpu().numpy())
        centroids = torch.as_tensor(centroids, dtype=z.dtype, device=z.device)
        result = TrainingResult(history, stage.n_iter, stage.n_iter < self.cm_epochs)
        return centroids, result, stage.kept

    def _soft_assign(self, objective, z):
        return objective.layer(z)

    def _assign(self, objective, z):
        return objective.layer(z).argmax(dim=1)

    def _centroids(self, objective):
        return objective.layer.centroids()

    def _objective_state(self, objective):
        tensors = {f"cm.{k}": v for k, v in objective.layer.state_dict().items()}
        return tensors, {"beta": objective.beta, "alpha": objective.alpha.tolist()}

    def _build_objective(self, autoencoder, tensors, meta):
        device = next(autoencoder.parameters()).device
        n_clusters = tensors["cm.encoder_weight"].shape[0]
        if "cm.encoder_bias" not in tensors:
            self.bias = False  # saved without biases (all models saved before ``bias`` existed)
        layer = ClusteringLayer(self.embedding_dim, n_clusters, bias=self.bias).to(device)
        layer.load_state_dict({k.removeprefix("cm."): v for k, v in tensors.items()})
        self._beta = float(meta.get("beta", self.beta))
        return AECMObjective(
            autoencoder, layer, self._saved_alpha(meta, device), **self._loss_options()
        )

    @property
    def cm_(self) -> ClusteringLayer:
        return self._objective.layer

    @property
    def beta_(self) -> float:
        return self._objective.beta


class _Sphering:
    """``x ↦ x T − low``: the within-cluster covariance made the identity, then the data moved
    into the positive orthant (``low``: the smallest value of each sphered dimension)."""

    def __init__(self, transform: np.ndarray, inverse: np.ndarray, low: np.ndarray) -> None:
        self.transform, self.inverse, self.low = transform, inverse, low

    @classmethod
    def fit(cls, sample, centroids, labels, data) -> _Sphering:
        """From the pooled covariance of ``sample`` around its k-means ``centroids``."""
        residuals = sample - centroids[labels]
        values, vectors = np.linalg.eigh(residuals.T @ residuals / sample.shape[0])
        values = np.maximum(values, 1e-12 * max(values.max(), 1e-300))
        transform = vectors / np.sqrt(values)
        inverse = np.sqrt(values)[:, None] * vectors.T
        return cls(transform, inverse, (data @ transform).min(axis=0))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return x @ self.transform - self.low

    def invert(self, x: np.ndarray) -> np.ndarray:
        return (x + self.low) @ self.inverse
