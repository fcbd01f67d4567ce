"""``DCN`` and ``DKM``: k-means-style objectives trained with the autoencoder."""

from __future__ import annotations

from numbers import Real

import torch

from aecm._params import NONE, Interval
from aecm.estimators.deep import DeepClusterer, SoftAssignmentMixin
from aecm.losses import squared_distances
from aecm.methods.dcn import DCNObjective
from aecm.methods.dkm import DKMObjective
from aecm.training import make_optimizer

__all__ = ["DCN", "DKM"]


class DCN(DeepClusterer):
    """DCN (Yang et al., 2017): ``‖x − x̂‖² + (λ/2) ‖z − μ_{s(z)}‖²`` with hard assignments.

    Centroids start from k-means (20 restarts) on the pretrained embedding and are updated
    per point with step ``1/count`` (counts start at ``initial_count``, 100 in the authors'
    code); the autoencoder is trained with Adam.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters ``K``.
    embedding_dim : int, default=10
        Embedding size ``p``.
    <the parameters of every deep estimator>
    n_epochs : int, default=100
        Epochs of the clustering phase (the autoencoder and the centroids trained on DCN's
        loss); 0 keeps the k-means centroids on the pretrained embedding.
    learning_rate : float, default=1e-4
        Step size of Adam in the clustering phase.
    lbd : float, default=1.0
        Weight ``λ`` of the clustering term ``(λ/2) ‖z − μ_{s(z)}‖²``.
    initial_count : float, default=100.0
        Starting value of each centroid's count: a point assigned to centroid ``k`` moves it
        towards the point's embedding by ``1/count_k``, then ``count_k`` grows by one, so a
        larger value makes the first updates smaller.
    tol : float, default=0.0
        Stop the clustering phase before ``n_epochs`` once the mean loss of the last 10
        epochs is less than ``tol`` (relative) below the mean of the 10 epochs before; 0
        trains all ``n_epochs``.

    Attributes
    ----------
    autoencoder_ : Autoencoder
        The trained autoencoder (on ``device_``).
    cluster_centers_ : ndarray of shape (n_clusters, embedding_dim)
        The centroids in embedding space.
    labels_ : ndarray of shape (n_samples,)
        The cluster of each training row.
    n_clusters_ : int
        The number of clusters, ``n_clusters``.
    loss_ : float
        The method's loss over the training data (batches of ``batch_size``, in order).
    history_ : dict
        Per phase (``"pretrain"``, ``"clustering"``), per epoch, each loss term and the
        seconds; ``"clusters"``: ``"empty_clusters"`` and ``"largest_cluster_fraction"`` of
        ``labels_``.
    n_iter_ : int
        Epochs of the last training phase.

    See Also
    --------
    AECM : The clustering module trained jointly with the autoencoder.
    DKM : A soft, annealed version of the same k-means-style objective.

    Notes
    -----
    Data larger than memory and several processes are handled as for every deep estimator
    (see the Notes of :class:`aecm.AECM`).
    """

    _parameter_constraints = {
        **DeepClusterer._common_constraints,
        "lbd": [Interval(Real, 0, None, closed="left")],
        "initial_count": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        embedding_dim=10,
        hidden_dims=(500, 500, 2000),
        pretrain_epochs=100,
        n_epochs=100,
        batch_size=256,
        learning_rate=1e-4,
        pretrain_learning_rate=1e-3,
        lbd=1.0,
        initial_count=100.0,
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
        centroids = self._kmeans_centroids(autoencoder, source, seed)
        objective = DCNObjective(
            autoencoder, centroids, lbd=self.lbd, initial_count=self.initial_count
        )
        if self.n_epochs == 0:
            return objective, {}
        optimizer = make_optimizer(torch.optim.Adam, objective.parameters(), lr=self.learning_rate)
        return objective, {
            "clustering": self._train_clustering(objective, optimizer, source, generator)
        }

    def _assign(self, objective, z):
        return objective.distances(z).argmin(dim=1)

    def _centroids(self, objective):
        return objective.centroids

    def _objective_state(self, objective):
        return {"centroids": objective.centroids, "counts": objective.counts}, {}

    def _build_objective(self, autoencoder, tensors, meta):
        objective = DCNObjective(autoencoder, tensors["centroids"], lbd=self.lbd, initial_count=1.0)
        objective.counts = tensors["counts"]
        return objective


class DKM(SoftAssignmentMixin, DeepClusterer):
    """DKM (Fard et al., 2020): ``‖x − x̂‖² + λ Σ_k G_k(z, α) ‖z − r_k‖²`` with annealed ``α``.

    ``G`` is the soft-min over squared distances (computed stably); ``α`` starts at ``alpha``
    and is multiplied by ``alpha_growth`` after every epoch, so the assignments harden. The
    centroids ``r`` start from k-means (20 restarts) on the pretrained embedding and are trained
    by Adam with the network. ``predict_proba`` returns ``G`` at the final ``α``.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters ``K``.
    embedding_dim : int, default=10
        Embedding size ``p``.
    <the parameters of every deep estimator>
    n_epochs : int, default=100
        Epochs of the clustering phase (the autoencoder and the centroids trained on DKM's
        loss); 0 keeps the k-means centroids on the pretrained embedding.
    learning_rate : float, default=1e-3
        Step size of Adam in the clustering phase.
    lbd : float, default=1.0
        Weight ``λ`` of the clustering term.
    alpha : float or None, default=None
        Starting inverse temperature ``α`` of the soft-min ``G``; larger values give harder
        assignments. None: ``10 / w``, with ``w`` the mean squared distance of the embedded
        points (the initialisation sample) to their k-means centre, so that the start does not
        depend on the embedding's scale. A fixed value far below ``1 / w`` makes the weights
        uniform and the clusters collapse (see Notes).
    alpha_growth : float ≥ 1, default=1.1
        Factor by which ``α`` is multiplied after every epoch of the clustering phase; 1 keeps
        it fixed.
    tol : float, default=0.0
        Stop the clustering phase before ``n_epochs`` once the mean loss of the last 10
        epochs is less than ``tol`` (relative) below the mean of the 10 epochs before; 0
        trains all ``n_epochs``.

    Attributes
    ----------
    autoencoder_ : Autoencoder
        The trained autoencoder (on ``device_``).
    cluster_centers_ : ndarray of shape (n_clusters, embedding_dim)
        The centroids in embedding space.
    labels_ : ndarray of shape (n_samples,)
        The cluster of each training row.
    n_clusters_ : int
        The number of clusters, ``n_clusters``.
    cluster_weights_ : ndarray of shape (n_clusters,)
        The mean soft assignment of the training data to each cluster.
    loss_ : float
        The method's loss over the training data (batches of ``batch_size``, in order).
    history_ : dict
        Per phase (``"pretrain"``, ``"clustering"``), per epoch, each loss term and the
        seconds; ``"clusters"``: ``"empty_clusters"`` and ``"largest_cluster_fraction"`` of
        ``labels_``.
    n_iter_ : int
        Epochs of the last training phase.

    See Also
    --------
    DCN : The same k-means-style objective with hard assignments.
    AECM : The clustering module trained jointly with the autoencoder.

    Notes
    -----
    Why ``alpha=None`` scales the start: with a fixed ``α = 0.1``, far below ``1 / w`` on
    Pendigits' embedding, the weights were uniform and the clusters collapsed (NMI 0.17
    against 0.75 for ``α = 10``).

    Data larger than memory and several processes are handled as for every deep estimator
    (see the Notes of :class:`aecm.AECM`).
    """

    _parameter_constraints = {
        **DeepClusterer._common_constraints,
        "lbd": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither"), NONE],
        "alpha_growth": [Interval(Real, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        embedding_dim=10,
        hidden_dims=(500, 500, 2000),
        pretrain_epochs=100,
        n_epochs=100,
        batch_size=256,
        learning_rate=1e-3,
        pretrain_learning_rate=1e-3,
        lbd=1.0,
        alpha=None,
        alpha_growth=1.1,
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
        centroids = self._kmeans_centroids(autoencoder, source, seed)
        alpha = self.alpha
        if alpha is None:
            z = self._init_embedding(autoencoder, source, seed)
            within = squared_distances(z, centroids).min(dim=1).values.mean().item()
            alpha = 10.0 / max(within, 1e-12)
        objective = DKMObjective(
            autoencoder,
            centroids,
            lbd=self.lbd,
            alpha=alpha,
            alpha_growth=self.alpha_growth,
        )
        if self.n_epochs == 0:
            return objective, {}
        optimizer = make_optimizer(torch.optim.Adam, objective.parameters(), lr=self.learning_rate)
        return objective, {
            "clustering": self._train_clustering(objective, optimizer, source, generator)
        }

    def _soft_assign(self, objective, z):
        return objective.soft_assign(z)

    def _assign(self, objective, z):
        return objective.soft_assign(z).argmax(dim=1)

    def _centroids(self, objective):
        return objective.centroids

    def _objective_state(self, objective):
        return {"centroids": objective.centroids}, {"alpha": objective.alpha}

    def _build_objective(self, autoencoder, tensors, meta):
        return DKMObjective(
            autoencoder,
            tensors["centroids"],
            lbd=self.lbd,
            alpha=meta["alpha"],
            alpha_growth=self.alpha_growth,
        )
