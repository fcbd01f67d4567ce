"""The deep methods side by side on one pretrained autoencoder per seed: quality and seconds.

For each seed: one autoencoder is pretrained (shared by all methods, as in the paper's protocol),
then AE+KM, AE-CM, DEC, IDEC, DCN and DKM start from a copy of it. Prints ACC / NMI / ARI (mean ±
std over seeds, %), the k-means metrics on each method's final embedding ("k-NMI"), seconds per
epoch of pretraining and of each method's clustering phase, and seconds per fit. Usage::

    python benchmarks/deep.py --dataset usps --seeds 2 --pretrain-epochs 20 --epochs 20

Reads the data with ``aecm.datasets`` from ``$AECM_DATA``, else ``../shared/datasets``.
Timings are wall-clock seconds on whatever else the machine is doing: compare rows of one run
only.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.cluster import KMeans

import aecm
from aecm import AECM, DCN, DEC, DKM, IDEC, AEKMeans
from aecm.metrics import evaluate

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))


def pm(values, scale=1.0, digits=1):
    values = np.asarray(values, dtype=float) * scale
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="usps")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=20, help="clustering/joint epochs")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    X, y = aecm.datasets.load(args.dataset, DATA)
    k = len(np.unique(y))
    tuned = aecm.paper.AECM_TUNED[args.dataset]
    print(
        f"aecm {aecm.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"scikit-learn {sklearn.__version__}, Python {platform.python_version()}, device cpu; "
        f"{args.dataset} n={X.shape[0]} d={X.shape[1]} K={k}; AE d-500-500-2000-10, "
        f"pretrain {args.pretrain_epochs} epochs (Adam 1e-3), {args.epochs} clustering epochs, "
        f"batch {args.batch_size}, {args.seeds} seeds",
        flush=True,
    )
    common = {"n_epochs": args.epochs, "batch_size": args.batch_size, "device": "cpu"}
    methods = {
        "AE-CM (from_paper: {embedding_dim}-dim embedding, beta {beta:g}, alpha {alpha:g}, "
        "batch {batch_size})".format(**tuned): lambda s, ae: AECM.from_paper(
            args.dataset,
            pretrained=ae if ae.embedding_dim == tuned["embedding_dim"] else None,
            pretrain_epochs=args.pretrain_epochs,
            cm_epochs=args.epochs,
            n_epochs=args.epochs,
            random_state=s,
            device="cpu",
        ),
        "DEC (SGD 0.01, momentum 0.9)": lambda s, ae: DEC(
            k, pretrained=ae, random_state=s, **common
        ),
        "IDEC (SGD 0.01, gamma 0.1)": lambda s, ae: IDEC(
            k, pretrained=ae, random_state=s, **common
        ),
        "DCN (Adam 1e-4, lambda 1)": lambda s, ae: DCN(k, pretrained=ae, random_state=s, **common),
        "DKM (Adam 1e-3, lambda 1)": lambda s, ae: DKM(k, pretrained=ae, random_state=s, **common),
    }
    rows: dict[str, dict[str, list]] = {}

    def record(name, model, seconds, epoch_seconds):
        scores = evaluate(y, model.labels_)
        z = model.transform(X)
        k_labels = KMeans(k, n_init=10, random_state=0).fit_predict(z)
        row = rows.setdefault(name, {"acc": [], "nmi": [], "ari": [], "knmi": [], "s": [], "e": []})
        row["acc"].append(scores["acc"])
        row["nmi"].append(scores["nmi"])
        row["ari"].append(scores["ari"])
        row["knmi"].append(evaluate(y, k_labels)["nmi"])
        row["s"].append(seconds)
        row["e"].append(epoch_seconds)

    for seed in range(args.seeds):
        started = time.perf_counter()
        ae = AEKMeans(k, pretrain_epochs=args.pretrain_epochs, random_state=seed, **common).fit(X)
        pretrain = ae.history_["pretrain"]["seconds"]
        record(
            "AE+KM (pretraining + k-means)", ae, time.perf_counter() - started, np.median(pretrain)
        )
        for name, make in methods.items():
            started = time.perf_counter()
            model = make(seed, ae).fit(X)
            phase = "joint" if "joint" in model.history_ else "clustering"
            record(
                name,
                model,
                time.perf_counter() - started,
                np.median(model.history_[phase]["seconds"]),
            )
        print(f"seed {seed} done", flush=True)
    print()
    print("| method | ACC % | NMI % | ARI % | k-NMI % | s / epoch | s / fit |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        print(
            f"| {name} | {pm(r['acc'], 100)} | {pm(r['nmi'], 100)} | {pm(r['ari'], 100)} | "
            f"{pm(r['knmi'], 100)} | {pm(r['e'], digits=3)} | {pm(r['s'], digits=1)} |"
        )
    print(
        "\ns / epoch: pretraining for AE+KM, the clustering (joint for AE-CM) phase otherwise; "
        "s / fit of the methods excludes the shared pretraining (AE-CM pretrains its own "
        "autoencoder when the paper's embedding size differs from 10, and that is included)."
    )


if __name__ == "__main__":
    main()
