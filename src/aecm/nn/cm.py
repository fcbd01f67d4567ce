"""The clustering module (CM) of Boubekki et al. (2021) as a torch module.

The CM is a one-hidden-layer autoencoder whose hidden layer is a softmax:

* encoder ``γ = softmax(x Wᵀ + b)`` with ``W ∈ R^{K×d}``, ``b ∈ R^K``: the soft assignments;
* decoder ``x̂ = γ V + c`` with ``V ∈ R^{K×d}``, ``c ∈ R^d``; since the rows of ``γ`` sum to one,
  ``x̂ = γ μ`` with the centroids ``μ_k = V_k + c``.

This file holds the tensors and nothing else: the loss is in :mod:`aecm.losses`, training in
:mod:`aecm.training`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ClusteringLayer", "mixture_em", "partition_posteriors"]


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
        example has none).

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

    def fit_encoder(self, x: Tensor, targets: Tensor, max_iter: int = 100) -> None:
        """Fit the encoder (``W``, and ``b`` if present) so that ``γ`` reproduces ``targets``.

        ``targets`` are either hard labels (int, shape ``(n,)``) or soft assignments (float,
        shape ``(n, K)``, rows summing to one). Multinomial logistic regression: the
        cross-entropy of the softmax against the targets, minimised by L-BFGS for ``max_iter``
        iterations from the current encoder; the decoder is left as it is.

        AE-CM fits it after :meth:`init_from_centroids` to the posteriors of the isotropic
        mixture at a k-means solution (:func:`partition_posteriors`). Hard labels of separable
        clusters drive the weights to infinity: the fitted ``γ`` are then exactly 0 or 1, no
        gradient reaches the encoder, and training moves the embedding across the frozen
        boundaries (on Pendigits this took AE-CM from ACC 0.71 to 0.50 in five joint epochs).
        """
        weights = [self.encoder_weight] + (
            [self.encoder_bias] if self.encoder_bias is not None else []
        )
        x = x.detach().to(self.encoder_weight.device, self.encoder_weight.dtype)
        if targets.ndim == 1:
            targets = torch.as_tensor(targets, device=x.device, dtype=torch.long)
        else:
            targets = targets.detach().to(x.device, x.dtype)
        start = [w.detach().clone() for w in weights]
        optimizer = torch.optim.LBFGS(weights, max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(self.logits(x), targets)
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(closure)
        with torch.no_grad():
            if not all(torch.isfinite(w).all() for w in weights):  # keep the encoder it had
                for weight, value in zip(weights, start, strict=True):
                    weight.copy_(value)
        for weight in weights:
            weight.grad = None

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


@torch.no_grad()
def partition_posteriors(x: Tensor, centroids: Tensor, labels: Tensor) -> Tensor:
    """Posteriors ``γ`` (n × K) of the isotropic Gaussian mixture that a hard partition defines.

    The mixture has the given centroids, weights ``π_k`` = the clusters' shares of the points
    and one variance ``σ²`` = the mean squared distance of a point to its centroid per
    dimension (the maximum-likelihood values for the partition), so
    ``γ_ik ∝ π_k exp(−‖x_i − μ_k‖² / 2σ²)``: the CM's soft assignments when it equals that
    mixture (paper-notes §1). Empty clusters get weight 0 only up to a floor of ``1e-12``.
    """
    n, p = x.shape
    labels = torch.as_tensor(labels, device=x.device, dtype=torch.long)
    distances = torch.cdist(x, centroids.to(x.dtype)).square()
    variance = distances.gather(1, labels[:, None]).mean().clamp_min(1e-12) / p
    weights = torch.bincount(labels, minlength=centroids.shape[0]).to(x.dtype) / n
    return torch.softmax(weights.clamp_min(1e-12).log() - distances / (2 * variance), dim=1)


@torch.no_grad()
def mixture_em(x: Tensor, centroids: Tensor, n_iter: int) -> tuple[Tensor, Tensor]:
    """``n_iter`` EM iterations of the isotropic Gaussian mixture on ``x``, from ``centroids``.

    The start is the mixture that the partition of ``x`` by nearest centroid defines
    (:func:`partition_posteriors`); each iteration sets the weights, means and shared variance
    from the posteriors (M-step), then the posteriors from them (E-step). A component that
    loses all its mass keeps its mean. Returns the means (K × p) and the posteriors (n × K),
    in the dtype of ``x``.
    """
    n, p = x.shape
    means = centroids.to(x.dtype).clone()
    gamma = partition_posteriors(x, means, torch.cdist(x, means).argmin(dim=1))
    for _ in range(n_iter):
        mass = gamma.sum(dim=0)
        alive = mass > 1e-12 * n
        means[alive] = (gamma.T @ x)[alive] / mass[alive, None]
        distances = torch.cdist(x, means).square()
        variance = ((gamma * distances).sum() / (n * p)).clamp_min(1e-12)
        log_weights = (mass / n).clamp_min(1e-12).log()
        gamma = torch.softmax(log_weights - distances / (2 * variance), dim=1)
    return means, gamma
