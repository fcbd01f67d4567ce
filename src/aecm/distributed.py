"""Data-parallel training over several processes, launched by ``torchrun``.

**What is shared, what is split.** Every process holds the model and reads the same data set
(the same file, or the same array). Each epoch, every process draws the *same* permutation of
the rows (the same generator, seeded alike) and so the same global batches of ``batch_size``
rows; each process takes a contiguous part of every global batch (:meth:`Shard.local`; the
parts' sizes differ by at most one) and computes the gradient contribution of its rows. The
contributions are summed over the processes (one all-reduce of the flat gradients per step)
before the optimiser steps, identically on every process. The set of rows behind each step is
that of the single-process run with the same seed and ``batch_size``, so the fit is the
single-process fit up to the order of floating-point sums.

**Statistics of the global batch.** A loss term that is not a sum over rows is computed from
sums over the global batch: the mixture weights ``π̂`` of the CM's prior E4, the number of rows
behind a mean (the denominators of ``mean`` and of the ``normalize`` option), DCN's per-centroid
batch counts. :meth:`Shard.total` all-reduces a tensor of such sums; autograd sees it as the
identity of the local sums, so each process's backward pass gives the exact contribution of its
own rows to the gradient of the global term, and the all-reduce of the gradients sums these
contributions. A term of the parameters alone (AE-CM's orthonormality) is computed whole by
every process; :meth:`Shard.shared` divides its gradient by the number of processes so that the
sum counts it once. Loss values are those of the global batch on every process.

**Whole-data passes.** DEC's target distribution, the per-epoch assignments of the
label-change tolerance, and the final loss and ``labels_`` of a fit are computed by each process
on a contiguous run of the data's batches (:meth:`aecm.data.BatchSource.own_rows`) and put
together: rows gathered (:meth:`Shard.gather_rows`), sums all-reduced (DEC's per-cluster
frequencies, the loss). The initialisation (k-means on a sample) runs whole, and alike, on
every process; at the start of each training phase the parameters of process 0 are broadcast,
so that rounding differences between devices in the initialisation cannot make the replicas
drift apart.

Nothing here runs at import: :func:`process_group` initialises the group from the variables
``torchrun`` sets, and the estimators shard their training when a group of more than one
process is initialised (:func:`current_shard`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "LOCAL",
    "TORCHRUN_VARIABLES",
    "BatchReduce",
    "Shard",
    "barrier",
    "current_shard",
    "is_distributed",
    "is_main_process",
    "main_process_first",
    "process_group",
    "rank",
    "world_size",
]

#: The environment variables ``torchrun`` sets for each process; :func:`process_group` needs them.
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


# ---------------------------------------------------------------------------------- the group
@contextlib.contextmanager
def process_group(backend: str | None = None) -> Iterator[torch.device]:
    """Initialise the default process group from ``torchrun``'s variables; destroy it on exit.

    ``backend``: ``"nccl"`` when CUDA is available, else ``"gloo"`` (the default). With NCCL the
    current CUDA device is set to ``cuda:LOCAL_RANK``. Yields the device this process trains on
    (``cuda:LOCAL_RANK`` or the CPU). A group that is already initialised is used as it is and
    left alone. Raises ``ValueError`` when a variable is missing (not launched by ``torchrun``).
    """
    if dist.is_initialized():
        yield _process_device(dist.get_backend())
        return
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(
            f"distributed training needs the variables that torchrun sets (missing: "
            f"{', '.join(missing)}); launch with e.g. "
            "'torchrun --nproc-per-node 2 -m aecm fit DATA ... --distributed'."
        )
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend)
    try:
        yield _process_device(backend)
    finally:
        dist.destroy_process_group()


def _process_device(backend: str) -> torch.device:
    if backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def is_distributed() -> bool:
    """Whether a process group of more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """Whether this process writes files: rank 0, or the only process."""
    return rank() == 0


def barrier() -> None:
    """Wait for every process (nothing without a process group)."""
    if is_distributed():
        dist.barrier()


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Run the block on process 0 first, then on the others (e.g. process 0 creates a folder
    that the others then read)."""
    if not is_main_process():
        barrier()
    yield
    if is_main_process():
        barrier()


def current_shard(device: torch.device | None = None) -> Shard | None:
    """The :class:`Shard` of this process when a group of more than one process is initialised,
    else None (training is then not split).

    ``device``: the training device; with the NCCL backend it must be a CUDA device.
    """
    if not is_distributed():
        return None
    if device is not None and dist.get_backend() == "nccl" and device.type != "cuda":
        raise ValueError(
            f"The process group uses NCCL, which needs CUDA tensors, but the estimator trains "
            f"on {device}; use device='auto' or 'cuda', or a gloo process group on the CPU."
        )
    return Shard(rank=dist.get_rank(), world_size=dist.get_world_size())


# ---------------------------------------------------------------------------------- reductions
class BatchReduce:
    """How the statistics of a training batch are summed: here, over this process's rows only.

    Losses call :meth:`total` on the sums over their rows that a term needs whole (the mixture
    weights, the row count behind a mean) and :meth:`shared` on terms of the parameters alone.
    This class does nothing (one process holds the whole batch); :class:`Shard` sums over the
    processes.
    """

    def total(self, local: Tensor) -> Tensor:
        """The sum of ``local`` over the global batch (here ``local`` itself)."""
        return local

    def totals(self, n_rows: int, *sums: Tensor) -> tuple[int, list[Tensor]]:
        """The global batch's row count and ``sums`` over it, given this process's ``n_rows``
        and sums (one reduction for all of them)."""
        return n_rows, list(sums)

    def shared(self, term: Tensor) -> Tensor:
        """A term that every process computes whole from the parameters alone."""
        return term


#: The reduction of single-process training: the batch is this process's.
LOCAL = BatchReduce()


class _GlobalSum(torch.autograd.Function):
    """All-reduce (sum) forward; the identity backward: the gradient of a term of the global
    sum, on this process, is the contribution of this process's rows."""

    @staticmethod
    def forward(ctx, local: Tensor) -> Tensor:
        out = local.detach().clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad


class _ScaledGradient(torch.autograd.Function):
    """The identity forward; the gradient divided by ``factor`` backward."""

    @staticmethod
    def forward(ctx, term: Tensor, factor: int) -> Tensor:
        ctx.factor = factor
        return term.view_as(term)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return grad / ctx.factor, None


@dataclass(frozen=True)
class Shard(BatchReduce):
    """This process's part of the training: its rank among ``world_size`` processes."""

    rank: int
    world_size: int

    # ------------------------------------------------------------------ rows
    def bounds(self, n: int) -> tuple[int, int]:
        """``[start, stop)`` of this process's contiguous part of ``n`` rows; the parts of the
        processes tile ``range(n)`` in rank order and their sizes differ by at most one."""
        return n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size

    def local(self, index: Tensor) -> Tensor:
        """This process's part of a global batch's row positions ``index``."""
        start, stop = self.bounds(len(index))
        return index[start:stop]

    # ------------------------------------------------------------------ collectives
    def total(self, local: Tensor) -> Tensor:
        if torch.is_grad_enabled() and local.requires_grad:
            return _GlobalSum.apply(local)
        out = local.clone()
        dist.all_reduce(out)
        return out

    def totals(self, n_rows: int, *sums: Tensor) -> tuple[int, list[Tensor]]:
        flat = torch.cat([s.reshape(-1) for s in sums] + [sums[0].new_full((1,), n_rows)])
        total = self.total(flat)
        out, start = [], 0
        for s in sums:
            out.append(total[start : start + s.numel()].view_as(s))
            start += s.numel()
        return int(total[-1].item()), out

    def shared(self, term: Tensor) -> Tensor:
        if not term.requires_grad:
            return term
        return _ScaledGradient.apply(term, self.world_size)

    def sum_(self, tensor: Tensor) -> Tensor:
        """All-reduce ``tensor`` in place (sum); returns it."""
        dist.all_reduce(tensor)
        return tensor

    def sum_gradients(self, params: Sequence[Tensor]) -> None:
        """Sum the ``.grad`` of ``params`` over the processes, in one all-reduce.

        Parameters without a gradient are skipped (every process has the same graph, so the
        same ones are skipped everywhere).
        """
        grads = [p.grad for p in params if p.grad is not None]
        if len(grads) == 1:
            dist.all_reduce(grads[0])
        elif grads:
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            for grad, part in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
                grad.copy_(part.view_as(grad))

    def broadcast(self, tensors: Sequence[Tensor]) -> None:
        """Overwrite ``tensors`` (in place) with those of process 0."""
        with torch.no_grad():
            for tensor in tensors:
                dist.broadcast(tensor, src=0)

    def agree(self, value: Any) -> Any:
        """Process 0's ``value`` (any picklable object), on every process."""
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_rows(self, part: Tensor, start: int, n: int) -> Tensor:
        """All ``n`` rows, of which this process computed ``part`` (from row ``start`` on) and
        the others the rest (the parts tile the rows).

        Each process puts its rows in a zero tensor of ``n`` rows and the tensors are summed:
        a sum with zeros is exact, so the result is every process's rows, bit for bit.
        """
        full = part.new_zeros((n, *part.shape[1:]))
        full[start : start + len(part)] = part
        dist.all_reduce(full)
        return full
