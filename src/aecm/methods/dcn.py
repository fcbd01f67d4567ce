"""DCN (Yang et al., 2017): reconstruction plus distance to the hard-assigned centroid."""

from __future__ import annotations

import torch
from torch import Tensor

from aecm.losses import squared_distances
from aecm.nn.autoencoder import Autoencoder
from aecm.training import AutogradObjective

__all__ = ["DCNObjective"]


class DCNObjective(AutogradObjective):
    """``mean_i ‖x_i − x̂_i‖² + (λ/2) mean ‖z − μ_{s(z)}‖²`` with hard assignments ``s``.

    The centroids are not trained by gradient: after each batch's network step, each centroid
    moves towards the batch's points assigned to it with step ``1/count`` per point (its
    running count, started at ``initial_count``), which for a batch is the running mean
    ``μ ← (c μ + Σ z) / (c + m)`` (the global batch's counts and sums under multi-process
    training, so every process moves the centroids alike).
    """

    term_names = ("reconstruction", "clustering")

    def __init__(
        self, autoencoder: Autoencoder, centroids: Tensor, *, lbd: float, initial_count: float
    ) -> None:
        self.autoencoder, self.lbd = autoencoder, lbd
        self.centroids = centroids.clone()
        self.counts = torch.full(
            (centroids.shape[0],), float(initial_count), device=centroids.device
        )

    def parameters(self) -> list[Tensor]:
        return list(self.autoencoder.parameters())

    def distances(self, z: Tensor) -> Tensor:
        return squared_distances(z, self.centroids)

    def loss(self, batch: Tensor, index: Tensor) -> dict[str, Tensor]:
        z = self.autoencoder.encode(batch)
        nearest = self.distances(z.detach()).argmin(dim=1)
        n, (reconstruction, clustering) = self.reduce.totals(  # over the global batch
            batch.shape[0],
            ((self.autoencoder.decode(z) - batch) ** 2).sum(),
            ((z - self.centroids[nearest]) ** 2).sum(),
        )
        self._last = (z.detach(), nearest)
        return {"reconstruction": reconstruction / n, "clustering": 0.5 * self.lbd * clustering / n}

    def gradients(self, batch: Tensor, index: Tensor) -> Tensor:
        values = super().gradients(batch, index)
        self.update_centroids(*self._last)
        return values

    @torch.no_grad()
    def update_centroids(self, z: Tensor, nearest: Tensor) -> None:
        k = self.centroids.shape[0]
        added = torch.bincount(nearest, minlength=k).to(z.dtype)
        sums = torch.zeros_like(self.centroids).index_add_(0, nearest, z)
        _, (added, sums) = self.reduce.totals(len(z), added, sums)  # the global batch's
        new_counts = self.counts + added
        self.centroids = (self.counts[:, None] * self.centroids + sums) / new_counts[:, None]
        self.counts = new_counts

    def assign(self, batch: Tensor) -> Tensor:
        return self.distances(self.autoencoder.encode(batch)).argmin(dim=1)
