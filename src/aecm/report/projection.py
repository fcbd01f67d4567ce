"""Two-dimensional maps of a clustering's representation: PCA, or UMAP when installed."""

from __future__ import annotations

import numpy as np

__all__ = ["PROJECTIONS", "project"]

PROJECTIONS = ("pca", "umap")


def project(
    points: np.ndarray, centroids: np.ndarray, method: str = "pca", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """Map ``points`` and ``centroids`` (same space) to 2-D, fitted on ``points``.

    Parameters
    ----------
    points : ndarray of shape (n_points, n_dims)
    centroids : ndarray of shape (n_clusters, n_dims)
    method : {"pca", "umap"}, default="pca"
        ``"umap"`` needs the optional package umap-learn.
    seed : int, default=0

    Returns
    -------
    points_2d, centroids_2d : ndarray
    axis_labels : tuple of str
    """
    points = np.asarray(points, dtype=np.float64)
    centroids = np.asarray(centroids, dtype=np.float64)
    if method not in PROJECTIONS:
        raise ValueError(f"map must be one of {', '.join(PROJECTIONS)}; got {method!r}")
    umap = _umap_module() if method == "umap" else None  # a missing package is an error
    if points.shape[1] <= 2:
        return _pad(points), _pad(centroids), ("dimension 1", "dimension 2")
    if umap is not None:
        reducer = umap.UMAP(n_components=2, random_state=seed).fit(points)
        return reducer.embedding_, reducer.transform(centroids), ("UMAP 1", "UMAP 2")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed).fit(points)
    explained = pca.explained_variance_ratio_ * 100
    labels = (f"PC 1 ({explained[0]:.0f}% of variance)", f"PC 2 ({explained[1]:.0f}%)")
    return pca.transform(points), pca.transform(centroids), labels


def _pad(values: np.ndarray) -> np.ndarray:
    """1-D data on the x axis (y = 0); 2-D data as is."""
    if values.shape[1] == 2:
        return values
    return np.column_stack([values[:, 0], np.zeros(len(values))])


def _umap_module():
    try:
        import umap
    except ImportError as exc:
        raise ValueError(
            "--map umap needs the optional package umap-learn: pip install 'aecm[umap]'"
        ) from exc
    return umap
