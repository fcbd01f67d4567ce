"""Data: batch sources for training (dense tensors, sparse CSR and out-of-core data read per
batch)."""

from aecm.data.batches import BatchSource, make_source
from aecm.data.lazy import ArrayReader, DatasetReader, LazySource, RowReader

__all__ = ["ArrayReader", "BatchSource", "DatasetReader", "LazySource", "RowReader", "make_source"]
