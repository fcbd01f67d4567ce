"""Run by ``tests/test_distributed.py`` under ``torchrun``: fits and single steps on every
process; process 0 saves what the tests compare with a single-process run.

Usage: ``torchrun --standalone --nproc-per-node 2 tests/distributed_worker.py OUT.npz DIR``
(``DIR``: an empty folder for checkpoints). The
scenarios (data, estimators, steps) are the functions of this file, which the tests import to
compute the single-process reference.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from sklearn.datasets import make_blobs

from aecm import AECM, DCN, DEC, DKM, IDEC, ClusteringModule, distributed
from aecm.distributed import LOCAL, BatchReduce
from aecm.losses import aecm_loss, cm_loss_closed_form


def blobs(n: int = 301, d: int = 5, k: int = 4) -> np.ndarray:
    return make_blobs(n, d, centers=k, random_state=0)[0].astype(np.float32)


def estimators() -> dict:
    """The fits compared: a global batch that the processes split unevenly (33 rows, 301 rows:
    last batch 4), the normalised loss with biases and a vector α, the automatic number of
    clusters (clusters pruned between phases), and the deep methods."""
    deep = {"embedding_dim": 4, "hidden_dims": (16,), "pretrain_epochs": 2, "batch_size": 40}
    deep.update(random_state=0, device="cpu")
    return {
        "cm": ClusteringModule(4, batch_size=33, n_epochs=3, random_state=0, device="cpu"),
        "cm_normalized": ClusteringModule(
            4,
            alpha=[0.5, 1.0, 2.0, 4.0],
            batch_size=33,
            n_epochs=3,
            normalize_loss=True,
            bias=True,
            init="random",
            random_state=1,
            device="cpu",
        ),
        "cm_auto": ClusteringModule(
            "auto", max_clusters=10, batch_size=33, n_epochs=30, random_state=0, device="cpu"
        ),
        "aecm": AECM(4, cm_epochs=2, n_epochs=2, **deep),
        "dec": DEC(4, n_epochs=2, update_interval=3, **deep),
        "idec": IDEC(4, n_epochs=2, update_interval=3, **deep),
        "dcn": DCN(4, n_epochs=2, **deep),
        "dkm": DKM(4, n_epochs=2, **deep),
    }


def sorted_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """A global batch of 40 rows whose first half is one cluster and second half another: each
    process's own mixture weights π̂ are far from the global batch's (0.5, 0.5)."""
    X, y = make_blobs(200, 3, centers=2, random_state=3)
    X = torch.as_tensor(X, dtype=torch.float32)
    y = torch.as_tensor(y)
    return torch.cat((X[y == 0][:20], X[y == 1][:20])), torch.randn(
        4, 3, generator=torch.Generator().manual_seed(0)
    )


def cm_step(x: torch.Tensor, weights: torch.Tensor, reduce: BatchReduce = LOCAL):
    """The CM's terms and gradient (closed form) on ``x`` with α = 10 (a strong prior)."""
    grad = torch.zeros_like(weights)
    terms, _, _ = cm_loss_closed_form(
        x, weights, None, None, torch.tensor(10.0), grad, normalize=True, reduce=reduce
    )
    return terms, grad


def aecm_step(x: torch.Tensor, reduce: BatchReduce = LOCAL):
    """AE-CM's terms and gradients (autograd) on ``x`` for fixed networks, the normalised form
    with α = 10: the prior, the means and the orthonormality all in play."""
    generator = torch.Generator().manual_seed(1)
    encoder = torch.randn(3, 2, generator=generator).requires_grad_()
    centroids = torch.randn(2, 2, generator=generator).requires_grad_()
    z = x @ encoder
    gamma = torch.softmax(z @ centroids.T, dim=1)
    terms = aecm_loss(
        x,
        z @ encoder.T,
        z,
        gamma,
        centroids,
        10.0,
        beta=1.0,
        lbd=0.5,
        form="normalized",
        reduce=reduce,
    )
    terms["total"].backward()
    values = torch.stack([terms[name] for name in terms if name != "total"]).detach()
    return values, torch.cat((encoder.grad.reshape(-1), centroids.grad.reshape(-1)))


def checkpointed(directory: str) -> ClusteringModule:
    return ClusteringModule(
        4, batch_size=33, n_epochs=3, random_state=0, device="cpu", checkpoint_dir=directory
    )


def tiny() -> dict:
    """Global batches of 2 rows: with 3 processes, one has no rows at every step."""
    deep = {"embedding_dim": 2, "hidden_dims": (4,), "pretrain_epochs": 1, "batch_size": 2}
    return {
        "cm": ClusteringModule(
            3, batch_size=2, n_epochs=2, normalize_loss=True, random_state=0, device="cpu"
        ),
        "dkm": DKM(3, n_epochs=1, random_state=0, device="cpu", **deep),
    }


def large() -> dict:
    """9000 rows: the passes over all rows (4096 at a time) are split 3 ways."""
    deep = {"embedding_dim": 4, "hidden_dims": (16,), "pretrain_epochs": 1, "batch_size": 500}
    return {
        "cm": ClusteringModule(4, batch_size=500, n_epochs=2, random_state=0, device="cpu"),
        "dec": DEC(4, n_epochs=1, update_interval=5, random_state=0, device="cpu", **deep),
    }


def main_three(out: str) -> None:
    """The fits of :func:`tiny` and :func:`large` (run by 3 processes)."""
    results = {}
    with distributed.process_group():
        for prefix, fits, X in (("tiny", tiny(), blobs(31, 3, 3)), ("large", large(), blobs(9000))):
            for name, estimator in fits.items():
                estimator.fit(X)
                results[f"{prefix}.{name}.centers"] = estimator.cluster_centers_
                results[f"{prefix}.{name}.labels"] = estimator.labels_
                results[f"{prefix}.{name}.loss"] = np.array(estimator.loss_)
        if distributed.is_main_process():
            np.savez(out, **results)
        distributed.barrier()


def main(out: str, checkpoint_dir: str) -> None:
    results = {}
    with distributed.process_group():
        shard = distributed.current_shard()
        X = blobs()
        fits = {**estimators(), "checkpointed": checkpointed(checkpoint_dir)}
        fits["resumed"] = checkpointed(checkpoint_dir)  # the finished run, loaded
        for name, estimator in fits.items():
            estimator.fit(X)
            results[f"{name}.centers"] = estimator.cluster_centers_
            results[f"{name}.labels"] = estimator.labels_
            results[f"{name}.loss"] = np.array(estimator.loss_)
            if hasattr(estimator, "weights_"):
                results[f"{name}.weights"] = estimator.weights_
            if hasattr(estimator, "autoencoder_"):
                weights = [p.detach().numpy().ravel() for p in estimator.autoencoder_.parameters()]
                results[f"{name}.autoencoder"] = np.concatenate(weights)
        x, weights = sorted_batch()
        start, stop = shard.bounds(len(x))
        terms, grad = cm_step(x[start:stop], weights, shard)
        shard.sum_(grad)
        results["cm_step.terms"], results["cm_step.grad"] = terms.numpy(), grad.numpy()
        values, grads = aecm_step(x[start:stop], shard)
        shard.sum_(grads)
        results["aecm_step.terms"], results["aecm_step.grad"] = values.numpy(), grads.numpy()
        results["world_size"] = np.array(shard.world_size)
        if distributed.is_main_process():
            np.savez(out, **results)
        distributed.barrier()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
