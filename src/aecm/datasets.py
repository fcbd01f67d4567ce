"""The paper's benchmark data sets, read from local files and preprocessed as the paper does.

Each loader returns ``(X, y)`` with train and test merged (paper-notes §4–§5): ``X`` float32
(SciPy CSR for 20 Newsgroups), ``y`` int64. Files are looked up in, first, the ``data_home``
argument, then the ``AECM_DATA`` environment variable, then a per-user cache folder
(``$XDG_CACHE_HOME/aecm`` or ``~/.cache/aecm``). Nothing is downloaded here.

File format: ``<name>.npz`` with arrays ``X`` and ``y`` (``X`` may be raw uint8 pixels for the
image sets), or a SciPy sparse ``.npz`` (``scipy.sparse.save_npz``) with an extra ``y`` array
for 20 Newsgroups.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = [
    "DATASETS",
    "data_home",
    "load",
    "load_10x73k",
    "load_20newsgroups",
    "load_cifar10",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_pendigits",
    "load_reuters10k",
    "load_usps",
]


@dataclass(frozen=True)
class DatasetInfo:
    """What a data set's file must hold, and where it comes from."""

    name: str
    n_samples: int
    n_features: int
    n_classes: int
    preprocessing: str
    source: str

    @property
    def filename(self) -> str:
        return f"{self.name}.npz"


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("mnist", 70000, 784, 10, "pixels / 255", "http://yann.lecun.com/exdb/mnist/"),
        DatasetInfo(
            "fashion_mnist",
            70000,
            784,
            10,
            "pixels / 255",
            "https://github.com/zalandoresearch/fashion-mnist",
        ),
        DatasetInfo("usps", 9298, 256, 10, "x / max, in [0, 1]", "the Keysers USPS files"),
        DatasetInfo("pendigits", 10992, 16, 10, "x / 100", "UCI Pen-Based Recognition"),
        DatasetInfo(
            "20newsgroups",
            18846,
            2000,
            20,
            "CountVectorizer(2000 terms) then TF-IDF (l2, sublinear), CSR",
            "scikit-learn's fetch_20newsgroups(subset='all')",
        ),
        DatasetInfo(
            "reuters10k",
            10000,
            2000,
            4,
            "DEC's recipe: TF-IDF of 2000 words",
            "RCV1 (DEC's script)",
        ),
        DatasetInfo(
            "10x73k",
            73233,
            720,
            8,
            "log2(x + 1), 720 most variable genes, / max",
            "the 10x Genomics PBMC subset of ClusterGAN",
        ),
        DatasetInfo(
            "cifar10", 60000, 3072, 10, "pixels / 255", "https://www.cs.toronto.edu/~kriz/"
        ),
    )
}


def data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The folder searched for data files (argument, else ``$AECM_DATA``, else the cache)."""
    if data_home is not None:
        return Path(data_home)
    if os.environ.get("AECM_DATA"):
        return Path(os.environ["AECM_DATA"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "aecm"


def load(name: str, data_home: str | os.PathLike | None = None):
    """Load a benchmark data set by name (see :data:`DATASETS`): ``(X, y)``."""
    key = name.lower().replace("-", "_")
    key = {"fmnist": "fashion_mnist", "20news": "20newsgroups"}.get(key, key)
    if key == "digits":
        return load_digits()
    if key not in DATASETS:
        known = ", ".join(["digits", *DATASETS])
        raise ValueError(f"Unknown data set {name!r}; known: {known}.")
    return _load(DATASETS[key], data_home)


def _load(info: DatasetInfo, home: str | os.PathLike | None):
    folder = data_home(home)
    path = folder / info.filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{info.filename} was not found in {folder} (searched: the data_home argument, else "
            f"$AECM_DATA, else the per-user cache). Get {info.name} from {info.source}, "
            f"preprocess it ({info.preprocessing}) and save X and y with numpy.savez there."
        )
    with np.load(path, allow_pickle=False) as data:
        if "y" not in data:
            raise ValueError(f"{path} has no array 'y' (the labels).")
        y = np.asarray(data["y"], dtype=np.int64)
        X = sp.load_npz(path).tocsr() if "indptr" in data else data["X"]
    if X.shape != (info.n_samples, info.n_features) or y.shape != (info.n_samples,):
        raise ValueError(
            f"{path} holds X of shape {X.shape} and y of shape {y.shape}; {info.name} has "
            f"({info.n_samples}, {info.n_features}) and ({info.n_samples},)."
        )
    if sp.issparse(X):
        return X.astype(np.float32), y
    X = X.astype(np.float32) / 255.0 if X.dtype == np.uint8 else X.astype(np.float32, copy=False)
    return X, y


def load_digits():
    """scikit-learn's bundled 8×8 digits (1797 × 64, 10 classes), pixels / 16 (no file)."""
    from sklearn.datasets import load_digits as sklearn_digits

    X, y = sklearn_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


def load_mnist(data_home=None):
    """MNIST, 70 000 × 784, pixels / 255."""
    return _load(DATASETS["mnist"], data_home)


def load_fashion_mnist(data_home=None):
    """Fashion-MNIST, 70 000 × 784, pixels / 255."""
    return _load(DATASETS["fashion_mnist"], data_home)


def load_usps(data_home=None):
    """USPS, 9 298 × 256, in [0, 1]."""
    return _load(DATASETS["usps"], data_home)


def load_pendigits(data_home=None):
    """Pendigits, 10 992 × 16, x / 100."""
    return _load(DATASETS["pendigits"], data_home)


def load_20newsgroups(data_home=None):
    """20 Newsgroups, 18 846 × 2 000 TF-IDF, as a float32 CSR matrix."""
    return _load(DATASETS["20newsgroups"], data_home)


def load_reuters10k(data_home=None):
    """Reuters-10k, 10 000 × 2 000 TF-IDF, 4 classes (a file the user provides)."""
    return _load(DATASETS["reuters10k"], data_home)


def load_10x73k(data_home=None):
    """10x73k single-cell counts, 73 233 × 720, 8 cell types (a file the user provides)."""
    return _load(DATASETS["10x73k"], data_home)


def load_cifar10(data_home=None):
    """CIFAR-10 raw pixels, 60 000 × 3 072, pixels / 255 (a file the user provides)."""
    return _load(DATASETS["cifar10"], data_home)
