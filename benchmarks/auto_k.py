"""Choosing the number of clusters: the CM's n_clusters="auto", aecm.select_k and scikit-learn's
Dirichlet-process mixture, side by side.

Part ``synthetic``: isotropic unit-variance Gaussian mixtures with a known ``K`` (3, 5, 10, 20),
the closest two centres ``sep`` standard deviations apart, shifted into the positive orthant like
the paper's data sets. Part ``real``: the benchmark data sets (10 classes each). For each data
set, the number of clusters found by

* ``ClusteringModule(n_clusters="auto")`` with aecm's defaults (``max_clusters`` =
  ``min(50, n // 10)``, ``min_cluster_weight=0.01``, ``prune_strength=4``);
* with ``--aecm`` (real data only), ``AECM(n_clusters="auto")``: an autoencoder
  d-500-500-2000-``--aecm-dim`` pretrained ``--aecm-pretrain`` epochs, the CM's pruning stage on
  its embedding from ``max_clusters = --aecm-dim`` clusters (at most ``--aecm-cm-epochs``
  epochs), then ``--aecm-cm-epochs`` CM epochs and ``--aecm-epochs`` joint epochs with the K
  found (AE-CM's other defaults);
* ``aecm.select_k`` (lowest BIC) with the CM and with the isotropic GMM (EM);
* scikit-learn's ``BayesianGaussianMixture(weight_concentration_prior_type="dirichlet_process",
  covariance_type="spherical")`` with as many components as the CM's ``max_clusters``,
  counting the components whose weight exceeds the CM's ``min_cluster_weight``;

with the wall time of each (for select_k: all its fits). Usage::

    python benchmarks/auto_k.py --part synthetic
    python benchmarks/auto_k.py --part real --datasets pendigits usps
    python benchmarks/auto_k.py --part real --datasets pendigits --aecm --no-cm --select-k

Reads the data with ``aecm.datasets`` from ``$AECM_DATA``, else ``../shared/datasets``.
Timings are wall-clock seconds on whatever else the machine is doing: compare rows of one run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import BayesianGaussianMixture

import aecm
from aecm import AECM, ClusteringModule

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))
THRESHOLD = ClusteringModule().min_cluster_weight


def isotropic_mixture(k: int, n: int, sep: float, seed: int, d: int = 10):
    """``n`` rows of ``k`` unit-variance Gaussians, closest centres ``sep`` apart, shifted ≥ 0."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d))
    distances = np.sqrt(((centers[:, None] - centers[None]) ** 2).sum(axis=-1))
    centers *= sep / distances[np.triu_indices(k, 1)].min()
    y = rng.integers(k, size=n)
    X = centers[y] + rng.normal(size=(n, d))
    return (X - X.min(axis=0)).astype(np.float32), y


def timed(fit):
    started = time.perf_counter()
    out = fit()
    return out, time.perf_counter() - started


def cm_auto(X, seed):
    return ClusteringModule("auto", random_state=seed).fit(X)


def aecm_auto(X, seed, args):
    model = AECM(
        "auto",
        embedding_dim=args.aecm_dim,
        max_clusters=args.aecm_dim,
        pretrain_epochs=args.aecm_pretrain,
        cm_epochs=args.aecm_cm_epochs,
        n_epochs=args.aecm_epochs,
        random_state=seed,
    )
    return model.fit(X)


def bgm(X, n_components, seed):
    model = BayesianGaussianMixture(
        n_components=n_components,
        weight_concentration_prior_type="dirichlet_process",
        covariance_type="spherical",
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    return model


def synthetic(args) -> str:
    lines = [
        f"### Synthetic isotropic mixtures (d=10, seed {args.seed}; select_k: K in "
        f"{args.k_min}..{args.k_max}, {args.select_k_seeds} seeds)",
        "",
        "| true K | n | sep | CM auto: K (ARI, s) | select_k cm: K (s) | select_k gmm: K (s) "
        "| BayesianGMM: K (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    exact = {"auto": 0, "cm": 0, "gmm": 0, "bgm": 0}
    cells = list(itertools.product(args.true_k, args.sizes, args.separations))
    k_range = range(args.k_min, args.k_max + 1)
    for k, n, sep in cells:
        X, y = isotropic_mixture(k, n, sep, args.seed)
        auto, t_auto = timed(lambda X=X: cm_auto(X, args.seed))
        row = [str(k), str(n), f"{sep:g}"]
        row.append(f"{auto.n_clusters_} ({adjusted_rand_score(y, auto.labels_):.2f}, {t_auto:.1f})")
        exact["auto"] += auto.n_clusters_ == k
        for method in ("cm", "gmm"):
            if method not in args.select_k:
                row.append("")
                continue
            result, seconds = timed(
                lambda X=X, m=method: aecm.select_k(
                    X, method=m, k_range=k_range, n_seeds=args.select_k_seeds, random_state=0
                )
            )
            row.append(f"{result.best_k} ({seconds:.1f})")
            exact[method] += result.best_k == k
        max_k = max(2, min(50, n // 10))
        model, seconds = timed(lambda X=X, m=max_k: bgm(X, m, args.seed))
        found = int((model.weights_ > THRESHOLD).sum())
        row.append(f"{found} ({seconds:.1f})")
        exact["bgm"] += found == k
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    counts = [f"CM auto {exact['auto']}"]
    counts += [f"select_k {m} {exact[m]}" for m in ("cm", "gmm") if m in args.select_k]
    counts.append(f"BayesianGMM {exact['bgm']}")
    lines += ["", f"Exact K in {len(cells)} cells: {', '.join(counts)}."]
    print(lines[-1], flush=True)
    return "\n".join(lines)


def real(name: str, args) -> str:
    X, y = aecm.datasets.load(name, DATA)
    n, d = X.shape
    max_k = max(2, min(50, n // 10))
    classes = len(np.unique(y))
    lines = [
        f"### {name} (n={n}, d={d}, {classes} classes; max_clusters {max_k}, {args.seeds} seeds)",
        "",
        "| method | settings | K found | NMI % | s / fit |",
        "| --- | --- | --- | --- | --- |",
    ]

    def add(method, settings, ks, nmis, seconds):
        nmi = f"{100 * np.mean(nmis):.1f} ± {100 * np.std(nmis):.1f}" if nmis else ""
        lines.append(
            f"| {method} | {settings} | {', '.join(map(str, ks))} | {nmi} | "
            f"{np.mean(seconds):.1f} |"
        )
        print(lines[-1], flush=True)

    if args.cm:
        runs = [timed(lambda s=s: cm_auto(X, s)) for s in range(args.seeds)]
        add(
            "CM auto (aecm defaults)",
            "prune_strength 4, min_cluster_weight 0.01, batch 256, ≤150+150 epochs",
            [m.n_clusters_ for m, _ in runs],
            [normalized_mutual_info_score(y, m.labels_) for m, _ in runs],
            [s for _, s in runs],
        )
    if args.aecm:
        runs = [timed(lambda s=s: aecm_auto(X, s, args)) for s in range(args.aecm_seeds)]
        pruning = [len(m.history_["prune"]["loss"]) for m, _ in runs]
        # the number the pruning stage left, then the number left after the CM and joint
        # phases (clusters they emptied below min_cluster_weight are removed at the end)
        found = [
            f"{m.n_clusters_ + len(m.history_['prune']['removed_after_training'])} → "
            f"{m.n_clusters_}"
            for m, _ in runs
        ]
        add(
            "AE-CM auto (K after pruning → at the end)",
            f"AE d-500-500-2000-{args.aecm_dim}, pretrain {args.aecm_pretrain} epochs, "
            f"max_clusters {args.aecm_dim}, pruning {', '.join(map(str, pruning))} epochs "
            f"(≤{args.aecm_cm_epochs}), CM {args.aecm_cm_epochs} + joint {args.aecm_epochs} "
            "epochs, batch 256",
            found,
            [normalized_mutual_info_score(y, m.labels_) for m, _ in runs],
            [s for _, s in runs],
        )
    k_range = range(args.k_min, args.real_k_max + 1)
    for method in args.select_k:
        result, seconds = timed(
            lambda m=method: aecm.select_k(
                X, method=m, k_range=k_range, n_seeds=args.select_k_seeds, random_state=0
            )
        )
        edge = " (edge of range)" if result.best_k == k_range[-1] else ""
        stability = result.table["stability"][list(result.table["k"]).index(result.best_k)]
        add(
            f"select_k {method} (min BIC)",
            f"K in {k_range[0]}..{k_range[-1]}, {args.select_k_seeds} seeds; "
            f"stability at K: {stability:.2f}",
            [f"{result.best_k}{edge}"],
            [],
            [seconds],
        )
        if args.plots:
            result.plot(args.plots / f"select_k_{name}_{method}.png")
    if not args.bgm:
        return "\n".join(lines)
    fits = [timed(lambda s=s: bgm(X, max_k, s)) for s in range(args.bgm_seeds)]
    add(
        "BayesianGaussianMixture (DP, spherical)",
        f"n_components {max_k}, weight > {THRESHOLD:g}",
        [int((m.weights_ > THRESHOLD).sum()) for m, _ in fits],
        [normalized_mutual_info_score(y, m.predict(X)) for m, _ in fits],
        [s for _, s in fits],
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["synthetic", "real", "both"], default="both")
    parser.add_argument("--datasets", nargs="+", default=["pendigits", "usps", "mnist"])
    parser.add_argument("--seeds", type=int, default=3, help="CM auto runs per real data set")
    parser.add_argument("--bgm-seeds", type=int, default=1)
    parser.add_argument("--no-cm", dest="cm", action="store_false", help="skip CM auto (real)")
    parser.add_argument("--aecm", action="store_true", help="add AE-CM auto (real data)")
    parser.add_argument("--aecm-seeds", type=int, default=1)
    parser.add_argument("--aecm-dim", type=int, default=20, help="embedding = max_clusters")
    parser.add_argument("--aecm-pretrain", type=int, default=20)
    parser.add_argument("--aecm-cm-epochs", type=int, default=100)
    parser.add_argument("--aecm-epochs", type=int, default=20)
    parser.add_argument("--no-bgm", dest="bgm", action="store_false", help="skip the DP mixture")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--true-k", type=int, nargs="+", default=[3, 5, 10, 20])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 6000])
    parser.add_argument("--separations", type=float, nargs="+", default=[4.0, 6.0, 8.0])
    parser.add_argument("--select-k", nargs="*", default=["cm", "gmm"], choices=["cm", "gmm"])
    parser.add_argument("--select-k-seeds", type=int, default=2)
    parser.add_argument("--k-min", type=int, default=2)
    parser.add_argument("--k-max", type=int, default=25, help="select_k's largest K (synthetic)")
    parser.add_argument("--real-k-max", type=int, default=20, help="select_k's largest K (real)")
    parser.add_argument("--plots", type=Path, help="write select_k's PNGs into this folder")
    parser.add_argument("--out", type=Path, help="also write the Markdown tables here")
    args = parser.parse_args()
    header = (
        f"aecm {aecm.__version__}, torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, device cpu"
    )
    print(header, flush=True)
    tables = []
    if args.part in ("synthetic", "both"):
        tables.append(synthetic(args))
    if args.part in ("real", "both"):
        tables += [real(name, args) for name in args.datasets]
    text = header + "\n\n" + "\n\n".join(tables) + "\n"
    print("\n" + text)
    if args.out:
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
