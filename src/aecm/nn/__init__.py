"""Torch modules (tensors only, no training code)."""

from aecm.nn.cm import ClusteringLayer

__all__ = ["ClusteringLayer"]
