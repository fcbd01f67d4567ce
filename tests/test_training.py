"""The training loop's pieces."""

import numpy as np
import pytest
import torch

from aecm.data import make_source
from aecm.training import FlatAdam, LoopConfig, Objective, train


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


class _ToyObjective(Objective):
    """Least squares towards the batch mean; turns NaN from epoch ``nan_epoch`` on."""

    term_names = ("fit", "penalty")

    def __init__(self, nan_epoch=None):
        self.w = torch.zeros(3, requires_grad=True)
        self.w.grad = torch.zeros(3)
        self.nan_epoch, self.epoch = nan_epoch, 0

    def parameters(self):
        return [self.w]

    def gradients(self, batch, index):
        with torch.no_grad():
            diff = self.w - batch.mean(dim=0)
            self.w.grad.copy_(2 * diff)
            fit = (diff**2).sum()
            if self.nan_epoch is not None and self.epoch >= self.nan_epoch:
                fit = fit * float("nan")
            return torch.stack((fit, torch.zeros(())))

    def assign(self, batch):
        return torch.zeros(batch.shape[0], dtype=torch.long)

    def end_epoch(self, epoch):
        self.epoch = epoch + 1


def _source():
    gen = torch.Generator().manual_seed(0)
    return make_source((torch.randn(100, 3, generator=gen) + 5).numpy(), torch.device("cpu"))


def test_loop_records_history_and_averages():
    objective = _ToyObjective()
    config = LoopConfig(n_epochs=4, batch_size=10, averaging=True)
    optimizer = torch.optim.SGD(objective.parameters(), lr=0.1)
    result = train(objective, optimizer, _source(), config, torch.Generator().manual_seed(0))
    assert result.n_iter == 4 and not result.converged
    assert set(result.history) == {"fit", "penalty", "loss", "seconds"}
    assert all(len(v) == 5 for v in result.history.values())  # 4 epochs + the averaging epoch
    assert result.history["loss"][-1] < result.history["loss"][0]
    np.testing.assert_allclose(objective.w.detach().numpy(), 5.0, atol=0.5)


def test_label_tolerance_stops_when_assignments_are_stable():
    objective = _ToyObjective()
    config = LoopConfig(n_epochs=50, batch_size=10, label_tol=1e-3, n_iter_no_change=2)
    optimizer = torch.optim.SGD(objective.parameters(), lr=0.1)
    result = train(objective, optimizer, _source(), config, torch.Generator().manual_seed(0))
    assert result.converged and result.n_iter == 2
    assert result.history["label_change"] == [0.0, 0.0]


def test_nan_loss_names_epoch_batch_and_term_and_keeps_finite_weights():
    objective = _ToyObjective(nan_epoch=2)
    config = LoopConfig(n_epochs=5, batch_size=10, averaging=False)
    optimizer = torch.optim.SGD(objective.parameters(), lr=0.1)
    source = _source()
    with pytest.raises(FloatingPointError, match=r"epoch 3, batch 1, term 'fit'"):
        train(objective, optimizer, source, config, torch.Generator().manual_seed(0))
    # the weights are those at the end of epoch 2, the last finite one
    reference = _ToyObjective()
    ref_config = LoopConfig(n_epochs=2, batch_size=10, averaging=False)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    train(reference, ref_opt, source, ref_config, torch.Generator().manual_seed(0))
    torch.testing.assert_close(objective.w, reference.w)
