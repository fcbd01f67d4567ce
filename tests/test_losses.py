"""The CM loss: the paper's identity, and the closed-form gradients against autograd."""

import numpy as np
import pytest
import torch

from aecm.losses import aecm_loss, cm_loss, cm_loss_closed_form, dirichlet_prior, gmm_objective
from aecm.nn import ClusteringLayer


def _random_case(seed, n=40, d=7, k=5, bias=True):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64) * 3 + 1
    layer = ClusteringLayer(d, k, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return x, layer


@pytest.mark.parametrize("seed", range(5))
def test_identity_e1_e2_e3_equals_gmm_form(seed):
    x, layer = _random_case(seed)
    gamma = layer(x)
    terms = cm_loss(x, gamma, layer.centroids(), 1.0)
    lhs = terms["E1"] + terms["E2"] + terms["E3"]
    rhs = gmm_objective(x, gamma, layer.centroids())
    assert torch.allclose(lhs, rhs, rtol=1e-9, atol=0)
    # E4 is zero-free here; the total is the sum of the four named terms
    total = sum(terms[k] for k in ("E1", "E2", "E3", "E4"))
    assert torch.allclose(terms["total"], total, rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_identity_holds_for_any_simplex_gamma(seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(30, 4, generator=gen, dtype=torch.float64)
    mu = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    gamma = torch.distributions.Dirichlet(torch.full((6,), 0.3, dtype=torch.float64)).sample((30,))
    terms = cm_loss(x, gamma, mu, 2.0)
    lhs = terms["E1"] + terms["E2"] + terms["E3"]
    assert torch.allclose(lhs, gmm_objective(x, gamma, mu), rtol=1e-9, atol=0)


@pytest.mark.parametrize("alpha", [1.0, 13.0, 0.5, "vector"])
def test_gradient_wrt_logits_matches_direct_gmm_form(alpha):
    x, layer = _random_case(1, bias=False)
    k = layer.n_clusters
    a = (
        torch.tensor([0.5, 1.0, 2.0, 5.0, 9.0], dtype=torch.float64)
        if alpha == "vector"
        else torch.tensor(alpha, dtype=torch.float64)
    )
    logits = layer.logits(x).detach().requires_grad_(True)
    gamma = torch.softmax(logits, dim=1)
    direct = gmm_objective(x, gamma, layer.centroids().detach()) + dirichlet_prior(gamma, a)
    (grad_direct,) = torch.autograd.grad(direct, logits)
    paper = cm_loss(x, torch.softmax(logits, dim=1), layer.centroids().detach(), a)["total"]
    (grad_paper,) = torch.autograd.grad(paper, logits)
    assert torch.allclose(grad_paper, grad_direct, rtol=1e-9, atol=1e-9)
    # the closed form's ∂L/∂W equals (∂L/∂logits)ᵀ x
    weights = torch.cat((layer.encoder_weight, layer.decoder_weight)).detach()
    grad = torch.empty_like(weights)
    cm_loss_closed_form(x, weights, None, None, a, grad)
    assert torch.allclose(grad[:k], grad_direct.T @ x, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("normalize", [False, True])
def test_closed_form_matches_autograd(bias, normalize):
    x, layer = _random_case(2, bias=bias)
    alpha = torch.tensor([0.7, 1.0, 3.0, 3.0, 8.0], dtype=torch.float64)
    terms = cm_loss(x, layer(x), layer.centroids(), alpha, normalize=normalize)
    terms["total"].backward()
    k = layer.n_clusters
    weights = torch.cat((layer.encoder_weight, layer.decoder_weight)).detach()
    grad = torch.empty_like(weights)
    b = layer.encoder_bias.detach() if bias else None
    c = layer.decoder_bias.detach() if bias else None
    fast, grad_b, grad_c = cm_loss_closed_form(x, weights, b, c, alpha, grad, normalize=normalize)
    expected = torch.stack([terms[n] for n in ("E1", "E2", "E3", "E4")]).detach()
    assert torch.allclose(fast, expected, rtol=1e-9, atol=1e-9)
    assert torch.allclose(grad[:k], layer.encoder_weight.grad, rtol=1e-9, atol=1e-10)
    assert torch.allclose(grad[k:], layer.decoder_weight.grad, rtol=1e-9, atol=1e-10)
    if bias:
        assert torch.allclose(grad_b, layer.encoder_bias.grad, rtol=1e-9, atol=1e-10)
        assert torch.allclose(grad_c, layer.decoder_bias.grad, rtol=1e-9, atol=1e-10)


def test_prior_pairs_sorted_alpha_with_sorted_weights():
    gamma = torch.tensor([[1.0, 0.0, 0.0]] * 6 + [[0.0, 1.0, 0.0]] * 3 + [[0.0, 0.0, 1.0]])
    alpha = torch.tensor([1.0, 2.0, 3.0])
    log_pi = torch.log(torch.tensor([0.6, 0.3, 0.1]) + 1e-10)
    # the smallest weight (cluster 2) gets the smallest alpha, the largest (cluster 0) the largest
    expected = (1 - 3.0) * log_pi[0] + (1 - 2.0) * log_pi[1] + (1 - 1.0) * log_pi[2]
    assert torch.allclose(dirichlet_prior(gamma, alpha), expected)
    # permuting the clusters does not change the prior
    assert torch.allclose(dirichlet_prior(gamma[:, [2, 0, 1]], alpha), expected)


def test_normalized_loss_divides_data_terms_only():
    x, layer = _random_case(3)
    gamma = layer(x)
    raw = cm_loss(x, gamma, layer.centroids(), 4.0)
    norm = cm_loss(x, gamma, layer.centroids(), 4.0, normalize=True)
    n, d = x.shape
    for name in ("E1", "E2", "E3"):
        assert np.isclose(norm[name].item(), raw[name].item() / (n * d))
    assert np.isclose(norm["E4"].item(), raw["E4"].item())


@pytest.mark.parametrize("form", ["paper", "pytorch", "normalized"])
def test_aecm_loss_terms(form):
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(20, 6, generator=gen, dtype=torch.float64)
    x_hat = torch.rand(20, 6, generator=gen, dtype=torch.float64)
    z = torch.randn(20, 5, generator=gen, dtype=torch.float64)
    gamma = torch.softmax(torch.randn(20, 3, generator=gen, dtype=torch.float64), dim=1)
    u = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    terms = aecm_loss(x, x_hat, z, gamma, u, 2.0, beta=0.5, lbd=0.3, form=form)
    rec = ((z - gamma @ u) ** 2).sum()
    sparsity = (gamma * (1 - gamma)).sum()
    dev = u @ u.T - torch.eye(3, dtype=torch.float64)
    if form == "paper":
        expected = (rec, sparsity, 0.3 * dev.abs().sum(), 0.5 * ((x - x_hat) ** 2).sum())
    elif form == "pytorch":  # the authors' Clustering_Module_Loss(orth=True, normalize=False)
        expected = (rec, sparsity, 0.3 * (dev**2).sum(), 0.5 * ((x - x_hat) ** 2).sum())
    else:
        expected = (
            rec / 100,
            sparsity / 100,
            0.3 * (dev**2).sum(),
            0.5 * ((x - x_hat) ** 2).mean(),
        )
    names = ("cm_reconstruction", "sparsity", "orthonormality", "ae_reconstruction")
    for name, value in zip(names, expected, strict=True):
        assert torch.allclose(terms[name], value), name
    assert torch.allclose(terms["prior"], dirichlet_prior(gamma, torch.tensor(2.0)))
    assert torch.allclose(terms["total"], sum(terms[n] for n in (*names, "prior")))
    with pytest.raises(ValueError, match="Unknown AE-CM loss form"):
        aecm_loss(x, x_hat, z, gamma, u, 2.0, beta=0.5, lbd=0.3, form="l2")
