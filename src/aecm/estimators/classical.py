"""k-means and the isotropic Gaussian mixture with ``save``/``aecm.load`` (no pickle).

Both store their fitted parameters as tensors (centres, weights, means) and scalars (variance,
inertia, iteration counts) through :class:`aecm.persistence.PersistenceMixin`, and predict with
those alone, so that a loaded model predicts exactly what the saved one did.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances_argmin_min
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils.validation import check_is_fitted

from aecm._params import RANDOM_STATE, Interval, Options, validate_params
from aecm.estimators._base import check_n_clusters, validate_input
from aecm.gmm import IsotropicGMM
from aecm.persistence import PersistenceMixin, restore_attributes

__all__ = ["PersistentIsotropicGMM", "PersistentKMeans"]


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


class PersistentKMeans(PersistenceMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """scikit-learn's k-means (Lloyd) whose fitted centres can be saved and loaded.

    ``fit`` runs :class:`sklearn.cluster.KMeans`; ``predict`` assigns each row to its nearest
    centre with the centres alone, before and after :func:`aecm.load` alike.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means++", "random"}, default="k-means++"
    n_init : int, default=10
        Restarts; the one with the lowest inertia is kept.
    max_iter : int, default=300
    tol : float, default=1e-4
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
        ``predict`` of the training data.
    inertia_ : float
        Sum of squared distances of the training rows to their centre.
    n_iter_ : int
    n_features_in_ : int
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [Options(("k-means++", "random"))],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": [RANDOM_STATE],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        n_init=10,
        max_iter=300,
        tol=1e-4,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, X, y=None):
        """Run k-means on ``X`` (array-like or sparse CSR)."""
        validate_params(self, self._parameter_constraints)
        X = validate_input(self, X, reset=True)
        check_n_clusters(self.n_clusters, X.shape[0])
        kmeans = KMeans(
            self.n_clusters,
            init=self.init,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=self.random_state,
        ).fit(X)
        self.cluster_centers_ = kmeans.cluster_centers_.astype(np.float64)
        self.n_iter_ = int(kmeans.n_iter_)
        self.labels_, distances = self._nearest(X)
        self.inertia_ = float(np.sum(distances**2))
        return self

    def _nearest(self, X) -> tuple[np.ndarray, np.ndarray]:
        labels, distances = pairwise_distances_argmin_min(X, self.cluster_centers_)
        return labels.astype(np.int64), distances

    def predict(self, X):
        """The nearest centre of each row."""
        check_is_fitted(self)
        return self._nearest(validate_input(self, X, reset=False))[0]

    def transform(self, X):
        """Euclidean distances of each row to each centre (n_samples × n_clusters)."""
        check_is_fitted(self)
        return euclidean_distances(validate_input(self, X, reset=False), self.cluster_centers_)

    def score(self, X, y=None) -> float:
        """Minus the sum of squared distances of ``X`` to its nearest centres."""
        check_is_fitted(self)
        _, distances = self._nearest(validate_input(self, X, reset=False))
        return -float(np.sum(distances**2))

    def _state(self):
        tensors = {
            "cluster_centers_": torch.from_numpy(self.cluster_centers_),
            "labels_": torch.from_numpy(self.labels_.astype(np.int64)),
        }
        names = ("inertia_", "n_iter_", "n_features_in_", "feature_names_in_")
        return tensors, {name: getattr(self, name) for name in names if hasattr(self, name)}

    def _restore(self, tensors, meta, device) -> None:
        self.cluster_centers_ = _numpy(tensors["cluster_centers_"])
        self.labels_ = _numpy(tensors["labels_"])
        restore_attributes(self, meta, tuple(meta))


class PersistentIsotropicGMM(PersistenceMixin, IsotropicGMM):
    """:class:`aecm.IsotropicGMM` with ``save``/``aecm.load``; same parameters and attributes."""

    def fit_predict(self, X, y=None):
        labels = super().fit_predict(X, y)
        # the layout a loaded model has, so that BLAS rounds the products the same way
        self.means_ = np.ascontiguousarray(self.means_)
        return labels

    def _state(self):
        tensors = {
            "weights_": torch.from_numpy(np.asarray(self.weights_, dtype=np.float64)),
            "means_": torch.from_numpy(np.asarray(self.means_, dtype=np.float64)),
            "labels_": torch.from_numpy(self.labels_.astype(np.int64)),
        }
        names = (
            "covariance_",
            "lower_bound_",
            "n_iter_",
            "converged_",
            "n_features_in_",
            "feature_names_in_",
        )
        return tensors, {name: getattr(self, name) for name in names if hasattr(self, name)}

    def _restore(self, tensors, meta, device) -> None:
        self.weights_ = _numpy(tensors["weights_"])
        self.means_ = _numpy(tensors["means_"])
        self.labels_ = _numpy(tensors["labels_"])
        restore_attributes(self, meta, tuple(meta))
