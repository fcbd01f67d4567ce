"""Shared pieces of the torch-backed estimators: input validation, seeds, devices."""

from __future__ import annotations

import hashlib
import warnings
from numbers import Integral

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from aecm._params import NONE, PATH, Interval
from aecm.data.lazy import ArrayReader, DatasetReader, RowReader
from aecm.distributed import Shard
from aecm.exceptions import CollapseWarning
from aecm.persistence import _jsonable

__all__ = [
    "CHECKPOINT_CONSTRAINTS",
    "check_collapse",
    "check_n_clusters",
    "init_sample",
    "open_checkpoints",
    "out_of_core_reader",
    "restart_seeds",
    "validate_input",
]

#: A fit "collapsed" when one cluster holds more than this share of the points.
DOMINANT_FRACTION = 0.9


#: The largest magnitude the torch-trained estimators accept. They compute in float32, whose
#: squares overflow above ~1.8e19; at 1e15, sums of squares over up to ~3e8 values (a batch's
#: rows × features) stay finite. Larger values gave NaN probabilities or an inf embedding.
FLOAT32_SAFE_MAX = 1e15


def out_of_core_reader(X, max_abs: float | None = None) -> RowReader | None:
    """A reader for ``X`` if it is read lazily, batch by batch; None for in-memory data.

    This is where an input is recognised as data larger than memory: a ``np.memmap``; a
    ``torch.utils.data.Dataset`` or ``DataLoader`` (its dataset); any other object that is not
    a NumPy array, a tensor, a list or tuple, a sparse matrix or a data frame (no ``columns``)
    and has a ``shape``, ``__getitem__`` and a ``dtype`` or ``ndim`` (HDF5, zarr, dask…).
    """
    if isinstance(X, torch.utils.data.DataLoader):
        return DatasetReader(X.dataset, max_abs)
    if isinstance(X, torch.utils.data.Dataset):
        return DatasetReader(X, max_abs)
    if isinstance(X, np.memmap):
        return ArrayReader(X, max_abs)
    in_memory = isinstance(X, np.ndarray | torch.Tensor | list | tuple) or sp.issparse(X)
    if in_memory or hasattr(X, "columns"):
        return None
    has_dtype = hasattr(X, "dtype") or hasattr(X, "ndim")
    if hasattr(X, "shape") and hasattr(X, "__getitem__") and has_dtype:
        return ArrayReader(X, max_abs)
    return None


def _validate_reader(estimator, reader: RowReader, *, reset: bool) -> RowReader:
    """The checks of :func:`validate_input` that need no pass over the data (shape, features)."""
    n_samples, n_features = reader.shape
    name = type(estimator).__name__
    if n_samples < (2 if reset else 1) or n_features < 1:
        raise ValueError(
            f"Found array with {n_samples} sample(s) and {n_features} feature(s) (shape="
            f"{reader.shape}) while a minimum of {2 if reset else 1} sample(s) and 1 feature "
            f"are required by {name}."
        )
    if reset:
        estimator.n_features_in_ = n_features
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return reader


def validate_input(estimator, X, *, reset: bool, float32: bool = False, out_of_core=False):
    """Validate ``X`` for ``fit`` (``reset=True``) or later calls; returns a float array or CSR.

    Dense input keeps float32/float64 (other numbers become float64); sparse input must be CSR
    (other formats are converted). NaN/inf, 1-D or empty input, a single sample (in ``fit``),
    non-numeric values and a different number of features than at ``fit`` raise errors naming
    the problem. ``float32``: the estimator computes in float32, so values larger than
    :data:`FLOAT32_SAFE_MAX` in magnitude are refused too (``ValueError``).

    ``out_of_core``: the estimator reads its data through a batch source, so data larger than
    memory (see :func:`out_of_core_reader`) is returned as a :class:`~aecm.data.RowReader`
    instead of an array. Its shape, dtype and number of features are checked here; NaN, inf
    and too-large values are checked in each block as it is read, and raise ``ValueError``
    naming the rows.
    """
    if out_of_core:
        reader = out_of_core_reader(X, FLOAT32_SAFE_MAX if float32 else None)
        if reader is not None:
            return _validate_reader(estimator, reader, reset=reset)
    dtype = getattr(X, "dtype", None)
    if dtype is not None and not sp.issparse(X) and getattr(dtype, "kind", "f") in "USO":
        # strings or objects: accept only if every value converts to a number
        try:
            np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"X must contain only numbers; got values of dtype {dtype} that cannot be "
                f"converted to float ({exc}). Encode or drop non-numeric columns first."
            ) from exc
    X = validate_data(
        estimator,
        X,
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        ensure_min_samples=2 if reset else 1,
        reset=reset,
    )
    if float32:
        values = X.data if sp.issparse(X) else X
        # max and -min: no temporary copy of X
        largest = max(float(values.max()), -float(values.min())) if values.size else 0.0
        if largest > FLOAT32_SAFE_MAX:
            raise ValueError(
                f"X has values as large as {largest:.3g} in magnitude; "
                f"{type(estimator).__name__} computes in float32 and accepts at most "
                f"{FLOAT32_SAFE_MAX:.0e} (squared distances would overflow to inf and give "
                "NaN). Scale the data first, e.g. with sklearn.preprocessing.StandardScaler."
            )
    return X


def init_sample(X, size: int | None, seed: int):
    """At most ``size`` rows of ``X`` drawn without replacement from ``seed``, in order.

    All of ``X`` (itself, for in-memory data) when ``size`` is None or ``X`` has no more rows;
    a :class:`~aecm.data.RowReader` gives a NumPy array of its ``dtype`` (None reads every row).
    """
    n = X.shape[0]
    if size is None or n <= size:
        return X.take(np.arange(n)) if isinstance(X, RowReader) else X
    rows = np.sort(sample_rows(n, size, seed))
    return X.take(rows) if isinstance(X, RowReader) else X[rows]


def sample_rows(n_samples: int, size: int | None, seed: int) -> np.ndarray | None:
    """``size`` row positions out of ``n_samples`` drawn from ``seed`` (unsorted), or None
    (all rows) when ``size`` is None or not smaller than ``n_samples``."""
    if size is None or n_samples <= size:
        return None
    return np.random.default_rng(seed).choice(n_samples, size, False)


def check_init_sample_size(size: int | None, n_clusters: int, name: str = "n_clusters") -> None:
    """``init_sample_size`` must leave k-means at least one row per cluster."""
    if size is not None and size < n_clusters:
        raise ValueError(
            f"init_sample_size={size} must be >= {name}={n_clusters}: the initialisation "
            "needs at least one sampled row per cluster."
        )


def check_n_clusters(n_clusters: int, n_samples: int, name: str = "n_clusters") -> None:
    if n_clusters > n_samples:
        raise ValueError(f"{name}={n_clusters} must be <= the number of samples ({n_samples}).")


def restart_seeds(random_state, n_init: int, shard: Shard | None = None) -> list[int]:
    """One independent seed per restart, drawn from ``random_state``; with a ``shard``
    (multi-process training), those that process 0 drew, on every process."""
    rng = check_random_state(random_state)
    seeds = [int(s) for s in rng.randint(0, 2**31 - 1, size=n_init)]
    return seeds if shard is None else shard.agree(seeds)


#: ``checkpoint_dir`` and ``checkpoint_every`` of the torch-trained estimators.
CHECKPOINT_CONSTRAINTS = {
    "checkpoint_dir": [NONE, PATH],
    "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
}

#: Parameters that may change between a fit and its resumption: they do not change what is
#: computed (``device`` changes the arithmetic's rounding only).
_RESUMABLE_CHANGES = frozenset({"checkpoint_dir", "checkpoint_every", "verbose", "device"})


def _fingerprint_value(value):
    """A parameter's value as JSON; a network (``pretrained``) as the sha256 of its weights."""
    network = getattr(value, "autoencoder_", value)
    if isinstance(network, torch.nn.Module):
        digest = hashlib.sha256()
        for name, tensor in network.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return {"weights_sha256": digest.hexdigest()}
    return _jsonable(value)


def open_checkpoints(estimator, X, seeds: list[int]):
    """The estimator's :class:`aecm.checkpoint.Checkpointer` and the seeds of its restarts.

    ``(None, seeds)`` without ``checkpoint_dir``. With it, the folder's run must have the same
    estimator class, parameters (but those of ``_RESUMABLE_CHANGES``) and data ``X``; the seeds
    are then those the run stored (so a fit with ``random_state=None`` resumes exactly too).
    """
    if estimator.checkpoint_dir is None:
        return None, seeds
    from aecm.checkpoint import Checkpointer, data_fingerprint

    params = estimator.get_params(deep=False)
    fingerprint = {
        "estimator": type(estimator).__name__,
        "params": {
            name: _fingerprint_value(value)
            for name, value in sorted(params.items())
            if name not in _RESUMABLE_CHANGES
        },
        "data": data_fingerprint(X),
    }
    return Checkpointer.open(
        estimator.checkpoint_dir, estimator.checkpoint_every, fingerprint, seeds
    )


def cpu_generator(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def output_dtype(X) -> np.dtype:
    """float32 outputs for float32 input, float64 otherwise."""
    return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)


def sparse_checks_not_applicable(estimator_name: str) -> dict[str, str]:
    """The two scikit-learn checks that cannot apply to a clusterer with ``predict_proba``.

    ``check_estimator_sparse_array`` and ``check_estimator_sparse_matrix`` treat an estimator
    with ``predict_proba`` as a classifier: they read ``classifier_tags.multi_class`` (None for a
    clusterer) and expect 2 or 4 probability columns. Sparse CSR input is supported and tested
    against dense input in this project's own tests.
    """
    reason = (
        "the sparse-input check assumes that an estimator with predict_proba is a classifier: "
        "it reads classifier_tags.multi_class (None for a clusterer) and expects 2 or 4 "
        f"probability columns, whereas {estimator_name} returns one column per cluster. CSR "
        "input is supported and tested against dense input."
    )
    return {"check_estimator_sparse_array": reason, "check_estimator_sparse_matrix": reason}


def check_collapse(
    labels: np.ndarray, n_clusters: int, estimator_name: str, *, dominance: bool = True
) -> dict[str, list]:
    """Warn (:class:`~aecm.exceptions.CollapseWarning`) when clusters are empty or one dominates.

    ``labels`` are the final hard assignments, in ``[0, n_clusters)``. A cluster with no point,
    or (with ``dominance`` and at least two clusters) one holding more than 90 % of the points,
    gives one warning that names the cluster sizes. Returns ``{"empty_clusters": [count],
    "largest_cluster_fraction": [share]}``, one-element lists so that it fits in ``history_``
    next to the per-epoch lists.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64).ravel(), minlength=n_clusters)
    n = max(int(counts.sum()), 1)
    empty = int(np.count_nonzero(counts == 0))
    largest = float(counts.max()) / n if counts.size else 0.0
    problems = []
    if empty:
        problems.append(f"{empty} of the {n_clusters} clusters are empty")
    if dominance and n_clusters > 1 and largest > DOMINANT_FRACTION:
        problems.append(f"one cluster holds {largest:.1%} of the {n} points")
    if problems:
        shown = ", ".join(str(c) for c in counts[:20]) + (", …" if counts.size > 20 else "")
        warnings.warn(
            f"{estimator_name}: the clusters collapsed: {' and '.join(problems)} (points per "
            f"cluster: {shown}). Try another random_state, more restarts (n_init), a lower "
            "learning rate or fewer clusters.",
            CollapseWarning,
            stacklevel=3,
        )
    return {"empty_clusters": [empty], "largest_cluster_fraction": [largest]}
