"""Shared fixtures: the real benchmark data sets, read from ``AECM_DATA``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aecm import datasets

#: Where the tests read the benchmark data sets: ``$AECM_DATA``, else ``../shared/datasets``.
DATA_DIR = Path(
    os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets")
)


def load_npz(name: str):
    """``(X, y)`` of a benchmark data set in ``DATA_DIR``, through :mod:`aecm.datasets`."""
    try:
        return datasets.load(name, data_home=DATA_DIR)
    except FileNotFoundError as exc:
        pytest.fail(f"{exc} Point AECM_DATA at ../shared/datasets (this project's CI does).")


@pytest.fixture(scope="session")
def pendigits():
    return load_npz("pendigits")


@pytest.fixture(scope="session")
def usps():
    return load_npz("usps")
