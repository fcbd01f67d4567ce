"""Warnings (and, later, errors) specific to aecm."""

from __future__ import annotations

__all__ = ["CollapseWarning"]


class CollapseWarning(UserWarning):
    """A fit ended with an empty cluster, or with one cluster holding most of the points.

    Raised as a warning (like scikit-learn's ``ConvergenceWarning``): the model is usable, but
    fewer clusters than asked for were found. The message names the cluster sizes; the fitted
    estimator's ``history_`` holds ``"empty_clusters"`` and ``"largest_cluster_fraction"``.
    """
