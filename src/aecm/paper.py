"""Hyper-parameters tuned by the paper's authors, per data set (their ``Tuned_Param.py``).

These were tuned with the un-normalised loss; ``α`` depends on the batch size because the prior
term E4 is not divided by it (see :class:`aecm.ClusteringModule`).
"""

from __future__ import annotations

__all__ = ["AECM_TUNED", "CM_TUNED", "DATASETS", "tuned"]

#: CM (``CM_UNIF``): data set → {"alpha", "batch_size"}.
CM_TUNED: dict[str, dict[str, float]] = {
    "mnist": {"alpha": 177.0, "batch_size": 111},
    "fashion_mnist": {"alpha": 80.0, "batch_size": 35},
    "usps": {"alpha": 40.0, "batch_size": 150},
    "cifar10": {"alpha": 164.0, "batch_size": 350},
    "reuters10k": {"alpha": 10.0, "batch_size": 400},
    "20newsgroups": {"alpha": 100.0, "batch_size": 600},
    "10x73k": {"alpha": 1000.0, "batch_size": 500},
    "pendigits": {"alpha": 13.0, "batch_size": 80},
}

#: AE-CM (``AECM_UNIF``): data set → {"embedding_dim", "beta", "alpha", "batch_size"}.
AECM_TUNED: dict[str, dict[str, float]] = {
    "mnist": {"embedding_dim": 10, "beta": 5.0, "alpha": 230.0, "batch_size": 500},
    "fashion_mnist": {"embedding_dim": 10, "beta": 47.0, "alpha": 13.0, "batch_size": 175},
    "usps": {"embedding_dim": 30, "beta": 0.04, "alpha": 3.0, "batch_size": 45},
    "cifar10": {"embedding_dim": 10, "beta": 1.0, "alpha": 64.0, "batch_size": 256},
    "reuters10k": {"embedding_dim": 75, "beta": 2.3, "alpha": 1.7, "batch_size": 250},
    "20newsgroups": {"embedding_dim": 100, "beta": 232.0, "alpha": 10.0, "batch_size": 300},
    "10x73k": {"embedding_dim": 10, "beta": 15.0, "alpha": 7.0, "batch_size": 40},
    "pendigits": {"embedding_dim": 70, "beta": 0.5, "alpha": 13.0, "batch_size": 80},
}

#: Number of classes of each data set.
DATASETS: dict[str, int] = {
    "mnist": 10,
    "fashion_mnist": 10,
    "usps": 10,
    "cifar10": 10,
    "reuters10k": 4,
    "20newsgroups": 20,
    "10x73k": 8,
    "pendigits": 10,
}

_ALIASES = {
    "fmnist": "fashion_mnist",
    "fashion-mnist": "fashion_mnist",
    "20news": "20newsgroups",
    "reuters": "reuters10k",
    "reuters-10k": "reuters10k",
    "10x_73k": "10x73k",
    "cifar-10": "cifar10",
    "pendigit": "pendigits",
}


def tuned(table: dict[str, dict[str, float]], dataset: str) -> dict[str, float]:
    """The row of ``table`` for ``dataset`` (case-insensitive, common aliases accepted)."""
    key = dataset.lower()
    key = _ALIASES.get(key, key)
    if key not in table:
        raise ValueError(
            f"No tuned parameters for data set {dataset!r}; known: {', '.join(sorted(table))}."
        )
    return {**table[key], "n_clusters": DATASETS[key]}
