"""The one training loop: epochs of shuffled mini-batches, convergence, averaging epoch, NaN guard.

A method plugs in as an :class:`Objective`: it names its loss terms, owns its parameters and,
given a batch, sets their gradients and returns the values of its terms. The loop owns time:
the optimiser step, the order of batches, the history of the terms, when to stop, and the
Polyak-averaged final epoch.

Multi-process training (:mod:`aecm.distributed`) happens here and in the batch source only:
when the source has a shard, each step runs the objective on this process's part of the global
batch with :attr:`Objective.reduce` set to the shard (so that the losses take their global-batch
statistics), then sums the gradients over the processes before the optimiser steps; each phase
starts from the parameters of process 0.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from aecm.data.batches import BatchSource
from aecm.distributed import LOCAL, BatchReduce

if TYPE_CHECKING:
    from aecm.checkpoint import Checkpointer
    from aecm.distributed import Shard

__all__ = [
    "AutogradObjective",
    "FlatAdam",
    "LoopConfig",
    "LoopState",
    "Objective",
    "TrainingResult",
    "make_optimizer",
    "run_steps",
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


def make_optimizer(
    kind: type[torch.optim.Optimizer], params: Iterable[Tensor], **options
) -> torch.optim.Optimizer:
    """``kind(params, **options)``, fused (one kernel per step) where this torch supports it.

    The fused step of ``torch.optim.Adam``/``AdamW``/``SGD`` does the same arithmetic as the
    default per-tensor loops in one kernel over all parameters (``benchmarks/deep_methods.py``
    times a bare loop with each step; on the paper's autoencoder on USPS, one CPU thread, the
    fused epoch took 6 % less: docs/results.md). Older torch releases or devices without a
    fused kernel get the default step.
    """
    params = list(params)
    try:
        return kind(params, fused=True, **options)
    except (RuntimeError, TypeError, ValueError):
        return kind(params, **options)


class Objective:
    """What a method gives the loop. Subclasses set ``term_names`` and implement the methods."""

    #: Names of the loss terms, in the order of the vector :meth:`gradients` returns.
    term_names: tuple[str, ...] = ()

    #: Names of attributes holding Python numbers that training changes (e.g. DKM's ``alpha``,
    #: DEC's batch counter); checkpoints save and restore them with :meth:`extra_state`.
    checkpoint_scalars: tuple[str, ...] = ()

    #: How the losses sum statistics over the batch (:class:`aecm.distributed.BatchReduce`): the
    #: loop sets it to the process's shard during the steps of multi-process training, so that
    #: terms that are not sums over rows (a mean's row count, the CM's mixture weights) are
    #: computed over the global batch. Losses read it; outside training steps it is local.
    reduce: BatchReduce = LOCAL

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

    def extra_state(self) -> dict[str, Tensor]:
        """Tensors besides :meth:`parameters` that training changes (e.g. DCN's centroids).

        Saved with the parameters at the end of each finite epoch when the loop may resume
        after a non-finite loss (``on_nan="restore"``), and put back by
        :meth:`load_extra_state`. The default: every tensor attribute that is neither a
        parameter nor a view of another tensor (views follow the tensor they view).
        """
        params = {id(p) for p in self.parameters()}
        return {
            name: value.detach().clone()
            for name, value in vars(self).items()
            if isinstance(value, Tensor) and id(value) not in params and value._base is None
        }

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        """Put back what :meth:`extra_state` returned."""
        for name, value in state.items():
            setattr(self, name, value.clone())


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
    ``on_nan``: what a non-finite loss term does. ``"raise"``: put back the parameters of the
    end of the last finite epoch and raise ``FloatingPointError`` naming the epoch, batch and
    term. ``"restore"``: put them back (and :meth:`Objective.extra_state`), halve the learning
    rate, reset the optimiser's state (Adam's moments, SGD's momentum, which the diverging
    steps filled) and run the epoch again; after ``max_nan_restarts`` restarts in one
    training run, raise as ``"raise"`` does. ``history["nan_restarts"]`` then counts the
    restarts before each recorded epoch.
    ``n_clusters``: when given and the assignments are computed every epoch (``label_tol``),
    ``history`` also records per epoch ``"empty_clusters"`` and ``"largest_cluster_fraction"``.
    ``min_steps``: an epoch is the fewest whole passes over the data (each shuffled anew) that
    take at least this many optimiser steps, so that data smaller than ``min_steps`` batches
    gets the same number of steps per epoch as larger data; ``1``: one pass.
    ``checkpoints``: an :class:`aecm.checkpoint.Checkpointer`; each call of :func:`train` is
    then one phase of it: the loop resumes the phase from its newest valid checkpoint (a
    finished phase is loaded, not trained again), writes one every ``checkpoints.every``
    epochs and one at the phase's end.
    """

    n_epochs: int
    batch_size: int
    tol: float = 0.0
    label_tol: float = 0.0
    n_iter_no_change: int = 10
    averaging: bool = True
    verbose: bool = False
    description: str = "training"
    on_nan: str = "raise"
    max_nan_restarts: int = 5
    n_clusters: int | None = None
    checkpoints: Checkpointer | None = None
    min_steps: int = 1

    def __post_init__(self) -> None:
        if self.on_nan not in ("raise", "restore"):
            raise ValueError(f"on_nan must be 'raise' or 'restore'; got {self.on_nan!r}.")


@dataclass
class LoopState:
    """Where a phase of the loop stands between two epochs: what a checkpoint holds besides
    the tensors of the objective, the optimiser and the generator."""

    history: dict[str, list[float]]
    epoch: int = 0  # finite epochs done, before the averaging epoch
    calm: int = 0  # consecutive epochs with fewer label changes than label_tol
    converged: bool = False
    restarts: int = 0  # on_nan="restore" restarts so far
    labels: Tensor | None = None  # the assignments after the last epoch (label_tol)
    complete: bool = False  # the phase is over (its averaging epoch included)

    def result(self) -> TrainingResult:
        return TrainingResult(history=self.history, n_iter=self.epoch, converged=self.converged)


@dataclass
class TrainingResult:
    # per epoch: terms, "loss", "seconds" (, "label_change", "nan_restarts", cluster sizes)
    history: dict[str, list[float]]
    n_iter: int  # epochs before the averaging epoch
    converged: bool


def run_steps(
    objective: Objective,
    optimizer: torch.optim.Optimizer | FlatAdam,
    batches: Iterable[tuple[Tensor, Tensor]],
    n_batches: int,
    device: torch.device,
    average: list[Tensor] | None = None,
    shard: Shard | None = None,
) -> Tensor:
    """One optimiser step per ``(index, batch)`` of ``batches`` (``n_batches`` of them).

    Returns the per-batch term values, shape (n_batches, n_terms), on ``device``, without a
    host synchronisation. ``average``: tensors to which the parameters are added after each
    step (for the averaging epoch). Used for an epoch of :func:`train` and by ``partial_fit``.
    ``shard``: the batches are this process's parts of global batches; the losses then sum
    their statistics over the processes and the gradients are summed before each step.
    """
    values = torch.empty(n_batches, len(objective.term_names), device=device)
    params = objective.parameters()
    if shard is not None:
        objective.reduce = shard
    try:
        for b, (index, batch) in enumerate(batches):
            values[b] = objective.gradients(batch, index)
            if shard is not None:
                shard.sum_gradients(params)
            optimizer.step()
            if average is not None:
                with torch.no_grad():
                    torch._foreach_add_(average, params)
    finally:
        if shard is not None:
            del objective.reduce  # back to the class's LOCAL
    return values


def _run_epoch(
    objective: Objective,
    optimizer: torch.optim.Optimizer | FlatAdam,
    source: BatchSource,
    config: LoopConfig,
    generator: torch.Generator,
    average: list[Tensor] | None = None,
) -> Tensor:
    """One epoch (:func:`_epoch_passes` passes); returns the per-step term values, shape
    (steps, n_terms), on the device."""
    passes = _epoch_passes(source, config)
    batches = itertools.chain.from_iterable(
        source.shuffled_batches(config.batch_size, generator) for _ in range(passes)
    )
    n_steps = passes * source.n_batches(config.batch_size)
    return run_steps(objective, optimizer, batches, n_steps, source.device, average, source.shard)


def _epoch_passes(source: BatchSource, config: LoopConfig) -> int:
    """Passes over the data in one epoch: enough for ``config.min_steps`` optimiser steps."""
    return max(1, -(-config.min_steps // source.n_batches(config.batch_size)))


def _assignments(objective: Objective, source: BatchSource) -> Tensor:
    """The assignments of every row (each process computes its rows when sharded)."""
    with torch.no_grad():
        parts = [objective.assign(b) for b in source.own_batches()]
    own = torch.cat(parts) if parts else torch.empty(0, dtype=torch.long, device=source.device)
    return source.gather(own)


def _share_parameters(objective: Objective, shard: Shard) -> None:
    """Give every process the parameters and extra state of process 0."""
    shard.broadcast(objective.parameters())
    extra = objective.extra_state()
    if extra:
        shard.broadcast(list(extra.values()))
        objective.load_extra_state(extra)


def _loss_converged(losses: list[float], config: LoopConfig) -> bool:
    window = config.n_iter_no_change
    if config.tol <= 0 or len(losses) < 2 * window:
        return False
    before = sum(losses[-2 * window : -window]) / window
    last = sum(losses[-window:]) / window
    return before - last < config.tol * abs(before)


def _non_finite(values: Tensor, objective: Objective, epoch: int) -> str | None:
    """None if every value is finite, else where the first non-finite one is."""
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return None
    batch, term = (~finite).nonzero()[0].tolist()
    return (
        f"epoch {epoch + 1}, batch {batch + 1}, term {objective.term_names[term]!r} "
        f"({values[batch, term].item()})"
    )


def _halve_learning_rate(optimizer: torch.optim.Optimizer | FlatAdam) -> None:
    """Halve the step size and forget the moments (they hold the diverging steps)."""
    if isinstance(optimizer, FlatAdam):
        optimizer.lr /= 2
        optimizer.step_count = 0
        optimizer.exp_avg.zero_()
        optimizer.exp_avg_sq.zero_()
        return
    for group in optimizer.param_groups:
        group["lr"] /= 2
    optimizer.state.clear()


def _cluster_sizes(labels: Tensor, n_clusters: int) -> tuple[int, float]:
    """The number of empty clusters and the largest cluster's share of the points."""
    counts = torch.bincount(labels, minlength=n_clusters)
    return int((counts == 0).sum()), float(counts.max()) / max(labels.numel(), 1)


def _new_state(objective: Objective, source: BatchSource, config: LoopConfig) -> LoopState:
    """The state of a phase before its first epoch."""
    history: dict[str, list[float]] = {name: [] for name in (*objective.term_names, "loss")}
    history["seconds"] = []
    if config.on_nan == "restore":
        history["nan_restarts"] = []
    labels = None
    if config.label_tol > 0:
        labels = _assignments(objective, source)
        history["label_change"] = []
        if config.n_clusters is not None:
            history["empty_clusters"], history["largest_cluster_fraction"] = [], []
    return LoopState(history=history, labels=labels)


def train(
    objective: Objective,
    optimizer: torch.optim.Optimizer | FlatAdam,
    source: BatchSource,
    config: LoopConfig,
    generator: torch.Generator,
) -> TrainingResult:
    """Train ``objective`` on ``source``; the parameters are updated in place.

    With ``config.checkpoints``, the phase resumes from its newest valid checkpoint: the
    parameters, :meth:`Objective.extra_state`, the optimiser, ``generator`` and the loop's
    counters are put back, and a finished phase returns its result without training.
    """
    checkpoint = None
    state = None
    if config.checkpoints is not None:
        checkpoint = config.checkpoints.phase(config.description)
        state = checkpoint.resume(objective, optimizer, generator, source.device)
        if state is not None and state.complete:
            return state.result()
    if source.shard is not None:
        _share_parameters(objective, source.shard)
    if state is None:
        state = _new_state(objective, source, config)
    names = objective.term_names
    history = state.history
    params = objective.parameters()
    progress = None
    if config.verbose and (source.shard is None or source.shard.rank == 0):
        from tqdm.auto import tqdm

        progress = tqdm(total=config.n_epochs, desc=config.description, unit="epoch", leave=False)
        progress.update(state.epoch)

    def record(values: Tensor) -> None:
        sums = values.sum(dim=0).tolist()  # one host sync per epoch
        history["seconds"].append(time.perf_counter() - started)
        for name, value in zip(names, sums, strict=True):
            history[name].append(value)
        history["loss"].append(float(sum(sums)))
        if progress is not None:
            progress.set_postfix({name: f"{v:.4g}" for name, v in zip(names, sums, strict=True)})
            progress.update(1)

    restore = config.on_nan == "restore"
    good = [p.detach().clone() for p in params]
    good_extra = objective.extra_state() if restore else {}

    def finite(values: Tensor, epoch: int) -> bool:
        """Whether the epoch was finite; if not, put back the last good state, then either
        raise or (``on_nan="restore"``) halve the learning rate and return False."""
        where = _non_finite(values, objective, epoch)
        if where is None:
            return True
        with torch.no_grad():
            torch._foreach_copy_(params, good)
        objective.load_extra_state(good_extra)
        if not restore or state.restarts >= config.max_nan_restarts:
            tried = (
                f" after {state.restarts} restarts with the learning rate halved each time"
                if restore
                else ""
            )
            raise FloatingPointError(
                f"The loss became non-finite at {where}{tried}. The parameters were restored to "
                "their values at the end of the last finite epoch; lower the learning rate, "
                "check the data's scale, or pass on_nan='restore'."
            )
        state.restarts += 1
        _halve_learning_rate(optimizer)
        return False

    def keep(values: Tensor) -> None:
        """Record the finite epoch and remember its state as the last good one."""
        nonlocal good_extra
        if restore:
            history["nan_restarts"].append(state.restarts - sum(history["nan_restarts"]))
        with torch.no_grad():
            torch._foreach_copy_(good, params)
        if restore:
            good_extra = objective.extra_state()

    try:
        while state.epoch < config.n_epochs and not state.converged:
            started = time.perf_counter()
            values = _run_epoch(objective, optimizer, source, config, generator)
            if not finite(values, state.epoch):
                continue
            keep(values)
            objective.end_epoch(state.epoch)
            if state.labels is not None:
                new = _assignments(objective, source)
                change = (new != state.labels).float().mean().item()
                state.labels = new
                history["label_change"].append(change)
                state.calm = state.calm + 1 if change < config.label_tol else 0
                if config.n_clusters is not None:
                    empty, largest = _cluster_sizes(new, config.n_clusters)
                    history["empty_clusters"].append(empty)
                    history["largest_cluster_fraction"].append(largest)
            record(values)
            state.epoch += 1
            state.converged = state.calm >= config.n_iter_no_change or _loss_converged(
                history["loss"], config
            )
            ending = state.converged or state.epoch >= config.n_epochs
            if checkpoint is not None and checkpoint.due(state.epoch):
                if config.averaging or not ending:  # else the phase's end is saved next
                    checkpoint.save(objective, optimizer, generator, state, config.n_epochs)
        while config.averaging:
            started = time.perf_counter()
            average = [torch.zeros_like(p) for p in params]
            values = _run_epoch(objective, optimizer, source, config, generator, average)
            if not finite(values, state.epoch):
                continue
            n_steps = _epoch_passes(source, config) * source.n_batches(config.batch_size)
            with torch.no_grad():
                for p, a in zip(params, average, strict=True):
                    p.copy_(a / n_steps)
            keep(values)
            record(values)
            break
        state.complete = True
        if checkpoint is not None:
            checkpoint.save(objective, optimizer, generator, state, config.n_epochs)
    finally:
        if progress is not None:
            progress.close()
    return state.result()
