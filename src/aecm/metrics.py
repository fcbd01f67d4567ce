"""Clustering quality scores: accuracy under the best cluster-to-class matching, NMI and ARI.

Clustering accuracy (ACC) is the fraction of samples whose cluster, once mapped to a class by the
one-to-one matching that maximises the number of agreements (the Hungarian algorithm on the
contingency table), equals their true class. NMI and ARI are scikit-learn's scores, re-exported
here so that experiments report all three through one function, :func:`evaluate`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

__all__ = [
    "adjusted_rand",
    "clustering_accuracy",
    "evaluate",
    "match_labels",
    "normalized_mutual_info",
]


def _check_labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return both label vectors as 1-D arrays of the same, non-zero length.

    Raises
    ------
    ValueError
        If either input is not 1-D, if they differ in length or if they are empty.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.ndim != 1:
            raise ValueError(
                f"{name} must be a 1-D array of labels; got an array of shape {labels.shape}."
            )
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"y_true and y_pred have different lengths: {y_true.shape[0]} and {y_pred.shape[0]}."
        )
    if y_true.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty; at least one sample is required.")
    return y_true, y_pred


def _best_matching(
    y_true: np.ndarray, y_pred: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Match clusters to classes one-to-one so that the number of agreements is maximal.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_samples,)
        Validated label vectors.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        The sorted distinct values of ``y_true``.
    clusters : ndarray of shape (n_clusters,)
        The sorted distinct values of ``y_pred``.
    rows, cols : ndarray of shape (min(n_classes, n_clusters),)
        Class ``classes[rows[j]]`` is matched with cluster ``clusters[cols[j]]``.
    n_matched : int
        The number of samples whose cluster is matched with their class.
    """
    classes, true_idx = np.unique(y_true, return_inverse=True)
    clusters, pred_idx = np.unique(y_pred, return_inverse=True)
    # Rows are classes, columns clusters, both in sorted order (as np.unique above).
    table = contingency_matrix(true_idx, pred_idx)
    rows, cols = linear_sum_assignment(table, maximize=True)
    n_matched = int(table[rows, cols].sum())
    return classes, clusters, rows, cols, n_matched


def match_labels(y_true: Any, y_pred: Any) -> dict:
    """Map each predicted cluster to the class it is matched with.

    The matching is one-to-one and maximises the number of samples whose mapped cluster equals
    their class (the matching behind :func:`clustering_accuracy`).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels; any values NumPy can sort.
    y_pred : array-like of shape (n_samples,)
        Cluster labels; any values NumPy can sort.

    Returns
    -------
    mapping : dict
        ``{cluster: class}`` as Python scalars. When there are more clusters than classes, the
        clusters left unmatched are absent from the dictionary; when there are fewer, some
        classes are matched with no cluster.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length or are empty.

    Examples
    --------
    >>> match_labels([0, 0, 1, 1], ["b", "b", "a", "a"])
    {'b': 0, 'a': 1}
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    classes, clusters, rows, cols, _ = _best_matching(y_true, y_pred)
    return dict(zip(clusters[cols].tolist(), classes[rows].tolist(), strict=True))


def clustering_accuracy(y_true: Any, y_pred: Any) -> float:
    """Clustering accuracy under the best one-to-one matching of clusters to classes.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels; any values NumPy can sort.
    y_pred : array-like of shape (n_samples,)
        Cluster labels; any values NumPy can sort. The number of clusters may differ from the
        number of classes: samples in clusters left unmatched count as errors.

    Returns
    -------
    accuracy : float
        Fraction of samples, in ``[0, 1]``, whose cluster is matched with their class.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length or are empty.

    See Also
    --------
    match_labels : The matching itself.

    Examples
    --------
    >>> clustering_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    *_, n_matched = _best_matching(y_true, y_pred)
    return n_matched / y_true.shape[0]


def normalized_mutual_info(y_true: Any, y_pred: Any) -> float:
    """Normalised mutual information between classes and clusters.

    A thin wrapper over :func:`sklearn.metrics.normalized_mutual_info_score` (arithmetic-mean
    normalisation) with this module's input validation.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    nmi : float
        Score in ``[0, 1]``; 1 for identical partitions.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length or are empty.
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    return float(normalized_mutual_info_score(y_true, y_pred))


def adjusted_rand(y_true: Any, y_pred: Any) -> float:
    """Adjusted Rand index between classes and clusters.

    A thin wrapper over :func:`sklearn.metrics.adjusted_rand_score` with this module's input
    validation.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    ari : float
        Score in ``[-0.5, 1]``; about 0 for random labellings, 1 for identical partitions.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length or are empty.
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    return float(adjusted_rand_score(y_true, y_pred))


def evaluate(y_true: Any, y_pred: Any) -> dict[str, float]:
    """All three clustering scores at once.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    scores : dict
        ``{"acc": ..., "nmi": ..., "ari": ...}``, as returned by :func:`clustering_accuracy`,
        :func:`normalized_mutual_info` and :func:`adjusted_rand`.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length or are empty.
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    return {
        "acc": clustering_accuracy(y_true, y_pred),
        "nmi": normalized_mutual_info(y_true, y_pred),
        "ari": adjusted_rand(y_true, y_pred),
    }
