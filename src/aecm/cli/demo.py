"""``aecm demo``: the CM, k-means and the isotropic GMM side by side on scikit-learn's digits."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from aecm._version import __version__
from aecm.cli._common import format_table, mean_std, positive_int

__all__ = ["register"]


def run(args: argparse.Namespace) -> int:
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_digits

    from aecm import ClusteringModule, IsotropicGMM
    from aecm.metrics import evaluate

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixels 0..16 → [0, 1]
    k = len(np.unique(y))
    r = args.n_init
    methods: dict[str, Callable[[int], object]] = {
        "CM (aecm)": lambda s: ClusteringModule(k, n_init=r, random_state=s, device=args.device),
        "k-means (scikit-learn)": lambda s: KMeans(k, n_init=r, random_state=s),
        "IsotropicGMM (aecm, EM)": lambda s: IsotropicGMM(k, n_init=r, random_state=s),
    }
    print(
        f"aecm {__version__} demo: scikit-learn's digits ({X.shape[0]} images of 8×8 pixels, "
        f"{k} classes), {args.seeds} seeds, {r} restarts per fit for every method; scores in % "
        "(mean ± std)\n"
    )
    rows = []
    for name, make in methods.items():
        scores, seconds = [], []
        for seed in range(args.seeds):
            started = time.perf_counter()
            labels = make(seed).fit(X).labels_
            seconds.append(time.perf_counter() - started)
            scores.append(evaluate(y, labels))
        rows.append(
            {
                "method": name,
                "ACC %": mean_std([s["acc"] for s in scores], 100),
                "NMI %": mean_std([s["nmi"] for s in scores], 100),
                "ARI %": mean_std([s["ari"] for s in scores], 100),
                "seconds / fit": mean_std(seconds, digits=2),
            }
        )
    print(format_table(rows))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the subcommands."""
    demo = commands.add_parser(
        "demo",
        help="cluster scikit-learn's bundled digits with the CM and k-means, side by side",
        description="Fit the CM, k-means and the isotropic GMM on scikit-learn's digits "
        "(no download) and print ACC/NMI/ARI and seconds per fit.",
    )
    demo.add_argument("--seeds", type=positive_int, default=5, help="number of seeds (default: 5)")
    demo.add_argument(
        "--n-init",
        type=positive_int,
        default=10,
        help="restarts per fit, the same for every method; the best is kept (default: 10)",
    )
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    demo.set_defaults(handler=run)
