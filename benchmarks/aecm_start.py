"""AE-CM's CM start (``cm_init``) side by side, from the same pretrained autoencoder per seed.

For each data set and seed: an autoencoder pretrained ``--pretrain-epochs`` (``AEKMeans``, whose
k-means gives the AE+KM row), then ``AECM.from_paper`` (``--config paper``, the authors' tuned
values) or ``AECM`` with aecm's defaults (``--config defaults``, embedding 10) from a copy of
it, once per ``cm_init``, with ``--cm-epochs`` and ``--epochs``. Usage::

    OMP_NUM_THREADS=1 python benchmarks/aecm_start.py --datasets pendigits --seeds 3
    OMP_NUM_THREADS=1 python benchmarks/aecm_start.py --datasets usps --seeds 2

Prints one line per fit, then ACC % per seed and the mean. Reads the data with
``aecm.datasets`` from ``$AECM_DATA`` (else ``../shared/datasets``).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

import aecm
from aecm import AECM, AEKMeans
from aecm.metrics import evaluate

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["pendigits"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--config", choices=["paper", "defaults"], default="paper")
    parser.add_argument("--pretrain-epochs", type=int, default=10)
    parser.add_argument("--cm-epochs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    for name in args.datasets:
        X, y = aecm.datasets.load(name, DATA)
        k = len(np.unique(y))
        paper = args.config == "paper"
        dim = aecm.paper.AECM_TUNED[name]["embedding_dim"] if paper else max(10, k)
        acc: dict[str, list[float]] = {"AE+KM": [], "posterior": [], "pinv": []}
        for seed in range(args.seeds):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ae = AEKMeans(
                    k, embedding_dim=dim, pretrain_epochs=args.pretrain_epochs, random_state=seed
                ).fit(X)
            acc["AE+KM"].append(evaluate(y, ae.labels_)["acc"])
            for cm_init in ("posterior", "pinv"):
                params = {
                    "cm_init": cm_init,
                    "pretrained": ae,
                    "cm_epochs": args.cm_epochs,
                    "n_epochs": args.epochs,
                    "random_state": seed,
                }
                started = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = AECM.from_paper(name, **params) if paper else AECM(k, **params)
                    model.set_params(embedding_dim=dim).fit(X)
                acc[cm_init].append(evaluate(y, model.labels_)["acc"])
                print(
                    f"{name} seed {seed} cm_init={cm_init}: ACC {acc[cm_init][-1]:.3f} "
                    f"(AE+KM {acc['AE+KM'][-1]:.3f}; {time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
        print(f"\n{name}, {args.config}, {args.pretrain_epochs} + {args.cm_epochs} + {args.epochs}")
        print("| start | ACC % per seed | mean |\n| --- | --- | --- |")
        for row, values in acc.items():
            cells = " / ".join(f"{100 * v:.1f}" for v in values)
            print(f"| {row} | {cells} | {100 * np.mean(values):.1f} |")


if __name__ == "__main__":
    main()
