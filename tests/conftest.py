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


def data_home(*names: str) -> Path:
    """``DATA_DIR``, once the files of the benchmark data sets ``names`` are there; else the
    calling test is skipped with a one-line reason (a fresh clone has no data folder)."""
    for name in names:
        info = datasets.DATASETS[datasets.resolve_name(name)]
        if not (DATA_DIR / info.filename).is_file():
            pytest.skip(
                f"needs {info.filename} in {DATA_DIR}: run `aecm datasets fetch {info.name}` "
                "or point $AECM_DATA at a folder that has it"
            )
    return DATA_DIR


def load_npz(name: str):
    """``(X, y)`` of a benchmark data set in ``DATA_DIR`` (the test is skipped without it)."""
    return datasets.load(name, data_home=data_home(name))


@pytest.fixture(scope="session")
def pendigits():
    return load_npz("pendigits")


@pytest.fixture(scope="session")
def usps():
    return load_npz("usps")
