"""AE-CM ablation: ``AECM.from_paper`` with one of its differences from other choices switched.

For each data set and seed: one autoencoder pretrained at batch 256 (``AEKMeans``, 20 k-means
restarts: the AE+KM row), then from a copy of it ``AECM.from_paper`` as it is (``paper``) and
with one thing changed (each row of ``VARIANTS``). Records go to ``--out``/runs.jsonl (finished
ones are skipped); ``--report`` prints the table. Usage (short schedule; one core)::

    OMP_NUM_THREADS=1 python benchmarks/aecm_ablation.py --datasets pendigits --seeds 2
    python benchmarks/aecm_ablation.py --report --update-docs docs/results.md
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
import torch
from _docs import measuring, publish, schedule_parser, stored

import aecm
from aecm import AECM, AEKMeans
from aecm.estimators import aecm as aecm_module

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))
OUT = Path(__file__).resolve().parents[1] / "docs/bench/aecm-ablation"


def _no_weight_decay():
    """AdamW without its default weight decay (0.01) in the joint phase."""
    original = aecm_module.make_optimizer

    def make(kind, params, **options):
        if kind is torch.optim.AdamW:
            options["weight_decay"] = 0.0
        return original(kind, params, **options)

    return mock.patch.object(aecm_module, "make_optimizer", make)


#: name → (parameters changed, context that patches the code, what it tests)
VARIANTS = {
    "paper": ({}, contextlib.nullcontext, "AECM.from_paper as it is"),
    "posterior": ({"cm_init": "posterior"}, contextlib.nullcontext, "CM start: posteriors"),
    "no-cm-phase": ({"cm_epochs": 0}, contextlib.nullcontext, "CM phase skipped"),
    "unit-centroids": (
        {"rescale_embedding": True},
        contextlib.nullcontext,
        "embedding rescaled to unit-norm centroids",
    ),
    "no-averaging": ({"averaging": False}, contextlib.nullcontext, "no averaging epoch"),
    "squared-orth": (
        {"loss": "pytorch"},
        contextlib.nullcontext,
        "orthonormality Σ(UUᵀ−I)² (reference)",
    ),
    "no-weight-decay": ({}, _no_weight_decay, "AdamW weight decay 0 (reference: 0.01)"),
    "normalized": (
        {"loss": "normalized", "lbd": 0.1, "beta": 100.0, "alpha": 1.1},
        contextlib.nullcontext,
        "normalised loss and weights (aecm's earlier defaults)",
    ),
}


def run(name: str, seed: int, variants: list[str], args) -> None:
    store = args.out / "runs.jsonl"
    schedule = [args.pretrain_epochs, args.cm_epochs, args.epochs]
    key = {"dataset": name, "seed": seed, "schedule": schedule}
    done = {r["variant"] for r in stored(store) if all(r[k] == v for k, v in key.items())}
    todo = [v for v in ["AE+KM", *variants] if v not in done]
    if not todo:
        return
    X, y = aecm.datasets.load(name, DATA)
    k = len(np.unique(y))
    dim = aecm.paper.tuned(aecm.paper.AECM_TUNED, name)["embedding_dim"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ae = AEKMeans(
            k,
            embedding_dim=dim,
            pretrain_epochs=args.pretrain_epochs,
            kmeans_n_init=20,
            random_state=seed,
        ).fit(X)
        for variant in todo:
            started = time.perf_counter()
            if variant == "AE+KM":
                labels = ae.labels_
            else:
                params, patch, _ = VARIANTS[variant]
                base = {"cm_epochs": args.cm_epochs, "n_epochs": args.epochs}
                model = AECM.from_paper(
                    name, pretrained=copy.deepcopy(ae), random_state=seed, **{**base, **params}
                )
                with patch():
                    labels = model.fit(X).labels_
            scores = aecm.metrics.evaluate(y, labels)
            record = {
                **key,
                "variant": variant,
                **{m: round(float(v), 4) for m, v in scores.items()},
                "seconds": round(time.perf_counter() - started, 1),
                "empty_clusters": int(k - len(np.unique(labels))),
            }
            with store.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(f"{name} seed {seed} {variant}: ACC {record['acc']:.3f}", flush=True)


#: The block of the docs that ``--update-docs`` writes (see ``_docs.py``).
DOCS_BLOCK = ("aecm_ablation tables", "aecm_ablation.py")


def report(rows: list[dict]) -> str:
    """One table per data set and schedule: ACC per seed, mean ACC and NMI of each variant
    that has every seed."""
    lines = []
    for name, schedule in sorted({(r["dataset"], tuple(r["schedule"])) for r in rows}):
        mine = [r for r in rows if r["dataset"] == name and tuple(r["schedule"]) == schedule]
        seeds = sorted({r["seed"] for r in mine})
        lines += [
            f"**{name}**, {' + '.join(map(str, schedule))} epochs, seeds "
            f"{', '.join(map(str, seeds))}, ACC / NMI %:",
            "",
            "| variant | changed | ACC per seed | ACC mean | NMI mean |",
            "| --- | --- | --- | --- | --- |",
        ]
        for variant in ["AE+KM", *VARIANTS]:
            got = {r["seed"]: r for r in mine if r["variant"] == variant}
            if set(got) != set(seeds):
                continue
            what = VARIANTS[variant][2] if variant in VARIANTS else "k-means, pretrained embedding"
            acc = [100 * got[s]["acc"] for s in seeds]
            nmi = [100 * got[s]["nmi"] for s in seeds]
            lines.append(
                f"| {variant} | {what} | {' / '.join(f'{a:.1f}' for a in acc)} | "
                f"{np.mean(acc):.1f} | {np.mean(nmi):.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = schedule_parser(__doc__, OUT, pretrain_epochs=10, cm_epochs=10, epochs=20)
    parser.add_argument("--datasets", nargs="+", default=["pendigits"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    if measuring(args):
        for seed in range(args.seeds):
            for name in args.datasets:
                run(name, seed, args.variants, args)
    publish(args, report(stored(args.out / "runs.jsonl")), DOCS_BLOCK)


if __name__ == "__main__":
    main()
