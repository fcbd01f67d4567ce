"""Data larger than memory: rows read on demand from a memmap, an array-like or a torch Dataset.

A *reader* wraps the user's object and hands out rows as NumPy arrays, checking each block it
reads for NaN/inf and for values too large for float32 training; nothing reads the whole
array. :class:`LazySource` turns a reader into a :class:`~aecm.data.batches.BatchSource`.

**The order of shuffled batches.** A map-style ``Dataset`` is made for random access, so its
rows are shuffled as in memory (a permutation of all rows, the same batches as
``DenseSource`` for the same generator). An array is read in contiguous blocks: random rows of
a memmap cost a page fault each (16 rows share a 4 KiB page, so an epoch of random rows faults
16 times per page) and an HDF5 file a seek each. Its rows are cut into blocks of about
:data:`BLOCK_BYTES`; each epoch visits the blocks in a random order, reads them in groups of
about :data:`SHUFFLE_BUFFER_BYTES` and deals out the rows of each group (plus the rows left
over from the previous group) in a random order. Every batch but the last of an epoch is full,
and the order depends only on the generator. When the whole array fits in one buffer the
permutation is the in-memory one, so a small memmap gives the same batches (and the same fit)
as the array loaded in memory. Under multi-process training every process reads the same groups
of blocks and keeps its part of each global batch (see :mod:`aecm.distributed`).

**Memory.** Pages of a ``np.memmap`` that were read stay mapped, and count in the process's
resident memory, until the kernel needs them back; the reader drops them
(``madvise(MADV_DONTNEED)``, Unix) after every :data:`RELEASE_BYTES` it reads, so that
an epoch over a 2.5 GB file does not show as 2.5 GB of resident memory. The data stay in the
page cache; only this process's mapping of them is released.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from aecm.data.batches import EVAL_BATCH_SIZE, BatchSource

__all__ = [
    "BLOCK_BYTES",
    "SHUFFLE_BUFFER_BYTES",
    "ArrayReader",
    "DatasetReader",
    "LazySource",
    "RowReader",
]

#: Rows of a lazily read array are shuffled within groups of blocks of about this many bytes
#: (as float32).
SHUFFLE_BUFFER_BYTES = 4 * 2**20

#: Contiguous blocks of about this many bytes (as float32) are the unit of shuffled reading.
BLOCK_BYTES = 64 * 2**10

#: The pages of a ``np.memmap`` are released after every this many bytes read, and a sample
#: of scattered rows is read in spans of the file of at most this size.
RELEASE_BYTES = 2**20


class RowReader:
    """Rows of a data set read on demand; subclasses implement :meth:`_read` and :meth:`_take`.

    ``dtype`` is float32 for float32 data and float64 otherwise: the dtype of the estimators'
    outputs and of :meth:`take` (samples for the initialisation), as for in-memory data.
    Training reads float32 (:meth:`read`). ``max_abs``: values larger in magnitude are refused
    (``ValueError``), as NaN and inf are.
    """

    n_samples: int
    n_features: int
    dtype: np.dtype
    #: Whether random rows are as cheap as contiguous ones (then batches are shuffled globally).
    random_access: bool = False

    def __init__(self, max_abs: float | None = None) -> None:
        self.max_abs = max_abs

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_samples, self.n_features)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop - 1`` as a float32 array, checked."""
        block = np.asarray(self._read(start, stop), dtype=np.float32)
        self._check(block, start, stop)
        return block

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The rows at the sorted, unique positions ``rows``, as an array of :attr:`dtype`."""
        block = np.asarray(self._take(np.asarray(rows, dtype=np.int64)), dtype=self.dtype)
        if block.shape != (len(rows), self.n_features):
            raise ValueError(
                f"Reading {len(rows)} rows of X gave an array of shape {block.shape}; expected "
                f"({len(rows)}, {self.n_features})."
            )
        if len(rows):
            self._check(block, int(rows[0]), int(rows[-1]) + 1, rows)
        return block

    def _read(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def _take(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check(self, block: np.ndarray, start: int, stop: int, rows=None) -> None:
        """Refuse NaN, inf and (with ``max_abs``) values too large, naming the rows."""
        if block.size == 0:
            return
        largest = float(np.abs(block).max())  # NaN if any value is NaN
        if np.isfinite(largest) and (self.max_abs is None or largest <= self.max_abs):
            return
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            where = int(np.flatnonzero(bad)[0])
            row = int(rows[where]) if rows is not None else start + where
            raise ValueError(
                f"X contains NaN or infinite values in the rows read from {start} to {stop - 1} "
                f"(first at row {row}). Remove or impute them first."
            )
        raise ValueError(
            f"X has values as large as {largest:.3g} in magnitude in the rows read from {start} "
            f"to {stop - 1}; training computes in float32 and accepts at most "
            f"{self.max_abs:.0e} (squared distances would overflow to inf). Scale the data "
            "first."
        )


def _float_dtype(dtype) -> np.dtype:
    return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)


class ArrayReader(RowReader):
    """Rows of a ``np.memmap`` or of any 2-D array-like with ``shape``, ``dtype`` and slicing.

    Contiguous rows are read with ``array[start:stop]``; samples with ``array[rows]`` (sorted
    positions, as HDF5 requires), or one row at a time where the object refuses an index array.
    """

    def __init__(self, array, max_abs: float | None = None) -> None:
        super().__init__(max_abs)
        shape = tuple(int(s) for s in array.shape)
        if len(shape) != 2:
            raise ValueError(
                f"X must be 2-D (n_samples, n_features); got an array of shape {shape}. "
                "Reshape it first (e.g. images to one row per image)."
            )
        dtype = np.dtype(getattr(array, "dtype", np.float64))
        if dtype.kind not in "biuf":
            raise TypeError(f"X must contain numbers; got an array of dtype {dtype}.")
        self.array = array
        self.n_samples, self.n_features = shape
        self.dtype = _float_dtype(dtype)
        self._row_bytes = max(1, dtype.itemsize * self.n_features)
        self._pages = _MappedPages.of(array)

    def _read(self, start: int, stop: int) -> np.ndarray:
        # a copy: a view of a memmap would keep its pages mapped and is read-only
        block = np.array(self.array[start:stop], dtype=np.float32)
        self._pages.read(block.nbytes)
        return block

    def _take(self, rows: np.ndarray) -> np.ndarray:
        """Sorted rows, read in spans of at most :data:`RELEASE_BYTES` of the file: scattered
        rows of a memmap map far more pages than their own bytes, released after each span."""
        block = np.empty((len(rows), self.n_features), dtype=self.dtype)
        span = max(1, RELEASE_BYTES // self._row_bytes)
        start = 0
        while start < len(rows):
            stop = int(np.searchsorted(rows, rows[start] + span))
            block[start:stop] = self._fancy(rows[start:stop])
            self._pages.release()
            start = stop
        return block

    def _fancy(self, rows: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(self.array[rows], dtype=self.dtype)
        except (TypeError, IndexError, ValueError, KeyError):
            # an object without index arrays: one row at a time
            return np.concatenate(
                [np.asarray(self.array[r : r + 1], dtype=self.dtype) for r in rows.tolist()]
            )


class DatasetReader(RowReader):
    """Rows of a map-style ``torch.utils.data.Dataset`` (of a ``DataLoader``: its dataset).

    An item is a row (tensor or array; flattened, so images become rows) or a tuple whose first
    element is the row (``(x, y)``: ``y`` is ignored). Rows are fetched with the dataset's
    ``__getitems__`` when it has one, else one ``dataset[i]`` each.
    """

    random_access = True

    def __init__(self, dataset, max_abs: float | None = None) -> None:
        super().__init__(max_abs)
        if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__len__"):
            raise TypeError(
                f"X is a {type(dataset).__name__} without random access (an IterableDataset or "
                "a dataset without __len__); the estimators need map-style datasets. Stream "
                "such data through ClusteringModule.partial_fit instead."
            )
        self.dataset = dataset
        self.n_samples = len(dataset)
        if self.n_samples == 0:
            raise ValueError("X is an empty dataset (0 samples).")
        first = self._row(dataset[0], 0)
        if first.dtype.kind not in "biuf":
            raise TypeError(f"The dataset's rows must contain numbers; got dtype {first.dtype}.")
        self.n_features = first.size
        self.dtype = _float_dtype(first.dtype)

    @staticmethod
    def _row(item, position: int) -> np.ndarray:
        if isinstance(item, tuple | list):
            if not item:
                raise ValueError(f"Item {position} of the dataset is an empty tuple.")
            item = item[0]
        if isinstance(item, Tensor):
            item = item.detach().cpu().numpy()
        return np.asarray(item).reshape(-1)

    def _take(self, rows: np.ndarray) -> np.ndarray:
        positions = rows.tolist()
        getitems = getattr(self.dataset, "__getitems__", None)
        items = getitems(positions) if getitems else [self.dataset[i] for i in positions]
        out = np.empty((len(positions), self.n_features), dtype=np.float32)
        for i, (position, item) in enumerate(zip(positions, items, strict=True)):
            row = self._row(item, position)
            if row.size != self.n_features:
                raise ValueError(
                    f"Item {position} of the dataset has {row.size} values; item 0 has "
                    f"{self.n_features}. Every row must have the same number of features."
                )
            out[i] = row
        return out

    def _read(self, start: int, stop: int) -> np.ndarray:
        return self._take(np.arange(start, stop))


class _MappedPages:
    """Releases the pages of a ``np.memmap`` that reading mapped, every :data:`RELEASE_BYTES`."""

    def __init__(self, mapping: mmap.mmap | None) -> None:
        self.mapping = mapping
        self.pending = 0

    @classmethod
    def of(cls, array) -> _MappedPages:
        """For a shared (not copy-on-write) memmap; a no-op for anything else."""
        mapping = None
        if isinstance(array, np.memmap) and getattr(array, "mode", "c") != "c":
            base = array
            while isinstance(base, np.ndarray):
                base = base.base
            if isinstance(base, mmap.mmap) and hasattr(base, "madvise"):
                mapping = base
        return cls(mapping)

    def read(self, nbytes: int) -> None:
        """Count ``nbytes`` read; release the mapped pages every :data:`SHUFFLE_BUFFER_BYTES`."""
        self.pending += nbytes
        if self.pending >= RELEASE_BYTES:
            self.release()

    def release(self) -> None:
        self.pending = 0
        if self.mapping is None:
            return
        try:
            self.mapping.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):  # closed, or refused by the system: keep going
            self.mapping = None


class LazySource(BatchSource):
    """A batch source that reads its rows from a :class:`RowReader` batch by batch.

    ``buffer_bytes`` and ``block_bytes`` set the shuffled reading of arrays (see the module's
    docstring); they count float32 bytes.
    """

    def __init__(
        self,
        reader: RowReader,
        device: torch.device,
        *,
        buffer_bytes: int = SHUFFLE_BUFFER_BYTES,
        block_bytes: int = BLOCK_BYTES,
    ) -> None:
        self.reader = reader
        self.n_samples, self.n_features = reader.shape
        self.device = device
        row_bytes = 4 * self.n_features
        self.block_rows = max(1, block_bytes // row_bytes)
        self.group_blocks = max(1, buffer_bytes // (self.block_rows * row_bytes))

    def _tensor(self, block: np.ndarray) -> Tensor:
        return torch.from_numpy(block).to(self.device)

    def rows(self, index: Tensor) -> Tensor:
        index = index.cpu().numpy()
        order = np.argsort(index, kind="stable")
        block = self._take_float32(index[order])
        out = np.empty_like(block)
        out[order] = block
        return self._tensor(out)

    def _take_float32(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.reader.take(rows), dtype=np.float32)

    def ordered_batches(self, batch_size: int = EVAL_BATCH_SIZE) -> Iterator[Tensor]:
        for start in range(0, self.n_samples, batch_size):
            yield self._tensor(self.reader.read(start, min(start + batch_size, self.n_samples)))

    def batches_at(self, rows: np.ndarray, batch_size: int = EVAL_BATCH_SIZE) -> Iterator[Tensor]:
        for start in range(0, len(rows), batch_size):
            yield self._tensor(self._take_float32(rows[start : start + batch_size]))

    def shuffled_batches(
        self, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[Tensor, Tensor]]:
        n = self.n_samples
        if self.reader.random_access:
            yield from super().shuffled_batches(batch_size, generator)
            return
        n_blocks = -(-n // self.block_rows)
        if n_blocks <= self.group_blocks:  # one buffer holds it all: the in-memory order
            data = self._tensor(self.reader.read(0, n))
            perm = torch.randperm(n, generator=generator).to(self.device)
            for start in range(0, n, batch_size):
                index = self._local(perm[start : start + batch_size])
                yield index, data.index_select(0, index)
            return
        order = torch.randperm(n_blocks, generator=generator).numpy()
        # one buffer, reused: the rows left over from the last group, then this group's blocks
        capacity = self.group_blocks * self.block_rows + batch_size
        buffer = np.empty((capacity, self.n_features), dtype=np.float32)
        positions = np.empty(capacity, dtype=np.int64)
        kept = 0
        for g in range(0, n_blocks, self.group_blocks):
            filled = kept
            for block in np.sort(order[g : g + self.group_blocks]):  # in file order
                start = int(block) * self.block_rows
                stop = min(start + self.block_rows, n)
                buffer[filled : filled + stop - start] = self.reader.read(start, stop)
                positions[filled : filled + stop - start] = np.arange(start, stop)
                filled += stop - start
            data = self._tensor(buffer[:filled])
            index = self._tensor(positions[:filled])
            perm = torch.randperm(filled, generator=generator).to(self.device)
            full = filled - filled % batch_size
            for start in range(0, full, batch_size):
                pick = self._local(perm[start : start + batch_size])
                yield index[pick], data.index_select(0, pick)
            rest = perm[full:].cpu().numpy()
            kept = len(rest)
            buffer[:kept], positions[:kept] = buffer[rest], positions[rest]
        if kept:
            start, stop = (0, kept) if self.shard is None else self.shard.bounds(kept)
            yield (
                self._tensor(positions[start:stop].copy()),
                self._tensor(buffer[start:stop].copy()),
            )
