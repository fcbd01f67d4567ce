"""Shared pieces of the torch-backed estimators: input validation, seeds, devices."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

__all__ = ["check_n_clusters", "restart_seeds", "validate_input"]


def validate_input(estimator, X, *, reset: bool):
    """Validate ``X`` for ``fit`` (``reset=True``) or later calls; returns a float array or CSR.

    Dense input keeps float32/float64 (other numbers become float64); sparse input must be CSR
    (other formats are converted). NaN/inf, 1-D or empty input, a single sample (in ``fit``),
    non-numeric values and a different number of features than at ``fit`` raise errors naming
    the problem.
    """
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
    return validate_data(
        estimator,
        X,
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        ensure_min_samples=2 if reset else 1,
        reset=reset,
    )


def check_n_clusters(n_clusters: int, n_samples: int, name: str = "n_clusters") -> None:
    if n_clusters > n_samples:
        raise ValueError(f"{name}={n_clusters} must be <= the number of samples ({n_samples}).")


def restart_seeds(random_state, n_init: int) -> list[int]:
    """One independent seed per restart, drawn from ``random_state``."""
    rng = check_random_state(random_state)
    return [int(s) for s in rng.randint(0, 2**31 - 1, size=n_init)]


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
