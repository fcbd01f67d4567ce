"""The training loop's pieces."""

import torch

from aecm.training import FlatAdam


def test_flat_adam_matches_torch_adam():
    gen = torch.Generator().manual_seed(0)
    p1 = torch.randn(50, generator=gen, dtype=torch.float64).requires_grad_(True)
    p2 = p1.detach().clone().requires_grad_(True)
    ours = FlatAdam(p1, lr=1e-2, eps=1e-3)
    ref = torch.optim.Adam([p2], lr=1e-2, eps=1e-3)
    for _ in range(30):
        g = torch.randn(50, generator=gen, dtype=torch.float64)
        p1.grad = g.clone()
        p2.grad = g.clone()
        ours.step()
        ref.step()
    assert torch.allclose(p1, p2, rtol=1e-12, atol=1e-14)
