"""How a clustering module starts: the isotropic Gaussian mixture it should equal, and the layer
whose soft assignments are that mixture's posteriors.

One routine serves every start of a :class:`~aecm.nn.ClusteringLayer`: the CM's k-means start,
AE-CM's "pre" schedule, AE-CM's ``refine_iter`` and the pruning stage of ``n_clusters="auto"``.
Each builds a :class:`Mixture` (from a partition, or by EM) and hands it to
:func:`posterior_layer`, whose decoder holds the means and whose encoder gives
``γ_ik = π_k N(x_i | μ_k, σ² I) / Σ_l π_l N(x_i | μ_l, σ² I)``:

* with encoder biases this is exact: ``log γ_ik = x_iᵀ μ_k / σ² + log π_k − ‖μ_k‖² / (2σ²)`` up to
  a term of ``x_i`` alone, which the softmax cancels, so ``W_k = μ_k / σ²`` and
  ``b_k = log π_k − ‖μ_k‖² / (2σ²)``;
* without biases ``b_k`` has no place of its own: starting from the paper's pseudo-inverse
  encoder (``W = pinv(μ)ᵀ``, which maps each mean to its own logit), L-BFGS fits ``W`` to the
  posteriors (multinomial logistic regression, :func:`fit_encoder`, in float32, as far as
  float32 lets it go). What remains is a bias-free linear approximation, close on data away from
  the origin (non-negative pixels, counts, an embedding off-centre): ``softmax(W x)`` cuts space
  into cones from the origin, so clusters around the origin cannot all be told apart. How far
  the fit goes matters: its posteriors are near-hard on separated clusters, and a fit run to
  float64 convergence gives a sharper encoder, with which AE-CM trained worse (Pendigits,
  the paper's values, 10 + 10 + 20 epochs, seed 0: ACC 0.54 against 0.79).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from aecm.losses import squared_distances
from aecm.nn.cm import ClusteringLayer

__all__ = [
    "Mixture",
    "fit_encoder",
    "mixture_em",
    "partition_posteriors",
    "posterior_layer",
]

#: Floor of the mixture weights and of the variance (an empty cluster keeps a tiny weight).
_FLOOR = 1e-12

#: L-BFGS iterations of :func:`fit_encoder` for an encoder without biases.
FIT_ITERATIONS = 100


@dataclass(frozen=True)
class Mixture:
    """An isotropic Gaussian mixture with one shared variance: ``means`` (K × d), ``weights``
    (K,) summing to one, ``variance`` (a float, per dimension). Tensors are float64."""

    means: Tensor
    weights: Tensor
    variance: float

    @classmethod
    def from_partition(cls, x: Tensor, means: Tensor, labels: Tensor | None = None) -> Mixture:
        """The maximum-likelihood mixture of a hard partition of ``x``: the weights are the
        clusters' shares of the rows and the variance the mean squared distance of a row to
        its centroid per dimension. ``labels`` None: each row's nearest mean."""
        x = x.double()
        means = means.to(x)
        return cls.from_distances(means, squared_distances(x, means), x.shape[1], labels)

    @classmethod
    def from_distances(
        cls, means: Tensor, distances: Tensor, n_features: int, labels: Tensor | None = None
    ) -> Mixture:
        """:meth:`from_partition` given the squared distances (n × K) of the rows to ``means``
        (for data that cannot be a dense tensor, e.g. sparse)."""
        distances = torch.as_tensor(distances, dtype=torch.float64)
        if labels is None:
            labels = distances.argmin(dim=1)
        labels = torch.as_tensor(labels, device=distances.device, dtype=torch.long)
        n = distances.shape[0]
        within = float(distances.gather(1, labels[:, None]).clamp_min(0.0).sum())
        counts = torch.bincount(labels, minlength=means.shape[0]).to(distances)
        means = torch.as_tensor(means, dtype=torch.float64, device=distances.device)
        return cls(means, counts / n, max(within / (n * n_features), _FLOOR))

    @property
    def n_clusters(self) -> int:
        return self.means.shape[0]

    def logits(self, x: Tensor, distances: Tensor | None = None) -> Tensor:
        """``log π_k − ‖x_i − μ_k‖² / (2σ²)`` (n × K): the log-posteriors up to a row constant.
        ``distances``: those squared distances, if already computed."""
        if distances is None:
            distances = squared_distances(x.double(), self.means.to(x.device))
        log_weights = self.weights.to(distances.device).clamp_min(_FLOOR).log()
        return log_weights - distances / (2.0 * self.variance)

    def posteriors(self, x: Tensor, distances: Tensor | None = None) -> Tensor:
        """``γ`` (n × K, float64): the posterior of each component for each row of ``x``."""
        return torch.softmax(self.logits(x, distances), dim=1)

    def encoder(self) -> tuple[Tensor, Tensor]:
        """``W`` (K × d) and ``b`` (K,) with ``softmax(x Wᵀ + b)`` = :meth:`posteriors`."""
        sq_norms = self.means.square().sum(dim=1)
        bias = self.weights.clamp_min(_FLOOR).log() - sq_norms / (2.0 * self.variance)
        return self.means / self.variance, bias


def partition_posteriors(x: Tensor, centroids: Tensor, labels: Tensor) -> Tensor:
    """Posteriors (n × K, in the dtype of ``x``) of the mixture that a hard partition defines
    (:meth:`Mixture.from_partition`): the CM's soft assignments when it equals that mixture."""
    return Mixture.from_partition(x, centroids, labels).posteriors(x).to(x.dtype)


@torch.no_grad()
def mixture_em(x: Tensor, centroids: Tensor, n_iter: int) -> tuple[Mixture, Tensor]:
    """``n_iter`` EM iterations of the isotropic Gaussian mixture on ``x``, from ``centroids``.

    The start is the mixture that the partition of ``x`` by nearest centroid defines
    (:meth:`Mixture.from_partition`); each iteration sets the weights, means and shared variance
    from the posteriors (M-step), then the posteriors from them (E-step). A component that loses
    all its mass keeps its mean. Returns the last mixture and its posteriors (n × K, float64).
    """
    x = x.double()
    mixture = Mixture.from_partition(x, centroids)
    gamma = mixture.posteriors(x)
    n, d = x.shape
    for _ in range(n_iter):
        mass = gamma.sum(dim=0)
        means = mixture.means.clone()
        alive = mass > _FLOOR * n
        means[alive] = (gamma.T @ x)[alive] / mass[alive, None]
        distances = squared_distances(x, means)
        within = float((gamma * distances).sum())
        mixture = Mixture(means, mass / n, max(within / (n * d), _FLOOR))
        gamma = mixture.posteriors(x, distances)
    return mixture, gamma


def posterior_layer(mixture: Mixture, *, bias: bool, x: Tensor | None = None) -> ClusteringLayer:
    """A float32 :class:`~aecm.nn.ClusteringLayer` whose decoder holds ``mixture.means`` and
    whose ``γ`` are the mixture's posteriors (see the module's docstring).

    With ``bias`` the encoder is exact, the layer is on the CPU and ``x`` is not needed.
    Without, ``x`` (rows of the data the layer will see) gives the targets of the L-BFGS fit,
    which runs on ``x``'s device, where the layer is returned.
    """
    n_clusters, n_features = mixture.means.shape
    if not bias:
        if x is None:
            raise ValueError("An encoder without biases needs the data x to fit.")
        x = x.detach().float()
        layer = ClusteringLayer(n_features, n_clusters, device=x.device)
        layer.init_from_centroids(mixture.means.float())
        fit_encoder(layer, x, mixture.posteriors(x).float())
        return layer
    layer = ClusteringLayer(n_features, n_clusters, bias=True, dtype=torch.float64)
    weight, offset = mixture.encoder()
    with torch.no_grad():
        layer.decoder_weight.copy_(mixture.means)
        layer.encoder_weight.copy_(weight)
        layer.encoder_bias.copy_(offset)
        layer.decoder_bias.zero_()
    return layer.float()


def fit_encoder(
    layer: ClusteringLayer, x: Tensor, targets: Tensor, max_iter: int = FIT_ITERATIONS
) -> None:
    """Fit the encoder (``W``, and ``b`` if present) so that ``γ`` reproduces ``targets``.

    ``targets`` are either hard labels (int, shape ``(n,)``) or soft assignments (float, shape
    ``(n, K)``, rows summing to one). Multinomial logistic regression: the cross-entropy of the
    softmax against the targets, minimised by L-BFGS for ``max_iter`` iterations from the current
    encoder; the decoder is left as it is, and so is the encoder if the fit is not finite.

    Fit soft posteriors, not hard labels: an encoder fitted to hard labels of separable clusters
    has unbounded weights, its ``γ`` are exactly 0 or 1 and no gradient reaches it (on Pendigits
    this took AE-CM from ACC 0.71 to 0.50 in five joint epochs).
    """
    weights = [layer.encoder_weight] + (
        [layer.encoder_bias] if layer.encoder_bias is not None else []
    )
    x = x.detach().to(layer.encoder_weight.device, layer.encoder_weight.dtype)
    if targets.ndim == 1:
        targets = torch.as_tensor(targets, device=x.device, dtype=torch.long)
    else:
        targets = targets.detach().to(x.device, x.dtype)
    start = [w.detach().clone() for w in weights]
    optimizer = torch.optim.LBFGS(weights, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(layer.logits(x), targets)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        if not all(torch.isfinite(w).all() for w in weights):
            for weight, value in zip(weights, start, strict=True):
                weight.copy_(value)
    for weight in weights:
        weight.grad = None
