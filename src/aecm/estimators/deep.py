"""The shared base of the deep clustering estimators (an autoencoder plus a clustering method).

One design for every method: validate, pretrain the autoencoder (or take a pretrained one),
let the method initialise its clusters on the embedding and train its objective with the one
training loop, keep the restart with the lowest final loss. A method's estimator declares its
parameters and implements three small hooks: ``_fit_clusters``, ``_assign`` and (where soft
assignments exist) ``_soft_assign``.
"""

from __future__ import annotations

import copy
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from aecm._params import (
    BOOLEAN,
    DEVICE,
    NONE,
    ON_NAN,
    RANDOM_STATE,
    Interval,
    _ArrayLike,
    is_auto,
    validate_params,
)
from aecm._runtime import resolve_device, torch_runtime
from aecm.data.batches import BatchSource, make_source
from aecm.distributed import current_shard
from aecm.estimators._base import (
    CHECKPOINT_CONSTRAINTS,
    check_collapse,
    check_init_sample_size,
    check_n_clusters,
    cpu_generator,
    open_checkpoints,
    output_dtype,
    restart_seeds,
    sample_rows,
    sparse_checks_not_applicable,
    validate_input,
)
from aecm.methods.autoencoder import ReconstructionObjective
from aecm.methods.pruning import best_restart
from aecm.nn.autoencoder import Autoencoder
from aecm.persistence import PersistenceMixin, restore_attributes
from aecm.training import LoopConfig, Objective, TrainingResult, make_optimizer, train

__all__ = ["DeepClusterer"]

#: Fitted attributes saved in the JSON part of a saved model.
_SAVED_ATTRIBUTES = (
    "loss_",
    "history_",
    "n_iter_",
    "n_features_in_",
    "feature_names_in_",
    "cluster_weights_",
)


class _Pretrained:
    """An :class:`Autoencoder`, or a fitted deep estimator (its ``autoencoder_`` is used)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Autoencoder) or hasattr(value, "autoencoder_")

    def __str__(self) -> str:
        return "None, an aecm.nn.Autoencoder or a fitted aecm deep estimator"


#: The line of a deep estimator's docstring that stands for :data:`SHARED_PARAMETERS_DOC`.
SHARED_PARAMETERS_MARK = "    <the parameters of every deep estimator>\n"

#: The descriptions of the parameters that every deep estimator has, written once and put into
#: each one's Parameters section by :meth:`DeepClusterer.__init_subclass__`.
SHARED_PARAMETERS_DOC = """\
    hidden_dims : sequence of int, default=(500, 500, 2000)
        Encoder hidden layers; the decoder mirrors them.
    pretrain_epochs : int, default=100
        Epochs of autoencoder pretraining (Adam on the mean squared error); 0 keeps the
        randomly initialised network. Not used with ``pretrained``.
    batch_size : int, default=256
        Rows per optimiser step, in every phase (pretraining included), and per batch when
        embedding the data.
    pretrain_learning_rate : float, default=1e-3
        Step size of Adam when pretraining the autoencoder.
    pretrained : Autoencoder or fitted deep estimator, default=None
        Reuse this autoencoder (copied) instead of pretraining one; a fitted deep estimator
        gives its ``autoencoder_``. It must take ``n_features`` inputs and embed in
        ``embedding_dim`` dimensions.
    init_sample_size : int or None, default=100000
        k-means on the embedding (the start of the clustering) uses this many rows drawn at
        random from the random state (all rows, in order, when None or when the data has no
        more). With data larger than memory this bounds what the initialisation holds
        (``init_sample_size × embedding_dim`` floats).
    n_init : int, default=1
        Restarts of the whole fit (pretraining included, unless ``pretrained``) with different
        seeds; the lowest final loss is kept.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``…
    random_state : int, RandomState or None, default=None
        Seeds the network's initialisation, k-means, the batch order and the restarts: the
        same seed on the same device gives the same labels.
    verbose : bool, default=False
        Show a progress bar per phase with the loss terms.
    on_nan : {"raise", "restore"}, default="raise"
        What a non-finite loss does. ``"raise"``: put back the weights of the end of the last
        finite epoch and raise ``FloatingPointError`` naming the epoch, batch and term.
        ``"restore"``: put them back, halve the learning rate, reset the optimiser's state and
        run the epoch again (at most 5 times per training phase, then raise);
        ``history_[phase]["nan_restarts"]`` counts the restarts before each epoch.
    checkpoint_dir : str, path or None, default=None
        Write checkpoints of the training to this folder, and resume from it: a ``fit`` whose
        folder holds checkpoints of the same run (same parameters but ``device``, ``verbose``
        and the two ``checkpoint_*``; the same data) goes on from the newest valid one, loads
        the phases that were finished (e.g. pretraining) instead of training them again, and
        ends with the same result as an uninterrupted fit (bit-identical on the CPU). A folder
        of another run is refused with a ``ValueError`` naming what differs. A corrupted or
        truncated checkpoint is skipped with a :class:`aecm.exceptions.CheckpointWarning` for
        the one before. The folder stays after the fit: fitting again with it loads the
        finished training instead of repeating it; delete it to train anew. See
        :mod:`aecm.checkpoint`.
    checkpoint_every : int, default=1
        Epochs between checkpoints; each phase also writes one at its end.
"""


class DeepClusterer(PersistenceMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Base class of the deep estimators: an autoencoder, pretrained or given, and a
    method's clustering on its embedding.

    A subclass's docstring has the line :data:`SHARED_PARAMETERS_MARK` in its Parameters
    section; the descriptions of the shared parameters replace it when the class is defined.
    """

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__doc__ and SHARED_PARAMETERS_MARK in cls.__doc__:
            cls.__doc__ = cls.__doc__.replace(SHARED_PARAMETERS_MARK, SHARED_PARAMETERS_DOC)

    _common_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_dims": [_ArrayLike()],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "n_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "pretrain_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "pretrained": [NONE, _Pretrained()],
        "init_sample_size": [Interval(Integral, 1, None, closed="left"), NONE],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "device": [DEVICE],
        "random_state": [RANDOM_STATE],
        "verbose": [BOOLEAN, Interval(Integral, 0, None, closed="left")],
        "on_nan": [ON_NAN],
        **CHECKPOINT_CONSTRAINTS,
    }

    def _store_init_params(self, values: dict[str, Any]) -> None:
        """Store ``__init__``'s arguments unmodified, by name (scikit-learn's convention)."""
        for name in self._get_param_names():
            setattr(self, name, values[name])

    # ------------------------------------------------------------------ hooks
    def _check_method_params(self, X) -> None:
        """Checks that involve several parameters or the data (e.g. ``embedding_dim ≥ K``)."""

    def _needs_pretraining(self) -> bool:
        return True

    def _fit_clusters(
        self, autoencoder: Autoencoder, source: BatchSource, generator: torch.Generator, seed: int
    ) -> tuple[Objective, dict[str, TrainingResult]]:
        """Initialise and train the method on the embedding; return its objective and phases."""
        raise NotImplementedError

    def _assign(self, objective: Objective, z: Tensor) -> Tensor:
        """Hard cluster assignments of embedded rows ``z``."""
        raise NotImplementedError

    def _centroids(self, objective: Objective) -> Tensor:
        """The cluster centres in embedding space (K × p)."""
        raise NotImplementedError

    def _objective_state(self, objective: Objective) -> tuple[dict[str, Tensor], dict]:
        """The tensors and values that :meth:`_build_objective` needs to predict again."""
        return {"centroids": self._centroids(objective)}, {}

    def _build_objective(self, autoencoder, tensors: dict[str, Tensor], meta: dict) -> Objective:
        """The trained objective, rebuilt from a saved model."""
        raise NotImplementedError

    # ------------------------------------------------------------------ fitting
    def _loop_config(self, n_epochs: int, description: str, **kwargs) -> LoopConfig:
        return LoopConfig(
            n_epochs=n_epochs,
            batch_size=self.batch_size,
            verbose=bool(self.verbose),
            description=description,
            on_nan=self.on_nan,
            checkpoints=getattr(self, "_checkpoints", None),
            **kwargs,
        )

    def _validate_hidden_dims(self) -> tuple[int, ...]:
        dims = tuple(self.hidden_dims)
        if not all(isinstance(h, Integral) and not isinstance(h, bool) and h > 0 for h in dims):
            raise ValueError(f"hidden_dims must be positive integers; got {self.hidden_dims!r}.")
        return tuple(int(h) for h in dims)

    def fit(self, X, y=None):
        """Fit to ``X`` of shape (n_samples, n_features): an array-like, a sparse CSR matrix, or
        data larger than memory read batch by batch (a ``np.memmap``, an HDF5/zarr-like array, a
        ``torch.utils.data.Dataset`` or ``DataLoader``; see :class:`aecm.AECM`)."""
        X = validate_input(self, X, reset=True, float32=True, out_of_core=True)
        validate_params(self, self._parameter_constraints)
        auto = is_auto(self.n_clusters)
        if not auto:  # the methods that accept "auto" check their max_clusters
            check_n_clusters(self.n_clusters, X.shape[0])
            check_init_sample_size(self.init_sample_size, self.n_clusters)
        hidden_dims = self._validate_hidden_dims()
        self._check_method_params(X)
        pretrained = self._pretrained_autoencoder(X.shape[1])
        device = resolve_device(self.device)
        shard = current_shard(device)
        seeds = restart_seeds(self.random_state, self.n_init, shard)
        checkpoints, seeds = open_checkpoints(self, X, seeds)
        runs = []
        self._checkpoints = checkpoints  # read by _loop_config during this fit
        with torch_runtime():
            source = make_source(X, device, shard)
            for restart, seed in enumerate(seeds):
                if checkpoints is not None:
                    checkpoints.start_restart(restart)
                generator = cpu_generator(seed)
                autoencoder, pretrain = self._autoencoder(
                    X.shape[1], hidden_dims, pretrained, source, generator
                )
                objective, phases = self._fit_clusters(autoencoder, source, generator, seed)
                loss = self._evaluate(objective, source)
                runs.append((autoencoder, objective, loss, {"pretrain": pretrain, **phases}))
            # the lowest loss; with "auto", among the runs that found the most frequent K
            ks = [self._centroids(run[1]).shape[0] for run in runs]
            autoencoder, objective, loss, phases = runs[
                best_restart(ks, [run[2] for run in runs], auto)
            ]
            self.autoencoder_, self._objective, self.device_ = autoencoder, objective, device
            self.labels_ = self._predict_source(source)
            if isinstance(self, SoftAssignmentMixin):
                self.cluster_weights_ = self._mean_soft_assignment(source)
        self._checkpoints = None
        self.cluster_centers_ = self._centroids(objective).detach().cpu().numpy().astype(np.float64)
        self.n_clusters_ = self.cluster_centers_.shape[0]
        self.loss_ = loss
        self.history_ = {
            name: result.history for name, result in phases.items() if result is not None
        }
        self.history_["clusters"] = check_collapse(
            self.labels_, self.n_clusters_, type(self).__name__, dominance=not auto
        )
        last = [result for result in phases.values() if result is not None]
        self.n_iter_ = last[-1].n_iter if last else 0
        return self

    def _pretrained_autoencoder(self, n_features: int) -> Autoencoder | None:
        if self.pretrained is None:
            return None
        ae = self.pretrained if isinstance(self.pretrained, Autoencoder) else None
        if ae is None:
            ae = self.pretrained.autoencoder_
        if ae.in_features != n_features:
            raise ValueError(
                f"The pretrained autoencoder takes {ae.in_features} features but X has "
                f"{n_features}."
            )
        if ae.embedding_dim != self.embedding_dim:
            raise ValueError(
                f"The pretrained autoencoder embeds in {ae.embedding_dim} dimensions but "
                f"embedding_dim={self.embedding_dim}."
            )
        return ae

    def _autoencoder(self, n_features, hidden_dims, pretrained, source, generator):
        """A copy of the pretrained autoencoder, or a new one pretrained on ``source``."""
        if pretrained is not None:
            return copy.deepcopy(pretrained).to(source.device), None
        autoencoder = Autoencoder(n_features, self.embedding_dim, hidden_dims)
        autoencoder.reset_parameters(generator)
        autoencoder.to(source.device)
        if not self._needs_pretraining() or self.pretrain_epochs == 0:
            return autoencoder, None
        objective = ReconstructionObjective(autoencoder)
        optimizer = make_optimizer(
            torch.optim.Adam, objective.parameters(), lr=self.pretrain_learning_rate
        )
        config = self._loop_config(self.pretrain_epochs, "pretraining", averaging=False)
        return autoencoder, train(objective, optimizer, source, config, generator)

    def _kmeans_centroids(self, autoencoder: Autoencoder, source: BatchSource, seed: int) -> Tensor:
        """k-means (20 restarts, as DEC/IDEC/AE-CM do) on the embedding of the initialisation
        sample (:meth:`_init_embedding`): the centres, K × p."""
        z = self._init_embedding(autoencoder, source, seed).cpu().numpy()
        kmeans = KMeans(self.n_clusters, n_init=20, random_state=seed).fit(z)
        return torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32, device=source.device)

    def _train_clustering(
        self, objective, optimizer, source, generator, **config
    ) -> TrainingResult:
        """The method's clustering phase: ``n_epochs`` of the loop with ``tol``."""
        name = type(self).__name__
        loop = self._loop_config(
            self.n_epochs,
            name,
            **{"averaging": False, "tol": self.tol, "n_clusters": self.n_clusters, **config},
        )
        return train(objective, optimizer, source, loop, generator)

    @torch.no_grad()
    def _embed(self, autoencoder: Autoencoder, source: BatchSource) -> Tensor:
        return torch.cat([autoencoder.encode(b) for b in source.ordered_batches()])

    @torch.no_grad()
    def _init_embedding(self, autoencoder: Autoencoder, source: BatchSource, seed: int) -> Tensor:
        """The embedding of at most ``init_sample_size`` rows drawn from ``seed`` (all rows, in
        order, when the data has no more), for the initialisation of the clusters."""
        rows = sample_rows(source.n_samples, self.init_sample_size, seed)
        batches = source.ordered_batches() if rows is None else source.batches_at(np.sort(rows))
        return torch.cat([autoencoder.encode(b) for b in batches])

    @torch.no_grad()
    def _evaluate(self, objective: Objective, source: BatchSource) -> float:
        """The objective's total loss over all rows, in training-sized batches, in order
        (under multi-process training, each process sums a run of the batches)."""
        objective.start_evaluation(source)
        total = 0.0
        first = source.own_rows(self.batch_size)[0]
        for b, batch in enumerate(source.own_batches(self.batch_size)):
            start = first + b * self.batch_size
            index = torch.arange(batch.shape[0], device=batch.device) + start
            total += float(sum(objective.loss(batch, index)[n] for n in objective.term_names))
        return float(source.total(torch.tensor(total, dtype=torch.float64)))

    # ------------------------------------------------------------------ inference
    def _source(self, X) -> tuple[Any, BatchSource]:
        check_is_fitted(self)
        X = validate_input(self, X, reset=False, float32=True, out_of_core=True)
        return X, make_source(X, self.device_)

    @torch.no_grad()
    def _predict_source(self, source: BatchSource) -> np.ndarray:
        """The cluster of every row (each process assigns its rows under multi-process
        training)."""
        encode, objective = self.autoencoder_.encode, self._objective
        parts = [self._assign(objective, encode(b)) for b in source.own_batches()]
        own = torch.cat(parts) if parts else torch.empty(0, dtype=torch.long, device=source.device)
        return source.gather(own).cpu().numpy()

    def predict(self, X):
        """The cluster of each row."""
        _, source = self._source(X)
        with torch_runtime():
            return self._predict_source(source)

    def transform(self, X):
        """The embedding ``z`` of each row (n_samples × embedding_dim)."""
        X, source = self._source(X)
        with torch_runtime():
            z = self._embed(self.autoencoder_, source)
        return z.cpu().numpy().astype(output_dtype(X))

    def fit_transform(self, X, y=None):
        """Fit to ``X``, then return its embedding ``z`` (see :meth:`transform`)."""
        return self.fit(X).transform(X)

    def score(self, X, y=None) -> float:
        """Minus the method's mean loss per sample on ``X`` (higher is better)."""
        X, source = self._source(X)
        with torch_runtime():
            return -self._evaluate(self._objective, source) / X.shape[0]

    # ------------------------------------------------------------------ persistence
    def _state(self):
        tensors = {f"autoencoder.{k}": v for k, v in self.autoencoder_.state_dict().items()}
        method_tensors, method_meta = self._objective_state(self._objective)
        tensors.update({f"method.{k}": v for k, v in method_tensors.items()})
        tensors["labels_"] = torch.from_numpy(self.labels_.astype(np.int64))
        meta = {
            "hidden_dims": list(self.autoencoder_.hidden_dims),
            "method": method_meta,
            **{name: getattr(self, name) for name in _SAVED_ATTRIBUTES if hasattr(self, name)},
        }
        return tensors, meta

    def _restore(self, tensors, meta, device) -> None:
        def part(prefix):
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        autoencoder = Autoencoder(
            int(meta["n_features_in_"]), self.embedding_dim, meta["hidden_dims"]
        )
        autoencoder.to(device).load_state_dict(part("autoencoder."))
        self.autoencoder_, self.device_ = autoencoder, device
        self._objective = self._build_objective(autoencoder, part("method."), meta["method"])
        self.labels_ = tensors["labels_"].cpu().numpy()
        self.cluster_centers_ = (
            self._centroids(self._objective).detach().cpu().numpy().astype(np.float64)
        )
        self.n_clusters_ = self.cluster_centers_.shape[0]
        restore_attributes(self, meta, _SAVED_ATTRIBUTES)
        if "cluster_weights_" in meta:
            self.cluster_weights_ = np.asarray(meta["cluster_weights_"], dtype=np.float64)

    def _expected_failed_checks(self) -> dict[str, str]:
        """Checks of ``check_estimator`` that cannot apply, with the reason."""
        checks = {
            "check_methods_subset_invariance": (
                "the network computes in float32 and BLAS blocks matrix products differently "
                "for different batch sizes, so a subset's embedding differs from the full "
                "data's by ~1e-6, above the check's 1e-7 tolerance; tests/test_deep.py checks "
                "agreement to 1e-5"
            )
        }
        if hasattr(self, "predict_proba"):
            checks.update(sparse_checks_not_applicable(type(self).__name__))
        return checks

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = False
        return tags


class SoftAssignmentMixin:
    """``predict_proba`` for methods with soft assignments (``_soft_assign``); such methods also
    get ``cluster_weights_``, the mean soft assignment of the training data."""

    @torch.no_grad()
    def _mean_soft_assignment(self, source: BatchSource) -> np.ndarray:
        total = sum(
            self._soft_assign(self._objective, self.autoencoder_.encode(b)).double().sum(dim=0)
            for b in source.ordered_batches()
        )
        return (total / source.n_samples).cpu().numpy()

    def predict_proba(self, X):
        """Soft assignments of each row to the clusters; rows sum to one."""
        X, source = self._source(X)
        with torch_runtime(), torch.no_grad():
            parts = [
                self._soft_assign(self._objective, self.autoencoder_.encode(b)).cpu()
                for b in source.ordered_batches()
            ]
        return torch.cat(parts).numpy().astype(output_dtype(X))
