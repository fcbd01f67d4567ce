"""``aecm predict``: assign the rows of a new file to the clusters of a saved model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aecm.cli._clustering import confidence, model_input, show_progress, write_labels_csv
from aecm.cli._common import CommandError
from aecm.cli._data import add_reading_options

__all__ = ["register"]


def _model_folder(path: Path) -> Path:
    """``RUN_DIR/model`` when given ``RUN_DIR``, else ``path`` itself."""
    if not path.exists():
        raise CommandError(f"no such model folder: {path}")
    if not (path / "model.json").exists() and (path / "model" / "model.json").exists():
        return path / "model"
    return path


def run(args: argparse.Namespace) -> int:
    import aecm
    from aecm.io import DataSpec, read_table
    from aecm.metrics import evaluate

    out = Path(args.out)
    if out.is_dir():
        raise CommandError(f"--out {out} is a folder; give a file name such as labels.csv")
    if out.exists() and not args.overwrite:
        raise CommandError(f"{out} exists; pass --overwrite to replace it")
    folder = _model_folder(Path(args.model))
    estimator = aecm.load(folder, device=args.device)
    spec = DataSpec.load(folder)
    keep = [c for c in (spec.label_column, spec.id_column) if c]
    table = read_table(
        args.data,
        delimiter=args.delimiter,
        header=args.header,
        keep=keep,
        progress=show_progress(args),
    )
    X = model_input(estimator, spec.transform(table))
    clusters = estimator.predict(X)
    soft = confidence(estimator, X)
    out.parent.mkdir(parents=True, exist_ok=True)
    ids = spec.row_ids(table) if spec.id_column in table.columns else None
    write_labels_csv(out, clusters, soft, ids, spec.id_column if ids is not None else None)
    if not args.quiet:
        line = f"{len(clusters)} rows of {table.name} assigned to {type(estimator).__name__}'s"
        print(f"{line} clusters; wrote {out}")
        y = spec.labels(table)
        if y is not None:
            scores = evaluate(y, clusters)
            print(
                f"against column {spec.label_column!r}: ACC {scores['acc']:.3f}, "
                f"NMI {scores['nmi']:.3f}, ARI {scores['ari']:.3f}",
                file=sys.stdout,
            )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``predict`` to the subcommands."""
    predict = commands.add_parser(
        "predict",
        help="assign the rows of a data file to the clusters of a model saved by aecm fit",
        description="Read DATA with the column selection, imputation and scaling saved at fit "
        "time and write one cluster per row to --out (row, [id], cluster, confidence). A file "
        "whose columns differ from the training file's is refused. When DATA holds the label "
        "column, the scores are printed.",
        epilog="Example: aecm predict runs/digits/model new-digits.csv --out new-labels.csv",
    )
    predict.add_argument("model", metavar="MODEL_DIR", help="RUN_DIR/model (or RUN_DIR)")
    predict.add_argument("data", metavar="DATA", help="the data file, one row per sample")
    predict.add_argument("--out", required=True, metavar="LABELS_CSV", help="output labels file")
    add_reading_options(predict)
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    predict.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    predict.add_argument("--quiet", "-q", action="store_true", help="no progress bars or output")
    predict.set_defaults(handler=run)
