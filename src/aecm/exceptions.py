"""Warnings (and, later, errors) specific to aecm."""

from __future__ import annotations

__all__ = ["CheckpointWarning", "CollapseWarning"]


class CollapseWarning(UserWarning):
    """A fit ended with an empty cluster, or with one cluster holding most of the points.

    Raised as a warning (like scikit-learn's ``ConvergenceWarning``): the model is usable, but
    fewer clusters than asked for were found. The message names the cluster sizes; the fitted
    estimator's ``history_`` holds ``"empty_clusters"`` and ``"largest_cluster_fraction"``.
    """


class CheckpointWarning(UserWarning):
    """A checkpoint could not be resumed from (unreadable, truncated, corrupted, of another run).

    The message names the file and the reason; the fit goes on from the checkpoint before it,
    or trains the phase again from its start when none is left (see :mod:`aecm.checkpoint`).
    """
