"""scikit-learn estimators."""

from aecm.estimators.aecm import AECM
from aecm.estimators.aekmeans import AEKMeans
from aecm.estimators.cm import ClusteringModule

__all__ = ["AECM", "AEKMeans", "ClusteringModule"]
