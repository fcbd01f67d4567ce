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

    The AE+KM baseline: pretrain the MLP autoencoder on its reconstruction, then run k-means
    once on the embedding; there is no clustering training. Fit it first and pass it as
    ``pretrained`` to the other deep estimators to start them all from the same autoencoder.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters ``K``.
    embedding_dim : int, default=10
        Embedding size ``p``.
    <the parameters of every deep estimator>
    n_epochs : int, default=0
        Unused: there is no clustering training (kept for a parameter set common to all deep
        estimators).
    learning_rate : float, default=1e-3
        Unused (no clustering training; see ``pretrain_learning_rate``).
    kmeans_n_init : int, default=10
        Restarts of k-means (k-means++ seeding) on the embedding; the lowest inertia is kept.
    tol : float, default=0.0
        Unused (no clustering training).

    Attributes
    ----------
    autoencoder_ : Autoencoder
        The pretrained autoencoder (on ``device_``).
    cluster_centers_ : ndarray of shape (n_clusters, embedding_dim)
        The k-means centres in embedding space.
    labels_ : ndarray of shape (n_samples,)
        The cluster of each training row.
    n_clusters_ : int
        The number of clusters, ``n_clusters``.
    loss_ : float
        The k-means inertia on the embedding of the training data.
    history_ : dict
        ``"pretrain"``: per epoch, the reconstruction loss and seconds (absent with
        ``pretrained``); ``"clusters"``: ``"empty_clusters"`` and
        ``"largest_cluster_fraction"`` of ``labels_``.
    n_iter_ : int
        Epochs of the last training phase (the pretraining; 0 with ``pretrained``).

    See Also
    --------
    AECM : The clustering module trained on the embedding, jointly with the autoencoder.

    Notes
    -----
    Data larger than memory and several processes are handled as for every deep estimator
    (see the Notes of :class:`aecm.AECM`).
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
