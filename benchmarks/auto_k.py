"""Choosing the number of clusters: the CM's n_clusters="auto", aecm.select_k and scikit-learn's
Dirichlet-process mixture, side by side.

Part ``synthetic``: isotropic unit-variance Gaussian mixtures with a known ``K`` (3, 5, 10, 20),
the closest two centres ``sep`` standard deviations apart, shifted into the positive orthant like
the paper's data sets, one cell per ``K``, size and ``sep``. Part ``real``: the benchmark data
sets (10 classes each). For each data set, the number of clusters found by

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

with the wall time of each (for select_k: all its fits). Each finished fit is one JSON line of
``--out``/runs.jsonl (part, data set or cell, method, settings, seed, K found, ARI, NMI,
seconds, date, machine, versions); a fit already stored is skipped, so running a command again
goes on where it stopped. ``--report`` prints the tables of every stored fit without fitting;
``--update-docs docs/results.md`` also writes them into that file between the markers of
``DOCS_BLOCK``; ``--plots DIR`` writes the stored select_k curves of ``--datasets`` (methods of
``--select-k``) as ``DIR/select-k-<data set>-<method>.png``. Usage (one core)::

    OMP_NUM_THREADS=1 python benchmarks/auto_k.py --part synthetic --select-k gmm
    OMP_NUM_THREADS=1 python benchmarks/auto_k.py --part real --datasets pendigits usps
    OMP_NUM_THREADS=1 python benchmarks/auto_k.py --part real --datasets pendigits usps \
        --aecm --no-cm --select-k --no-bgm
    python benchmarks/auto_k.py --report --update-docs docs/results.md
    python benchmarks/auto_k.py --report --datasets pendigits --select-k cm --plots docs/

Reads the data with ``aecm.datasets`` from ``$AECM_DATA``, else ``../shared/datasets``.
Timings are wall-clock seconds on whatever else the machine is doing: compare rows of one run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from _docs import measuring, publish, run_context, stored
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import BayesianGaussianMixture

import aecm
from aecm import AECM, ClusteringModule
from aecm.select_k import SelectKResult

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))
OUT = Path(__file__).resolve().parents[1] / "docs/bench/auto-k"
DOCS_BLOCK = ("auto_k tables", "auto_k.py")
THRESHOLD = ClusteringModule().min_cluster_weight
#: the methods, in the order of the tables' rows and columns: name → label
METHODS = {
    "cm auto": "CM auto",
    "select_k cm": "select_k cm",
    "select_k gmm": "select_k gmm",
    "bgm": "BayesianGMM",
    "aecm auto": "AE-CM auto",
}


def isotropic_mixture(k: int, n: int, sep: float, seed: int, d: int = 10):
    """``n`` rows of ``k`` unit-variance Gaussians, closest centres ``sep`` apart, shifted ≥ 0."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d))
    distances = np.sqrt(((centers[:, None] - centers[None]) ** 2).sum(axis=-1))
    centers *= sep / distances[np.triu_indices(k, 1)].min()
    y = rng.integers(k, size=n)
    X = centers[y] + rng.normal(size=(n, d))
    return (X - X.min(axis=0)).astype(np.float32), y


def default_max_clusters(n: int) -> int:
    """The CM's ``max_clusters`` for ``n`` rows (also the DP mixture's number of components)."""
    return max(2, min(50, n // 10))


def cm_auto(X, seed, settings):
    model = ClusteringModule("auto", random_state=seed).fit(X)
    return {"k_found": int(model.n_clusters_)}, model.labels_


def aecm_auto(X, seed, settings):
    model = AECM(
        "auto",
        embedding_dim=settings["embedding_dim"],
        max_clusters=settings["max_clusters"],
        pretrain_epochs=settings["pretrain_epochs"],
        cm_epochs=settings["cm_epochs"],
        n_epochs=settings["n_epochs"],
        random_state=seed,
    ).fit(X)
    prune = model.history_["prune"]
    # the number the pruning stage left, then the number left after the CM and joint phases
    # (clusters they emptied below min_cluster_weight are removed at the end)
    found = {
        "k_found": int(model.n_clusters_),
        "k_after_pruning": int(model.n_clusters_ + len(prune["removed_after_training"])),
        "pruning_epochs": len(prune["loss"]),
    }
    return found, model.labels_


def bgm(X, seed, settings):
    model = BayesianGaussianMixture(
        n_components=settings["n_components"],
        weight_concentration_prior_type="dirichlet_process",
        covariance_type="spherical",
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    return {"k_found": int((model.weights_ > settings["threshold"]).sum())}, model.predict(X)


def select_k(method):
    def fit(X, seed, settings):
        k_range = range(settings["k_min"], settings["k_max"] + 1)
        result = aecm.select_k(
            X, method=method, k_range=k_range, n_seeds=settings["n_seeds"], random_state=seed
        )
        at = list(result.table["k"]).index(result.best_k)
        found = {
            "k_found": result.best_k,
            "stability": round(float(result.table["stability"][at]), 4),
            # the curve, for --plots
            "curve": {name: values.tolist() for name, values in result.table.items()},
        }
        return found, None

    return fit


FITS = {
    "cm auto": cm_auto,
    "select_k cm": select_k("cm"),
    "select_k gmm": select_k("gmm"),
    "bgm": bgm,
    "aecm auto": aecm_auto,
}


def settings_of(method: str, n: int, args, part: str) -> dict:
    """What a fit of ``method`` ran with, as stored in its record."""
    if method == "cm auto":
        params = ClusteringModule().get_params()
        keep = ("prune_strength", "min_cluster_weight", "batch_size", "n_epochs")
        return {"max_clusters": default_max_clusters(n), **{key: params[key] for key in keep}}
    if method == "aecm auto":
        return {
            "embedding_dim": args.aecm_dim,
            "max_clusters": args.aecm_dim,
            "pretrain_epochs": args.aecm_pretrain,
            "cm_epochs": args.aecm_cm_epochs,
            "n_epochs": args.aecm_epochs,
            "batch_size": AECM().get_params()["batch_size"],
        }
    if method == "bgm":
        return {"n_components": default_max_clusters(n), "threshold": THRESHOLD}
    k_max = args.k_max if part == "synthetic" else args.real_k_max
    return {"k_min": args.k_min, "k_max": k_max, "n_seeds": args.select_k_seeds}


def describe(method: str, settings: dict, records: list[dict]) -> str:
    """The settings of ``method``'s fits ``records`` (none: the settings alone), in words."""
    s = settings
    if method == "cm auto":
        return (
            f"max_clusters {s['max_clusters']}, prune_strength {s['prune_strength']:g}, "
            f"min_cluster_weight {s['min_cluster_weight']:g}, batch {s['batch_size']}, "
            f"≤{s['n_epochs']}+{s['n_epochs']} epochs"
        )
    if method == "aecm auto":
        pruning = ", ".join(str(r["pruning_epochs"]) for r in records)
        return (
            f"AE d-500-500-2000-{s['embedding_dim']}, pretrain {s['pretrain_epochs']} epochs, "
            f"max_clusters {s['max_clusters']}, pruning {pruning} epochs (≤{s['cm_epochs']}), "
            f"CM {s['cm_epochs']} + joint {s['n_epochs']} epochs, batch {s['batch_size']}"
        )
    if method == "bgm":
        return f"DP, spherical, n_components {s['n_components']}, weight > {s['threshold']:g}"
    text = f"min BIC, K in {s['k_min']}..{s['k_max']}, {s['n_seeds']} seeds"
    if records:
        text += "; stability at K: " + ", ".join(f"{r['stability']:.2f}" for r in records)
    return text


def key_of(record: dict) -> str:
    """What identifies a fit: a record with the same key is not run again."""
    fields = ("part", "dataset", "true_k", "n", "sep", "data_seed", "method", "settings", "seed")
    return json.dumps({field: record.get(field) for field in fields}, sort_keys=True)


class Store:
    """The records of ``--out``/runs.jsonl, and the fits to run that are not among them."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "runs.jsonl"
        self.done = {key_of(r) for r in stored(self.path)}
        self.context = {**run_context(), "sklearn": sklearn.__version__}

    def run(self, data: dict, method: str, settings: dict, seed: int, X, y) -> None:
        """Fit ``method`` on ``X`` unless stored, score it against ``y`` and store it."""
        record = {**data, "method": method, "settings": settings, "seed": seed}
        if key_of(record) in self.done:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            started = time.perf_counter()
            found, labels = FITS[method](X, seed, settings)
            seconds = time.perf_counter() - started
        scores = {"ari": None, "nmi": None}
        if labels is not None:
            scores = {
                "ari": round(float(adjusted_rand_score(y, labels)), 4),
                "nmi": round(float(normalized_mutual_info_score(y, labels)), 4),
            }
        record.update(found, **scores, seconds=round(seconds, 2), **self.context)
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        self.done.add(key_of(record))
        cell = " ".join(f"{k} {data[k]}" for k in ("true_k", "n", "sep") if data.get(k))
        print(
            f"{data['dataset']} {cell} {method} seed {seed}: K {found['k_found']} "
            f"({seconds:.1f} s)",
            flush=True,
        )


def run_synthetic(store: Store, args) -> None:
    methods = ["cm auto", *(f"select_k {m}" for m in args.select_k)] + ["bgm"] * args.bgm
    for k, n, sep in itertools.product(args.true_k, args.sizes, args.separations):
        X, y = isotropic_mixture(k, n, sep, args.seed)
        data = {"part": "synthetic", "dataset": "synthetic", "true_k": k, "n": n, "d": 10}
        data.update(sep=sep, data_seed=args.seed)
        for method in methods:
            seed = 0 if method.startswith("select_k") else args.seed
            store.run(data, method, settings_of(method, n, args, "synthetic"), seed, X, y)


def run_real(store: Store, name: str, args) -> None:
    X, y = aecm.datasets.load(name, DATA)
    n, d = X.shape
    data = {"part": "real", "dataset": name, "true_k": len(np.unique(y)), "n": n, "d": d}
    runs = []
    if args.cm:
        runs += [("cm auto", seed) for seed in range(args.seeds)]
    if args.aecm:
        runs += [("aecm auto", seed) for seed in range(args.aecm_seeds)]
    runs += [(f"select_k {method}", 0) for method in args.select_k]
    if args.bgm:
        runs += [("bgm", seed) for seed in range(args.bgm_seeds)]
    for method, seed in runs:
        store.run(data, method, settings_of(method, n, args, "real"), seed, X, y)


def _context(records: list[dict]) -> str:
    """The versions, dates and machines of ``records``, in words."""

    def distinct(field):
        return " or ".join(sorted({str(r[field]) for r in records}))

    dates = sorted({r["date"] for r in records})
    return (
        f"aecm {distinct('aecm_version')}, torch {distinct('torch')}, scikit-learn "
        f"{distinct('sklearn')}; {' to '.join(dict.fromkeys([dates[0], dates[-1]]))}; "
        f"{distinct('machine')}"
    )


def _groups(records: list[dict]) -> list[tuple[str, str, list[dict]]]:
    """``records`` by method and settings: (method, settings as JSON, records by seed), in the
    order of :data:`METHODS` and then as first stored."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["method"], json.dumps(r["settings"], sort_keys=True)), []).append(r)
    order = list(METHODS)
    return [
        (method, settings, sorted(found, key=lambda r: r["seed"]))
        for (method, settings), found in sorted(groups.items(), key=lambda g: order.index(g[0][0]))
    ]


def synthetic_report(records: list[dict]) -> list[str]:
    """One row per cell, one column per method (its first stored fit of the cell)."""
    cells = sorted({(r["true_k"], r["n"], r["sep"]) for r in records})
    columns = [m for m in METHODS if any(r["method"] == m for r in records)]
    data_seeds = ", ".join(map(str, sorted({r["data_seed"] for r in records})))
    lines = [
        f"**Synthetic isotropic mixtures** (d = 10, data seed {data_seeds}, {len(cells)} "
        f"cell{'s' * (len(cells) != 1)}; {_context(records)}):",
        "",
        "| true K | n | sep | "
        + " | ".join(
            f"{METHODS[m]}: K ({'s' if m.startswith('select_k') else 'ARI, s'})" for m in columns
        )
        + " |",
        "| --- " * (3 + len(columns)) + "|",
    ]
    exact = dict.fromkeys(columns, 0)
    counted = dict.fromkeys(columns, 0)
    for k, n, sep in cells:
        row = [str(k), str(n), f"{sep:g}"]
        for method in columns:
            cell = (k, n, sep, method)
            r = next(
                (r for r in records if (r["true_k"], r["n"], r["sep"], r["method"]) == cell), None
            )
            if r is None:
                row.append("")
                continue
            exact[method] += r["k_found"] == k
            counted[method] += 1
            score = "" if r["ari"] is None else f"{r['ari']:.2f}, "
            row.append(f"{r['k_found']} ({score}{r['seconds']:.1f})")
        lines.append("| " + " | ".join(row) + " |")
    counts = ", ".join(
        f"{METHODS[m]} {exact[m]}" + ("" if counted[m] == len(cells) else f" of {counted[m]}")
        for m in columns
    )
    lines += ["", f"Exact K in {len(cells)} cell{'s' * (len(cells) != 1)}: {counts}."]
    for method in columns:
        settings = dict.fromkeys(
            describe(method, r["settings"], []) for r in records if r["method"] == method
        )
        lines.append(f"{METHODS[method]}: {' or '.join(settings)}.")
    return lines


def real_report(name: str, records: list[dict]) -> list[str]:
    r0 = records[0]
    lines = [
        f"**{name}** (n = {r0['n']}, d = {r0['d']}, {r0['true_k']} classes; {_context(records)}):",
        "",
        "| method | settings | seeds | K found | NMI % | ARI % | s / fit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method, settings, found in _groups(records):
        s = json.loads(settings)
        ks = []
        for r in found:
            if method == "aecm auto":
                ks.append(f"{r['k_after_pruning']} → {r['k_found']}")
            elif method.startswith("select_k") and r["k_found"] == s["k_max"]:
                ks.append(f"{r['k_found']} (edge of range)")
            else:
                ks.append(str(r["k_found"]))

        def score(metric, found=found):
            values = [r[metric] for r in found if r[metric] is not None]
            if not values:
                return ""
            return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}"

        seconds = np.mean([r["seconds"] for r in found])
        lines.append(
            f"| {METHODS[method]} | {describe(method, s, found)} | "
            f"{', '.join(str(r['seed']) for r in found)} | {', '.join(ks)} | {score('nmi')} | "
            f"{score('ari')} | {seconds:.1f} |"
        )
    return lines


def report(records: list[dict]) -> str:
    """The synthetic grid's table, then one table per real data set in the order first stored:
    K found (per seed), ARI and NMI where the method gives labels, seconds per fit."""
    parts = []
    synthetic = [r for r in records if r["part"] == "synthetic"]
    if synthetic:
        parts.append("\n".join(synthetic_report(synthetic)))
    real = [r for r in records if r["part"] == "real"]
    for name in dict.fromkeys(r["dataset"] for r in real):
        parts.append("\n".join(real_report(name, [r for r in real if r["dataset"] == name])))
    parts.append(
        "K found: one per seed (AE-CM: after its pruning stage → at the end of the fit); "
        "select_k's seconds cover all its fits; NMI and ARI are those of the fit's labels "
        "(select_k keeps none)."
    )
    return "\n\n".join(parts) + "\n"


def plots(records: list[dict], args) -> None:
    """Write the stored select_k curves of ``args.datasets`` and ``args.select_k`` as PNGs."""
    for r in records:
        method = r["method"].removeprefix("select_k ")
        if r["part"] != "real" or r["dataset"] not in args.datasets:
            continue
        if not r["method"].startswith("select_k") or method not in args.select_k:
            continue
        table = {name: np.asarray(values) for name, values in r["curve"].items()}
        seeds = list(range(r["settings"]["n_seeds"]))
        result = SelectKResult(method, table, r["k_found"], np.empty(0), np.empty(0), seeds)
        path = result.plot(args.plots / f"select-k-{r['dataset']}-{method}.png")
        print(f"wrote {path}")


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
    parser.add_argument("--plots", type=Path, help="write the stored select_k curves here")
    parser.add_argument("--out", type=Path, default=OUT, help="the folder of runs.jsonl")
    parser.add_argument("--report", action="store_true", help="only print the stored runs")
    parser.add_argument("--update-docs", type=Path, help="write the tables into this file")
    args = parser.parse_args()
    if measuring(args):
        store = Store(args.out)
        if args.part in ("synthetic", "both"):
            run_synthetic(store, args)
        if args.part in ("real", "both"):
            for name in args.datasets:
                run_real(store, name, args)
    records = stored(args.out / "runs.jsonl")
    if args.plots:
        plots(records, args)
    publish(args, report(records), DOCS_BLOCK)


if __name__ == "__main__":
    main()
