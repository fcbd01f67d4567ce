"""DEC (Xie et al., 2016) and IDEC (Guo et al., 2017): KL divergence to a sharpened target."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aecm.data.batches import BatchSource
from aecm.losses import squared_distances
from aecm.nn.autoencoder import Autoencoder
from aecm.training import AutogradObjective

__all__ = ["DECObjective", "student_t", "target_distribution"]


def student_t(z: Tensor, centroids: Tensor) -> Tensor:
    """DEC's soft assignment ``q_ij ∝ (1 + ‖z_i − μ_j‖²)^{-1}`` (Student's t, one degree)."""
    q = 1.0 / (1.0 + squared_distances(z, centroids))
    return q / q.sum(dim=1, keepdim=True)


def target_distribution(q: Tensor, frequencies: Tensor | None = None) -> Tensor:
    """DEC's target ``p_ij ∝ q_ij² / f_j`` with ``f_j = Σ_i q_ij`` (over all rows of ``q``, or
    ``frequencies`` when ``q`` holds only some of the rows)."""
    weight = q**2 / (q.sum(dim=0) if frequencies is None else frequencies)
    return weight / weight.sum(dim=1, keepdim=True)


class DECObjective(AutogradObjective):
    """``KL(P ‖ Q)`` per sample (batch mean), plus ``reconstruction_weight`` × MSE for IDEC.

    The target ``P`` is computed over the whole data set, at the start and then every
    ``update_interval`` iterations (batches), never per batch. DEC drops the decoder
    (``reconstruction_weight=None``); IDEC keeps it and weights the clustering term by ``gamma``:
    ``γ KL + MSE``.
    """

    checkpoint_scalars = ("iteration",)

    def __init__(
        self,
        autoencoder: Autoencoder,
        centroids: Tensor,
        source: BatchSource | None,
        *,
        update_interval: int,
        gamma: float = 1.0,
        keep_decoder: bool = False,
    ) -> None:
        self.autoencoder, self.source = autoencoder, source
        self.centroids = nn.Parameter(centroids.clone())
        self.update_interval, self.gamma, self.keep_decoder = update_interval, gamma, keep_decoder
        self.term_names = ("kl", "reconstruction") if keep_decoder else ("kl",)
        self.iteration = 0
        if source is not None:
            self.refresh_target()

    @torch.no_grad()
    def refresh_target(self, source: BatchSource | None = None) -> None:
        """Recompute the target ``P`` over every row of ``source`` (default: the training data).

        Under multi-process training each process computes ``q`` for its range of rows, the
        frequencies ``f_j`` are summed over the processes, and the rows of ``P`` are gathered.
        """
        source = source or self.source
        parts = [self.soft_assign(self.autoencoder.encode(b)) for b in source.own_batches()]
        q = torch.cat(parts) if parts else self.centroids.new_empty(0, self.centroids.shape[0])
        frequencies = None
        if source.shard is not None:
            frequencies = source.shard.total(q.sum(dim=0))
        self.target = source.gather(target_distribution(q, frequencies))

    def start_evaluation(self, source: BatchSource) -> None:
        self.refresh_target(source)

    def forget_data(self) -> None:
        """Drop the references to the training data and its target (after training)."""
        self.source = self.target = None

    def soft_assign(self, z: Tensor) -> Tensor:
        return student_t(z, self.centroids)

    def parameters(self) -> list[Tensor]:
        network = self.autoencoder if self.keep_decoder else self.autoencoder.encoder
        return [self.centroids, *network.parameters()]

    def loss(self, batch: Tensor, index: Tensor) -> dict[str, Tensor]:
        z = self.autoencoder.encode(batch)
        q = self.soft_assign(z)
        p = self.target[index]
        sums = [(p * (torch.log(p + 1e-12) - torch.log(q + 1e-12))).sum()]
        if self.keep_decoder:
            sums.append(((self.autoencoder.decode(z) - batch) ** 2).sum())
        n, sums = self.reduce.totals(batch.shape[0], *sums)  # over the global batch
        terms = {"kl": self.gamma * (sums[0] / n)}
        if self.keep_decoder:
            terms["reconstruction"] = sums[1] / (n * batch.shape[1])
        return terms

    def gradients(self, batch: Tensor, index: Tensor) -> Tensor:
        if self.iteration > 0 and self.iteration % self.update_interval == 0:
            self.refresh_target()
        self.iteration += 1
        return super().gradients(batch, index)

    def assign(self, batch: Tensor) -> Tensor:
        return self.soft_assign(self.autoencoder.encode(batch)).argmax(dim=1)
