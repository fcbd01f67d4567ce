"""The clustering module (CM) of Boubekki et al. (2021) as a torch module.

The CM is a one-hidden-layer autoencoder whose hidden layer is a softmax:

* encoder ``γ = softmax(x Wᵀ + b)`` with ``W ∈ R^{K×d}``, ``b ∈ R^K``: the soft assignments;
* decoder ``x̂ = γ V + c`` with ``V ∈ R^{K×d}``, ``c ∈ R^d``; since the rows of ``γ`` sum to one,
  ``x̂ = γ μ`` with the centroids ``μ_k = V_k + c``.

This file holds the tensors and nothing else: the loss is in :mod:`aecm.losses`, training in
:mod:`aecm.training`, the starts from a mixture in :mod:`aecm.init`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ClusteringLayer"]


class ClusteringLayer(nn.Module):
    """The clustering module (CM): ``γ = softmax(W x + b)``, ``x̂ = γ V + c``.

    Parameters
    ----------
    in_features : int
        Dimension ``d`` of the input (or of the embedding, inside AE-CM).
    n_clusters : int
        Number of clusters ``K``.
    bias : bool, default=False
        Whether the encoder and decoder have biases ``b`` and ``c`` (the authors' PyTorch
        example has none; their TensorFlow module has them).

    Attributes
    ----------
    encoder_weight : Parameter of shape (K, d)
        ``W``.
    decoder_weight : Parameter of shape (K, d)
        ``V``; the centroids are ``V + c``.
    encoder_bias, decoder_bias : Parameter of shape (K,) and (d,), or None
    """

    def __init__(
        self,
        in_features: int,
        n_clusters: int,
        bias: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.n_clusters = n_clusters
        self.encoder_weight = nn.Parameter(torch.empty(n_clusters, in_features, **factory))
        self.decoder_weight = nn.Parameter(torch.empty(n_clusters, in_features, **factory))
        if bias:
            self.encoder_bias = nn.Parameter(torch.empty(n_clusters, **factory))
            self.decoder_bias = nn.Parameter(torch.empty(in_features, **factory))
        else:
            self.register_parameter("encoder_bias", None)
            self.register_parameter("decoder_bias", None)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights and zero biases (the paper's "rand" initialisation)."""
        with torch.no_grad():
            for weight in (self.encoder_weight, self.decoder_weight):
                bound = (6.0 / (self.in_features + self.n_clusters)) ** 0.5
                weight.uniform_(-bound, bound, generator=generator)
            if self.encoder_bias is not None:
                self.encoder_bias.zero_()
                self.decoder_bias.zero_()

    @torch.no_grad()
    def init_from_centroids(self, centroids: Tensor) -> None:
        """The paper's "pre" initialisation: ``V = U``, ``W = pinv(U)ᵀ``, zero biases.

        With this encoder, ``x ↦ x · pinv(U)`` maps each centroid ``U_k`` to the logits ``e_k``.
        """
        centroids = torch.as_tensor(
            centroids, dtype=self.decoder_weight.dtype, device=self.decoder_weight.device
        )
        if centroids.shape != self.decoder_weight.shape:
            raise ValueError(
                f"centroids must have shape {tuple(self.decoder_weight.shape)} "
                f"(n_clusters, in_features), got {tuple(centroids.shape)}"
            )
        pinv = torch.linalg.pinv(centroids.double()).to(centroids.dtype)  # (d, K)
        self.decoder_weight.copy_(centroids)
        self.encoder_weight.copy_(pinv.T)
        if self.encoder_bias is not None:
            self.encoder_bias.zero_()
            self.decoder_bias.zero_()

    def centroids(self) -> Tensor:
        """The centroids ``μ = V + c`` (K × d), differentiable."""
        if self.decoder_bias is None:
            return self.decoder_weight
        return self.decoder_weight + self.decoder_bias

    def logits(self, x: Tensor) -> Tensor:
        """``x Wᵀ + b`` (n × K): the encoder before the softmax."""
        return F.linear(x, self.encoder_weight, self.encoder_bias)

    def forward(self, x: Tensor) -> Tensor:
        """Soft assignments ``γ = softmax(x Wᵀ + b)`` (n × K); rows sum to one."""
        return torch.softmax(self.logits(x), dim=1)

    def decode(self, gamma: Tensor) -> Tensor:
        """Reconstruction ``x̂ = γ V + c`` (n × d)."""
        return F.linear(gamma, self.decoder_weight.T, self.decoder_bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, n_clusters={self.n_clusters}, "
            f"bias={self.encoder_bias is not None}"
        )
