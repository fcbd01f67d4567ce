"""Torch modules (tensors only, no training code)."""

from aecm.nn.autoencoder import Autoencoder
from aecm.nn.cm import ClusteringLayer

__all__ = ["Autoencoder", "ClusteringLayer"]
