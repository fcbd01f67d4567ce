"""AE-CM's defaults on a pretrained embedding multiplied by 0.1, 1 and 10, with and without
``rescale_embedding``.

For each seed: one autoencoder pretrained ``--pretrain-epochs`` (``AEKMeans``, 20 k-means
restarts: AE+KM), then for each factor a copy whose embedding is that many times as large (the
decoder's first layer divides it back: the same reconstructions) and ``AECM`` with aecm's
defaults on it, after the CM phase (``n_epochs=0``) and after the joint phase. Data: scikit-learn's
digits (``digits``, bundled) or a shared benchmark set. Records go to ``--out``/runs.jsonl
(finished ones are skipped). Usage::

    OMP_NUM_THREADS=1 python benchmarks/aecm_scale.py --dataset digits --seeds 3
    python benchmarks/aecm_scale.py --report --update-docs docs/results.md
"""

from __future__ import annotations

import copy
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _docs import measuring, publish, schedule_parser, stored
from sklearn.datasets import load_digits

import aecm
from aecm import AECM, AEKMeans

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))
OUT = Path(__file__).resolve().parents[1] / "docs/bench/aecm-scale"
FACTORS = (0.1, 1.0, 10.0)
DOCS_BLOCK = ("aecm_scale tables", "aecm_scale.py")


def _load(name: str):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return (X / 16).astype(np.float32), y
    return aecm.datasets.load(name, DATA)


def run(name: str, seed: int, args) -> None:
    store = args.out / "runs.jsonl"
    key = {
        "dataset": name,
        "seed": seed,
        "schedule": [args.pretrain_epochs, args.cm_epochs, args.epochs],
    }
    done = {
        (r["factor"], r["rescale"]) for r in stored(store) if all(r[k] == v for k, v in key.items())
    }
    todo = [(f, r) for f in FACTORS for r in (True, False) if (f, r) not in done]
    if not todo:
        return
    X, y = _load(name)
    k = len(np.unique(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ae = AEKMeans(
            k, pretrain_epochs=args.pretrain_epochs, kmeans_n_init=20, random_state=seed
        ).fit(X)
        kmeans = aecm.metrics.evaluate(y, ae.labels_)
        for factor, rescale in todo:
            scaled = copy.deepcopy(ae)
            scaled.autoencoder_.rescale_embedding(1.0 / factor)
            record = {
                **key,
                "factor": factor,
                "rescale": rescale,
                "ae_km": kmeans["acc"],
                "date": time.strftime("%Y-%m-%d"),
                "aecm_version": aecm.__version__,
                "torch": torch.__version__,
            }
            for phase, n_epochs in (("cm", 0), ("aecm", args.epochs)):
                model = AECM(
                    k,
                    pretrained=scaled,
                    cm_epochs=args.cm_epochs,
                    n_epochs=n_epochs,
                    rescale_embedding=rescale,
                    random_state=seed,
                ).fit(X)
                scores = aecm.metrics.evaluate(y, model.labels_)
                record[phase] = {m: round(float(v), 4) for m, v in scores.items()}
            with store.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(
                f"{name} seed {seed} x{factor} rescale={rescale}: CM phase "
                f"{record['cm']['acc']:.3f}, final {record['aecm']['acc']:.3f} "
                f"(AE+KM {kmeans['acc']:.3f})",
                flush=True,
            )


def report(rows: list[dict]) -> str:
    lines = []
    for name, schedule in sorted({(r["dataset"], tuple(r["schedule"])) for r in rows}):
        mine = [r for r in rows if r["dataset"] == name and tuple(r["schedule"]) == schedule]
        seeds = sorted({r["seed"] for r in mine})
        ae_km = {r["seed"]: r["ae_km"] for r in mine}
        lines += [
            f"**{name}**, {' + '.join(map(str, schedule))} epochs, seeds "
            f"{', '.join(map(str, seeds))} (AE+KM {100 * np.mean(list(ae_km.values())):.1f}), "
            f"ACC % per seed (mean), {mine[0]['date']}:",
            "",
            "| embedding × | `rescale_embedding` | after the CM phase | after the joint phase |",
            "| --- | --- | --- | --- |",
        ]
        for rescale in (True, False):
            for factor in FACTORS:
                got = {
                    r["seed"]: r for r in mine if (r["factor"], r["rescale"]) == (factor, rescale)
                }
                if set(got) != set(seeds):
                    continue
                cells = []
                for phase in ("cm", "aecm"):
                    acc = [100 * got[s][phase]["acc"] for s in seeds]
                    cells.append(f"{' / '.join(f'{a:.1f}' for a in acc)} ({np.mean(acc):.1f})")
                lines.append(f"| {factor:g} | {rescale} | {cells[0]} | {cells[1]} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = schedule_parser(__doc__, OUT, pretrain_epochs=30, cm_epochs=50, epochs=50)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    if measuring(args):
        for seed in range(args.seeds):
            run(args.dataset, seed, args)
    publish(args, report(stored(args.out / "runs.jsonl")), DOCS_BLOCK)


if __name__ == "__main__":
    main()
