"""``aecm bench``: run a resumable benchmark grid, and ``aecm bench report`` to summarise it."""

from __future__ import annotations

import argparse

from aecm.cli._common import CommandError, positive_int

__all__ = ["register"]


def _names(resolve):
    """An argparse type: a comma-separated list checked by ``resolve`` (usage error if bad)."""

    def parse(text: str) -> list[str]:
        try:
            return resolve(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _method_names(text: str) -> list[str]:
    from aecm.bench.methods import resolve_methods

    return _names(resolve_methods)(text)


def _dataset_names(text: str) -> list[str]:
    from aecm.bench.runner import resolve_datasets

    return _names(resolve_datasets)(text)


def _run(args: argparse.Namespace) -> int:
    from aecm.bench import BenchError, run_bench
    from aecm.datasets import DATASETS

    if args.datasets is None:
        args.bench_parser.error(f"--datasets is required (valid: {', '.join(DATASETS)})")
    try:
        summary = run_bench(
            args.methods,
            args.datasets,
            seeds=args.seeds,
            profile=args.profile,
            out=args.out,
            force=args.force,
            data_home=args.data_home,
            device=args.device,
            threads=args.threads,
            log=lambda line: print(line, flush=True),
        )
    except BenchError as exc:
        raise CommandError(str(exc)) from exc
    print(
        f"done: {summary.ran} runs now, {summary.skipped} already in {summary.path}. "
        f"`aecm bench report {args.out}` writes the report."
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from aecm.bench import write_report

    files = write_report(args.folder, reference=args.reference)
    print(f"wrote {files.markdown}")
    for figure in files.figures:
        print(f"wrote {figure}")
    return 0


def _epilog() -> str:
    from aecm.bench.methods import METHODS
    from aecm.bench.profiles import PROFILES

    methods = "\n".join(f"  {m.name:<9} {m.label}" for m in METHODS.values())
    profiles = "\n".join(f"  {p.name:<9} {p.description}" for p in PROFILES.values())
    return (
        f"methods:\n{methods}\n\nprofiles:\n{profiles}\n\n"
        "Rows are appended to OUT/results.csv as each run ends; running the same command "
        "again skips the finished (method, data set, seed, profile) cells."
    )


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``bench`` (and ``bench report``) to the subcommands."""
    from aecm.bench.profiles import PROFILES

    bench = commands.add_parser(
        "bench",
        help="run methods × data sets × seeds into a resumable results file; `report` sums up",
        description="Fit each method on each data set with each seed under a profile, and "
        "append one row per run to OUT/results.csv (scores, k-means scores on deep "
        "embeddings, fit seconds, peak memory, versions). `aecm bench report OUT` writes "
        "OUT/report.md and a bar chart.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument(
        "--methods",
        type=_method_names,
        default="all",
        metavar="LIST",
        help="comma-separated methods, or all (default: all)",
    )
    bench.add_argument(
        "--datasets",
        type=_dataset_names,
        metavar="LIST",
        help="comma-separated data sets (required; see `aecm datasets list`)",
    )
    bench.add_argument(
        "--seeds",
        type=positive_int,
        metavar="N",
        help="seeds 0..N-1 (default: the profile's: quick 2, medium 3, paper 20)",
    )
    bench.add_argument(
        "--profile", choices=list(PROFILES), default="quick", help="(default: quick)"
    )
    bench.add_argument("--out", default="results", metavar="DIR", help="(default: results)")
    bench.add_argument("--force", action="store_true", help="run finished cells again")
    bench.add_argument("--data-home", metavar="DIR", help="the data folder (default: as datasets)")
    bench.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    bench.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="limit torch, BLAS and OpenMP to N CPU threads (default: the libraries' own; "
        "1 is steadier on a CPU shared with other jobs)",
    )
    bench.set_defaults(handler=_run, bench_parser=bench)

    actions = bench.add_subparsers(dest="bench_command", metavar="{report}")
    report = actions.add_parser(
        "report",
        help="write DIR/report.md and a PNG bar chart from DIR/results.csv",
        description="Summarise a results folder: mean ± std per method and data set for ACC, "
        "NMI and ARI (best in bold), k-metrics of the deep methods, seeds, fit time and peak "
        "memory, in DIR/report.md, and a bar chart with error bars in DIR/report.png.",
    )
    report.add_argument("folder", metavar="DIR", help="the results folder of `aecm bench`")
    report.add_argument(
        "--reference",
        action="store_true",
        help="add a separate table of published figures of other implementations",
    )
    report.set_defaults(handler=_report)
