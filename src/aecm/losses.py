"""Loss functions, as pure functions of tensors. Each returns its named terms and their total.

The clustering module's loss (paper-notes §1), on a batch ``B`` of ``n_B`` rows::

    E1 = Σ_i ‖x_i − x̂_i‖²                                 reconstruction
    E2 = Σ_k (Σ_i γ_ik (1 − γ_ik)) ‖μ_k‖²                 sparsity of γ
    E3 = − Σ_{k≠l} (Σ_i γ_ik γ_il) μ_kᵀ μ_l               cross-centroid term
    E4 = Σ_k (1 − α_k) log(π̂_k + 1e-10),  π̂_k = (1/n_B) Σ_i γ_ik      Dirichlet prior

For every ``γ`` on the simplex, ``E1 + E2 + E3 = Σ_i Σ_k γ_ik ‖x_i − μ_k‖²``: the loss is the
objective of an isotropic Gaussian mixture with shared variance and a Dirichlet(α) prior on the
weights, with ``γ`` given by an amortised encoder instead of an E-step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aecm.distributed import LOCAL, BatchReduce

__all__ = [
    "AECM_TERMS",
    "CM_TERMS",
    "aecm_loss",
    "cm_loss",
    "cm_loss_closed_form",
    "dirichlet_prior",
    "gmm_objective",
    "squared_distances",
]

#: Names of the CM loss terms, in the order used by histories and term vectors.
CM_TERMS = ("E1", "E2", "E3", "E4")

#: Added to the mixture weights before the logarithm in E4 (as in the authors' code).
PRIOR_EPS = 1e-10


def _alpha_by_rank(alpha: Tensor, log_pi: Tensor) -> Tensor:
    """Pair the sorted ``α`` with the sorted ``log π̂``: ``out[k]`` is the α that cluster k gets.

    ``alpha`` must already be sorted ascending; a 0-d ``alpha`` (a scalar) is returned as is.
    """
    if alpha.ndim == 0:
        return alpha
    order = torch.argsort(log_pi.detach())
    out = torch.empty_like(alpha)
    out[order] = alpha
    return out


def dirichlet_prior(gamma: Tensor, alpha: Tensor, *, reduce: BatchReduce = LOCAL) -> Tensor:
    """E4 = Σ_k (1 − α_k) log(π̂_k + 1e-10) with π̂ the batch mean of ``gamma``.

    ``alpha`` is a scalar or a vector sorted ascending; it is paired with the sorted ``log π̂``
    (the paper's rule, so that the prior does not fix which cluster gets which weight).
    ``reduce``: with a shard (:mod:`aecm.distributed`), π̂ is the mean over the global batch.
    """
    n, (counts,) = reduce.totals(gamma.shape[0], gamma.sum(dim=0))
    return _prior(counts, n, alpha)


def _prior(counts: Tensor, n: int, alpha: Tensor) -> Tensor:
    """E4 from ``counts`` = ``Σ_i γ_ik`` over a batch of ``n`` rows."""
    log_pi = torch.log(counts / n + PRIOR_EPS)
    return ((1.0 - _alpha_by_rank(alpha, log_pi)) * log_pi).sum()


def cm_loss(
    x: Tensor,
    gamma: Tensor,
    centroids: Tensor,
    alpha: Tensor | float,
    *,
    normalize: bool = False,
) -> dict[str, Tensor]:
    """The CM loss on a batch, term by term, in the paper's direct form (differentiable).

    Parameters
    ----------
    x : Tensor of shape (n, d)
        The batch.
    gamma : Tensor of shape (n, K)
        Soft assignments (rows on the simplex).
    centroids : Tensor of shape (K, d)
        ``μ``; the reconstruction is ``x̂ = γ μ``.
    alpha : float or Tensor of shape () or (K,)
        Dirichlet concentration; a vector must be sorted ascending.
    normalize : bool, default=False
        Divide E1–E3 by ``n·d`` (the authors' PyTorch example); α must then be re-tuned.

    Returns
    -------
    dict
        ``{"E1", "E2", "E3", "E4", "total"}``, each a 0-d tensor.
    """
    alpha = torch.as_tensor(alpha, dtype=x.dtype, device=x.device)
    x_hat = gamma @ centroids
    e1 = ((x - x_hat) ** 2).sum()
    sq_norms = (centroids**2).sum(dim=1)  # ‖μ_k‖²
    e2 = ((gamma * (1.0 - gamma)).sum(dim=0) * sq_norms).sum()
    co = gamma.T @ gamma  # Σ_i γ_ik γ_il
    gram = centroids @ centroids.T  # μ_kᵀ μ_l
    e3 = -((co * gram).sum() - (co.diagonal() * gram.diagonal()).sum())
    if normalize:
        scale = 1.0 / (x.shape[0] * x.shape[1])
        e1, e2, e3 = e1 * scale, e2 * scale, e3 * scale
    e4 = dirichlet_prior(gamma, alpha)
    return {"E1": e1, "E2": e2, "E3": e3, "E4": e4, "total": e1 + e2 + e3 + e4}


def gmm_objective(x: Tensor, gamma: Tensor, centroids: Tensor) -> Tensor:
    """``Σ_i Σ_k γ_ik ‖x_i − μ_k‖²``, the isotropic-GMM form that E1 + E2 + E3 equals."""
    sq_dist = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(dim=2)
    return (gamma * sq_dist).sum()


def cm_loss_closed_form(
    x: Tensor,
    weights: Tensor,
    encoder_bias: Tensor | None,
    decoder_bias: Tensor | None,
    alpha: Tensor,
    grad_weights: Tensor,
    *,
    normalize: bool = False,
    reduce: BatchReduce = LOCAL,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """CM loss terms and their exact gradients without autograd (the training fast path).

    Uses the identity ``E1 + E2 + E3 = Σ γ_ik ‖x_i − μ_k‖²``: the gradient then needs one matrix
    product with ``x`` forward (for the logits and ``x·μ`` together) and one backward (for
    ``∂L/∂W`` and ``γᵀx`` together). Agrees with autograd through :func:`cm_loss` to rounding.

    Parameters
    ----------
    x : Tensor (n, d)
        The batch.
    weights : Tensor (2K, d)
        ``W`` (rows ``:K``) stacked on ``V`` (rows ``K:``); the centroids are ``μ = V + c``.
    encoder_bias, decoder_bias : Tensor (K,) and (d,), or None
        ``b`` and ``c``.
    alpha : Tensor of shape () or (K,)
        Dirichlet concentration, a vector sorted ascending.
    grad_weights : Tensor (2K, d)
        Receives ``∂L/∂W`` (rows ``:K``) and ``∂L/∂V`` (rows ``K:``).
    normalize : bool
        Divide E1–E3 by ``n·d``.
    reduce : BatchReduce
        How batch statistics are summed (:mod:`aecm.distributed`): with a shard, ``x`` is this
        process's part of the global batch, and the row count, ``π̂`` and the terms are those
        of the global batch; the gradients are this part's contribution to the global batch's
        (their sum over the processes is the gradient of the global batch).

    Returns
    -------
    terms : Tensor (4,)
        E1, E2, E3, E4.
    grad_b, grad_c : Tensor or None
        ``∂L/∂b`` and ``∂L/∂c`` when the layer has biases.
    """
    n, d = x.shape
    k = weights.shape[0] // 2
    both = x @ weights.T  # (n, 2K): logits x·W and cross terms x·V
    logits, cross = both[:, :k], both[:, k:]
    centroids = weights[k:]
    if decoder_bias is not None:
        logits = logits + encoder_bias
        cross = cross + (x @ decoder_bias)[:, None]
        centroids = centroids + decoder_bias
    gamma = torch.softmax(logits, dim=1)
    gram = centroids @ centroids.T  # μ_kᵀ μ_l
    mu_sq = gram.diagonal()  # ‖μ_k‖²
    own_counts = counts = gamma.sum(dim=0)  # n π̂_k (of these rows)
    # the terms, from inner products of K-sized statistics
    co = gamma.T @ gamma
    flat = x.reshape(-1)
    sums = torch.stack(
        (
            torch.dot(flat, flat),  # Σ ‖x_i‖²
            (gamma * cross).sum(),  # Σ γ_ik x_i·μ_k
            torch.dot(co.reshape(-1), gram.reshape(-1)),  # Σ co∘gram
            torch.dot(co.diagonal(), mu_sq),  # Σ_k co_kk ‖μ_k‖²
            torch.dot(own_counts, mu_sq),  # Σ_k n_k ‖μ_k‖²
        )
    )
    n, (counts, sums) = reduce.totals(n, counts, sums)  # those of the global batch
    scale = 1.0 / (n * d) if normalize else 1.0
    log_pi = torch.log(counts / n + PRIOR_EPS)
    one_minus_alpha = 1.0 - _alpha_by_rank(alpha, log_pi)
    # ∂L/∂γ up to a per-row constant, which the softmax's backward cancels (‖x_i‖² is dropped)
    row = one_minus_alpha / (counts + n * PRIOR_EPS)
    if scale != 1.0:
        grad_gamma = (mu_sq * scale + row) - (2.0 * scale) * cross
    else:
        grad_gamma = (mu_sq + row) - 2.0 * cross
    grad_logits = gamma * (grad_gamma - (gamma * grad_gamma).sum(dim=1, keepdim=True))
    # ∂L/∂W = grad_logitsᵀ x and γᵀ x in one product; then ∂L/∂μ = 2 (n_k μ_k − γᵀx)
    torch.mm(torch.cat((grad_logits, gamma), dim=1).T, x, out=grad_weights)
    grad_mu = grad_weights[k:]
    grad_mu.mul_(-2.0 * scale).add_(own_counts[:, None] * centroids, alpha=2.0 * scale)
    grad_b = grad_c = None
    if decoder_bias is not None:
        grad_b = grad_logits.sum(dim=0)
        grad_c = grad_mu.sum(dim=0)
    stats = torch.cat((sums, (one_minus_alpha * log_pi).sum()[None]))  # and E4
    return stats @ _terms_matrix(scale, x.dtype, x.device), grad_b, grad_c


_TERMS_MATRICES: dict = {}


def _terms_matrix(scale: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Maps the six statistics of :func:`cm_loss_closed_form` to (E1, E2, E3, E4)."""
    key = (scale, dtype, device)
    if key not in _TERMS_MATRICES:
        s = scale
        # rows: Σ‖x‖², Σγ x·μ, Σ co∘gram, Σ co_kk‖μ_k‖², Σ n_k‖μ_k‖², E4
        matrix = [
            [s, 0, 0, 0],
            [-2 * s, 0, 0, 0],
            [s, 0, -s, 0],
            [0, -s, s, 0],
            [0, s, 0, 0],
            [0, 0, 0, 1],
        ]
        _TERMS_MATRICES[key] = torch.tensor(matrix, dtype=dtype, device=device)
    return _TERMS_MATRICES[key]


#: Names of the AE-CM loss terms.
AECM_TERMS = ("cm_reconstruction", "sparsity", "orthonormality", "prior", "ae_reconstruction")


def aecm_loss(
    x: Tensor,
    x_hat: Tensor,
    z: Tensor,
    gamma: Tensor,
    centroids: Tensor,
    alpha: Tensor | float,
    *,
    beta: float,
    lbd: float,
    form: str = "paper",
    reduce: BatchReduce = LOCAL,
) -> dict[str, Tensor]:
    """The AE-CM loss (paper-notes §2), term by term, plus the total.

    ``form="paper"`` (the TensorFlow code used for the paper): sums over the batch,
    ``λ Σ_kl |(U Uᵀ − I)_kl|`` for the orthonormality term and ``β Σ_i ‖x_i − x̂_i‖²``.
    ``form="pytorch"`` (the authors' PyTorch module, ``normalize=False``): the same sums with
    the squared Frobenius norm ``λ ‖U Uᵀ − I‖²``.
    ``form="normalized"`` (the authors' PyTorch example): the CM reconstruction and sparsity terms
    divided by ``n·p``, the squared Frobenius norm ``λ ‖U Uᵀ − I‖²``, and ``β`` times the mean
    squared error of the autoencoder.

    Parameters
    ----------
    x, x_hat : Tensor (n, d)
        The batch and the autoencoder's reconstruction of it.
    z : Tensor (n, p)
        The embedding.
    gamma : Tensor (n, K)
        The CM's soft assignments of ``z``.
    centroids : Tensor (K, p)
        ``U``, the centroids in embedding space.
    alpha : float or Tensor
        Dirichlet concentration (a vector sorted ascending).
    beta, lbd : float
        Weights of the autoencoder's reconstruction and of the orthonormality term.
    reduce : BatchReduce
        With a shard (:mod:`aecm.distributed`), the sums, the row count and ``π̂`` are those of
        the global batch; the orthonormality term, a function of the centroids alone, is
        counted once over the processes.
    """
    if form not in ("paper", "pytorch", "normalized"):
        raise ValueError(
            f"Unknown AE-CM loss form {form!r}: use 'paper', 'pytorch' or 'normalized'."
        )
    n, p = z.shape
    n, (cm_reconstruction, sparsity, ae_squares, counts) = reduce.totals(
        n,
        ((z - gamma @ centroids) ** 2).sum(),
        (gamma * (1.0 - gamma)).sum(),  # E2 with ‖μ_k‖ = 1
        ((x - x_hat) ** 2).sum(),
        gamma.sum(dim=0),
    )
    deviation = centroids @ centroids.T - torch.eye(
        centroids.shape[0], dtype=z.dtype, device=z.device
    )
    if form == "paper":
        orthonormality = lbd * deviation.abs().sum()
        ae_reconstruction = beta * ae_squares
    elif form == "pytorch":
        orthonormality = lbd * (deviation**2).sum()
        ae_reconstruction = beta * ae_squares
    else:
        cm_reconstruction = cm_reconstruction / (n * p)
        sparsity = sparsity / (n * p)
        orthonormality = lbd * (deviation**2).sum()
        ae_reconstruction = beta * (ae_squares / (n * x.shape[1]))
    alpha = torch.as_tensor(alpha, dtype=z.dtype, device=z.device)
    terms = {
        "cm_reconstruction": cm_reconstruction,
        "sparsity": sparsity,
        "orthonormality": reduce.shared(orthonormality),
        "prior": _prior(counts, n, alpha),
        "ae_reconstruction": ae_reconstruction,
    }
    terms["total"] = sum(terms.values())
    return terms


def squared_distances(z: Tensor, centroids: Tensor) -> Tensor:
    """``‖z_i − μ_k‖²`` (n × K), differentiable everywhere.

    ``torch.cdist(z, μ) ** 2`` has a NaN gradient where a point sits exactly on a centroid
    (the derivative of the square root at 0); the expanded form has none.
    """
    sq = (
        (z * z).sum(dim=1, keepdim=True)
        - 2.0 * z @ centroids.T
        + (centroids * centroids).sum(dim=1)
    )
    return sq.clamp_min(0.0)
