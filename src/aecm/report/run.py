"""The files of a run folder that the report is made from, and how they are read and written.

``aecm fit`` writes a run folder::

    RUN_DIR/
      model/               the saved estimator (aecm.load) and the column description
      labels.csv           row, [id], cluster, confidence — one line per row of the data
      metrics.json         ACC, NMI, ARI and the confusion matrix (only when labels were given)
      run.json             data, method, parameters, time, loss terms, training history
      sample.safetensors   a sample of rows for the map and the nearest samples, and the centroids
      report.html          the report; its figures also in figures/*.png

The report is rendered from these files only, so ``aecm report RUN_DIR`` needs neither the data
nor PyTorch.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FIGURES",
    "LABELS",
    "METRICS",
    "MODEL",
    "REPORT",
    "RUN_JSON",
    "SAMPLE",
    "RunFiles",
    "confusion_table",
    "read_labels_csv",
    "read_run",
    "report_arrays",
]

MODEL, LABELS, METRICS = "model", "labels.csv", "metrics.json"
RUN_JSON, SAMPLE, REPORT, FIGURES = "run.json", "sample.safetensors", "report.html", "figures"
RUN_FORMAT, RUN_FORMAT_VERSION = "aecm-run", 1

#: At most this many rows in the sample, and at most this many values (rows × features).
SAMPLE_ROWS, SAMPLE_VALUES = 2000, 4_000_000


@dataclass
class RunFiles:
    """What a run folder holds, read back.

    Attributes
    ----------
    folder : Path
    summary : dict
        ``run.json``.
    clusters : ndarray of int
        The cluster of every row (``labels.csv``).
    confidence : ndarray of float or None
        The largest soft assignment of every row, where the method has soft assignments.
    metrics : dict or None
        ``metrics.json``, when labels were given.
    sample : dict of str to ndarray
        ``sample.safetensors``: ``rows``, ``inputs``, ``clusters``, ``centroids``,
        ``centroids_input`` and, where they exist, ``representation`` and ``classes``.
    """

    folder: Path
    summary: dict
    clusters: np.ndarray
    confidence: np.ndarray | None
    metrics: dict | None
    sample: dict[str, np.ndarray]

    @property
    def n_clusters(self) -> int:
        return int(self.summary["n_clusters"])

    @property
    def representation(self) -> np.ndarray:
        """The sample in the space the clusters live in (the embedding, or the input)."""
        return self.sample.get("representation", self.sample["inputs"])


def read_run(folder: str | Path) -> RunFiles:
    """Read a run folder written by ``aecm fit``; refuses other folders with a clear message."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"no such run folder: {folder}")
    summary_path = folder / RUN_JSON
    if not summary_path.is_file():
        raise ValueError(
            f"{folder} is not an aecm run folder (no {RUN_JSON}); make one with aecm fit"
        )
    summary = _read_json(summary_path)
    if summary.get("format") != RUN_FORMAT:
        raise ValueError(f"{summary_path} is not an aecm run description")
    if summary.get("format_version") != RUN_FORMAT_VERSION:
        raise ValueError(
            f"{summary_path} has version {summary.get('format_version')!r}; this aecm reads "
            f"version {RUN_FORMAT_VERSION}"
        )
    for name in (LABELS, SAMPLE):
        if not (folder / name).is_file():
            raise ValueError(f"{folder} is incomplete: {name} is missing")
    clusters, confidence = read_labels_csv(folder / LABELS)
    metrics = _read_json(folder / METRICS) if (folder / METRICS).is_file() else None
    try:
        sample = load_file(folder / SAMPLE)
    except Exception as exc:  # safetensors raises its own error type
        raise ValueError(f"{folder / SAMPLE} is not readable: {exc}") from exc
    return RunFiles(folder, summary, clusters, confidence, metrics, sample)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return value


def read_labels_csv(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``cluster`` and ``confidence`` columns of a labels file written by aecm."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "cluster" not in reader.fieldnames:
            raise ValueError(f"{path} has no 'cluster' column")
        rows = list(reader)
    try:
        clusters = np.array([int(r["cluster"]) for r in rows], dtype=np.int64)
        cells = [r.get("confidence", "") for r in rows]
        confidence = (
            np.array([float(c) for c in cells])
            if rows and all(c not in ("", None) for c in cells)
            else None
        )
    except ValueError as exc:
        raise ValueError(f"{path} is malformed: {exc}") from exc
    return clusters, confidence


def confusion_table(y_true: np.ndarray, clusters: np.ndarray) -> dict[str, Any]:
    """Counts of classes × clusters, clusters ordered by the Hungarian matching.

    The cluster matched with the first class comes first, and so on; unmatched clusters follow
    in increasing order. Returns JSON-ready ``classes``, ``clusters``, ``counts`` and ``mapping``.
    """
    from aecm.metrics import match_labels

    classes = np.unique(y_true)
    mapping = match_labels(y_true, clusters)
    by_class = {cls: cluster for cluster, cls in mapping.items()}
    ordered = [by_class[c] for c in classes.tolist() if c in by_class]
    ordered += sorted(set(np.unique(clusters).tolist()) - set(ordered))
    class_index = {c: i for i, c in enumerate(classes.tolist())}
    cluster_index = {c: j for j, c in enumerate(ordered)}
    counts = np.zeros((len(classes), len(ordered)), dtype=np.int64)
    np.add.at(
        counts,
        ([class_index[c] for c in y_true.tolist()], [cluster_index[c] for c in clusters.tolist()]),
        1,
    )
    return {
        "classes": classes.tolist(),
        "clusters": ordered,
        "counts": counts.tolist(),
        "mapping": {str(k): v for k, v in mapping.items()},
    }


# ---------------------------------------------------------------------------------- writing
def report_arrays(
    estimator, X, clusters: np.ndarray, y: np.ndarray | None, *, seed: int = 0
) -> tuple[dict[str, np.ndarray], list | None]:
    """The arrays of ``sample.safetensors`` from a fitted estimator and its training data.

    Parameters
    ----------
    estimator : fitted aecm estimator
        Deep estimators (with ``autoencoder_``) contribute their embedding of the sample and
        their centroids decoded to input space; the others cluster in input space.
    X : ndarray or sparse matrix of shape (n_rows, n_features)
        The model's input (after scaling).
    clusters : ndarray of shape (n_rows,)
    y : ndarray of shape (n_rows,) or None
        Labels, stored as codes into the returned class names.
    seed : int
        Seeds the choice of sample rows.

    Returns
    -------
    arrays : dict of str to ndarray
    class_names : list or None
    """
    n_rows, n_features = X.shape
    size = min(n_rows, SAMPLE_ROWS, max(50, SAMPLE_VALUES // max(n_features, 1)))
    rows = np.sort(np.random.default_rng(seed).choice(n_rows, size, replace=False))
    inputs = X[rows]
    inputs = np.asarray(inputs.toarray() if hasattr(inputs, "toarray") else inputs)
    arrays = {
        "rows": rows.astype(np.int64),
        "inputs": inputs.astype(np.float32),
        "clusters": np.asarray(clusters)[rows].astype(np.int64),
    }
    centroids = _centroids(estimator)
    arrays["centroids"] = centroids.astype(np.float32)
    if hasattr(estimator, "autoencoder_"):
        arrays["representation"] = np.asarray(estimator.transform(X[rows]), dtype=np.float32)
        arrays["centroids_input"] = _decode(estimator, centroids).astype(np.float32)
    else:
        arrays["centroids_input"] = arrays["centroids"]
    class_names = None
    if y is not None:
        names, codes = np.unique(np.asarray(y)[rows], return_inverse=True)
        arrays["classes"] = codes.astype(np.int64)
        class_names = names.tolist()
    return arrays, class_names


def _centroids(estimator) -> np.ndarray:
    for name in ("cluster_centers_", "means_"):
        if hasattr(estimator, name):
            return np.asarray(getattr(estimator, name), dtype=np.float64)
    raise TypeError(f"{type(estimator).__name__} has no cluster centres")


def _decode(estimator, centroids: np.ndarray) -> np.ndarray:
    """The deep estimator's decoder applied to its centroids (embedding → input space)."""
    import torch

    autoencoder = estimator.autoencoder_
    device = next(autoencoder.parameters()).device
    with torch.no_grad():
        z = torch.as_tensor(centroids, dtype=torch.float32, device=device)
        return autoencoder.decode(z).cpu().numpy()


def write_sample(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the sample arrays as safetensors (through a temporary file and a rename)."""
    from safetensors.numpy import save

    from aecm._files import atomic_write

    atomic_write(path, save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))
