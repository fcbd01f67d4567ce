"""The data-set loaders on the real files in $AECM_DATA, and their errors."""

import numpy as np
import pytest
import scipy.sparse as sp

from aecm import datasets
from conftest import DATA_DIR

EXPECTED = {  # name: (n, d, K, sparse)
    "mnist": (70000, 784, 10, False),
    "fashion_mnist": (70000, 784, 10, False),
    "usps": (9298, 256, 10, False),
    "pendigits": (10992, 16, 10, False),
    "20newsgroups": (18846, 2000, 20, True),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_data_sets_load_as_documented(name):
    n, d, k, sparse = EXPECTED[name]
    X, y = getattr(datasets, f"load_{name}")(data_home=DATA_DIR)
    assert X.shape == (n, d) and y.shape == (n,)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert sp.issparse(X) == sparse
    assert len(np.unique(y)) == k
    values = X.data if sparse else X
    assert values.min() >= 0.0 and values.max() <= 1.0 + 1e-6


def test_environment_variable_and_name_lookup(monkeypatch):
    monkeypatch.setenv("AECM_DATA", str(DATA_DIR))
    X, y = datasets.load("Pendigits")
    assert X.shape == (10992, 16) and np.bincount(y)[0] == 1143
    X, y = datasets.load("digits")
    assert X.shape == (1797, 64) and X.max() == 1.0 and len(np.unique(y)) == 10
    with pytest.raises(ValueError, match="Unknown data set 'imagenet'; known: digits, mnist"):
        datasets.load("imagenet")


def test_missing_file_names_file_folder_and_source(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"reuters10k.npz was not found in .*RCV1"):
        datasets.load_reuters10k(data_home=tmp_path)


def test_wrong_shape_is_refused(tmp_path):
    np.savez(tmp_path / "usps.npz", X=np.zeros((10, 256), np.float32), y=np.zeros(10))
    with pytest.raises(ValueError, match=r"shape \(10, 256\).*usps has \(9298, 256\)"):
        datasets.load_usps(data_home=tmp_path)
    np.savez(tmp_path / "pendigits.npz", X=np.zeros((10, 16), np.float32))
    with pytest.raises(ValueError, match="no array 'y'"):
        datasets.load_pendigits(data_home=tmp_path)
