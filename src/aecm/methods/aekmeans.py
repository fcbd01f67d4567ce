"""AE+KM: k-means on the embedding of a pretrained autoencoder (no clustering training)."""

from __future__ import annotations

from torch import Tensor

from aecm.losses import squared_distances
from aecm.nn.autoencoder import Autoencoder
from aecm.training import AutogradObjective

__all__ = ["KMeansObjective"]


class KMeansObjective(AutogradObjective):
    """The k-means inertia ``Σ_i min_k ‖f(x_i) − c_k‖²`` of fixed centres on the embedding."""

    term_names = ("inertia",)

    def __init__(self, autoencoder: Autoencoder, centroids: Tensor) -> None:
        self.autoencoder, self.centroids = autoencoder, centroids

    def parameters(self) -> list[Tensor]:
        return []

    def distances(self, z: Tensor) -> Tensor:
        """Squared distances of embedded rows to the centres (n × K)."""
        return squared_distances(z, self.centroids)

    def loss(self, batch: Tensor, index: Tensor) -> dict[str, Tensor]:
        return {"inertia": self.distances(self.autoencoder.encode(batch)).min(dim=1).values.sum()}

    def assign(self, batch: Tensor) -> Tensor:
        return self.distances(self.autoencoder.encode(batch)).argmin(dim=1)
