"""Benchmarks: a resumable grid of (method, data set, seed) runs, and its report.

``run_bench`` appends one row per finished run to ``<out>/results.csv`` and skips the runs
already there; ``write_report`` turns that file into ``report.md`` and a bar chart. The command
line is ``aecm bench`` and ``aecm bench report``.

Example
-------
>>> from aecm.bench import run_bench, write_report            # doctest: +SKIP
>>> run_bench("cm,kmeans", "pendigits", seeds=2, profile="quick", out="results")  # doctest: +SKIP
>>> write_report("results")                                    # doctest: +SKIP
"""

from aecm.bench.methods import METHODS, Method
from aecm.bench.profiles import PROFILES, Profile, get_profile
from aecm.bench.report import ReportFiles, write_report
from aecm.bench.results import COLUMNS, RESULTS_FILE, ResultsError, read_results
from aecm.bench.runner import BenchError, BenchSummary, resolve_datasets, run_bench

__all__ = [
    "COLUMNS",
    "METHODS",
    "PROFILES",
    "RESULTS_FILE",
    "BenchError",
    "BenchSummary",
    "Method",
    "Profile",
    "ReportFiles",
    "ResultsError",
    "get_profile",
    "read_results",
    "resolve_datasets",
    "run_bench",
    "write_report",
]
