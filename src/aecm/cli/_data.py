"""What ``aecm fit`` and ``aecm select-k`` share: the data options and reading DATA into ``X``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from aecm.cli._clustering import show_progress
from aecm.cli._common import CommandError

__all__ = ["LoadedData", "add_data_options", "add_reading_options", "print_notes", "read_data"]

#: Column names that usually hold labels: a hint is printed when one is used as a feature.
_LABEL_LIKE = {"label", "labels", "class", "classes", "target", "y", "digit", "category"}


@dataclass
class LoadedData:
    """DATA read and turned into the model's input.

    ``X``: the features (after column selection, imputation and scaling); ``y``: the true
    labels or None; ``labels_file``: the labels file when they came from one; ``notes``: what
    the user should know about the columns (one line each).
    """

    table: Any  # aecm.io.RawTable
    spec: Any  # aecm.io.DataSpec
    X: Any
    y: np.ndarray | None
    labels_file: str | None
    notes: list[str]


def read_data(args: argparse.Namespace) -> LoadedData:
    """Read ``args.data`` with the options of :func:`add_data_options`."""
    from aecm.io import DataSpec, read_labels, read_table

    label_column, labels_file = _label_source(args)
    keep = [c for c in (label_column, labels_file, args.id_column) if c]
    table = read_table(
        args.data,
        delimiter=args.delimiter,
        header=args.header,
        keep=keep,
        progress=show_progress(args),
    )
    if labels_file is not None and labels_file in table.columns:
        label_column, labels_file = labels_file, None  # --labels named a column
    elif labels_file is not None and not Path(labels_file).is_file():
        raise CommandError(
            f"--labels {labels_file!r} is neither a column of {table.name} nor a file"
        )
    spec = DataSpec.fit(
        table,
        columns=_columns(args.columns),
        label_column=label_column,
        id_column=args.id_column,
        impute=args.impute,
        scale=args.scale,
    )
    X = spec.transform(table)
    y = spec.labels(table) if labels_file is None else read_labels(labels_file, X.shape[0])
    notes = _column_notes(spec, label_column or labels_file) + _scale_notes(spec, X)
    return LoadedData(table, spec, X, y, labels_file, notes)


def print_notes(notes: list[str], quiet: bool) -> None:
    if not quiet:
        for note in notes:
            print(f"aecm: note: {note}", file=sys.stderr)


def _label_source(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(label column, labels file or column name to look up) from --label-column/--labels."""
    if args.labels is not None and args.label_column is not None:
        if args.labels != args.label_column:
            args.parser.error("give the labels either with --label-column or with --labels")
        return args.label_column, None
    if args.label_column is not None:
        return args.label_column, None
    if args.labels is None:
        return None, None
    return None, args.labels


def _columns(text: str | None) -> list[str] | None:
    if text is None:
        return None
    columns = [c.strip() for c in text.split(",") if c.strip()]
    if not columns:
        raise CommandError("--columns names no column")
    return columns


def _column_notes(spec, labels) -> list[str]:
    notes = []
    text_columns = {k: v for k, v in spec.excluded.items() if v.startswith("not numeric")}
    if text_columns:
        listed = "; ".join(
            f"{k!r} {v.removeprefix('not numeric ')}" for k, v in text_columns.items()
        )
        notes.append(f"excluded {len(text_columns)} non-numeric column(s): {listed}")
    if labels is None:
        suspects = [f for f in spec.features if f.strip().lower() in _LABEL_LIKE]
        if suspects:
            notes.append(
                f"column {suspects[0]!r} is used as a feature; if it holds labels, pass "
                f"--label-column {suspects[0]}"
            )
    return notes


#: Unscaled columns whose standard deviations differ by more than this factor get a note.
SCALE_RATIO = 100.0


def _scale_notes(spec, X) -> list[str]:
    """A note when unscaled columns have standard deviations orders of magnitude apart: every
    method measures Euclidean distances, so the widest column would decide the clusters."""
    if spec.scale != "none" or sp.issparse(X) or X.shape[1] < 2:
        return []
    spread = np.nanstd(np.asarray(X, dtype=np.float64), axis=0)
    varying = np.flatnonzero(spread > 0)
    if varying.size < 2:
        return []
    low, high = varying[np.argmin(spread[varying])], varying[np.argmax(spread[varying])]
    if spread[high] <= SCALE_RATIO * spread[low]:
        return []
    return [
        f"the columns' scales differ by a factor of {spread[high] / spread[low]:.0f} (standard "
        f"deviation {spread[low]:.3g} for {spec.features[low]!r}, {spread[high]:.3g} for "
        f"{spec.features[high]!r}); distances, and so the clusters, are then decided by the "
        "widest columns: pass --scale standard (or minmax) unless that is what you want"
    ]


def add_reading_options(parser: argparse.ArgumentParser) -> None:
    """``--delimiter`` and ``--header``, shared with ``aecm predict``."""
    parser.add_argument(
        "--delimiter",
        metavar="CHAR",
        help="field separator of a text table (default: guessed from line 1)",
    )
    parser.add_argument(
        "--header",
        choices=("auto", "yes", "no"),
        default="auto",
        help="whether line 1 of a text table names the columns (default: auto-detected)",
    )


def add_data_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The ``data`` option group: columns, labels, ids, reading, scaling, missing values."""
    data = parser.add_argument_group("data")
    data.add_argument(
        "--columns", metavar="A,B,…", help="feature columns (default: every numeric column)"
    )
    data.add_argument("--label-column", metavar="NAME", help="column of true labels (scoring only)")
    data.add_argument(
        "--labels",
        metavar="FILE_OR_COLUMN",
        help="true labels for scoring: a column of DATA, a .npy or a text file (one per line)",
    )
    data.add_argument("--id-column", metavar="NAME", help="column of row ids for labels.csv")
    add_reading_options(data)
    data.add_argument(
        "--scale",
        choices=("none", "standard", "minmax"),
        default="none",
        help="scale each feature; saved with the model so predict applies it (default: none)",
    )
    data.add_argument(
        "--impute",
        choices=("none", "mean"),
        default="none",
        help="missing cells: an error (none) or the column's mean (default: none)",
    )
    return data
