"""Data: batch sources for training (dense tensors, sparse CSR read per batch)."""

from aecm.data.batches import BatchSource, make_source

__all__ = ["BatchSource", "make_source"]
