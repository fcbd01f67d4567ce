"""Mini-batch sources: the data on the device, read by index, one batch at a time.

A source holds validated data (a float NumPy array, a SciPy CSR matrix, or a reader of data
larger than memory, :mod:`aecm.data.lazy`) and hands out dense float32 batches on the training
device. Dense data is copied to the device once; sparse data stays on the host and only the
rows of the current batch are densified; out-of-core data is read batch by batch.

Under multi-process training (:mod:`aecm.distributed`) a source has a :attr:`BatchSource.shard`:
every process draws the same global batches and :meth:`BatchSource.shuffled_batches` yields this
process's contiguous part of each; whole-data passes can be split by rows the same way
(:meth:`BatchSource.own_batches`, :meth:`BatchSource.gather`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

if TYPE_CHECKING:
    from aecm.distributed import Shard

__all__ = [
    "EVAL_BATCH_SIZE",
    "AffineSource",
    "BatchSource",
    "DenseSource",
    "InputUnits",
    "SparseSource",
    "make_source",
]

#: Rows per batch when embedding, predicting or evaluating (no gradients, so larger batches).
EVAL_BATCH_SIZE = 4096


class BatchSource:
    """Rows of a data set as dense float32 batches on ``device``.

    ``shard``: this process's part of multi-process training (see :mod:`aecm.distributed`), or
    None: the process trains on whole batches.
    """

    n_samples: int
    n_features: int
    device: torch.device
    shard: Shard | None = None

    def rows(self, index: Tensor) -> Tensor:
        """The rows at ``index`` (a 1-D int64 tensor on ``device``), dense, float32."""
        raise NotImplementedError

    def shuffled_batches(
        self, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of ``(index, rows)`` in a random order drawn from ``generator`` (on the CPU).

        The permutation is drawn on the CPU so that a seed gives the same batches on every
        device; the last batch may be smaller. ``index`` holds the rows' positions in the data
        set (for methods that keep per-row state, such as DEC's target distribution). With a
        :attr:`shard`, each batch is this process's part of the global batch (possibly empty).
        """
        perm = torch.randperm(self.n_samples, generator=generator).to(self.device)
        for start in range(0, self.n_samples, batch_size):
            index = self._local(perm[start : start + batch_size])
            yield index, self.rows(index)

    def _local(self, index: Tensor) -> Tensor:
        """This process's part of a global batch's positions (all of them without a shard)."""
        return index if self.shard is None else self.shard.local(index)

    def own_rows(self, batch_size: int = EVAL_BATCH_SIZE) -> tuple[int, int]:
        """``[start, stop)``: the rows this process handles in a whole-data pass split by
        processes (all rows without a shard): a contiguous run of the batches of
        :meth:`ordered_batches`, so that every batch is one process's whole."""
        if self.shard is None:
            return 0, self.n_samples
        first, last = self.shard.bounds(self.n_batches(batch_size))
        return min(first * batch_size, self.n_samples), min(last * batch_size, self.n_samples)

    def own_batches(self, batch_size: int = EVAL_BATCH_SIZE) -> Iterator[Tensor]:
        """The batches of :meth:`ordered_batches` in :meth:`own_rows`; :meth:`gather` and
        :meth:`total` put the results of the processes together."""
        start, stop = self.own_rows(batch_size)
        if (start, stop) == (0, self.n_samples):
            yield from self.ordered_batches(batch_size)
            return
        yield from self.batches_at(np.arange(start, stop), batch_size)

    def gather(self, part: Tensor, batch_size: int = EVAL_BATCH_SIZE) -> Tensor:
        """Per-row results of :meth:`own_batches` (concatenated) from every process, all rows."""
        if self.shard is None:
            return part
        start = self.own_rows(batch_size)[0]
        return self.shard.gather_rows(part.to(self.device), start, self.n_samples).to(part.device)

    def total(self, part: Tensor) -> Tensor:
        """The sum over the processes of ``part``, a sum over :meth:`own_batches` (``part``
        itself without a shard)."""
        if self.shard is None:
            return part
        return self.shard.sum_(part.to(self.device)).to(part.device)

    def ordered_batches(self, batch_size: int = EVAL_BATCH_SIZE) -> Iterator[Tensor]:
        """All rows in order, for prediction and evaluation."""
        for start in range(0, self.n_samples, batch_size):
            stop = min(start + batch_size, self.n_samples)
            yield self.rows(torch.arange(start, stop, device=self.device))

    def batches_at(self, rows: np.ndarray, batch_size: int = EVAL_BATCH_SIZE) -> Iterator[Tensor]:
        """The rows at the sorted positions ``rows``, in that order, ``batch_size`` at a time."""
        for start in range(0, len(rows), batch_size):
            index = torch.as_tensor(rows[start : start + batch_size], device=self.device)
            yield self.rows(index)

    def n_batches(self, batch_size: int) -> int:
        return -(-self.n_samples // batch_size)


class DenseSource(BatchSource):
    def __init__(self, X: np.ndarray, device: torch.device) -> None:
        array = np.asarray(X, dtype=np.float32)
        with warnings.catch_warnings():
            # a read-only array is shared, not copied; the source never writes to it
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            self.data = torch.as_tensor(array, device=device)
        self.n_samples, self.n_features = self.data.shape
        self.device = device

    def rows(self, index: Tensor) -> Tensor:
        return self.data.index_select(0, index)

    def ordered_batches(self, batch_size: int = EVAL_BATCH_SIZE) -> Iterator[Tensor]:
        for start in range(0, self.n_samples, batch_size):
            yield self.data[start : start + batch_size]


class SparseSource(BatchSource):
    def __init__(self, X: sp.csr_matrix | sp.csr_array, device: torch.device) -> None:
        self.data = sp.csr_matrix(X, dtype=np.float32)
        self.n_samples, self.n_features = self.data.shape
        self.device = device

    def rows(self, index: Tensor) -> Tensor:
        block = self.data[index.cpu().numpy()].toarray()
        return torch.from_numpy(block).to(self.device)


class AffineSource(BatchSource):
    """The rows of another source as ``(x − offset) / scale``: the same data in other units.

    ``offset``: a tensor of shape (n_features,) or None (no shift); ``scale``: a positive
    number. Shuffling, sharding and whole-data passes are those of ``source``.
    """

    def __init__(self, source: BatchSource, offset: Tensor | None, scale: float) -> None:
        self.source = source
        self.n_samples, self.n_features = source.n_samples, source.n_features
        self.device, self.shard = source.device, source.shard
        self.offset = None if offset is None else offset.to(source.device, torch.float32)
        self.scale = float(scale)

    def _map(self, rows: Tensor) -> Tensor:
        if self.offset is not None:
            rows = rows - self.offset
        return rows / self.scale if self.scale != 1.0 else rows

    def rows(self, index: Tensor) -> Tensor:
        return self._map(self.source.rows(index))

    def shuffled_batches(
        self, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[Tensor, Tensor]]:
        for index, batch in self.source.shuffled_batches(batch_size, generator):
            yield index, self._map(batch)

    def ordered_batches(self, batch_size: int = EVAL_BATCH_SIZE) -> Iterator[Tensor]:
        for batch in self.source.ordered_batches(batch_size):
            yield self._map(batch)

    def batches_at(self, rows: np.ndarray, batch_size: int = EVAL_BATCH_SIZE) -> Iterator[Tensor]:
        for batch in self.source.batches_at(rows, batch_size):
            yield self._map(batch)


class InputUnits:
    """The units a model trains in: ``x ↦ (x − offset) / scale``, one ``scale`` for all features.

    A single scale keeps the geometry: distances shrink by the same factor in every direction,
    so an isotropic model fitted in these units is the same model fitted in the data's own.
    ``offset``: float64 array of shape (n_features,), or None (no shift); ``scale``: float > 0.
    """

    def __init__(self, offset: np.ndarray | None = None, scale: float = 1.0) -> None:
        self.offset = None if offset is None else np.asarray(offset, dtype=np.float64)
        self.scale = float(scale)

    @classmethod
    def standardizing(cls, X, *, center: bool) -> InputUnits:
        """Units in which ``X`` (dense or sparse rows) has mean per-feature variance one and,
        with ``center``, mean zero. Data with no variance keep the scale 1."""
        if sp.issparse(X):
            mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
            second = np.asarray(X.multiply(X).mean(axis=0), dtype=np.float64).ravel()
            variance = float(np.mean(np.maximum(second - mean**2, 0.0)))
        else:
            X = np.asarray(X, dtype=np.float64)
            mean = X.mean(axis=0)
            variance = float(X.var(axis=0).mean())
        scale = float(np.sqrt(variance)) if variance > 0 and np.isfinite(variance) else 1.0
        return cls(mean if center else None, scale)

    def apply(self, X: np.ndarray) -> np.ndarray:
        """``(X − offset) / scale`` of a dense array (float64)."""
        X = np.asarray(X, dtype=np.float64)
        return (X - self.offset if self.offset is not None else X) / self.scale

    def invert(self, X: np.ndarray) -> np.ndarray:
        """Back to the data's units: ``X · scale + offset``."""
        X = np.asarray(X, dtype=np.float64) * self.scale
        return X + self.offset if self.offset is not None else X

    def source(self, source: BatchSource) -> BatchSource:
        """``source`` read in these units (``source`` itself when they are the data's)."""
        if self.offset is None and self.scale == 1.0:
            return source
        offset = None if self.offset is None else torch.as_tensor(self.offset)
        return AffineSource(source, offset, self.scale)


def make_source(X, device: torch.device, shard: Shard | None = None) -> BatchSource:
    """A batch source for validated data ``X`` (dense array, CSR or a :class:`RowReader`);
    ``shard``: this process's part of multi-process training (:mod:`aecm.distributed`)."""
    from aecm.data.lazy import LazySource, RowReader

    if isinstance(X, RowReader):
        source = LazySource(X, device)
    elif sp.issparse(X):
        source = SparseSource(X, device)
    else:
        source = DenseSource(X, device)
    source.shard = shard
    return source
