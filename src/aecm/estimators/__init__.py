"""scikit-learn estimators."""

from aecm.estimators.aecm import AECM
from aecm.estimators.aekmeans import AEKMeans
from aecm.estimators.classical import PersistentIsotropicGMM, PersistentKMeans
from aecm.estimators.cm import ClusteringModule
from aecm.estimators.dcn import DCN, DKM
from aecm.estimators.dec import DEC, IDEC

__all__ = [
    "AECM",
    "DCN",
    "DEC",
    "DKM",
    "IDEC",
    "AEKMeans",
    "ClusteringModule",
    "PersistentIsotropicGMM",
    "PersistentKMeans",
]
