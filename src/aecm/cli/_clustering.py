"""What ``aecm fit`` and ``aecm predict`` share: the methods, their options, the labels file."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np

from aecm._files import atomic_write

__all__ = [
    "AUTO_METHODS",
    "DEEP_METHODS",
    "METHODS",
    "OPTION_METHODS",
    "build_estimator",
    "confidence",
    "final_loss",
    "model_input",
    "show_progress",
    "training_history",
    "write_labels_csv",
]

#: ``--method`` name → estimator class name in :mod:`aecm.estimators`.
METHODS = {
    "cm": "ClusteringModule",
    "aecm": "AECM",
    "dec": "DEC",
    "idec": "IDEC",
    "dcn": "DCN",
    "dkm": "DKM",
    "aekmeans": "AEKMeans",
    "kmeans": "PersistentKMeans",
    "gmm": "PersistentIsotropicGMM",
}
DEEP_METHODS = frozenset({"aecm", "dec", "idec", "dcn", "dkm", "aekmeans"})
TORCH_METHODS = DEEP_METHODS | {"cm"}
#: The methods that accept ``--n-clusters auto``, and the options that only apply with it.
AUTO_METHODS = frozenset({"cm", "aecm"})
AUTO_OPTIONS = {"max_clusters": "max_clusters", "min_cluster_weight": "min_cluster_weight"}

#: Command-line option (argparse dest) → (estimator parameter, the methods it applies to).
OPTION_METHODS = {
    "epochs": ("n_epochs", TORCH_METHODS - {"aekmeans"}),
    "pretrain_epochs": ("pretrain_epochs", DEEP_METHODS),
    "batch_size": ("batch_size", TORCH_METHODS),
    "learning_rate": ("learning_rate", TORCH_METHODS),
    "alpha": ("alpha", frozenset({"cm", "aecm"})),
    "embedding_dim": ("embedding_dim", DEEP_METHODS),
    "hidden_dims": ("hidden_dims", DEEP_METHODS),
    "device": ("device", TORCH_METHODS),
    "checkpoint_dir": ("checkpoint_dir", TORCH_METHODS),
    "checkpoint_every": ("checkpoint_every", TORCH_METHODS),
}


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars unless ``--quiet`` or when stderr is not a terminal (logs, pipes)."""
    return not args.quiet and sys.stderr.isatty()


def _option_name(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def build_estimator(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """The estimator of ``args.method`` with the options given; a usage error for options
    that do not apply to the method."""
    from aecm import estimators

    method = args.method
    params: dict = {"random_state": args.seed}
    auto = args.n_clusters == "auto"
    if auto and method not in AUTO_METHODS:
        names = ", ".join(sorted(AUTO_METHODS))
        parser.error(
            f"--n-clusters auto does not apply to --method {method}; the methods that find the "
            f"number of clusters are: {names} (or try aecm select-k)"
        )
    for dest, param in AUTO_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if not auto:
            parser.error(f"{_option_name(dest)} applies only with --n-clusters auto")
        params[param] = value
    for dest, (param, methods) in OPTION_METHODS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if method not in methods:
            names = ", ".join(sorted(methods))
            parser.error(f"{_option_name(dest)} does not apply to --method {method} ({names})")
        params[param] = value
    if args.checkpoint_every is not None and args.checkpoint_dir is None:
        parser.error("--checkpoint-every needs --checkpoint-dir")
    if args.n_init is not None:
        params["n_init"] = args.n_init
    if method in TORCH_METHODS:
        params["verbose"] = show_progress(args)
        params.setdefault("device", "auto")
    if method == "aecm" and "embedding_dim" not in params:  # AE-CM needs p >= K
        largest = params.get("max_clusters", 10) if auto else args.n_clusters
        params["embedding_dim"] = max(10, largest)
    cls = getattr(estimators, METHODS[method])
    size = "n_components" if method == "gmm" else "n_clusters"
    estimator = cls(**{size: args.n_clusters})
    extra = dict(_parse_param(text, parser) for text in args.param or ())
    unknown = sorted(set(extra) - set(estimator.get_params(deep=False)))
    if unknown:
        known = ", ".join(sorted(estimator.get_params(deep=False)))
        parser.error(f"--param {unknown[0]!r} is not a parameter of {cls.__name__} ({known})")
    return estimator.set_params(**{**params, **extra})


def _parse_param(text: str, parser: argparse.ArgumentParser) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        parser.error(f"--param expects NAME=VALUE, got {text!r}")
    try:
        return name.strip(), json.loads(value)
    except json.JSONDecodeError:
        return name.strip(), value


def model_input(estimator, X):
    """float32 for the PyTorch methods (they compute in float32), float64 otherwise."""
    dtype = np.float32 if hasattr(estimator, "device") else np.float64
    return X.astype(dtype, copy=False)


def confidence(estimator, X) -> np.ndarray | None:
    """The largest soft assignment of each row, for methods with ``predict_proba``."""
    if not hasattr(estimator, "predict_proba"):
        return None
    return np.asarray(estimator.predict_proba(X)).max(axis=1)


def final_loss(estimator, X) -> dict[str, float]:
    """The final loss terms shown in the report (names and values depend on the method)."""
    if hasattr(estimator, "loss_terms"):
        return {k: float(v) for k, v in estimator.loss_terms(X).items()}
    if hasattr(estimator, "autoencoder_"):
        from aecm.report.figures import is_series

        terms = {"loss (all data)": float(estimator.loss_)}
        for phase, history in (estimator.history_ or {}).items():
            for term, values in history.items():
                if term != "seconds" and is_series(values):
                    terms[f"{phase}: {term} (last epoch)"] = float(values[-1])
        return terms
    if hasattr(estimator, "inertia_"):
        return {"inertia": float(estimator.inertia_)}
    return {
        "mean log-likelihood": float(estimator.lower_bound_),
        "shared variance": float(estimator.covariance_),
    }


def training_history(estimator) -> dict:
    """``history_`` as plain JSON (a dict of lists, or of dicts of lists per phase)."""
    return json.loads(json.dumps(getattr(estimator, "history_", {}) or {}))


def write_labels_csv(
    path: Path,
    clusters: np.ndarray,
    confidence: np.ndarray | None,
    ids: np.ndarray | None = None,
    id_name: str | None = None,
) -> None:
    """``row,[id],cluster,confidence`` per row (confidence empty where undefined), atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", *([id_name] if id_name else []), "cluster", "confidence"])
    for i, cluster in enumerate(clusters.tolist()):
        cells = [i]
        if id_name:
            cells.append(ids[i])
        cells += [cluster, "" if confidence is None else f"{confidence[i]:.6f}"]
        writer.writerow(cells)
    atomic_write(path, buffer.getvalue())
