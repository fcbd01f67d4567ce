"""``DEC`` and ``IDEC``: deep embedded clustering, without and with the decoder kept."""

from __future__ import annotations

from numbers import Integral, Real

import torch

from aecm._params import Interval
from aecm.estimators.deep import DeepClusterer, SoftAssignmentMixin
from aecm.methods.dec import DECObjective

__all__ = ["DEC", "IDEC"]


class DEC(SoftAssignmentMixin, DeepClusterer):
    """DEC (Xie et al., 2016): the encoder and centroids trained on ``KL(P ‖ Q)``.

    After pretraining, k-means (20 restarts) on the embedding gives the centroids; then the
    encoder and centroids minimise the KL divergence between the Student-t soft assignments
    ``Q`` and the sharpened target ``P`` (computed over the whole data set every
    ``update_interval`` batches) with SGD (momentum 0.9), as published. The decoder is dropped.

    Parameters are those shared by the deep estimators (see :class:`aecm.AECM`) plus
    ``update_interval`` (batches between target refreshes, default 140 as in the authors'
    code). ``tol`` (fraction of points changing cluster per epoch; 0.001 published) stops early.
    """

    _parameter_constraints = {
        **DeepClusterer._common_constraints,
        "update_interval": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
    }
    _keep_decoder = False

    def __init__(
        self,
        n_clusters=8,
        *,
        embedding_dim=10,
        hidden_dims=(500, 500, 2000),
        pretrain_epochs=100,
        n_epochs=100,
        batch_size=256,
        learning_rate=0.01,
        pretrain_learning_rate=1e-3,
        update_interval=140,
        gamma=1.0,
        pretrained=None,
        init_sample_size=100_000,
        n_init=1,
        tol=1e-3,
        device="auto",
        random_state=None,
        verbose=False,
        on_nan="raise",
        checkpoint_dir=None,
        checkpoint_every=1,
    ):
        self._store_init_params(locals())

    def _fit_clusters(self, autoencoder, source, generator, seed):
        objective = DECObjective(
            autoencoder,
            self._kmeans_centroids(autoencoder, source, seed),
            source,
            update_interval=self.update_interval,
            gamma=self.gamma,
            keep_decoder=self._keep_decoder,
        )
        if self.n_epochs == 0:
            objective.forget_data()
            return objective, {}
        optimizer = torch.optim.SGD(objective.parameters(), lr=self.learning_rate, momentum=0.9)
        # DEC's tolerance is on the fraction of points that change cluster
        result = self._train_clustering(
            objective, optimizer, source, generator, tol=0.0, label_tol=self.tol
        )
        objective.forget_data()
        return objective, {"clustering": result}

    def _soft_assign(self, objective, z):
        return objective.soft_assign(z)

    def _assign(self, objective, z):
        return objective.soft_assign(z).argmax(dim=1)

    def _centroids(self, objective):
        return objective.centroids

    def _build_objective(self, autoencoder, tensors, meta):
        return DECObjective(
            autoencoder,
            tensors["centroids"],
            None,
            update_interval=self.update_interval,
            gamma=self.gamma,
            keep_decoder=self._keep_decoder,
        )


class IDEC(DEC):
    """IDEC (Guo et al., 2017): DEC with the decoder kept, loss ``γ KL(P ‖ Q) + MSE``.

    Same parameters as :class:`DEC`; ``gamma`` (default 0.1, as published) weights the
    clustering term.
    """

    _keep_decoder = True

    def __init__(
        self,
        n_clusters=8,
        *,
        embedding_dim=10,
        hidden_dims=(500, 500, 2000),
        pretrain_epochs=100,
        n_epochs=100,
        batch_size=256,
        learning_rate=0.01,
        pretrain_learning_rate=1e-3,
        update_interval=140,
        gamma=0.1,
        pretrained=None,
        init_sample_size=100_000,
        n_init=1,
        tol=1e-3,
        device="auto",
        random_state=None,
        verbose=False,
        on_nan="raise",
        checkpoint_dir=None,
        checkpoint_every=1,
    ):
        self._store_init_params(locals())
