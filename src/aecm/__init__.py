"""aecm: deep clustering with the clustering module (CM) and AE-CM (Boubekki et al., 2021)."""

from aecm import datasets, metrics
from aecm._version import __version__
from aecm.estimators import AECM, DCN, DEC, DKM, IDEC, AEKMeans, ClusteringModule
from aecm.gmm import IsotropicGMM
from aecm.persistence import load
from aecm.select_k import select_k

__all__ = [
    "AECM",
    "DCN",
    "DEC",
    "DKM",
    "IDEC",
    "AEKMeans",
    "ClusteringModule",
    "IsotropicGMM",
    "__version__",
    "datasets",
    "load",
    "metrics",
    "select_k",
]
