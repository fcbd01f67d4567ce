"""The CM against k-means and Gaussian mixtures, side by side, in one run.

For each data set: ACC / NMI / ARI (mean ± std over seeds, in %) and seconds per fit of

* the CM with aecm's defaults (alpha=1, batch 256, k-means init, tol 1e-3),
* the CM as the authors ran it (their tuned alpha and batch size, random init, 150 epochs),
* scikit-learn's KMeans(n_init=10) and GaussianMixture(covariance_type="spherical"),
* aecm's IsotropicGMM (EM for the mixture the CM's loss is equivalent to),

plus the CM's seconds per epoch and number of epochs. Usage::

    python benchmarks/cm_vs_gmm.py --datasets pendigits usps --seeds 5 --init-study
    python benchmarks/cm_vs_gmm.py --datasets mnist --seeds 3

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
import scipy.sparse as sp
import sklearn
import torch
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

import aecm
from aecm import ClusteringModule, IsotropicGMM
from aecm.metrics import evaluate

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))

N_CLUSTERS = {"pendigits": 10, "usps": 10, "mnist": 10, "fashion_mnist": 10, "20newsgroups": 20}


def methods(name: str, k: int, init_study: bool):
    """name → (settings, factory(seed))."""
    tuned = "{alpha:g}/{batch_size}".format(**aecm.paper.CM_TUNED[name])
    study = {
        f"CM (paper's alpha/batch, init={init})": (
            f"from_paper: {tuned}, init={init}, ≤150 epochs, tol=1e-3",
            lambda s, init=init: ClusteringModule.from_paper(name, random_state=s, init=init),
        )
        for init in ("kmeans++", "kmeans")
    }
    return {
        "CM (aecm defaults)": (
            "alpha=1, batch 256, init=kmeans, ≤150 epochs, tol=1e-3",
            lambda s: ClusteringModule(k, random_state=s),
        ),
        "CM (paper's tuned alpha/batch)": (
            f"from_paper: {tuned}, init=random, ≤150 epochs, tol=1e-3",
            lambda s: ClusteringModule.from_paper(name, random_state=s),
        ),
        "KMeans (scikit-learn)": ("n_init=10", lambda s: KMeans(k, n_init=10, random_state=s)),
        "GaussianMixture spherical (scikit-learn)": (
            "n_init=1, init kmeans",
            lambda s: GaussianMixture(k, covariance_type="spherical", random_state=s),
        ),
        "IsotropicGMM (aecm, EM)": (
            "n_init=1, init kmeans",
            lambda s: IsotropicGMM(k, random_state=s),
        ),
        **(study if init_study else {}),
    }


def pm(values, scale=1.0, digits=1):
    values = np.asarray(values, dtype=float) * scale
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def run(name: str, seeds: int, skip: set[str], init_study: bool) -> str:
    X, y = aecm.datasets.load(name, DATA)
    k = N_CLUSTERS[name]
    lines = [
        f"### {name} (n={X.shape[0]}, d={X.shape[1]}, K={k}, {seeds} seeds)",
        "",
        "| method | settings | ACC % | NMI % | ARI % | s / fit | s / epoch | epochs |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method, (settings, make) in methods(name, k, init_study).items():
        if any(word.lower() in method.lower() for word in skip):
            continue
        scores, seconds, per_epoch, epochs = [], [], [], []
        for seed in range(seeds):
            model = make(seed)
            started = time.perf_counter()
            if sp.issparse(X) and isinstance(model, GaussianMixture):
                model.fit(X.toarray())
            else:
                model.fit(X)
            seconds.append(time.perf_counter() - started)
            scores.append(
                evaluate(y, model.labels_ if hasattr(model, "labels_") else model.predict(X))
            )
            if isinstance(model, ClusteringModule):
                per_epoch.append(float(np.median(model.history_["seconds"])))
                epochs.append(model.n_iter_)
        row = [
            method,
            settings,
            pm([s["acc"] for s in scores], 100),
            pm([s["nmi"] for s in scores], 100),
            pm([s["ari"] for s in scores], 100),
            pm(seconds, digits=2),
            pm(per_epoch, digits=3) if per_epoch else "",
            f"{np.mean(epochs):.0f}" if epochs else "",
        ]
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["pendigits", "usps", "mnist"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--skip", nargs="*", default=[], help="skip methods whose name contains")
    parser.add_argument("--out", type=Path, help="also write the Markdown tables here")
    parser.add_argument(
        "--init-study",
        action="store_true",
        help="add the CM with the paper's alpha/batch and the other initialisations",
    )
    args = parser.parse_args()
    header = (
        f"aecm {aecm.__version__}, torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, device cpu"
    )
    print(header, flush=True)
    tables = [run(name, args.seeds, set(args.skip), args.init_study) for name in args.datasets]
    text = header + "\n\n" + "\n\n".join(tables) + "\n"
    print("\n" + text)
    if args.out:
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
