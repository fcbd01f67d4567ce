"""The report of a results folder: ``report.md`` (tables) and a PNG bar chart per profile."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aecm._files import atomic_write, save_figure
from aecm.bench.methods import METHODS
from aecm.bench.profiles import PROFILES
from aecm.bench.results import RESULTS_FILE, latest_rows, read_results
from aecm.datasets import DATASETS

__all__ = ["ReportFiles", "summarize", "write_report"]

_METRICS = (("acc", "ACC"), ("nmi", "NMI"), ("ari", "ARI"))


@dataclass(frozen=True)
class ReportFiles:
    """The files :func:`write_report` wrote."""

    markdown: Path
    figures: tuple[Path, ...]


@dataclass(frozen=True)
class Summary:
    """The runs of one (profile, method, data set)."""

    seeds: tuple[int, ...]
    scores: dict[str, np.ndarray]  # acc, nmi, ari, k_acc, k_nmi (k_* may be empty)
    fit_seconds: np.ndarray
    peak_rss_mb: float | None


def _order(values, known: Sequence[str]) -> list[str]:
    values = set(values)
    return [v for v in known if v in values] + sorted(values - set(known))


def summarize(rows: list[dict[str, str]]) -> dict[tuple[str, str, str], Summary]:
    """Group the latest row of each cell by (profile, method, data set)."""
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for row in latest_rows(rows):
        groups[row["profile"], row["method"], row["dataset"]].append(row)
    summaries = {}
    for key, group in groups.items():
        group.sort(key=lambda r: int(r["seed"]))
        scores = {
            name: np.array([float(r[name]) for r in group if r[name] != ""])
            for name in ("acc", "nmi", "ari", "k_acc", "k_nmi")
        }
        rss = [float(r["peak_rss_mb"]) for r in group if r["peak_rss_mb"] != ""]
        summaries[key] = Summary(
            seeds=tuple(int(r["seed"]) for r in group),
            scores=scores,
            fit_seconds=np.array([float(r["fit_seconds"]) for r in group]),
            peak_rss_mb=max(rss) if rss else None,
        )
    return summaries


def _cell(values: np.ndarray) -> str:
    if values.size == 0:
        return ""
    return f"{100 * values.mean():.1f} ± {100 * values.std():.1f}"


def _table(headers: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _score_table(summaries, profile, methods, datasets, metric: str) -> str:
    """Methods × data sets, ``mean ± std`` in %, the best mean of each column in bold."""
    best = {}
    for dataset in datasets:
        means = [
            round(100 * summaries[profile, m, dataset].scores[metric].mean(), 1)
            for m in methods
            if (profile, m, dataset) in summaries
            and summaries[profile, m, dataset].scores[metric].size
        ]
        best[dataset] = max(means) if means else None
    body = []
    for method in methods:
        row = [f"`{method}`"]
        for dataset in datasets:
            summary = summaries.get((profile, method, dataset))
            values = summary.scores[metric] if summary else np.array([])
            text = _cell(values)
            if text and round(100 * values.mean(), 1) == best[dataset]:
                text = f"**{text}**"
            row.append(text)
        body.append(row)
    return _table(["method", *datasets], body)


def _seed_text(summaries, profile, method, datasets) -> str:
    counts = {
        d: len(summaries[profile, method, d].seeds)
        for d in datasets
        if (profile, method, d) in summaries
    }
    if len(set(counts.values())) <= 1:
        return str(next(iter(counts.values()), 0))
    return ", ".join(f"{d} {n}" for d, n in counts.items())


def _time_table(summaries, profile, methods, datasets) -> str:
    body = []
    for method in methods:
        groups = [
            summaries[profile, method, d] for d in datasets if (profile, method, d) in summaries
        ]
        seconds = np.concatenate([g.fit_seconds for g in groups])
        rss = [g.peak_rss_mb for g in groups if g.peak_rss_mb is not None]
        body.append(
            [
                f"`{method}`",
                _seed_text(summaries, profile, method, datasets),
                str(seconds.size),
                f"{seconds.sum():.1f}",
                f"{seconds.mean():.2f}",
                f"{max(rss):.0f}" if rss else "",
            ]
        )
    headers = ["method", "seeds", "runs", "fit s (total)", "fit s / run", "peak RSS MiB (max)"]
    return _table(headers, body)


def _pretraining(rows: list[dict[str, str]], profile: str) -> tuple[float, int]:
    """Total seconds of the shared pretrainings of a profile, and how many there were."""
    seen = {}
    for row in latest_rows(rows):
        if row["profile"] != profile or row["pretrain_seconds"] == "":
            continue
        note = json.loads(row["params"]).get("pretraining", {})
        key = (row["dataset"], row["seed"], note.get("embedding_dim"), row["pretrain_seconds"])
        seen[key] = float(row["pretrain_seconds"])
    return sum(seen.values()), len(seen)


def _figure(summaries, profile, methods, datasets, path: Path) -> Path:
    """Grouped bars (one group per data set, one bar per method) with std error bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = max(6.0, 2.4 + 0.35 * len(methods) * len(datasets))
    figure = Figure(figsize=(width, 8.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(_METRICS), 1, sharex=True)
    positions = np.arange(len(datasets))
    bar = 0.8 / max(len(methods), 1)
    for ax, (metric, title) in zip(axes, _METRICS, strict=True):
        for i, method in enumerate(methods):
            means, stds = [], []
            for dataset in datasets:
                summary = summaries.get((profile, method, dataset))
                values = summary.scores[metric] if summary else np.array([])
                means.append(100 * values.mean() if values.size else np.nan)
                stds.append(100 * values.std() if values.size else 0.0)
            offset = (i - (len(methods) - 1) / 2) * bar
            ax.bar(positions + offset, means, bar, yerr=stds, capsize=2, label=method)
        ax.set_ylabel(f"{title} %")
        ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(positions, datasets)
    axes[0].set_title(f"aecm bench, profile {profile}: mean ± std over seeds")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", fontsize="small")
    save_figure(figure, path, dpi=110)
    return path


def _provenance(rows: list[dict[str, str]]) -> str:
    def distinct(name):
        return ", ".join(sorted({r[name] for r in rows}))

    stamps = sorted(r["timestamp"] for r in rows)
    return (
        f"{len(rows)} rows in `{RESULTS_FILE}` ({len(latest_rows(rows))} cells after rows "
        f"superseded by `--force` are dropped); aecm {distinct('aecm_version')}, torch "
        f"{distinct('torch_version')}; device {distinct('device')}; thread limit "
        f"{distinct('threads') or 'none'}; runs from {stamps[0]} to {stamps[-1]}."
    )


_NOTES = """\
## How to read this

- Scores are in percent: mean ± standard deviation (numpy's, ddof=0) over the seeds; the best
  mean of each column (at the precision shown) is in bold.
- k-ACC / k-NMI: k-means (n_init=10) on each deep method's final embedding (`transform(X)`),
  the paper's "k-metrics".
- "fit s" is the wall time of `fit` alone. The deep methods of one data set and seed share one
  pretrained autoencoder per embedding size; its pretraining is not in their fit times (it is
  the "shared pretraining" line). Timings depend on the machine's load: compare rows of one run.
- "peak RSS" is the process's resident-set high-water mark during the run (reset before each
  run on Linux; column `peak_rss_scope` says `run`), which includes the data and the libraries
  already loaded; `process` scope means the whole process's peak so far.
"""


def _axes(summaries, profile: str) -> tuple[list[str], list[str]]:
    """The methods and data sets of a profile, in the registries' order."""
    keys = [k for k in summaries if k[0] == profile]
    return _order({k[1] for k in keys}, list(METHODS)), _order({k[2] for k in keys}, DATASETS)


def _profile_section(rows, summaries, profile, figure: Path | None) -> list[str]:
    keys = [k for k in summaries if k[0] == profile]
    methods, datasets = _axes(summaries, profile)
    parts = [f"## Profile `{profile}`"]
    if profile in PROFILES:
        parts.append(f"{PROFILES[profile].description}.")
    for metric, title in _METRICS:
        parts += [f"### {title} %", _score_table(summaries, profile, methods, datasets, metric)]
    deep = [m for m in methods if any(summaries[k].scores["k_nmi"].size for k in keys if k[1] == m)]
    if deep:
        for metric, title in (("k_acc", "k-ACC"), ("k_nmi", "k-NMI")):
            parts += [
                f"### {title} % (k-means on the final embedding)",
                _score_table(summaries, profile, deep, datasets, metric),
            ]
    parts += ["### Runs and time", _time_table(summaries, profile, methods, datasets)]
    seconds, count = _pretraining(rows, profile)
    if count:
        parts.append(
            f"Shared pretraining: {seconds:.1f} s in total for {count} autoencoders (not in the "
            "fit times above)."
        )
    if figure is not None:
        parts.append(
            f"![ACC, NMI and ARI per method and data set, profile {profile}]({figure.name})"
        )
    return parts


def _reference_section(datasets: set[str]) -> list[str]:
    from aecm.bench.reference import REFERENCE, SOURCE

    entries = [r for r in REFERENCE if r.dataset in datasets]
    if not entries:
        return []
    body = [[r.dataset, r.method, r.settings, str(r.seeds), r.acc, r.nmi, r.ari] for r in entries]
    return [
        "## Reference figures (not aecm runs)",
        f"For orientation only, from {SOURCE}. Other code and other settings than the runs "
        "above: do not compare cell by cell.",
        _table(["data set", "method", "settings", "seeds", "ACC %", "NMI %", "ARI %"], body),
    ]


def write_report(out: str | os.PathLike, *, reference: bool = False) -> ReportFiles:
    """Write ``report.md`` and the bar charts of the results in the folder ``out``.

    Parameters
    ----------
    out : path-like
        A results folder written by :func:`aecm.bench.run_bench`.
    reference : bool, default=False
        Add a separate, labelled table of published figures of other implementations
        (:mod:`aecm.bench.reference`) for the data sets in the results.

    Returns
    -------
    ReportFiles
        ``report.md`` and one PNG per profile (``report.png``, or ``report-<profile>.png``
        when the results hold several profiles), each written atomically.

    Raises
    ------
    FileNotFoundError
        No results file, or it has no rows.
    ResultsError
        The results file has a bad row.
    """
    folder = Path(out)
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No {RESULTS_FILE} in {folder}: run `aecm bench` first.")
    rows = read_results(path)
    if not rows:
        raise FileNotFoundError(f"{path} has no runs yet.")
    summaries = summarize(rows)
    profiles = sorted({k[0] for k in summaries})
    parts = ["# aecm benchmark report", _provenance(rows)]
    figures = []
    for profile in profiles:
        name = "report.png" if len(profiles) == 1 else f"report-{profile}.png"
        methods, datasets = _axes(summaries, profile)
        figure = _figure(summaries, profile, methods, datasets, folder / name)
        figures.append(figure)
        parts += _profile_section(rows, summaries, profile, figure)
    if reference:
        parts += _reference_section({k[2] for k in summaries})
    parts.append(_NOTES)
    markdown = folder / "report.md"
    atomic_write(markdown, "\n\n".join(parts).rstrip() + "\n")
    return ReportFiles(markdown, tuple(figures))
