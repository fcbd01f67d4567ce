"""Shared fixtures: the real benchmark data sets, read from ``AECM_DATA``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

#: Where the tests read the benchmark data sets: ``$AECM_DATA``, else ``../shared/datasets``.
DATA_DIR = Path(
    os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets")
)


def load_npz(name: str):
    """``(X, y)`` of ``DATA_DIR/name.npz`` as stored (CSR for 20 Newsgroups)."""
    path = DATA_DIR / f"{name}.npz"
    if not path.exists():
        pytest.fail(
            f"{path} is missing: point the AECM_DATA environment variable at the folder of the "
            "benchmark data sets (../shared/datasets in this project's CI)."
        )
    with np.load(path, allow_pickle=False) as data:
        y = data["y"]
        if "indptr" in data:
            return sp.load_npz(path), y
        X = data["X"]
    if X.dtype == np.uint8:
        X = X.astype(np.float32) / 255.0
    return X, y


@pytest.fixture(scope="session")
def pendigits():
    return load_npz("pendigits")


@pytest.fixture(scope="session")
def usps():
    return load_npz("usps")
