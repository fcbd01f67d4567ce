"""Figures of independent implementations, for orientation beside aecm's own runs.

Transcribed by hand from ``shared/docs/reference-results.md`` of this project: the authors'
PyTorch code and ClustPy 0.0.3, run on all rows of each data set (train and test merged) on a
2-core machine. Their settings differ from aecm's profiles (see the ``settings`` of each entry),
so they are shown in a separate, labelled table and never mixed with aecm's results.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["REFERENCE", "SOURCE", "ReferenceFigure"]

SOURCE = (
    "shared/docs/reference-results.md (independent implementations: the authors' code and "
    "ClustPy 0.0.3; transcribed by hand)"
)


class ReferenceFigure(NamedTuple):
    """One published row: scores in percent, mean ± std over ``seeds`` as written there."""

    dataset: str
    method: str
    settings: str
    seeds: int
    acc: str
    nmi: str
    ari: str


_KM = "scikit-learn KMeans, n_init=10"
_GMM = "scikit-learn GaussianMixture, spherical, n_init=1"
_CM = "authors' lib_CM.py (PyTorch), tuned α/batch, 150 epochs + averaging, rand init"
_CLUSTPY = "ClustPy 0.0.3, AE d-500-500-2000-10, 50 pretraining + 50 clustering epochs"
_AEKM = "ClustPy AE d-500-500-2000-10, 50 pretraining epochs, k-means n_init=10"
_AECM_PRE = (
    "authors' clustering module with re-implemented 'pre' loops: AE 50 epochs, CM-only 50, "
    "joint 100, tuned p/β/α/batch"
)

#: The transcribed rows (the ↳ rows of the source, ClustPy's final k-means, are left out).
REFERENCE: tuple[ReferenceFigure, ...] = (
    ReferenceFigure("pendigits", "KMeans", _KM, 5, "66.7 ± 0.0", "68.2 ± 0.0", "53.2 ± 0.0"),
    ReferenceFigure(
        "pendigits", "GMM-spherical", _GMM, 5, "70.6 ± 3.8", "69.5 ± 0.9", "53.9 ± 1.3"
    ),
    ReferenceFigure("pendigits", "CM (authors)", _CM, 3, "73.8 ± 1.1", "67.4 ± 1.4", "58.1 ± 1.8"),
    ReferenceFigure("pendigits", "AE+KMeans", _AEKM, 2, "69.5 ± 0.1", "69.9 ± 0.3", "56.2 ± 0.4"),
    ReferenceFigure(
        "pendigits", "DEC (ClustPy)", _CLUSTPY, 2, "63.4 ± 4.7", "69.2 ± 1.9", "52.1 ± 3.8"
    ),
    ReferenceFigure(
        "pendigits", "IDEC (ClustPy)", _CLUSTPY, 2, "70.0 ± 7.2", "71.3 ± 0.8", "57.5 ± 4.6"
    ),
    ReferenceFigure(
        "pendigits", "DCN (ClustPy)", _CLUSTPY, 2, "68.8 ± 6.7", "71.3 ± 0.3", "55.2 ± 4.3"
    ),
    ReferenceFigure("pendigits", "AE-CM ('pre')", _AECM_PRE, 3, "80.9 ± 0.9", "77.4 ± 1.5", "68.7"),
    ReferenceFigure("usps", "KMeans", _KM, 5, "66.8 ± 0.0", "62.6 ± 0.1", "54.5 ± 0.0"),
    ReferenceFigure("usps", "GMM-spherical", _GMM, 5, "52.8 ± 5.7", "58.0 ± 1.7", "39.6 ± 4.6"),
    ReferenceFigure("usps", "CM (authors)", _CM, 3, "64.7 ± 1.9", "61.3 ± 1.5", "51.5 ± 2.8"),
    ReferenceFigure("usps", "AE+KMeans", _AEKM, 2, "70.8 ± 0.4", "67.8 ± 1.6", "59.8 ± 1.0"),
    ReferenceFigure("usps", "DEC (ClustPy)", _CLUSTPY, 2, "73.7 ± 5.6", "76.5 ± 2.2", "67.8 ± 3.9"),
    ReferenceFigure(
        "usps", "IDEC (ClustPy)", _CLUSTPY, 2, "67.9 ± 4.2", "68.5 ± 1.8", "60.4 ± 2.6"
    ),
    ReferenceFigure("usps", "DCN (ClustPy)", _CLUSTPY, 2, "67.8 ± 4.3", "68.5 ± 1.5", "59.5 ± 2.1"),
    ReferenceFigure(
        "usps",
        "AE-CM (authors, 'rand')",
        "authors' PyTorch example, 'rand' schedule, 60 epochs, tuned p/β/α/batch",
        2,
        "63.2 ± 1.0",
        "68.0 ± 0.7",
        "56.5 ± 1.1",
    ),
    ReferenceFigure("usps", "AE-CM ('pre')", _AECM_PRE, 3, "72.9 ± 1.3", "73.5 ± 1.5", "65.6"),
    ReferenceFigure("mnist", "KMeans", _KM, 3, "53.7 ± 0.4", "49.5 ± 0.7", "36.6 ± 0.1"),
    ReferenceFigure("mnist", "GMM-spherical", _GMM, 3, "51.8 ± 3.1", "50.6 ± 2.1", "34.8 ± 2.4"),
    ReferenceFigure("mnist", "CM (authors)", _CM, 3, "55.5 ± 0.1", "49.2 ± 0.0", "38.6 ± 0.0"),
    ReferenceFigure("fashion_mnist", "KMeans", _KM, 3, "49.7 ± 3.1", "51.2 ± 0.0", "35.7 ± 1.2"),
    ReferenceFigure(
        "fashion_mnist", "GMM-spherical", _GMM, 3, "50.1 ± 3.3", "52.4 ± 0.4", "36.0 ± 1.3"
    ),
    ReferenceFigure(
        "20newsgroups",
        "KMeans",
        _KM + ", sparse input",
        5,
        "31.7 ± 1.8",
        "33.8 ± 1.6",
        "15.1 ± 1.3",
    ),
    ReferenceFigure(
        "20newsgroups",
        "GMM-spherical",
        _GMM + ", dense float32",
        5,
        "29.4 ± 0.7",
        "31.6 ± 1.0",
        "11.9 ± 0.6",
    ),
)
