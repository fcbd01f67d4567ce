"""``aecm report``: render the HTML report of a run folder again from its saved files."""

from __future__ import annotations

import argparse
from pathlib import Path

from aecm.cli.fit import image_shape_argument

__all__ = ["register"]


def run(args: argparse.Namespace) -> int:
    from aecm.report import render_report

    shape = args.image_shape
    path = render_report(
        Path(args.run_dir),
        image_shape=None if shape == "none" else shape,
        projection=args.map,
        seed=args.seed,
    )
    if not args.quiet:
        print(f"wrote {path}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``report`` to the subcommands."""
    report = commands.add_parser(
        "report",
        help="render RUN_DIR/report.html again from a run folder's saved files",
        description="Re-render RUN_DIR/report.html and RUN_DIR/figures/*.png from the files "
        "aecm fit saved (run.json, labels.csv, metrics.json, sample.safetensors, model/); "
        "the data file is not needed.",
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by aecm fit")
    report.add_argument(
        "--image-shape",
        type=image_shape_argument,
        default="auto",
        metavar="HxW",
        help="draw centroids as images of this shape; none: a heat map; auto: as at fit time",
    )
    report.add_argument(
        "--map", choices=("pca", "umap"), default="pca", help="2-D map (default: pca)"
    )
    report.add_argument("--seed", type=int, default=0, help="seed of the map (default: 0)")
    report.add_argument("--quiet", "-q", action="store_true", help="print nothing")
    report.set_defaults(handler=run)
