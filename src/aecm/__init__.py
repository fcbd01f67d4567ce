"""aecm: deep clustering with the clustering module (CM) and AE-CM (Boubekki et al., 2021)."""

from aecm._version import __version__
from aecm.estimators import ClusteringModule

__all__ = ["ClusteringModule", "__version__"]
