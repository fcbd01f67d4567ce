"""Run a grid of (method, data set, seed) under a profile, resumably, into a results file."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from aecm._version import __version__
from aecm.bench.memory import cuda_peak_mb, peak_rss_mb, reset_cuda_peak, reset_rss_peak
from aecm.bench.methods import METHODS, Cell, Method, params_json, resolve_methods
from aecm.bench.profiles import Profile, get_profile
from aecm.bench.results import RESULTS_FILE, append_row, cell_key, prepare_folder, read_results

__all__ = ["BenchError", "BenchSummary", "resolve_datasets", "run_bench"]


class BenchError(RuntimeError):
    """A run of the grid failed; the rows of the runs before it are in the results file."""


@dataclass(frozen=True)
class BenchSummary:
    """What :func:`run_bench` did: the results file, runs done now, cells skipped as done."""

    path: Path
    ran: int
    skipped: int


def resolve_datasets(names: str | Iterable[str]) -> list[str]:
    """Data set names (comma-separated or a list) as registry keys; unknown names list the valid."""
    from aecm import datasets

    items = names.split(",") if isinstance(names, str) else list(names)
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise ValueError(f"No data set given; valid: {', '.join(datasets.DATASETS)}.")
    resolved, unknown = [], []
    for item in items:
        try:
            resolved.append(datasets.resolve_name(item))
        except ValueError:
            unknown.append(item)
    if unknown:
        raise ValueError(
            f"Unknown data set{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(datasets.DATASETS)}."
        )
    return list(dict.fromkeys(resolved))


def _seed_list(seeds: int | Iterable[int] | None, profile: Profile) -> list[int]:
    if seeds is None:
        seeds = profile.seeds
    if isinstance(seeds, int | np.integer):
        if seeds < 1:
            raise ValueError(f"seeds must be at least 1; got {seeds}.")
        return list(range(int(seeds)))
    values = [int(s) for s in seeds]
    if not values or min(values) < 0:
        raise ValueError(f"seeds must be non-negative integers; got {values}.")
    return list(dict.fromkeys(values))


def _check_files(names: list[str], data_home) -> None:
    """Fail before any run if a data set's file is missing (not after hours of others)."""
    from aecm import datasets

    folder = datasets.data_home(data_home)
    missing = [n for n in names if not (folder / datasets.DATASETS[n].filename).is_file()]
    if missing:
        hint = "; ".join(
            f"`aecm datasets fetch {n}`" if datasets.DATASETS[n].fetch else f"{n}: see its source"
            for n in missing
        )
        raise FileNotFoundError(
            f"No data file for {', '.join(missing)} in {folder} (set --data-home or $AECM_DATA; "
            f"{hint})."
        )


class _SharedAutoencoders:
    """One pretrained autoencoder per embedding size, for the deep methods of one cell."""

    def __init__(self, X, cell: Cell, log: Callable[[str], None]):
        self._X, self._cell, self._log = X, cell, log
        self._models: dict[int, tuple[Any, float]] = {}

    def get(self, embedding_dim: int) -> tuple[Any, float]:
        """The fitted pretraining model (an ``AEKMeans``) and its pretraining seconds."""
        if embedding_dim not in self._models:
            from aecm import AEKMeans

            cell, p = self._cell, self._cell.profile
            model = AEKMeans(
                cell.n_clusters,
                embedding_dim=embedding_dim,
                hidden_dims=p.hidden_dims,
                pretrain_epochs=p.pretrain_epochs,
                batch_size=p.batch_size,
                kmeans_n_init=1,
                random_state=cell.seed,
                device=cell.device,
            )
            started = time.perf_counter()
            model.fit(self._X)
            seconds = time.perf_counter() - started
            self._log(
                f"  pretrained the {embedding_dim}-dim autoencoder ({p.pretrain_epochs} epochs) "
                f"in {seconds:.1f} s"
            )
            self._models[embedding_dim] = (model, seconds)
        return self._models[embedding_dim]


def _pretraining_note(cell: Cell, embedding_dim: int) -> dict:
    p = cell.profile
    return {
        "embedding_dim": embedding_dim,
        "hidden_dims": list(p.hidden_dims),
        "epochs": p.pretrain_epochs,
        "batch_size": p.batch_size,
        "optimizer": "Adam, learning rate 1e-3",
        "shared": "one autoencoder per data set, seed and embedding size",
    }


@contextlib.contextmanager
def _thread_limit(threads: int | None) -> Iterator[None]:
    """Limit torch, BLAS and OpenMP (scikit-learn) to ``threads`` threads inside the block."""
    if threads is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


def _fit_and_score(method: Method, cell: Cell, X, y, shared: _SharedAutoencoders | None) -> dict:
    """Fit one method on one cell; the row for the results file."""
    from aecm.metrics import evaluate

    pretrained, pretrain_seconds, extra = None, None, {}
    if method.deep:
        embedding_dim = method.embedding_dim(cell)
        pretrained, pretrain_seconds = shared.get(embedding_dim)
        extra = {"pretraining": _pretraining_note(cell, embedding_dim)}
    estimator = method.build(cell, pretrained)
    data = X.toarray() if method.dense and sp.issparse(X) else X
    scope = reset_rss_peak()
    reset_cuda_peak(cell.device)
    started = time.perf_counter()
    estimator.fit(data)
    seconds = time.perf_counter() - started
    rss = peak_rss_mb(scope)
    device = str(getattr(estimator, "device_", "cpu"))
    cuda = cuda_peak_mb(device)
    labels = getattr(estimator, "labels_", None)
    scores = evaluate(y, labels if labels is not None else estimator.predict(data))
    k_scores = {}
    if method.deep:
        from sklearn.cluster import KMeans

        z = estimator.transform(X)
        k_labels = KMeans(cell.n_clusters, n_init=10, random_state=cell.seed).fit_predict(z)
        k_scores = evaluate(y, k_labels)
    import torch

    return {
        "method": method.name,
        "dataset": cell.dataset,
        "seed": cell.seed,
        "profile": cell.profile.name,
        "params": params_json(estimator, extra, drop=("pretrained", "verbose")),
        **{name: f"{scores[name]:.6f}" for name in ("acc", "nmi", "ari")},
        "k_acc": f"{k_scores['acc']:.6f}" if k_scores else "",
        "k_nmi": f"{k_scores['nmi']:.6f}" if k_scores else "",
        "fit_seconds": f"{seconds:.3f}",
        "pretrain_seconds": f"{pretrain_seconds:.3f}" if pretrain_seconds is not None else "",
        "peak_rss_mb": f"{rss:.1f}",
        "peak_rss_scope": scope,
        "peak_cuda_mb": f"{cuda:.1f}" if cuda is not None else "",
        "aecm_version": __version__,
        "torch_version": torch.__version__,
        "device": device,
        "threads": cell.threads or "",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def run_bench(
    methods: str | Iterable[str],
    datasets: str | Iterable[str],
    seeds: int | Iterable[int] | None = None,
    profile: str | Profile = "quick",
    out: str | os.PathLike = "results",
    *,
    force: bool = False,
    data_home: str | os.PathLike | None = None,
    device: str = "auto",
    threads: int | None = None,
    log: Callable[[str], None] | None = print,
) -> BenchSummary:
    """Run every (method, data set, seed) of the grid and append one row per run.

    Rows go to ``<out>/results.csv`` (see :mod:`aecm.bench.results`) as soon as each run ends.
    Cells already in the file (same method, data set, seed and profile) are skipped, so an
    interrupted benchmark resumes where it stopped; ``force=True`` runs them again (the new
    row is appended and supersedes the old one). Within one data set and seed, the deep
    methods share one pretrained autoencoder per embedding size (pretrained only if a deep
    method of that cell still has to run); ``fit_seconds`` of a deep method excludes that
    pretraining, whose time is in ``pretrain_seconds``.

    Parameters
    ----------
    methods : str or iterable of str
        Names from :data:`aecm.bench.METHODS` (comma-separated, or ``"all"``).
    datasets : str or iterable of str
        Names from :data:`aecm.datasets.DATASETS` (comma-separated).
    seeds : int or iterable of int, optional
        A number of seeds (``0 … seeds − 1``) or the seeds themselves; default: the profile's.
    profile : str or Profile, default="quick"
        ``"quick"``, ``"medium"``, ``"paper"`` (:data:`aecm.bench.PROFILES`) or a custom one.
    out : path-like, default="results"
        The results folder (created if needed).
    force : bool, default=False
        Run cells again even if the results file has them.
    data_home : path-like, optional
        The data folder (default: ``$AECM_DATA``, else the per-user cache).
    device : str, default="auto"
        Device of the torch methods (scikit-learn methods run on the CPU).
    threads : int, optional
        Limit torch, BLAS and OpenMP to this many CPU threads (recorded in the ``threads``
        column); default: the libraries' own settings. On a CPU shared with other jobs, 1 keeps
        OpenMP's k-means from stalling (measured: Pendigits k-means 7 s with 2 threads under
        load, 0.3 s with 1).
    log : callable or None, default=print
        Called with one line per run.

    Returns
    -------
    BenchSummary

    Raises
    ------
    ValueError
        Unknown method, data set or profile (the message lists the valid names), or a bad
        device.
    ResultsError
        The results file has a bad row (its number is given); the file is left untouched.
    OSError
        The results folder is not writable, or a data file is missing.
    BenchError
        A run failed; the rows of the finished runs are kept.
    """
    from aecm import datasets as data
    from aecm._runtime import resolve_device

    log = log or (lambda message: None)
    method_names = resolve_methods(methods)
    dataset_names = resolve_datasets(datasets)
    profile = get_profile(profile)
    seed_list = _seed_list(seeds, profile)
    device = str(resolve_device(device))
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1; got {threads}.")
    path = prepare_folder(out) / RESULTS_FILE
    done = {cell_key(row) for row in read_results(path)}
    todo = {
        (m, d, s)
        for d in dataset_names
        for s in seed_list
        for m in method_names
        if force or (m, d, s, profile.name) not in done
    }
    total = len(dataset_names) * len(seed_list) * len(method_names)
    _check_files(sorted({d for _, d, _ in todo}), data_home)
    log(
        f"aecm bench: {len(todo)} of {total} runs to do (profile {profile.name}, device "
        f"{device}{f', {threads} threads' if threads else ''}), results in {path}"
    )
    ran = 0
    try:
        for dataset in dataset_names:
            if not any(d == dataset for _, d, _ in todo):
                continue
            X, y = data.load(dataset, data_home)
            n_clusters = data.DATASETS[dataset].n_classes
            for seed in seed_list:
                cell = Cell(dataset, n_clusters, seed, profile, device, threads)
                shared = _SharedAutoencoders(X, cell, log)
                for name in method_names:
                    if (name, dataset, seed) not in todo:
                        continue
                    with _thread_limit(threads):
                        row = _run(METHODS[name], cell, X, y, shared)
                    append_row(path, row)
                    ran += 1
                    log(
                        f"[{ran}/{len(todo)}] {name} {dataset} seed {seed}: "
                        f"ACC {float(row['acc']):.3f} NMI {float(row['nmi']):.3f} "
                        f"ARI {float(row['ari']):.3f}, fit {float(row['fit_seconds']):.1f} s"
                    )
    except KeyboardInterrupt:
        log(f"interrupted: {ran} runs written to {path}; run the same command to resume")
        raise
    return BenchSummary(path, ran, total - len(todo))


def _run(method: Method, cell: Cell, X, y, shared: _SharedAutoencoders) -> dict:
    try:
        return _fit_and_score(method, cell, X, y, shared)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise BenchError(
            f"{method.name} on {cell.dataset} (seed {cell.seed}, profile {cell.profile.name}) "
            f"failed: {type(exc).__name__}: {exc}"
        ) from exc
