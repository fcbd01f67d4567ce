"""The ``aecm bench`` grid of docs/bench as one table: NMI per method and data set, and seconds.

``aecm bench ... --out docs/bench`` keeps one row per run in ``docs/bench/results.csv`` and
``aecm bench report docs/bench`` writes every table of it (ACC, NMI, ARI, k-metrics, time,
memory) into ``docs/bench/report.md``. This script prints the NMI table of docs/results.md from
the same file, without fitting anything, and with ``--update-docs`` writes it there::

    python benchmarks/bench_grid.py --report --update-docs docs/results.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _docs import write_block

from aecm.bench import METHODS, RESULTS_FILE, read_results
from aecm.bench.report import summarize
from aecm.bench.results import latest_rows
from aecm.datasets import DATASETS

OUT = Path(__file__).resolve().parents[1] / "docs/bench"

#: The block of the docs that ``--update-docs`` writes (see ``_docs.py``).
DOCS_BLOCK = ("bench_grid table", "bench_grid.py")


def _ordered(values, known) -> list[str]:
    return [v for v in known if v in values] + sorted(set(values) - set(known))


def report(rows: list[dict[str, str]]) -> str:
    """Per profile: a line with the runs' versions, machine and dates, then NMI % (mean ± std
    over the seeds, the best mean of each column in bold) of each method on each data set, the
    number of seeds and the fit seconds summed over the data sets (the deep methods' shared
    pretraining excluded). The rows superseded by ``--force`` are left out."""
    latest = latest_rows(rows)
    summaries = summarize(rows)
    parts = []
    for profile in sorted({key[0] for key in summaries}):
        keys = [key for key in summaries if key[0] == profile]
        methods = _ordered({key[1] for key in keys}, list(METHODS))
        datasets = _ordered({key[2] for key in keys}, list(DATASETS))
        runs = [r for r in latest if r["profile"] == profile]
        stamps = sorted(r["timestamp"][:10] for r in runs)

        def distinct(field, runs=runs):
            return " or ".join(sorted({r[field] for r in runs if r[field]}))

        seeds = sorted({int(r["seed"]) for r in runs})
        threads = distinct("threads")
        lines = [
            f"Profile `{profile}`, {len(runs)} runs, seeds {seeds[0]}–{seeds[-1]}; aecm "
            f"{distinct('aecm_version')}, torch {distinct('torch_version')}, device "
            f"{distinct('device')}, {threads} thread{'s' * (threads != '1')} per run; "
            f"{stamps[0]} to {stamps[-1]}. NMI %, mean ± std over the seeds:",
            "",
            "| name | method | " + " | ".join(datasets) + " | seeds | fit s in all |",
            "| --- " * (len(datasets) + 4) + "|",
        ]
        best = {}
        for dataset in datasets:
            means = [
                round(100 * summaries[profile, m, dataset].scores["nmi"].mean(), 1)
                for m in methods
                if (profile, m, dataset) in summaries
            ]
            best[dataset] = max(means)
        for method in methods:
            cells = [f"`{method}`", METHODS[method].label if method in METHODS else ""]
            seconds, counts = 0.0, set()
            for dataset in datasets:
                summary = summaries.get((profile, method, dataset))
                if summary is None:
                    cells.append("")
                    continue
                nmi = 100 * summary.scores["nmi"]
                text = f"{nmi.mean():.1f} ± {nmi.std():.1f}"
                cells.append(f"**{text}**" if round(nmi.mean(), 1) == best[dataset] else text)
                seconds += float(np.sum(summary.fit_seconds))
                counts.add(len(summary.seeds))
            cells += [" or ".join(map(str, sorted(counts))), f"{seconds:.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="the folder of results.csv")
    parser.add_argument("--report", action="store_true", help="print the table (the default)")
    parser.add_argument("--update-docs", type=Path, help="write the table into this file")
    args = parser.parse_args()
    text = report(read_results(args.out / RESULTS_FILE))
    print(text, end="")
    if args.update_docs:
        write_block(args.update_docs, *DOCS_BLOCK, text)


if __name__ == "__main__":
    main()
