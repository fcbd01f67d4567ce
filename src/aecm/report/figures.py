"""The report's figures, drawn on :class:`matplotlib.figure.Figure` objects (no pyplot state).

Each function returns a figure; :func:`to_png` renders it with the Agg renderer.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "centroid_heatmap",
    "cluster_colors",
    "cluster_sizes",
    "confusion_matrix",
    "embedding_map",
    "image_grid",
    "nearest_samples",
    "to_png",
    "training_curves",
]

#: Largest number of clusters drawn in the nearest-samples grid, and of features in a heat map.
MAX_GRID_ROWS, MAX_HEATMAP_FEATURES = 30, 40


def to_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (Agg); figures lay themselves out (constrained layout)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def cluster_colors(n_clusters: int) -> np.ndarray:
    """One RGBA colour per cluster: tab10, tab20, or evenly spaced turbo for more clusters."""
    from matplotlib import colormaps

    if n_clusters <= 10:
        return colormaps["tab10"](np.arange(n_clusters))
    if n_clusters <= 20:
        return colormaps["tab20"](np.arange(n_clusters))
    return colormaps["turbo"](np.linspace(0.05, 0.95, n_clusters))


def cluster_sizes(sizes: np.ndarray) -> Figure:
    """Bar chart of the number of rows per cluster; empty clusters marked in red."""
    n_clusters = len(sizes)
    figure = Figure(figsize=(max(5.0, 0.32 * n_clusters + 1.5), 3.0), layout="constrained")
    ax = figure.add_subplot()
    ax.bar(np.arange(n_clusters), sizes, color=cluster_colors(n_clusters), edgecolor="black")
    for k in np.flatnonzero(sizes == 0):
        ax.annotate("empty", (k, 0), ha="center", va="bottom", rotation=90, color="red")
    ax.set_xlabel("cluster")
    ax.set_ylabel("rows")
    ax.set_xticks(np.arange(n_clusters) if n_clusters <= 40 else ax.get_xticks())
    empty = int(np.sum(sizes == 0))
    ax.set_title(f"{int(sizes.sum())} rows in {n_clusters} clusters, {empty} empty")
    ax.margins(x=0.01)
    return figure


def embedding_map(
    points: np.ndarray,
    clusters: np.ndarray,
    centroids: np.ndarray,
    *,
    title: str,
    axis_labels: tuple[str, str],
) -> Figure:
    """Scatter plot of 2-D points coloured by cluster, centroids as numbered markers."""
    n_clusters = len(centroids)
    colors = cluster_colors(n_clusters)
    figure = Figure(figsize=(7.0, 6.0), layout="constrained")
    ax = figure.add_subplot()
    ax.scatter(points[:, 0], points[:, 1], c=colors[clusters], s=6, alpha=0.6, linewidths=0)
    ax.scatter(
        centroids[:, 0],
        centroids[:, 1],
        c=colors,
        s=160,
        marker="X",
        edgecolors="black",
        linewidths=1.2,
        label="centroids",
    )
    for k, (x, y) in enumerate(centroids):
        ax.annotate(str(k), (x, y), xytext=(6, 6), textcoords="offset points", fontsize=9)
    ax.set_title(title)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.legend(loc="best", fontsize=8)
    return figure


def _stretch(image: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """One sample as an image of ``shape``, its values stretched to [0, 1]."""
    image = np.asarray(image, dtype=np.float64).reshape(shape)
    low, high = np.nanmin(image), np.nanmax(image)
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def _mosaic(cells: list[list[np.ndarray | None]], shape: Sequence[int]) -> np.ndarray:
    """Images laid out in a grid (rows of cells, None for a blank), one pixel apart.

    One ``imshow`` of the whole grid draws many times faster than one axes per image.
    """
    height, width = shape[0], shape[1]
    n_rows, n_columns = len(cells), max(len(row) for row in cells)
    channels = tuple(shape[2:])
    mosaic = np.ones(((height + 1) * n_rows + 1, (width + 1) * n_columns + 1, *channels))
    for i, row in enumerate(cells):
        for j, image in enumerate(row):
            if image is not None:
                top, left = 1 + i * (height + 1), 1 + j * (width + 1)
                # ink dark on a white page: 1 − value for grey images
                mosaic[top : top + height, left : left + width] = image if channels else 1.0 - image
    return mosaic


def _show_mosaic(figure: Figure, mosaic: np.ndarray, shape: Sequence[int]):
    ax = figure.add_subplot()
    if mosaic.ndim == 3:
        ax.imshow(np.clip(mosaic, 0.0, 1.0), interpolation="nearest")
    else:
        ax.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.tick_params(length=0, labelsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax


def _centres(count: int, size: int) -> np.ndarray:
    """Pixel coordinates of the centres of ``count`` cells of ``size`` pixels in a mosaic."""
    return 1 + np.arange(count) * (size + 1) + (size - 1) / 2


def image_grid(
    images: np.ndarray, shape: Sequence[int], titles: Sequence[str], n_columns: int = 10
) -> Figure:
    """Images (one per row of ``images``) in a grid, each with its title below it."""
    n = len(images)
    n_columns = min(n_columns, n)
    n_rows = -(-n // n_columns)
    stretched = [_stretch(image, shape) for image in images]
    cells = [stretched[r * n_columns : (r + 1) * n_columns] for r in range(n_rows)]
    figure = Figure(figsize=(1.1 * n_columns, 1.25 * n_rows), layout="constrained")
    ax = _show_mosaic(figure, _mosaic(cells, shape), shape)
    ax.set_xticks([])
    ax.set_yticks([])
    height, width = shape[0], shape[1]
    for i, title in enumerate(titles):
        r, c = divmod(i, n_columns)
        x = _centres(n_columns, width)[c]
        y = (r + 1) * (height + 1)
        ax.text(x, y + 0.4, title, ha="center", va="top", fontsize=8)
    ax.set_ylim((n_rows * (height + 1) + 1) + 0.12 * height * 2, 0)
    return figure


def nearest_samples(
    centroids: np.ndarray, neighbours: Sequence[np.ndarray], shape: Sequence[int]
) -> Figure:
    """Per cluster (one row): its centroid, then the nearest real samples."""
    n_clusters = min(len(centroids), MAX_GRID_ROWS)
    n_nearest = max((len(n) for n in neighbours[:n_clusters]), default=0)
    cells = [
        [_stretch(centroids[k], shape)] + [_stretch(s, shape) for s in neighbours[k]]
        for k in range(n_clusters)
    ]
    figure = Figure(
        figsize=(0.75 * (1 + n_nearest) + 0.5, 0.75 * n_clusters + 0.3), layout="constrained"
    )
    ax = _show_mosaic(figure, _mosaic(cells, shape), shape)
    height, width = shape[0], shape[1]
    ax.set_yticks(_centres(n_clusters, height), [f"c{k}" for k in range(n_clusters)])
    headings = ["centroid"] + [f"nearest {j + 1}" for j in range(n_nearest)]
    ax.xaxis.tick_top()
    ax.set_xticks(_centres(1 + n_nearest, width), headings, rotation=0)
    return figure


def centroid_heatmap(centroids: np.ndarray, feature_names: Sequence[str]) -> Figure:
    """Centroids × features; colour: each feature standardised across the centroids.

    Cells show the centroid's value (in the file's units) when the grid is small. Only the
    :data:`MAX_HEATMAP_FEATURES` features that vary most across centroids are drawn.
    """
    n_clusters, n_features = centroids.shape
    spread = centroids.std(axis=0)
    shown = np.arange(n_features)
    if n_features > MAX_HEATMAP_FEATURES:
        shown = np.sort(np.argsort(-spread)[:MAX_HEATMAP_FEATURES])
    values = centroids[:, shown]
    colour = (values - values.mean(axis=0)) / np.where(spread[shown] > 0, spread[shown], 1.0)
    figure = Figure(
        figsize=(max(5.0, 0.45 * len(shown) + 2.0), max(2.5, 0.4 * n_clusters + 1.5)),
        layout="constrained",
    )
    ax = figure.add_subplot()
    image = ax.imshow(colour, cmap="RdBu_r", vmin=-2.5, vmax=2.5, aspect="auto")
    ax.set_xticks(np.arange(len(shown)), [str(feature_names[j]) for j in shown], rotation=90)
    ax.set_yticks(np.arange(n_clusters), [f"c{k}" for k in range(n_clusters)])
    if values.size <= 400:
        for (k, j), value in np.ndenumerate(values):
            ax.text(j, k, f"{value:.3g}", ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=ax, label="feature standardised across centroids")
    subset = "" if len(shown) == n_features else f" ({len(shown)} most varying of {n_features})"
    ax.set_title(f"Centroids × features{subset}")
    return figure


def is_series(values) -> bool:
    """Whether a history entry is a non-empty list of numbers (not, e.g., the pruning record of
    ``n_clusters="auto"``: ``[epoch, [cluster ids]]`` pairs)."""
    return (
        isinstance(values, list)
        and bool(values)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    )


def training_curves(history: dict) -> Figure | None:
    """One small panel per loss term and training phase, epochs on the x axis."""
    phases = (
        history
        if history and all(isinstance(v, dict) for v in history.values())
        else {"training": history}
    )
    panels = [
        (phase, term, values)
        for phase, terms in phases.items()
        for term, values in (terms or {}).items()
        if term != "seconds" and is_series(values)
    ]
    if not panels:
        return None
    n_columns = min(4, len(panels))
    n_rows = -(-len(panels) // n_columns)
    figure = Figure(figsize=(3.2 * n_columns, 2.4 * n_rows), layout="constrained")
    for i, (phase, term, values) in enumerate(panels):
        ax = figure.add_subplot(n_rows, n_columns, i + 1)
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, marker="." if len(values) < 30 else None, lw=1.2)
        ax.set_title(f"{phase}: {term}" if len(phases) > 1 else term, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    return figure


def confusion_matrix(
    counts: np.ndarray, classes: Sequence, clusters: Sequence, mapping: dict
) -> Figure:
    """Classes × clusters counts, clusters ordered by the Hungarian matching."""
    counts = np.asarray(counts)
    n_classes, n_clusters = counts.shape
    figure = Figure(
        figsize=(max(4.5, 0.5 * n_clusters + 2.0), max(4.0, 0.45 * n_classes + 1.5)),
        layout="constrained",
    )
    ax = figure.add_subplot()
    image = ax.imshow(counts, cmap="Blues", aspect="auto")
    labels = [f"c{c}→{mapping[str(c)]}" if str(c) in mapping else f"c{c}" for c in clusters]
    ax.set_xticks(np.arange(n_clusters), labels, rotation=90 if n_clusters > 8 else 0)
    ax.set_yticks(np.arange(n_classes), [str(c) for c in classes])
    ax.set_xlabel("cluster → matched class")
    ax.set_ylabel("class")
    if counts.size <= 900:
        threshold = counts.max() / 2 if counts.size else 0
        for (i, j), value in np.ndenumerate(counts):
            color = "white" if value > threshold else "black"
            ax.text(j, i, str(value), ha="center", va="center", fontsize=7, color=color)
    figure.colorbar(image, ax=ax, label="rows")
    ax.set_title("Confusion matrix after Hungarian matching")
    return figure
