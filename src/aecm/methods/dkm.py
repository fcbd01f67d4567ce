"""DKM (Fard et al., 2020): reconstruction plus a soft-min-weighted k-means term."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aecm.losses import squared_distances
from aecm.nn.autoencoder import Autoencoder
from aecm.training import AutogradObjective

__all__ = ["DKMObjective", "softmin_weights"]


def softmin_weights(sq_dist: Tensor, alpha: float) -> Tensor:
    """``G_k ∝ exp(−α d_k)``, computed stably (the smallest distance is subtracted first)."""
    shifted = sq_dist - sq_dist.min(dim=1, keepdim=True).values
    return torch.softmax(-alpha * shifted, dim=1)


class DKMObjective(AutogradObjective):
    """``mean_i ‖x_i − x̂_i‖² + λ mean Σ_k G_k(z, α) ‖z − r_k‖²``; ``α`` grows after every epoch.

    The centroids ``r`` are trained by gradient with the network. ``α`` is multiplied by
    ``alpha_growth`` at the end of each epoch (an annealing from soft to hard assignments).
    """

    term_names = ("reconstruction", "clustering")
    checkpoint_scalars = ("alpha",)

    def __init__(
        self,
        autoencoder: Autoencoder,
        centroids: Tensor,
        *,
        lbd: float,
        alpha: float,
        alpha_growth: float,
    ) -> None:
        self.autoencoder, self.lbd = autoencoder, lbd
        self.centroids = nn.Parameter(centroids.clone())
        self.alpha, self.alpha_growth = alpha, alpha_growth

    def parameters(self) -> list[Tensor]:
        return [self.centroids, *self.autoencoder.parameters()]

    def soft_assign(self, z: Tensor) -> Tensor:
        return softmin_weights(squared_distances(z, self.centroids), self.alpha)

    def loss(self, batch: Tensor, index: Tensor) -> dict[str, Tensor]:
        z = self.autoencoder.encode(batch)
        sq_dist = squared_distances(z, self.centroids)
        weights = softmin_weights(sq_dist, self.alpha)
        n, (reconstruction, clustering) = self.reduce.totals(  # over the global batch
            batch.shape[0],
            ((self.autoencoder.decode(z) - batch) ** 2).sum(),
            (weights * sq_dist).sum(),
        )
        return {"reconstruction": reconstruction / n, "clustering": self.lbd * clustering / n}

    def end_epoch(self, epoch: int) -> None:
        self.alpha *= self.alpha_growth

    def assign(self, batch: Tensor) -> Tensor:
        return squared_distances(self.autoencoder.encode(batch), self.centroids).argmin(dim=1)
