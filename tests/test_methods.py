"""The methods' objectives: DEC/IDEC targets, DCN's centroid rule, DKM's stable soft-min."""

import numpy as np
import torch

from aecm.data import make_source
from aecm.methods.dcn import DCNObjective
from aecm.methods.dec import DECObjective, student_t, target_distribution
from aecm.methods.dkm import softmin_weights
from aecm.nn import Autoencoder


def test_student_t_and_target_by_hand():
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    mu = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    q = student_t(z, mu)
    # row 0: distances² 0 and 1 → 1/(1+0), 1/(1+1) → (2/3, 1/3); row 1: 4 and 1 → (1/5, 1/2)
    torch.testing.assert_close(q[0], torch.tensor([2 / 3, 1 / 3]))
    torch.testing.assert_close(q[1], torch.tensor([0.2, 0.5]) / 0.7)
    p = target_distribution(q)
    f = q.sum(dim=0)
    expected = q**2 / f
    torch.testing.assert_close(p, expected / expected.sum(dim=1, keepdim=True))


def test_dec_target_is_over_the_whole_data_and_refreshed_every_interval():
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(50, 6, generator=gen).numpy()
    source = make_source(X, torch.device("cpu"))
    ae = Autoencoder(6, 2, (8,))
    ae.reset_parameters(gen)
    objective = DECObjective(ae, torch.randn(3, 2, generator=gen), source, update_interval=3)
    assert objective.target.shape == (50, 3)
    with torch.no_grad():
        expected = target_distribution(
            student_t(ae.encode(torch.as_tensor(X)), objective.centroids)
        )
    torch.testing.assert_close(objective.target, expected)
    refreshed = []
    original = objective.refresh_target
    objective.refresh_target = lambda: (refreshed.append(objective.iteration), original())
    batch = torch.as_tensor(X[:10])
    for _ in range(7):
        objective.gradients(batch, torch.arange(10))
    assert refreshed == [3, 6]  # after 3 and 6 iterations, not per batch


def test_dcn_batch_update_equals_per_point_updates():
    gen = torch.Generator().manual_seed(1)
    centroids = torch.randn(3, 2, generator=gen)
    objective = DCNObjective(Autoencoder(4, 2, (4,)), centroids, lbd=1.0, initial_count=5.0)
    z = torch.randn(20, 2, generator=gen)
    nearest = torch.cdist(z, centroids).argmin(dim=1)
    objective.update_centroids(z, nearest)
    mu, counts = centroids.clone().double(), torch.full((3,), 5.0, dtype=torch.float64)
    for point, k in zip(z.double(), nearest.tolist(), strict=True):
        counts[k] += 1
        mu[k] -= (mu[k] - point) / counts[k]
    torch.testing.assert_close(objective.centroids.double(), mu, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(objective.counts.double(), counts)


def test_softmin_is_stable_for_huge_distances():
    d = torch.tensor([[1e6, 1e6 + 1.0, 1e6 + 5.0], [0.0, 2.0, 4.0]])
    w = softmin_weights(d, alpha=1000.0)
    assert torch.isfinite(w).all()
    torch.testing.assert_close(w.sum(dim=1), torch.ones(2))
    assert w[0, 0] > 0.99
    np.testing.assert_allclose(
        softmin_weights(d, 1.0)[1].numpy(),
        np.exp([0, -2, -4]) / np.exp([0, -2, -4]).sum(),
        rtol=1e-6,
    )
