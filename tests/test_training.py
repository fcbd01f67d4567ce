"""The training loop's pieces."""

import numpy as np
import pytest
import torch

from aecm.data import make_source
from aecm.training import FlatAdam, LoopConfig, Objective, make_optimizer, train


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


class _NaNAtStep(_ToyObjective):
    """The toy objective whose ``fit`` term is NaN at the given global batch steps."""

    def __init__(self, nan_steps):
        super().__init__()
        self.nan_steps, self.step = set(nan_steps), 0
        self.shift = torch.zeros(1)  # extra state: changes every step, not a parameter

    def gradients(self, batch, index):
        values = super().gradients(batch, index)
        self.step += 1
        self.shift = self.shift + 1
        if self.step in self.nan_steps:
            values[0] = float("nan")
        return values


def test_on_nan_restore_halves_lr_restarts_epoch_and_records_it():
    objective = _NaNAtStep(nan_steps={25})  # epoch 3 (10 batches per epoch), batch 5
    config = LoopConfig(n_epochs=4, batch_size=10, averaging=True, on_nan="restore")
    optimizer = torch.optim.Adam(objective.parameters(), lr=0.1)
    result = train(objective, optimizer, _source(), config, torch.Generator().manual_seed(0))
    assert result.n_iter == 4
    assert result.history["nan_restarts"] == [0, 0, 1, 0, 0]  # 4 epochs + averaging
    assert all(len(v) == 5 for v in result.history.values())
    assert all(np.isfinite(v).all() for v in result.history.values())
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    # the extra state was put back: 10 steps per kept epoch, the failed epoch's undone
    assert objective.shift.item() == 50
    assert torch.isfinite(objective.w).all()


def test_on_nan_restore_resets_flat_adam_and_retries_the_averaging_epoch():
    objective = _NaNAtStep(nan_steps={15})  # epoch 2 is the averaging epoch
    w = objective.w
    optimizer = FlatAdam(w, lr=0.1)
    config = LoopConfig(n_epochs=1, batch_size=10, averaging=True, on_nan="restore")
    result = train(objective, optimizer, _source(), config, torch.Generator().manual_seed(0))
    assert result.history["nan_restarts"] == [0, 1]
    assert optimizer.lr == pytest.approx(0.05)
    assert optimizer.step_count == 10  # the moments were reset before the retried epoch
    assert torch.isfinite(w).all()


def test_on_nan_restore_gives_up_after_max_restarts_and_keeps_finite_weights():
    objective = _ToyObjective(nan_epoch=1)  # NaN in every epoch from the second on
    config = LoopConfig(
        n_epochs=5, batch_size=10, averaging=False, on_nan="restore", max_nan_restarts=3
    )
    optimizer = torch.optim.SGD(objective.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(FloatingPointError, match=r"epoch 2, batch 1, term 'fit'.*after 3 restarts"):
        train(objective, optimizer, _source(), config, torch.Generator().manual_seed(0))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 / 8)
    assert torch.isfinite(objective.w).all()


def test_absurd_learning_rate_raises_by_default_and_recovers_with_restore():
    class Quadratic(Objective):
        """``‖w‖²``: SGD multiplies w by ``1 − 2 lr`` per step, so lr > 1 diverges."""

        term_names = ("fit",)

        def __init__(self):
            self.w = torch.ones(3, requires_grad=True)
            self.w.grad = torch.zeros(3)

        def parameters(self):
            return [self.w]

        def gradients(self, batch, index):
            with torch.no_grad():
                self.w.grad.copy_(2 * self.w)
                return (self.w**2).sum().reshape(1)

    # batches of 1 row: 100 steps per epoch, |1 − 2 lr|^100 overflows float32 for lr ≥ 2
    config = LoopConfig(n_epochs=3, batch_size=1, averaging=False)
    objective = Quadratic()
    optimizer = torch.optim.SGD(objective.parameters(), lr=8.0)
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch \d+, term 'fit'"):
        train(objective, optimizer, _source(), config, torch.Generator().manual_seed(0))
    torch.testing.assert_close(objective.w, torch.ones(3))

    objective = Quadratic()
    optimizer = torch.optim.SGD(objective.parameters(), lr=8.0)
    restore = LoopConfig(n_epochs=3, batch_size=1, averaging=False, on_nan="restore")
    result = train(objective, optimizer, _source(), restore, torch.Generator().manual_seed(0))
    assert result.history["nan_restarts"] == [3, 0, 0]  # lr 8 → 4 → 2 → 1
    assert optimizer.param_groups[0]["lr"] == 1.0
    assert np.isfinite(result.history["loss"]).all()


def test_loop_config_rejects_unknown_on_nan():
    with pytest.raises(ValueError, match="on_nan"):
        LoopConfig(n_epochs=1, batch_size=1, on_nan="ignore")


def test_label_tolerance_records_cluster_sizes_when_n_clusters_given():
    objective = _ToyObjective()  # assigns everything to cluster 0
    config = LoopConfig(n_epochs=3, batch_size=10, label_tol=1e-9, n_clusters=3)
    optimizer = torch.optim.SGD(objective.parameters(), lr=0.1)
    result = train(objective, optimizer, _source(), config, torch.Generator().manual_seed(0))
    assert result.history["empty_clusters"] == [2, 2, 2]
    assert result.history["largest_cluster_fraction"] == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        (torch.optim.Adam, {"lr": 1e-2}),
        (torch.optim.AdamW, {"lr": 1e-2, "eps": 1e-3}),
        (torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9}),
    ],
)
def test_make_optimizer_is_fused_where_supported_and_steps_like_the_default(kind, options):
    torch.manual_seed(0)
    start = [torch.randn(30, 20), torch.randn(20)]
    grads = [[torch.randn_like(p) for p in start] for _ in range(5)]
    results = []
    for make in (make_optimizer, kind):
        params = [p.clone().requires_grad_() for p in start]
        optimizer = (
            make(kind, params, **options) if make is make_optimizer else make(params, **options)
        )
        if make is make_optimizer and tuple(map(int, torch.__version__.split(".")[:2])) >= (2, 4):
            assert optimizer.defaults["fused"] is True  # CPU kernels exist from torch 2.4
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = g.clone()
            optimizer.step()
        results.append([p.detach() for p in params])
    for fused, default in zip(*results, strict=True):
        torch.testing.assert_close(fused, default, rtol=1e-5, atol=1e-6)


def test_make_optimizer_falls_back_when_fusing_is_refused():
    class NoFused(torch.optim.SGD):
        def __init__(self, params, fused=None, **options):
            if fused:
                raise RuntimeError("fused=True is not supported here")
            super().__init__(params, **options)

    optimizer = make_optimizer(NoFused, [torch.zeros(3, requires_grad=True)], lr=0.1)
    assert isinstance(optimizer, NoFused)
