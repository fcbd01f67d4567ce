"""Assemble the report of a run folder: summary, map, centroids, training curves, scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aecm._files import atomic_write
from aecm.io import DataSpec
from aecm.report import figures
from aecm.report.html import Section, image, page, paragraph, table
from aecm.report.projection import project
from aecm.report.run import FIGURES, MODEL, REPORT, RunFiles, read_run

__all__ = ["SECTION_IDS", "render_report"]

#: The ids of the page's sections, in order.
SECTION_IDS = ("summary", "map", "centroids", "training", "scores")
#: Nearest real samples shown per cluster.
N_NEAREST = 5
_FIGURE_NAMES = ("sizes", "map", "centroids", "nearest", "heatmap", "training", "confusion")


@dataclass
class _Page:
    """The run being reported and the figures drawn so far (name → PNG)."""

    run: RunFiles
    spec: DataSpec | None
    image_shape: tuple[int, ...] | None
    pngs: dict[str, bytes] = field(default_factory=dict)

    def figure(self, name: str, figure, alt: str) -> str:
        self.pngs[name] = figures.to_png(figure)
        return image(self.pngs[name], alt, id=f"figure-{name}")

    def to_file_units(self, values: np.ndarray) -> np.ndarray:
        return self.spec.inverse_scale(values) if self.spec is not None else values


def render_report(
    folder: str | Path,
    *,
    image_shape: str | Sequence[int] | None = "auto",
    projection: str = "pca",
    seed: int = 0,
) -> Path:
    """Write ``report.html`` and ``figures/*.png`` of a run folder; returns the page's path.

    Parameters
    ----------
    folder : path-like
        A run folder written by ``aecm fit``.
    image_shape : "auto", sequence of int or None, default="auto"
        Draw centroids and samples as images of this shape; ``"auto"``: the shape recorded at
        fit time (given, or inferred from a square number of non-negative features); None: a
        heat map of centroids × features instead.
    projection : {"pca", "umap"}, default="pca"
        The 2-D map of the representation.
    seed : int, default=0
    """
    run = read_run(folder)
    shape = _image_shape(run, image_shape)
    report = _Page(run, _load_spec(run.folder / MODEL), shape)
    sections = [
        Section("summary", "Summary", _summary(report)),
        Section("map", "2-D map", _map(report, projection, seed)),
        Section("centroids", "Centroids", _centroids(report)),
        Section("training", "Training curves", _training(report)),
        Section("scores", "Scores against the labels", _scores(report)),
    ]
    summary = run.summary
    title = f"aecm report: {summary['method']} on {Path(summary['data']['path']).name}"
    footer = (
        f"aecm {summary.get('aecm_version', '?')}, fitted {summary.get('created', '?')}; "
        f"command: {summary.get('command', '?')}"
    )
    _write_figures(run.folder / FIGURES, report.pngs)
    return atomic_write(run.folder / REPORT, page(title, sections, footer))


def _load_spec(folder: Path) -> DataSpec | None:
    try:
        return DataSpec.load(folder)
    except ValueError:
        return None


def _image_shape(run: RunFiles, requested) -> tuple[int, ...] | None:
    n_features = run.sample["inputs"].shape[1]
    if isinstance(requested, str):
        if requested != "auto":
            raise ValueError(f"image_shape must be 'auto', a shape or None; got {requested!r}")
        requested = run.summary.get("image_shape")
    if requested is None:
        return None
    shape = tuple(int(s) for s in requested)
    if int(np.prod(shape)) != n_features:
        raise ValueError(
            f"image shape {'x'.join(map(str, shape))} has {int(np.prod(shape))} pixels but the "
            f"data has {n_features} features"
        )
    return shape


def _write_figures(folder: Path, pngs: dict[str, bytes]) -> None:
    folder.mkdir(exist_ok=True)
    for name in _FIGURE_NAMES:
        path = folder / f"{name}.png"
        if name in pngs:
            atomic_write(path, pngs[name])
        elif path.exists():
            path.unlink()  # left from an earlier rendering with other options


# ---------------------------------------------------------------------------------- sections
def _how_many(summary: dict) -> str:
    """ "asked", or how the number of clusters was found (``--n-clusters auto``)."""
    if summary.get("n_clusters_requested") != "auto":
        return "asked"
    start = (summary.get("params") or {}).get("max_clusters")
    return "found by n_clusters='auto'" + (f" from {start}" if start else "")


def _summary(report: _Page) -> str:
    run, summary = report.run, report.run.summary
    data = summary["data"]
    sizes = np.bincount(run.clusters, minlength=run.n_clusters)
    shape = f"{data['n_rows']} rows × {data['n_features']} features"
    rows = [
        ("Data", f"{data['path']} ({shape}{', sparse' if data.get('sparse') else ''})"),
        ("Features", _names(data.get("features", []))),
    ]
    excluded = data.get("excluded") or {}
    if excluded:
        rows.append(("Excluded columns", "; ".join(f"{k}: {v}" for k, v in excluded.items())))
    rows += [
        ("Labels", data.get("labels") or "none"),
        ("Scaling / missing values", f"{data.get('scale', 'none')} / {data.get('impute', 'none')}"),
        ("Method", f"{summary['method']} ({summary['estimator']})"),
        ("Clusters", f"{run.n_clusters} {_how_many(summary)}, {int(np.sum(sizes == 0))} empty"),
        ("Fit time", f"{summary['fit_seconds']:.2f} s on {summary.get('device', '?')}"),
    ]
    if run.confidence is not None:
        rows.append(("Mean confidence", f"{float(np.mean(run.confidence)):.3f}"))
    parts = [table(rows)]
    loss = summary.get("loss") or {}
    if loss:
        parts.append("<h3>Final loss terms</h3>" + table(list(loss.items()), ("term", "value")))
    params = summary.get("params") or {}
    parts.append(
        "<details><summary>All parameters</summary>"
        + table([(k, _short(v)) for k, v in params.items()], ("parameter", "value"))
        + "</details>"
    )
    parts.append("<h3>Cluster sizes</h3>")
    parts.append(report.figure("sizes", figures.cluster_sizes(sizes), "cluster sizes"))
    for note in summary.get("notes") or []:
        parts.append(paragraph(f"Note: {note}", "note"))
    return "\n".join(parts)


def _names(names: Sequence[str], limit: int = 24) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" … and {len(names) - limit} more" if len(names) > limit else "")


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _map(report: _Page, projection: str, seed: int) -> str:
    run = report.run
    points, centroids, labels = project(
        run.representation, run.sample["centroids"], projection, seed
    )
    space = "embedding (transform)" if "representation" in run.sample else "input"
    name = "PCA" if projection == "pca" else "UMAP"
    title = f"{name} of the {space}, {len(points)} of {len(run.clusters)} rows"
    figure = figures.embedding_map(
        points, run.sample["clusters"], centroids, title=title, axis_labels=labels
    )
    caption = paragraph(
        f"Each point is a row of the data, coloured by its cluster; the crosses are the "
        f"centroids, numbered. {name} fitted on a random sample of {len(points)} rows.",
        "note",
    )
    return report.figure("map", figure, f"{name} map of the clusters") + caption


def _centroids(report: _Page) -> str:
    run = report.run
    centroids = report.to_file_units(run.sample["centroids_input"])
    sizes = np.bincount(run.clusters, minlength=run.n_clusters)
    source = _centroid_source(run.summary)
    if report.image_shape is None:
        names = report.spec.features if report.spec else run.summary["data"]["features"]
        heatmap = figures.centroid_heatmap(centroids, names)
        return paragraph(source, "note") + report.figure("heatmap", heatmap, "centroid heat map")
    titles = [f"c{k} · {sizes[k]}" for k in range(run.n_clusters)]
    grid = figures.image_grid(centroids, report.image_shape, titles)
    nearest = figures.nearest_samples(centroids, _nearest(report), report.image_shape)
    return "\n".join(
        [
            paragraph(source + " Titles: cluster · rows.", "note"),
            report.figure("centroids", grid, "centroids as images"),
            "<h3>Nearest real samples</h3>",
            paragraph(
                f"Per cluster, the centroid and the {N_NEAREST} rows of the sample nearest to it "
                "in the space the clusters live in.",
                "note",
            ),
            report.figure("nearest", nearest, "nearest samples per cluster"),
        ]
    )


def _centroid_source(summary: dict) -> str:
    if summary.get("deep"):
        extra = (
            " (DEC does not train its decoder: the pretrained one)"
            if summary["method"] == "dec"
            else ""
        )
        return f"Centroids of the embedding decoded to input space by the autoencoder{extra}."
    return "Centroids in input space, in the data's units."


def _nearest(report: _Page) -> list[np.ndarray]:
    run = report.run
    representation, centroids = run.representation, run.sample["centroids"]
    clusters, inputs = run.sample["clusters"], run.sample["inputs"]
    result = []
    for k in range(run.n_clusters):
        members = np.flatnonzero(clusters == k)
        distances = np.sum((representation[members] - centroids[k]) ** 2, axis=1)
        chosen = members[np.argsort(distances)[:N_NEAREST]]
        result.append(report.to_file_units(inputs[chosen]))
    return result


def _training(report: _Page) -> str:
    history = report.run.summary.get("history") or {}
    figure = figures.training_curves(history)
    if figure is None:
        method = report.run.summary["method"]
        return paragraph(f"{method} records no per-epoch training history.", "note")
    caption = paragraph("Loss terms per epoch (sums over the epoch's batches).", "note")
    return report.figure("training", figure, "training curves") + caption


def _scores(report: _Page) -> str:
    metrics = report.run.metrics
    if metrics is None:
        return paragraph(
            "No labels were given (--labels or --label-column), so there are no scores.", "note"
        )
    rows = [
        ("ACC (accuracy after Hungarian matching)", f"{metrics['acc']:.4f}"),
        ("NMI", f"{metrics['nmi']:.4f}"),
        ("ARI", f"{metrics['ari']:.4f}"),
        ("Classes / clusters", f"{metrics['n_classes']} / {metrics['n_clusters']}"),
    ]
    confusion = metrics["confusion"]
    figure = figures.confusion_matrix(
        confusion["counts"], confusion["classes"], confusion["clusters"], confusion["mapping"]
    )
    return table(rows) + report.figure("confusion", figure, "confusion matrix")
