"""``aecm fit``: cluster a data file and write a run folder (model, labels, metrics, report)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from aecm.cli._clustering import (
    AUTO_METHODS,
    DEEP_METHODS,
    METHODS,
    TORCH_METHODS,
    build_estimator,
    confidence,
    final_loss,
    model_input,
    training_history,
    write_labels_csv,
)
from aecm.cli._common import CommandError, positive_int
from aecm.cli._data import add_data_options, print_notes, read_data

__all__ = ["fitted_n_clusters", "image_shape_argument", "register"]


def run(args: argparse.Namespace) -> int:
    if not args.distributed:
        return _run(args)
    from aecm import distributed

    if args.method not in TORCH_METHODS:
        raise CommandError(
            f"--distributed applies to the PyTorch methods ({', '.join(sorted(TORCH_METHODS))}), "
            f"not to --method {args.method}"
        )
    with distributed.process_group() as device:
        # 'auto' and 'cuda' mean the current CUDA device, which NCCL set to cuda:LOCAL_RANK
        if args.device not in (None, "auto", "cuda") and device.type == "cuda":
            raise CommandError(
                f"--device {args.device} with --distributed: each process uses the GPU of its "
                "LOCAL_RANK; leave --device out or give 'cuda'"
            )
        if not distributed.is_main_process():
            args.quiet = True  # process 0 prints
        status = _run(args)
        distributed.barrier()  # the others wait until process 0 has written the run folder
        return status


def _run(args: argparse.Namespace) -> int:
    from aecm import distributed

    out = Path(args.out)
    _check_output(out, Path(args.data), args.overwrite)
    estimator = build_estimator(args, args.parser)
    data = read_data(args)
    table, spec, y, labels_file, notes = data.table, data.spec, data.y, data.labels_file, data.notes
    n_rows = data.X.shape[0]
    if args.n_clusters != "auto" and args.n_clusters > n_rows:
        raise CommandError(
            f"--n-clusters {args.n_clusters} is larger than the number of rows ({n_rows}) "
            f"in {table.name}"
        )
    print_notes(notes, args.quiet)
    X = model_input(estimator, data.X)
    seconds, fit_notes = _fit(estimator, X)
    if not distributed.is_main_process():
        return 0  # process 0 writes the run folder
    print_notes(fit_notes, args.quiet)
    clusters = np.asarray(estimator.labels_, dtype=np.int64)
    soft = confidence(estimator, X)
    metrics = _metrics(y, clusters, fitted_n_clusters(args, estimator)) if y is not None else None
    summary = _summary(args, table, spec, estimator, X, seconds, notes + fit_notes, y, labels_file)
    summary["image_shape"] = _image_shape(args.image_shape, table, spec, X.shape[1])
    _write_run(out, estimator, spec, X, clusters, soft, y, metrics, summary, table, args)
    if not args.quiet:
        _print_result(out, summary, metrics)
    return 0


# ---------------------------------------------------------------------------------- checks
def _check_output(out: Path, data: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise CommandError(f"{out} exists and is not empty; pass --overwrite to replace it")
        resolved = out.resolve()
        for inside in (data.resolve(), Path.cwd().resolve()):
            if inside == resolved or resolved in inside.parents:
                raise CommandError(f"refusing to replace {out}: it contains {inside}")


# ---------------------------------------------------------------------------------- fitting
def fitted_n_clusters(args: argparse.Namespace, estimator) -> int:
    """The number of clusters of the fitted model: ``--n-clusters``, or the number found."""
    return int(estimator.n_clusters_) if args.n_clusters == "auto" else int(args.n_clusters)


def _fit(estimator, X) -> tuple[float, list[str]]:
    """Fit, timing it; warnings become one-line notes (no tracebacks, no repeats)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        try:
            estimator.fit(X)
        except FloatingPointError as exc:
            raise CommandError(str(exc)) from exc
        seconds = time.perf_counter() - started
    notes = []
    for warning in caught:
        text = str(warning.message).strip().splitlines()[0] if str(warning.message) else ""
        if text and text not in notes:
            notes.append(text)
    return seconds, notes


def _metrics(y: np.ndarray, clusters: np.ndarray, n_clusters: int) -> dict:
    from aecm.metrics import evaluate
    from aecm.report.run import confusion_table

    scores = evaluate(y, clusters)
    return {
        **scores,
        "n_rows": len(y),
        "n_classes": len(np.unique(y)),
        "n_clusters": int(n_clusters),
        "confusion": confusion_table(np.asarray(y), clusters),
    }


def _summary(args, table, spec, estimator, X, seconds, notes, y, labels_file) -> dict:
    from aecm._version import __version__
    from aecm.report.run import RUN_FORMAT, RUN_FORMAT_VERSION

    labels = (
        f"column {spec.label_column!r}"
        if spec.label_column
        else f"file {labels_file}"
        if labels_file
        else None
    )
    device = getattr(estimator, "device_", "cpu")
    return {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "aecm_version": __version__,
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command_line(args),
        "data": {
            "path": str(args.data),
            "n_rows": int(X.shape[0]),
            "n_features": int(X.shape[1]),
            "sparse": bool(spec.sparse),
            "features": spec.features,
            "excluded": spec.excluded,
            "labels": labels,
            "scale": spec.scale,
            "impute": spec.impute,
        },
        "method": args.method,
        "estimator": type(estimator).__name__,
        "deep": args.method in DEEP_METHODS,
        "params": json.loads(json.dumps(estimator.get_params(deep=False), default=str)),
        "n_clusters": fitted_n_clusters(args, estimator),
        "n_clusters_requested": args.n_clusters,
        "seed": args.seed,
        "device": str(device),
        "fit_seconds": float(seconds),
        "loss": final_loss(estimator, X),
        "history": training_history(estimator),
        "notes": notes,
        "has_labels": y is not None,
    }


def _image_shape(requested, table, spec, n_features: int) -> list[int] | None:
    from aecm.io import infer_image_shape

    if requested == "none":
        return None
    if requested != "auto":
        if int(np.prod(requested)) != n_features:
            raise CommandError(
                f"--image-shape {'x'.join(map(str, requested))} has {int(np.prod(requested))} "
                f"pixels but the data has {n_features} features"
            )
        return list(requested)
    if table.image_shape is not None and int(np.prod(table.image_shape)) == n_features:
        return list(table.image_shape)
    import scipy.sparse as sp

    raw = spec.select(table)
    values = raw.data if sp.issparse(raw) else raw
    nonnegative = values.size == 0 or float(np.nanmin(values)) >= 0
    shape = infer_image_shape(n_features, nonnegative)
    return list(shape) if shape else None


def command_line(args: argparse.Namespace) -> str:
    """The ``aecm fit`` command that reproduces ``args`` (the options that differ from their
    defaults), for the report."""
    import shlex

    words = ["aecm", "fit", args.data]
    for action in args.parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        value = getattr(args, action.dest, None)
        if value is None or value is False or value == action.default:
            continue
        option = max(action.option_strings, key=len)
        if value is True:
            words.append(option)
            continue
        for item in value if action.dest == "param" else [value]:
            if isinstance(item, list | tuple):
                item = ("x" if action.dest == "image_shape" else ",").join(map(str, item))
            words += [option, str(item)]
    return shlex.join(words)


# ---------------------------------------------------------------------------------- writing
def _write_run(out, estimator, spec, X, clusters, soft, y, metrics, summary, table, args) -> None:
    """Write the run folder under a temporary name beside ``out``, then rename it into place."""
    from aecm._files import atomic_write, current_umask
    from aecm.report import render_report
    from aecm.report.run import (
        LABELS,
        METRICS,
        MODEL,
        RUN_JSON,
        SAMPLE,
        report_arrays,
        write_sample,
    )

    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        estimator.save(stage / MODEL)
        spec.save(stage / MODEL)
        for folder in (stage, stage / MODEL):  # mkdtemp's 0700 → the usual permissions
            os.chmod(folder, 0o777 & ~current_umask())
        ids = spec.row_ids(table) if spec.id_column else None
        write_labels_csv(stage / LABELS, clusters, soft, ids, spec.id_column)
        if metrics is not None:
            atomic_write(stage / METRICS, json.dumps(metrics, indent=1))
        arrays, class_names = report_arrays(estimator, X, clusters, y, seed=args.seed)
        write_sample(stage / SAMPLE, arrays)
        summary["class_names"] = class_names
        atomic_write(stage / RUN_JSON, json.dumps(summary, indent=1))
        render_report(stage, projection=args.map, seed=args.seed)
        _replace(stage, out)
    finally:
        if stage.exists():
            shutil.rmtree(stage)


def _replace(stage: Path, out: Path) -> None:
    """Move the finished folder ``stage`` to ``out``, replacing what is there."""
    old = None
    if out.is_dir():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old)


def _print_result(out: Path, summary: dict, metrics: dict | None) -> None:
    data = summary["data"]
    found = " (found by --n-clusters auto)" if summary["n_clusters_requested"] == "auto" else ""
    line = (
        f"{summary['method']}: {data['n_rows']} rows × {data['n_features']} features into "
        f"{summary['n_clusters']} clusters{found} in {summary['fit_seconds']:.1f} s"
    )
    if metrics is not None:
        line += f"; ACC {metrics['acc']:.3f}, NMI {metrics['nmi']:.3f}, ARI {metrics['ari']:.3f}"
    print(line)
    print(f"wrote {out}/ (model/, labels.csv, {'metrics.json, ' if metrics else ''}report.html)")


# ---------------------------------------------------------------------------------- parser
def image_shape_argument(text: str):
    """argparse type: ``auto``, ``none`` or ``HxW`` (``HxWxC`` for colour)."""
    lowered = text.strip().lower()
    if lowered in ("auto", "none"):
        return lowered
    try:
        shape = tuple(int(part) for part in lowered.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected auto, none or HxW such as 28x28; got {text!r}"
        ) from None
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected HxW or HxWxC with positive sizes; got {text!r}")
    return shape


def _n_clusters_argument(text: str) -> int | str:
    """argparse type: ``auto`` or an integer ≥ 1."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or auto)") from None


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers such as 500,500,2000; got {text!r}"
        ) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``fit`` to the subcommands."""
    fit = commands.add_parser(
        "fit",
        help="cluster a data file; write the model, labels, scores and an HTML report",
        description="Cluster the rows of DATA (.npy, .npz, .csv, .tsv, .parquet) and write "
        "RUN_DIR/model/ (reload with aecm predict or aecm.load), RUN_DIR/labels.csv, "
        "RUN_DIR/metrics.json (with labels) and RUN_DIR/report.html.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  aecm fit digits.csv --method cm --n-clusters 10 --label-column label \\\n"
        "      --scale minmax --out runs/digits\n"
        "  aecm fit images.npy --method aecm -k 10 --epochs 200 --device cuda --out runs/aecm\n"
        "  aecm fit images.npy --method aecm -k 10 --checkpoint-dir ckpt/aecm --out runs/aecm\n"
        "      (killed? run the same command again: it resumes from ckpt/aecm)\n"
        "  torchrun --nproc-per-node 2 -m aecm fit big.npy --method cm -k 10 --distributed \\\n"
        "      --out runs/big   (2 processes; see the README for several machines)\n"
        "  aecm predict runs/digits/model new.csv --out new-labels.csv",
    )
    fit.add_argument("data", metavar="DATA", help="the data file, one row per sample")
    fit.add_argument("--method", required=True, choices=tuple(METHODS), help="clustering method")
    fit.add_argument(
        "--n-clusters",
        "-k",
        required=True,
        type=_n_clusters_argument,
        metavar="K",
        help="number of clusters, or auto to find it (--method "
        + "/".join(sorted(AUTO_METHODS))
        + ")",
    )
    fit.add_argument("--out", required=True, metavar="RUN_DIR", help="output folder")
    add_data_options(fit)
    method = fit.add_argument_group("method options (default: the estimator's own)")
    method.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    method.add_argument("--device", help="auto, cpu, cuda, cuda:N (PyTorch methods)")
    method.add_argument("--epochs", type=positive_int, metavar="N", help="training epochs")
    method.add_argument(
        "--pretrain-epochs", type=positive_int, metavar="N", help="autoencoder pretraining (deep)"
    )
    method.add_argument("--batch-size", type=positive_int, metavar="N", help="rows per mini-batch")
    method.add_argument(
        "--learning-rate", type=_positive_float, metavar="LR", help="optimiser step size"
    )
    method.add_argument(
        "--alpha",
        type=_positive_float,
        metavar="A",
        help="Dirichlet prior concentration (cm, aecm)",
    )
    method.add_argument(
        "--embedding-dim", type=positive_int, metavar="P", help="embedding size (deep)"
    )
    method.add_argument(
        "--hidden-dims", type=_int_list, metavar="H1,H2,…", help="encoder layer sizes (deep)"
    )
    method.add_argument(
        "--n-init", type=positive_int, metavar="N", help="restarts; the best is kept"
    )
    method.add_argument(
        "--max-clusters",
        type=positive_int,
        metavar="N",
        help="with -k auto: the number of clusters to start from (default: the estimator's)",
    )
    method.add_argument(
        "--min-cluster-weight",
        type=float,
        metavar="W",
        help="with -k auto: clusters with a smaller share of the data are removed (0 < W < 1)",
    )
    method.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="any other estimator parameter (VALUE as JSON, else text); repeatable",
    )
    checkpoints = fit.add_argument_group("checkpoints (PyTorch methods)")
    checkpoints.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="write checkpoints to DIR while training; the same command run again resumes "
        "from the newest valid one (DIR is kept: delete it to train anew)",
    )
    checkpoints.add_argument(
        "--checkpoint-every",
        type=positive_int,
        metavar="N",
        help="epochs between checkpoints, besides one at the end of each training phase "
        "(default: 10 for cm, 1 for the deep methods)",
    )
    parallel = fit.add_argument_group("multi-process training (PyTorch methods)")
    parallel.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel training over the processes that torchrun starts (gloo on the "
        "CPU, nccl on GPUs); process 0 writes RUN_DIR. Launch with: torchrun "
        "--nproc-per-node N -m aecm fit DATA ... --distributed",
    )
    output = fit.add_argument_group("output")
    output.add_argument(
        "--image-shape",
        type=image_shape_argument,
        default="auto",
        metavar="HxW",
        help="draw centroids as images of this shape; auto: a square number ≥ 64 of "
        "non-negative features; none: a heat map (default: auto)",
    )
    output.add_argument(
        "--map",
        choices=("pca", "umap"),
        default="pca",
        help="2-D map of the report (umap needs umap-learn; default: pca)",
    )
    output.add_argument("--overwrite", action="store_true", help="replace a non-empty RUN_DIR")
    output.add_argument("--quiet", "-q", action="store_true", help="no progress bars or notes")
    fit.set_defaults(handler=run, parser=fit)
