"""The clustering module's objective for the training loop (closed-form gradients)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from aecm.losses import CM_TERMS, cm_loss_closed_form
from aecm.nn.cm import ClusteringLayer
from aecm.training import Objective

__all__ = ["CMObjective", "select_clusters"]


class CMObjective(Objective):
    """Trains a :class:`~aecm.nn.ClusteringLayer` on the CM loss E1 + E2 + E3 + E4.

    The layer's parameters are trained as one flat vector (one optimiser tensor instead of four,
    which makes the optimiser step several times cheaper for this small model), with the exact
    gradients of :func:`aecm.losses.cm_loss_closed_form`. Call :meth:`write_back` to copy the
    trained vector into the layer.
    """

    term_names = CM_TERMS

    def __init__(self, layer: ClusteringLayer, alpha: Tensor, normalize: bool = False) -> None:
        self.layer = layer
        self.alpha = alpha
        self.normalize = normalize
        # parameter order W, V, b, c: W and V are adjacent, so [W; V] is one (2K, d) view
        self.flat = parameters_to_vector(layer.parameters()).detach().requires_grad_(True)
        self.flat.grad = torch.zeros_like(self.flat)
        k, d = layer.n_clusters, layer.in_features
        values, grads = self.flat.detach(), self.flat.grad
        self._weights = values[: 2 * k * d].view(2 * k, d)
        self._grad_weights = grads[: 2 * k * d].view(2 * k, d)
        self._b = self._c = None
        if layer.encoder_bias is not None:
            self._b, self._c = values[2 * k * d : 2 * k * d + k], values[2 * k * d + k :]
            self._grad_b, self._grad_c = grads[2 * k * d : 2 * k * d + k], grads[2 * k * d + k :]

    def parameters(self) -> list[Tensor]:
        return [self.flat]

    def gradients(self, batch: Tensor, index: Tensor) -> Tensor:
        with torch.no_grad():
            terms, grad_b, grad_c = cm_loss_closed_form(
                batch,
                self._weights,
                self._b,
                self._c,
                self.alpha,
                self._grad_weights,
                normalize=self.normalize,
                reduce=self.reduce,
            )
            if grad_b is not None:
                self._grad_b.copy_(grad_b)
                self._grad_c.copy_(grad_c)
        return terms

    def assign(self, batch: Tensor) -> Tensor:
        k = self.layer.n_clusters
        logits = batch @ self._weights[:k].T
        if self._b is not None:
            logits += self._b
        return logits.argmax(dim=1)

    def write_back(self) -> None:
        """Copy the trained flat vector into the layer's parameters."""
        with torch.no_grad():
            vector_to_parameters(self.flat.detach(), self.layer.parameters())

    def flat_index(self, clusters: Tensor) -> Tensor:
        """Positions in :attr:`flat` of the parameters that belong to ``clusters`` or to none.

        ``clusters`` holds sorted cluster indices. The result lists, in the flat vector's order,
        the rows of ``W`` and ``V`` and the entries of ``b`` of those clusters, then all of
        ``c`` (shared by every cluster): the layout of the flat vector of
        ``CMObjective(select_clusters(self.layer, clusters), ...)``. Used to carry an
        optimiser's state over when clusters are removed.
        """
        k, d = self.layer.n_clusters, self.layer.in_features
        clusters = clusters.to(self.flat.device)
        rows = torch.cat((clusters, clusters + k))  # W rows, then V rows
        parts = [(rows[:, None] * d + torch.arange(d, device=rows.device)).reshape(-1)]
        if self._b is not None:
            parts += [2 * k * d + clusters, torch.arange(2 * k * d + k, self.flat.numel())]
        return torch.cat(parts)

    def keep_clusters(self, clusters: Tensor) -> CMObjective:
        """A new objective on a copy of the layer that holds only ``clusters`` (sorted indices).

        The trained vector is written back first; this objective is left unchanged. Removing a
        cluster removes its rows of ``W`` and ``V`` (and its entry of ``b``): the points it held
        go to the cluster with the next-largest logit.
        """
        self.write_back()
        layer = select_clusters(self.layer, clusters)
        return CMObjective(layer, self.alpha, normalize=self.normalize)


def select_clusters(layer: ClusteringLayer, clusters: Tensor) -> ClusteringLayer:
    """A new :class:`~aecm.nn.ClusteringLayer` with the parameters of ``clusters`` only."""
    clusters = torch.as_tensor(clusters, dtype=torch.long, device=layer.encoder_weight.device)
    bias = layer.encoder_bias is not None
    out = ClusteringLayer(layer.in_features, int(clusters.numel()), bias=bias)
    out.to(device=layer.encoder_weight.device, dtype=layer.encoder_weight.dtype)
    with torch.no_grad():
        out.encoder_weight.copy_(layer.encoder_weight[clusters])
        out.decoder_weight.copy_(layer.decoder_weight[clusters])
        if bias:
            out.encoder_bias.copy_(layer.encoder_bias[clusters])
            out.decoder_bias.copy_(layer.decoder_bias)
    return out
