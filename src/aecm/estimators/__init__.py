"""scikit-learn estimators."""

from aecm.estimators.cm import ClusteringModule

__all__ = ["ClusteringModule"]
