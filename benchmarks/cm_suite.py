"""Does the CM cluster like its Gaussian mixture on data sets of every shape?

For each data set and seed it fits, with the same number of restarts (``--n-init``):

* ``ClusteringModule`` with aecm's defaults,
* aecm's ``IsotropicGMM`` (EM for the mixture the CM's loss equals),
* scikit-learn's ``GaussianMixture(covariance_type="spherical")`` and ``KMeans``,

and measures the equivalence itself: from the same k-means centroids (one k-means run per
seed), the CM (``init=`` those centroids) and EM of the isotropic mixture (``aecm.init.
mixture_em``, 300 iterations) are compared by the ARI between their partitions.

Every fit is one line of ``--out/runs.jsonl`` (resumable: finished fits are skipped); the
tables are printed from that file, and ``--report`` prints them without fitting. Usage::

    python benchmarks/cm_suite.py --out docs/bench/cm-suite            # all data sets, 5 seeds
    python benchmarks/cm_suite.py --out /tmp/s --datasets iris wine --seeds 3
    python benchmarks/cm_suite.py --out docs/bench/cm-suite --report

Benchmark files are read with ``aecm.datasets`` from ``$AECM_DATA`` (else ``../shared/datasets``);
sets whose file is absent are skipped with a message. Seconds are wall-clock on whatever else
the machine does: compare rows of one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import sklearn
import torch
from _docs import write_block
from sklearn import datasets as skdata
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

import aecm
from aecm import ClusteringModule, IsotropicGMM
from aecm.init import mixture_em
from aecm.metrics import evaluate

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))

#: EM iterations of the isotropic mixture in the equivalence check.
EM_ITERATIONS = 300

METHODS = ("CM", "IsotropicGMM", "GaussianMixture", "KMeans")


# ---------------------------------------------------------------------- data sets
def _standardized(loader) -> Callable:
    def load():
        X, y = loader(return_X_y=True)
        return StandardScaler().fit_transform(X), y

    return load


def _shared(name: str) -> Callable:
    def load():
        return aecm.datasets.load(name, DATA)

    return load


def mixture(
    n: int,
    d: int,
    k: int,
    *,
    separation: float = 6.0,
    weights=None,
    spreads=None,
    feature_scales=None,
    seed: int = 0,
):
    """``n`` rows of ``k`` isotropic Gaussian clusters in ``d`` dimensions, their centres
    drawn so that neighbours are about ``separation`` standard deviations apart.
    ``weights``: the clusters' shares (equal by default); ``spreads``: their standard
    deviations (1); ``feature_scales``: each feature multiplied by these afterwards."""
    rng = np.random.default_rng(seed)
    weights = np.full(k, 1.0 / k) if weights is None else np.asarray(weights) / np.sum(weights)
    spreads = np.ones(k) if spreads is None else np.asarray(spreads, dtype=float)
    # k points in a cube whose side makes the typical nearest-neighbour gap ≈ separation
    side = separation * max(k, 2) ** (1.0 / min(d, 8)) * 1.2
    centres = rng.uniform(0, side, size=(k, d))
    y = rng.choice(k, size=n, p=weights)
    X = centres[y] + rng.normal(size=(n, d)) * spreads[y, None]
    if feature_scales is not None:
        X = X * np.asarray(feature_scales)[None, :]
    return X, y


def _synthetic(**kwargs) -> Callable:
    return lambda: mixture(**kwargs)


#: name → (loader, K, what it is)
DATASETS: dict[str, tuple[Callable, int, str]] = {
    "iris": (_standardized(skdata.load_iris), 3, "scikit-learn, standardised"),
    "wine": (_standardized(skdata.load_wine), 3, "scikit-learn, standardised"),
    "breast_cancer": (_standardized(skdata.load_breast_cancer), 2, "scikit-learn, standardised"),
    "digits": (lambda: skdata.load_digits(return_X_y=True), 10, "scikit-learn, raw pixels 0–16"),
    "pendigits": (_shared("pendigits"), 10, "x / 100"),
    "usps": (_shared("usps"), 10, "x / max"),
    "20newsgroups": (_shared("20newsgroups"), 20, "TF-IDF, sparse"),
    "mnist": (_shared("mnist"), 10, "pixels / 255"),
    "fashion_mnist": (_shared("fashion_mnist"), 10, "pixels / 255"),
    "syn-n100": (_synthetic(n=100, d=2, k=3, seed=1), 3, "n=100, d=2, K=3"),
    "syn-k50": (_synthetic(n=10_000, d=10, k=50, seed=2), 50, "n=10⁴, d=10, K=50"),
    "syn-d1000": (
        _synthetic(n=2_000, d=1000, k=5, separation=4.0, seed=3),
        5,
        "n=2000, d=1000, K=5",
    ),
    "syn-unequal": (
        _synthetic(
            n=3_000, d=5, k=4, weights=[0.55, 0.25, 0.15, 0.05], spreads=[1, 0.5, 2, 1], seed=4
        ),
        4,
        "shares 55/25/15/5 %, spreads 0.5–2",
    ),
    "syn-scales": (
        _synthetic(
            n=2_000, d=8, k=4, feature_scales=[1e-3, 1e-2, 1e-1, 1, 10, 1e2, 1e3, 1e4], seed=5
        ),
        4,
        "features ×10⁻³ … ×10⁴",
    ),
    "syn-1M": (_synthetic(n=1_000_000, d=4, k=6, seed=6), 6, "n=10⁶, d=4, K=6"),
}


# ---------------------------------------------------------------------- fits
def _make(method: str, k: int, seed: int, n_init: int):
    if method == "CM":
        return ClusteringModule(k, n_init=n_init, random_state=seed)
    if method == "IsotropicGMM":
        return IsotropicGMM(k, n_init=n_init, random_state=seed)
    if method == "GaussianMixture":
        return GaussianMixture(k, covariance_type="spherical", n_init=n_init, random_state=seed)
    return KMeans(k, n_init=n_init, random_state=seed)


def _fit(method: str, X, y, k: int, seed: int, n_init: int) -> dict:
    model = _make(method, k, seed, n_init)
    data = X.toarray() if sp.issparse(X) and method == "GaussianMixture" else X
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data)
    seconds = time.perf_counter() - started
    labels = model.labels_ if hasattr(model, "labels_") else model.predict(data)
    return {**evaluate(y, labels), "seconds": seconds, "clusters": len(np.unique(labels))}


def _equivalence(X, y, k: int, seed: int) -> dict:
    """The CM and EM of the isotropic mixture from the same k-means centroids."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        centroids = KMeans(k, n_init=1, random_state=seed).fit(X).cluster_centers_
        cm = ClusteringModule(k, init=centroids, random_state=seed).fit(X)
    dense = torch.as_tensor(X.toarray() if sp.issparse(X) else np.asarray(X), dtype=torch.float64)
    _, gamma = mixture_em(dense, torch.as_tensor(centroids), EM_ITERATIONS)
    em = gamma.argmax(dim=1).numpy()
    return {
        "ari_cm_em": float(adjusted_rand_score(em, cm.labels_)),
        "nmi_cm": evaluate(y, cm.labels_)["nmi"],
        "nmi_em": evaluate(y, em)["nmi"],
    }


# ---------------------------------------------------------------------- store and report
class Store:
    """``runs.jsonl``: one record per data set × method × seed."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "runs.jsonl"
        self.records = []
        if self.path.exists():
            self.records = [json.loads(line) for line in self.path.read_text().splitlines()]

    def has(self, **key) -> bool:
        return any(all(r.get(k) == v for k, v in key.items()) for r in self.records)

    def add(self, record: dict) -> None:
        self.records.append(record)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _pm(values, scale=100.0, digits=1) -> str:
    values = np.asarray(values, dtype=float) * scale
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


#: The block of the docs that ``--update-docs`` writes (see ``_docs.py``).
DOCS_BLOCK = ("cm_suite summary", "cm_suite.py")


def report(store: Store, names: list[str]) -> str:
    """The summary table (NMI of each method, the CM's gap to the better GMM, the CM–EM ARI)
    and one detailed table per data set, from the stored records."""
    return "\n\n".join(_tables(store, names)) + "\n"


def summary(store: Store, names: list[str]) -> str:
    """The summary table alone."""
    return _tables(store, names)[0]


def _tables(store: Store, names: list[str]) -> list[str]:
    summary = [
        "| data set | n × d, K | CM NMI | iGMM NMI | GMM sph. NMI | k-means NMI | CM − best GMM "
        "| CM–EM ARI | CM s | iGMM s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    details = []
    for name in names:
        rows = [r for r in store.records if r["dataset"] == name]
        if not rows:
            continue
        shape = rows[0]["shape"]
        by = {m: [r for r in rows if r["method"] == m] for m in (*METHODS, "equivalence")}
        if not all(by[m] for m in METHODS):
            continue
        nmi = {m: np.mean([r["nmi"] for r in by[m]]) for m in METHODS}
        best = max(nmi["IsotropicGMM"], nmi["GaussianMixture"])
        gap = nmi["CM"] - best
        eq = by["equivalence"]
        ari = _pm([r["ari_cm_em"] for r in eq], 1, 3) if eq else "–"
        mark = "" if gap >= -0.02 else " ✗"
        summary.append(
            f"| {name} | {shape[0]}×{shape[1]}, {rows[0]['k']} | "
            + " | ".join(_pm([r["nmi"] for r in by[m]]) for m in METHODS)
            + f" | {100 * gap:+.1f}{mark} | {ari} | "
            + f"{np.mean([r['seconds'] for r in by['CM']]):.2f} | "
            + f"{np.mean([r['seconds'] for r in by['IsotropicGMM']]):.2f} |"
        )
        lines = [
            f"#### {name} ({shape[0]}×{shape[1]}, K={rows[0]['k']}, {rows[0]['about']}; "
            f"seeds {sorted({r['seed'] for r in by['CM']})})",
            "",
            "| method | ACC % | NMI % | ARI % | s / fit |",
            "| --- | --- | --- | --- | --- |",
        ]
        for m in METHODS:
            lines.append(
                f"| {m} | "
                + " | ".join(_pm([r[key] for r in by[m]]) for key in ("acc", "nmi", "ari"))
                + f" | {_pm([r['seconds'] for r in by[m]], 1, 2)} |"
            )
        details.append("\n".join(lines))
    return ["\n".join(summary), *details]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-init", type=int, default=1, help="restarts of every method")
    parser.add_argument("--out", type=Path, required=True, help="folder of runs.jsonl")
    parser.add_argument("--report", action="store_true", help="print the tables, fit nothing")
    parser.add_argument(
        "--update-docs", type=Path, metavar="MD", help="rewrite the summary table in this file"
    )
    args = parser.parse_args()
    store = Store(args.out)
    if not args.report:
        print(
            f"aecm {aecm.__version__}, torch {torch.__version__}, scikit-learn "
            f"{sklearn.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs",
            flush=True,
        )
        for name in args.datasets:
            loader, k, about = DATASETS[name]
            try:
                X, y = loader()
            except FileNotFoundError as error:
                print(f"skipped {name}: {str(error).splitlines()[0]}", flush=True)
                continue
            for seed in range(args.seeds):
                key = {"dataset": name, "seed": seed, "n_init": args.n_init}
                common = {**key, "k": k, "about": about, "shape": list(X.shape)}
                for method in (*METHODS, "equivalence"):
                    if store.has(**key, method=method):
                        continue
                    started = time.perf_counter()
                    if method == "equivalence":
                        result = _equivalence(X, y, k, seed)
                    else:
                        result = _fit(method, X, y, k, seed, args.n_init)
                    store.add({**common, "method": method, **result})
                    print(
                        f"{name} seed {seed} {method}: "
                        + ", ".join(f"{k}={v:.3f}" for k, v in result.items() if k != "clusters")
                        + f" ({time.perf_counter() - started:.1f} s)",
                        flush=True,
                    )
    print(report(store, args.datasets))
    if args.update_docs:
        write_block(args.update_docs, *DOCS_BLOCK, summary(store, args.datasets))


if __name__ == "__main__":
    main()
