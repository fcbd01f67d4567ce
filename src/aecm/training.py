"""The one training loop: epochs of shuffled mini-batches, convergence, averaging epoch, NaN guard.

A method plugs in as an :class:`Objective`: it names its loss terms, owns its parameters and,
given a batch, sets their gradients and returns the values of its terms. The loop owns time:
the optimiser step, the order of batches, the history of the terms, when to stop, and the
Polyak-averaged final epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from aecm.data.batches import BatchSource

__all__ = [
    "AutogradObjective",
    "FlatAdam",
    "LoopConfig",
    "Objective",
    "TrainingResult",
    "train",
]


class FlatAdam:
    """Adam for a single flat tensor: the update of ``torch.optim.Adam`` in six tensor operations.

    ``torch.optim.Adam.step`` spends about 75 µs of Python bookkeeping per call on the CPU,
    which is a quarter of the CM's whole step on small batches; this class does the same
    arithmetic (bias-corrected first and second moments, ``eps`` added to ``sqrt(v̂)``) with
    none of it. A test checks that it matches ``torch.optim.Adam``.
    """

    def __init__(
        self, param: Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-3
    ) -> None:
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.step_count = 0
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self._denom = torch.empty_like(param)

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        self.step_count += 1
        grad = self.param.grad
        self.exp_avg.lerp_(grad, 1.0 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        bias1 = 1.0 - beta1**self.step_count
        bias2_sqrt = (1.0 - beta2**self.step_count) ** 0.5
        torch.sqrt(self.exp_avg_sq, out=self._denom).div_(bias2_sqrt).add_(self.eps)
        self.param.addcdiv_(self.exp_avg, self._denom, value=-self.lr / bias1)

    def zero_grad(self) -> None:
        self.param.grad.zero_()


class Objective:
    """What a method gives the loop. Subclasses set ``term_names`` and implement the methods."""

    #: Names of the loss terms, in the order of the vector :meth:`gradients` returns.
    term_names: tuple[str, ...] = ()

    def parameters(self) -> list[Tensor]:
        """The tensors the optimiser updates."""
        raise NotImplementedError

    def gradients(self, batch: Tensor, index: Tensor) -> Tensor:
        """Set ``.grad`` of every parameter for ``batch``; return the terms' values (no graph).

        ``index`` holds the batch's row positions in the data set. The total loss is the sum of
        the terms.
        """
        raise NotImplementedError

    def assign(self, batch: Tensor) -> Tensor:
        """Hard cluster assignments of ``batch`` (int64), used for the label-change tolerance."""
        raise NotImplementedError

    def start_evaluation(self, source: BatchSource) -> None:
        """Called before the loss is evaluated on ``source`` (e.g. DEC's target on it)."""

    def end_epoch(self, epoch: int) -> None:
        """Called after each epoch (e.g. to refresh a target distribution)."""


class AutogradObjective(Objective):
    """An objective whose gradients come from autograd: subclasses implement :meth:`loss`."""

    def loss(self, batch: Tensor, index: Tensor) -> dict[str, Tensor]:
        """The named loss terms of ``batch`` (differentiable); their sum is the total."""
        raise NotImplementedError

    def gradients(self, batch: Tensor, index: Tensor) -> Tensor:
        for param in self.parameters():
            param.grad = None
        terms = self.loss(batch, index)
        values = torch.stack([terms[name] for name in self.term_names])
        values.sum().backward()
        return values.detach()


@dataclass(frozen=True)
class LoopConfig:
    """How long and how the loop trains.

    ``tol``: stop once the mean epoch loss of the last ``n_iter_no_change`` epochs improved on
    the mean of the ``n_iter_no_change`` epochs before by less than ``tol`` (relative). Means
    over windows, not epoch-to-epoch changes, because mini-batch noise makes single epochs
    jitter by about as much as a slow but real descent moves them.
    ``label_tol``: stop once the fraction of points whose cluster changed during an epoch stayed
    below ``label_tol`` for ``n_iter_no_change`` consecutive epochs; this costs one pass over
    the data per epoch to compute the assignments. ``0`` disables either criterion.
    ``averaging``: after the last epoch, run one more and set the parameters to the mean of
    their values after each of its batches (a Polyak average).
    """

    n_epochs: int
    batch_size: int
    tol: float = 0.0
    label_tol: float = 0.0
    n_iter_no_change: int = 10
    averaging: bool = True
    verbose: bool = False
    description: str = "training"


@dataclass
class TrainingResult:
    history: dict[str, list[float]]  # per epoch: terms, "loss", "seconds" (, "label_change")
    n_iter: int  # epochs before the averaging epoch
    converged: bool


def _run_epoch(
    objective: Objective,
    optimizer: torch.optim.Optimizer | FlatAdam,
    source: BatchSource,
    config: LoopConfig,
    generator: torch.Generator,
    average: list[Tensor] | None = None,
) -> Tensor:
    """One epoch; returns the per-batch term values, shape (n_batches, n_terms), on the device."""
    n_batches = source.n_batches(config.batch_size)
    values = torch.empty(n_batches, len(objective.term_names), device=source.device)
    params = objective.parameters()
    for b, (index, batch) in enumerate(source.shuffled_batches(config.batch_size, generator)):
        values[b] = objective.gradients(batch, index)
        optimizer.step()
        if average is not None:
            with torch.no_grad():
                torch._foreach_add_(average, params)
    return values


def _assignments(objective: Objective, source: BatchSource) -> Tensor:
    with torch.no_grad():
        return torch.cat([objective.assign(b) for b in source.ordered_batches()])


def _loss_converged(losses: list[float], config: LoopConfig) -> bool:
    window = config.n_iter_no_change
    if config.tol <= 0 or len(losses) < 2 * window:
        return False
    before = sum(losses[-2 * window : -window]) / window
    last = sum(losses[-window:]) / window
    return before - last < config.tol * abs(before)


def _check_finite(values: Tensor, objective: Objective, epoch: int) -> None:
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return
    batch, term = (~finite).nonzero()[0].tolist()
    raise FloatingPointError(
        f"The loss became non-finite at epoch {epoch + 1}, batch {batch + 1}, term "
        f"{objective.term_names[term]!r} ({values[batch, term].item()}). The parameters were "
        "restored to their values at the end of the last finite epoch; lower the learning rate "
        "or check the data's scale."
    )


def train(
    objective: Objective,
    optimizer: torch.optim.Optimizer | FlatAdam,
    source: BatchSource,
    config: LoopConfig,
    generator: torch.Generator,
) -> TrainingResult:
    """Train ``objective`` on ``source``; the parameters are updated in place."""
    names = objective.term_names
    history: dict[str, list[float]] = {name: [] for name in (*names, "loss", "seconds")}
    params = objective.parameters()
    progress = None
    if config.verbose:
        from tqdm.auto import tqdm

        progress = tqdm(total=config.n_epochs, desc=config.description, unit="epoch", leave=False)

    def record(values: Tensor) -> None:
        sums = values.sum(dim=0).tolist()  # one host sync per epoch
        history["seconds"].append(time.perf_counter() - started)
        for name, value in zip(names, sums, strict=True):
            history[name].append(value)
        history["loss"].append(float(sum(sums)))
        if progress is not None:
            progress.set_postfix({name: f"{v:.4g}" for name, v in zip(names, sums, strict=True)})
            progress.update(1)

    good = [p.detach().clone() for p in params]

    def guard(values: Tensor, epoch: int) -> None:
        try:
            _check_finite(values, objective, epoch)
        except FloatingPointError:
            with torch.no_grad():
                torch._foreach_copy_(params, good)
            raise

    n_iter, calm, converged = 0, 0, False
    labels = _assignments(objective, source) if config.label_tol > 0 else None
    if labels is not None:
        history["label_change"] = []
    try:
        for epoch in range(config.n_epochs):
            started = time.perf_counter()
            values = _run_epoch(objective, optimizer, source, config, generator)
            guard(values, epoch)
            with torch.no_grad():
                torch._foreach_copy_(good, params)
            objective.end_epoch(epoch)
            n_iter = epoch + 1
            if labels is not None:
                new = _assignments(objective, source)
                change = (new != labels).float().mean().item()
                labels = new
                history["label_change"].append(change)
                calm = calm + 1 if change < config.label_tol else 0
            record(values)
            if calm >= config.n_iter_no_change or _loss_converged(history["loss"], config):
                converged = True
                break
        if config.averaging:
            started = time.perf_counter()
            average = [torch.zeros_like(p) for p in params]
            values = _run_epoch(objective, optimizer, source, config, generator, average)
            guard(values, n_iter)
            n_batches = source.n_batches(config.batch_size)
            with torch.no_grad():
                for p, a in zip(params, average, strict=True):
                    p.copy_(a / n_batches)
            record(values)
    finally:
        if progress is not None:
            progress.close()
    return TrainingResult(history=history, n_iter=n_iter, converged=converged)
