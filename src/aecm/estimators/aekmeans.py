"""``AEKMeans``: k-means on the embedding of a pretrained autoencoder (the AE+KM baseline)."""

from __future__ import annotations

from numbers import Integral

import torch
from sklearn.cluster import KMeans

from aecm._params import Interval
from aecm.estimators.deep import DeepClusterer
from aecm.methods.aekmeans import KMeansObjective

__all__ = ["AEKMeans"]


class AEKMeans(DeepClusterer):
    """k-means (k-means++, ``kmeans_n_init`` restarts) on a pretrained autoencoder's embedding.

    Parameters are those shared by every deep estimator (see :class:`aecm.AECM`) plus
    ``kmeans_n_init`` (default 10); ``n_epochs`` is unused (there is no clustering training).
    ``cluster_centers_`` are the k-means centres in embedding space; ``loss_`` is the k-means
    inertia on the embedding.
    """

    _parameter_constraints = {
        **DeepClusterer._common_constraints,
        "kmeans_n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        embedding_dim=10,
        hidden_dims=(500, 500, 2000),
        pretrain_epochs=100,
        n_epochs=0,
        batch_size=256,
        learning_rate=1e-3,
        pretrain_learning_rate=1e-3,
        kmeans_n_init=10,
        pretrained=None,
        init_sample_size=100_000,
        n_init=1,
        tol=0.0,
        device="auto",
        random_state=None,
        verbose=False,
        on_nan="raise",
        checkpoint_dir=None,
        checkpoint_every=1,
    ):
        self._store_init_params(locals())

    def _fit_clusters(self, autoencoder, source, generator, seed):
        z = self._init_embedding(autoencoder, source, seed).cpu().numpy()
        kmeans = KMeans(self.n_clusters, n_init=self.kmeans_n_init, random_state=seed).fit(z)
        centroids = torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32)
        return KMeansObjective(autoencoder, centroids.to(source.device)), {}

    def _assign(self, objective, z):
        return objective.distances(z).argmin(dim=1)

    def _centroids(self, objective):
        return objective.centroids

    def _build_objective(self, autoencoder, tensors, meta):
        return KMeansObjective(autoencoder, tensors["centroids"])
