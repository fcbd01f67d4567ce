"""``aecm select-k``: fit a range of numbers of clusters; report BIC, loss and stability per K."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import numpy as np

from aecm.cli._clustering import show_progress
from aecm.cli._common import CommandError, positive_int
from aecm.cli._data import add_data_options, print_notes, read_data

__all__ = ["parse_k_range", "register"]

#: Files written into ``--out``.
PLOT, TABLE = "select_k.png", "select_k.csv"

#: Options that only apply to ``--method cm`` (argparse dest → ClusteringModule parameter).
_CM_OPTIONS = {"epochs": "n_epochs", "batch_size": "batch_size", "device": "device"}


def parse_k_range(text: str) -> list[int]:
    """``A:B`` (A to B inclusive), ``A:B:STEP`` or a comma list ``3,5,8``.

    Raises ``CommandError`` (exit code 1, one line) for text that is none of these, an empty
    range and values below 1; values above the number of rows are refused by
    :func:`aecm.select_k`.
    """
    cleaned = text.strip()
    try:
        if ":" in cleaned:
            parts = [int(p) for p in cleaned.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop, step = (*parts, 1) if len(parts) == 2 else parts
            if step < 1:
                raise CommandError(f"--k-range {text!r}: the step must be at least 1")
            values = list(range(start, stop + 1, step))
        else:
            values = [int(p) for p in cleaned.split(",") if p.strip()]
    except ValueError:
        raise CommandError(
            f"--k-range {text!r} is not a range: give A:B (e.g. 2:30), A:B:STEP or a list 3,5,8"
        ) from None
    if not values:
        raise CommandError(f"--k-range {text!r} holds no number of clusters")
    if min(values) < 1:
        raise CommandError(
            f"--k-range {text!r} holds {min(values)}; numbers of clusters must be at least 1"
        )
    return values


def run(args: argparse.Namespace) -> int:
    from aecm._files import atomic_write
    from aecm.select_k import select_k

    k_range = parse_k_range(args.k_range)
    params = {}
    for dest, param in _CM_OPTIONS.items():
        value = getattr(args, dest)
        if value is not None:
            if args.method != "cm":
                option = "--" + dest.replace("_", "-")
                args.parser.error(f"{option} applies only to --method cm")
            params[param] = value
    if args.method == "cm":
        params.setdefault("device", "auto")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a folder")
    data = read_data(args)
    print_notes(data.notes, args.quiet)
    # the CM computes in float32 (as aecm fit gives it), EM in float64
    X = data.X.astype(np.float32 if args.method == "cm" else np.float64, copy=False)
    result = select_k(
        X,
        method=args.method,
        k_range=k_range,
        n_seeds=args.seeds,
        random_state=args.seed,
        verbose=show_progress(args),
        **params,
    )
    n_rows, n_features = X.shape
    if not args.quiet:
        print(
            f"select-k {args.method}: {n_rows} rows × {n_features} features, K in "
            f"{_describe(result.table['k'])}, {args.seeds} seed(s) per K"
        )
    print(result.to_string())
    classes = ""
    if data.y is not None:
        classes = f"; the labels have {len(np.unique(data.y))} classes"
    print(f"best K: {result.best_k} (lowest BIC{classes})")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / TABLE, _csv(result))
        result.plot(out / PLOT)
        if not args.quiet:
            print(f"wrote {out / TABLE} and {out / PLOT}")
    return 0


def _describe(ks) -> str:
    values = [int(k) for k in ks]
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return ", ".join(map(str, values))


def _csv(result) -> str:
    """One row per K: k, bic, loss, stability, seconds, best (1 for the chosen K)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = list(result.table)
    writer.writerow([*names, "best"])
    for row in result.rows():
        cells = [repr(row[name]) if isinstance(row[name], float) else row[name] for name in names]
        writer.writerow([*cells, int(row["k"] == result.best_k)])
    return buffer.getvalue()


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``select-k`` to the subcommands."""
    parser = commands.add_parser(
        "select-k",
        help="fit a range of numbers of clusters; print BIC, loss and stability per K",
        description="Fit the CM (or the isotropic GMM) for every K of --k-range with --seeds "
        "seeds each, print per K the BIC of the fitted isotropic mixture (lower is better), "
        "the final loss and the stability (mean adjusted Rand index between the seeds' "
        "clusterings), and the K of lowest BIC. With --out, also write select_k.csv and "
        "select_k.png (BIC and stability against K) there. DATA is read as aecm fit reads it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  aecm select-k digits.csv --label-column label --scale minmax --k-range 2:30 \\\n"
        "      --out runs/select-k\n"
        "  aecm select-k images.npy --method gmm --k-range 5,10,15,20 --seeds 5",
    )
    parser.add_argument("data", metavar="DATA", help="the data file, one row per sample")
    parser.add_argument(
        "--k-range",
        default="2:20",
        metavar="A:B",
        help="the numbers of clusters to fit: A:B (inclusive), A:B:STEP or 3,5,8 (default: 2:20)",
    )
    parser.add_argument(
        "--method",
        choices=("cm", "gmm"),
        default="cm",
        help="cm: the clustering module; gmm: the isotropic GMM fitted by EM (default: cm)",
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=3, metavar="N", help="fits per K (default: 3)"
    )
    parser.add_argument(
        "--out", metavar="DIR", help="write select_k.csv and select_k.png into this folder"
    )
    add_data_options(parser)
    method = parser.add_argument_group("method options (default: the estimator's own)")
    method.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    method.add_argument("--device", help="auto, cpu, cuda, cuda:N (cm)")
    method.add_argument("--epochs", type=positive_int, metavar="N", help="training epochs (cm)")
    method.add_argument(
        "--batch-size", type=positive_int, metavar="N", help="rows per mini-batch (cm)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print only the table")
    parser.set_defaults(handler=run, parser=parser)
