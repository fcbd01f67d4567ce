"""Pretraining objective: the autoencoder's reconstruction alone."""

from __future__ import annotations

from torch import Tensor

from aecm.nn.autoencoder import Autoencoder
from aecm.training import AutogradObjective

__all__ = ["ReconstructionObjective"]


class ReconstructionObjective(AutogradObjective):
    """Mean squared error ``mean_ij (x_ij − x̂_ij)²`` of an :class:`Autoencoder`."""

    term_names = ("reconstruction",)

    def __init__(self, autoencoder: Autoencoder) -> None:
        self.autoencoder = autoencoder

    def parameters(self) -> list[Tensor]:
        return list(self.autoencoder.parameters())

    def loss(self, batch: Tensor, index: Tensor) -> dict[str, Tensor]:
        squares = ((self.autoencoder(batch) - batch) ** 2).sum()
        n, (squares,) = self.reduce.totals(batch.shape[0], squares)  # over the global batch
        return {"reconstruction": squares / (n * batch.shape[1])}
