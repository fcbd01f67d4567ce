"""AE-CM's defaults beside its earlier defaults, one-change variants and the baselines.

For each data set and seed: one autoencoder with aecm's default architecture (an embedding of
``max(10, K)`` dimensions: AE-CM needs ``p ≥ K``) pretrained
``--pretrain-epochs`` (``AEKMeans``, 20 k-means restarts: the AE+KM row), then from a copy of
it each method of ``METHODS``: AE-CM with ``--cm-epochs`` on the frozen embedding and
``--epochs`` joint epochs, the baselines with ``--epochs`` clustering epochs, all with their
defaults otherwise. Data: scikit-learn's bundled sets (``digits``; ``wine``, ``breast_cancer``
and ``iris`` scaled to [0, 1]) or a shared benchmark set. Records go to ``--out``/runs.jsonl
(finished ones are skipped; a seed resumed later pretrains its autoencoder again and stops if
that one differs from the stored AE+KM row's); ``--report`` prints the tables. Usage (one
core)::

    OMP_NUM_THREADS=1 python benchmarks/aecm_defaults.py --datasets digits --seeds 5
    python benchmarks/aecm_defaults.py --report --update-docs docs/results.md
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
from _docs import (
    check_same_autoencoder,
    measuring,
    publish,
    run_context,
    schedule_parser,
    stored,
)
from sklearn import datasets as bundled
from sklearn.preprocessing import minmax_scale

import aecm
from aecm import AECM, DCN, DEC, DKM, IDEC, AEKMeans
from aecm.estimators import aecm as aecm_module

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))
OUT = Path(__file__).resolve().parents[1] / "docs/bench/aecm-defaults"
DOCS_BLOCK = ("aecm_defaults tables", "aecm_defaults.py")

#: The defaults AE-CM had before: the authors' PyTorch example's normalised loss and weights.
PREVIOUS = {"loss": "normalized", "alpha": 1.1, "beta": 100.0, "lbd": 0.1}
PREVIOUS.update(rescale_embedding=False, learning_rate=1e-3, bias=False)


def _beta_ratio(ratio: float):
    return lambda: mock.patch.object(aecm_module, "BETA_RATIO", ratio)


def _aecm(params=None, patch=contextlib.nullcontext):
    def make(k, ae, seed, args):
        model = AECM(
            k,
            pretrained=ae,
            embedding_dim=ae.embedding_dim,
            cm_epochs=args.cm_epochs,
            n_epochs=args.epochs,
            random_state=seed,
            **(params or {}),
        )
        return model, patch

    return make


def _baseline(cls):
    def make(k, ae, seed, args):
        model = cls(
            k,
            pretrained=ae,
            embedding_dim=ae.embedding_dim,
            n_epochs=args.epochs,
            random_state=seed,
        )
        return model, contextlib.nullcontext

    return make


#: ``BETA_RATIO`` of the rows measured beside the defaults before they changed to 0.1.
EARLIER_RATIO = 0.3

#: name → (factory(k, pretrained, seed, args) → (estimator, patch), what it is)
METHODS = {
    "AE-CM": (_aecm(), "AE-CM, aecm's defaults"),
    "AE-CM β 0.3": (
        _aecm(patch=_beta_ratio(EARLIER_RATIO)),
        "defaults, β ratio 0.3 instead of 0.1",
    ),
    "AE-CM previous": (
        _aecm(PREVIOUS),
        "normalised loss, α 1.1, β 100, λ 0.1, no rescaling, step 1e-3, no biases "
        "(the earlier defaults)",
    ),
    "AE-CM no bias": (
        _aecm({"bias": False}, _beta_ratio(EARLIER_RATIO)),
        "β ratio 0.3, a CM without biases",
    ),
    "AE-CM flat prior": (
        _aecm({"bias": False, "alpha": 1.0}, _beta_ratio(EARLIER_RATIO)),
        "β ratio 0.3, no biases, α 1 instead of 1 + 0.3 n_B / K",
    ),
    "AE-CM step 1e-3": (
        _aecm({"bias": False, "learning_rate": 1e-3}, _beta_ratio(EARLIER_RATIO)),
        "β ratio 0.3, no biases, step 1e-3 instead of 3e-4",
    ),
    "AE-CM β 1": (_aecm(patch=_beta_ratio(1.0)), "defaults, β ratio 1 instead of 0.1"),
    "AE-CM unscaled": (_aecm({"rescale_embedding": False}), "defaults, embedding not rescaled"),
    "AE-CM pinv": (_aecm({"cm_init": "pinv"}), "defaults, the paper's pseudo-inverse start"),
    "AE-CM paper loss": (_aecm({"loss": "paper"}), "defaults, absolute orthonormality penalty"),
    "DEC": (_baseline(DEC), "DEC, aecm's defaults"),
    "IDEC": (_baseline(IDEC), "IDEC, aecm's defaults"),
    "DCN": (_baseline(DCN), "DCN, aecm's defaults"),
    "DKM": (_baseline(DKM), "DKM, aecm's defaults"),
}


def load(name: str):
    """A bundled scikit-learn set or a shared benchmark set, as float32 features and labels."""
    if name == "digits":
        X, y = bundled.load_digits(return_X_y=True)
        return (X / 16).astype(np.float32), y
    if name in ("wine", "breast_cancer", "iris"):
        X, y = getattr(bundled, f"load_{name}")(return_X_y=True)
        return minmax_scale(X).astype(np.float32), y
    X, y = aecm.datasets.load(name, DATA)
    if hasattr(X, "toarray"):  # 20 Newsgroups' tf-idf is stored sparse; 150 MB dense
        X = X.toarray()
    return np.asarray(X, dtype=np.float32), y


def run(name: str, seed: int, methods: list[str], args) -> None:
    store = args.out / "runs.jsonl"
    schedule = [args.pretrain_epochs, args.cm_epochs, args.epochs]
    key = {"dataset": name, "seed": seed, "schedule": schedule}
    mine = [r for r in stored(store) if all(r[k] == v for k, v in key.items())]
    done = {r["method"] for r in mine}
    todo = [m for m in ["AE+KM", *methods] if m not in done]
    if not todo:
        return
    X, y = load(name)
    k = len(np.unique(y))
    context = run_context()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        ae = AEKMeans(
            k,
            embedding_dim=max(10, k),  # AE-CM's K centroids are orthonormal: p >= K
            pretrain_epochs=args.pretrain_epochs,
            kmeans_n_init=20,
            random_state=seed,
        )
        ae.fit(X)
        pretraining = time.perf_counter() - started
        stored_rows = [r for r in mine if r["method"] == "AE+KM"]
        if stored_rows:
            check_same_autoencoder(stored_rows[0], aecm.metrics.evaluate(y, ae.labels_), name, seed)
        for method in todo:
            started = time.perf_counter()
            if method == "AE+KM":
                labels, seconds = ae.labels_, pretraining
            else:
                model, patch = METHODS[method][0](k, copy.deepcopy(ae), seed, args)
                with patch():
                    labels = model.fit(X).labels_
                seconds = time.perf_counter() - started
            scores = aecm.metrics.evaluate(y, labels)
            record = {
                **key,
                "method": method,
                **{m: round(float(v), 4) for m, v in scores.items()},
                "empty_clusters": int(k - len(np.unique(labels))),
                "seconds": round(seconds, 1),
                **context,
            }
            with store.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(f"{name} seed {seed} {method}: ACC {record['acc']:.3f}", flush=True)


def report(rows: list[dict]) -> str:
    """One table per data set and schedule over the seeds that every method measured there
    finished, so that all rows compare the same autoencoders (a seed still being measured,
    some of its methods stored, is left out until the last one is)."""
    lines = []
    for name, schedule in sorted({(r["dataset"], tuple(r["schedule"])) for r in rows}):
        mine = [r for r in rows if r["dataset"] == name and tuple(r["schedule"]) == schedule]
        by_method = {}
        for r in mine:
            by_method.setdefault(r["method"], set()).add(r["seed"])
        seeds = sorted(set.intersection(*by_method.values()))
        mine = [r for r in mine if r["seed"] in seeds]
        if not mine:
            continue
        dates = sorted({r["date"] for r in mine})
        lines += [
            f"**{name}**, {' + '.join(map(str, schedule))} epochs, seeds "
            f"{', '.join(map(str, seeds))} (aecm {mine[0]['aecm_version']}, torch "
            f"{mine[0]['torch']}, {' to '.join(dict.fromkeys([dates[0], dates[-1]]))}), %:",
            "",
            "| method | ACC | NMI | ARI | ACC per seed | empty clusters | s / fit |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for method in ["AE+KM", *METHODS]:
            got = {r["seed"]: r for r in mine if r["method"] == method}
            if not got:  # not measured on this data set
                continue
            runs = [got[s] for s in seeds]

            def cell(metric, runs=runs):
                values = 100 * np.array([r[metric] for r in runs])
                return f"{values.mean():.1f} ± {values.std():.1f}"

            what = METHODS[method][1] if method in METHODS else "k-means, pretrained embedding"
            lines.append(
                f"| {method}: {what} | {cell('acc')} | {cell('nmi')} | {cell('ari')} | "
                + " / ".join(f"{100 * r['acc']:.1f}" for r in runs)
                + f" | {sum(r['empty_clusters'] for r in runs)} | "
                f"{np.median([r['seconds'] for r in runs]):.0f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = schedule_parser(__doc__, OUT, pretrain_epochs=50, cm_epochs=50, epochs=50)
    parser.add_argument("--datasets", nargs="+", default=["digits"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args()
    if measuring(args):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for name in args.datasets:
                run(name, seed, args.methods, args)
    publish(args, report(stored(args.out / "runs.jsonl")), DOCS_BLOCK)


if __name__ == "__main__":
    main()
