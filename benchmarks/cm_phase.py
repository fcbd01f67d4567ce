"""AE-CM's CM phase on a frozen pretrained embedding: as pretrained, and rescaled.

The CM's loss assumes unit-norm, orthonormal centroids (E2 with ‖μ_k‖ = 1 and the
orthonormality term). For each pretrained autoencoder saved by ``benchmarks/deep_methods.py
--out`` (an ``AEKMeans``), this prints the root mean square norm of its k-means centroids and
k-means' scores, then, with ``--cm-epochs`` > 0, fits AE-CM's CM phase alone
(``AECM(n_epochs=0)``: k-means initialisation, then the CM on the frozen embedding) on the
embedding as pretrained and on the same embedding divided by that norm (``unit_centroids`` of
``deep_methods.py``: same network function, same k-means partition), with the scores after the
phase and the first epoch's loss terms (mean per batch). Usage::

    python benchmarks/cm_phase.py --dataset mnist --cm-epochs 73 \
        docs/bench/deep-mnist/pretrained/mnist-dec-keras-p300-b256-seed0
    python benchmarks/cm_phase.py --dataset usps runs/deep/pretrained/usps-aecm-*

(``runs/deep``: the ``--out`` folder of a ``benchmarks/deep_methods.py`` run on USPS.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from deep_methods import DATA, unit_centroids

import aecm
from aecm import AECM
from aecm.metrics import evaluate

TERMS = ("cm_reconstruction", "sparsity", "orthonormality", "prior")


def scores(y, labels) -> str:
    found = evaluate(y, labels)
    return " ".join(f"{name.upper()} {100 * found[name]:.1f}" for name in ("acc", "nmi", "ari"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pretrained", nargs="+", type=Path)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--cm-epochs", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    X, y = aecm.datasets.load(args.dataset, DATA)
    k = len(np.unique(y))
    n_batches = -(-X.shape[0] // args.batch_size)
    print(f"aecm {aecm.__version__}; {args.dataset}, CM phase {args.cm_epochs} epochs", flush=True)
    for folder in args.pretrained:
        ae = aecm.load(folder, device="cpu")
        norm = np.sqrt((ae.cluster_centers_**2).sum(axis=1).mean())
        kmeans = scores(y, ae.labels_)
        print(f"\n{folder.name}: k-means centroids RMS norm {norm:.3f}; k-means {kmeans}")
        if args.cm_epochs == 0:
            continue
        for name, network in (("as pretrained", ae), ("unit-norm centroids", unit_centroids(ae))):
            model = AECM(
                k,
                pretrained=network,
                cm_epochs=args.cm_epochs,
                n_epochs=0,
                batch_size=args.batch_size,
                random_state=args.seed,
                device="cpu",
            ).fit(X)
            first = model.history_["cm"]
            terms = ", ".join(f"{t} {first[t][0] / n_batches:.3g}" for t in TERMS)
            print(
                f"  {name}: after the CM phase {scores(y, model.labels_)}; first epoch, mean per "
                f"batch: {terms}",
                flush=True,
            )


if __name__ == "__main__":
    main()
