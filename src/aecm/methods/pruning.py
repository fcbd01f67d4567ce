"""Finding the number of clusters: a CM trained with a Dirichlet prior ``α < 1`` that empties the
clusters the data do not need, each removed once its weight falls below a threshold.

This is the pruning stage of ``n_clusters="auto"``, shared by :class:`aecm.ClusteringModule`
(on the data) and :class:`aecm.AECM` (on the pretrained embedding). The rule for ``α`` and
what it can and cannot find are in the Notes of :class:`aecm.ClusteringModule`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse.linalg
import torch

from aecm.data.batches import BatchSource
from aecm.methods.cm import CMObjective
from aecm.nn.cm import ClusteringLayer
from aecm.training import FlatAdam, LoopConfig, train

__all__ = [
    "PruningConfig",
    "PruningResult",
    "best_restart",
    "default_max_clusters",
    "extend_history",
    "prune_clusters",
]

#: Epochs per pruning phase (the weights are checked and small clusters removed between phases).
PHASE_EPOCHS = 5

#: The stage ends once no cluster's weight fell by more than this fraction over the last
#: ``2 · n_iter_no_change`` epochs (no cluster is on its way out).
SHRINK_TOL = 0.05


def default_max_clusters(n_samples: int) -> int:
    """``min(50, n_samples // 10)``, at least 2: the number of clusters pruning starts from."""
    return max(2, min(50, n_samples // 10))


@dataclass(frozen=True)
class PruningConfig:
    """The pruning stage's settings.

    ``strength``: ``λ`` of the rule ``α = 1 − λ σ²_max · scale / K``. ``min_weight``: a cluster
    whose weight ``π̂_k`` falls below it is removed. ``n_epochs``: the most epochs the stage
    trains. ``scale``: the factor between E4's penalty per point and squared distances (the
    batch size, or ``1 / n_features`` when E1–E3 are divided by ``n_B · n_features``).
    """

    strength: float
    min_weight: float
    n_epochs: int
    scale: float


@dataclass
class PruningResult:
    """What :func:`prune_clusters` leaves: the objective and optimiser on the clusters kept.

    ``history``: per epoch, the CM's terms, ``"loss"``, ``"seconds"``, ``"n_clusters"`` (the
    number trained in that epoch) and ``"alpha"``. ``pruned``: one ``[epoch, ids]`` pair per
    removal, ``ids`` being the removed clusters' indices among the initial ones. ``kept``: the
    initial indices of the clusters left. ``n_iter``: epochs trained.
    """

    objective: CMObjective
    optimizer: FlatAdam
    history: dict[str, list]
    pruned: list[list]
    kept: np.ndarray
    n_iter: int


def prune_clusters(
    objective: CMObjective,
    optimizer: FlatAdam,
    source: BatchSource,
    loop: LoopConfig,
    config: PruningConfig,
    generator: torch.Generator,
) -> PruningResult:
    """Train ``objective`` in phases of :data:`PHASE_EPOCHS` epochs, setting ``α`` before each
    and removing the clusters whose weight fell below ``config.min_weight`` after each.

    ``loop`` gives the batch size, ``n_iter_no_change``, ``on_nan`` and ``verbose``; its
    ``n_epochs``, ``tol`` and ``averaging`` are not used. The stage ends after
    ``config.n_epochs`` epochs, when one cluster is left, or once no cluster was removed and
    none lost more than :data:`SHRINK_TOL` of its weight over ``2 · loop.n_iter_no_change``
    epochs. ``objective.alpha`` is left at the last phase's value.
    """
    gram = _gram(source)
    _, variance = _mixture_statistics(objective.layer, source, gram)
    ids = np.arange(objective.layer.n_clusters)
    history: dict[str, list] = {}
    pruned: list[list] = []
    snapshots: list[tuple[int, np.ndarray]] = []  # (epoch, weights) since the last removal
    epoch, window = 0, 2 * loop.n_iter_no_change
    while True:
        k = objective.layer.n_clusters
        alpha = 1.0 - config.strength * variance * config.scale / k
        objective.alpha = torch.tensor(alpha, dtype=torch.float32, device=source.device)
        phase = replace(
            loop,
            n_epochs=min(PHASE_EPOCHS, config.n_epochs - epoch),
            tol=0.0,
            averaging=False,
            description=f"{loop.description}: pruning, K={k}",
        )
        result = train(objective, optimizer, source, phase, generator)
        extend_history(history, result.history, n_clusters=k, alpha=alpha)
        epoch += result.n_iter
        objective.write_back()
        weights, widest = _mixture_statistics(objective.layer, source, gram)
        variance = min(variance, widest)  # a merge widens σ²_max: it must not feed itself
        small = weights < config.min_weight
        if small.all():
            small[np.argmax(weights)] = False
        if small.any():
            keep = torch.as_tensor(np.flatnonzero(~small), device=source.device)
            index = objective.flat_index(keep)
            objective = objective.keep_clusters(keep)
            optimizer = _carry_optimizer(optimizer, objective, index)
            pruned.append([epoch, ids[small].tolist()])
            ids, snapshots = ids[~small], []
        else:
            snapshots.append((epoch, weights))
        if epoch >= config.n_epochs or objective.layer.n_clusters == 1:
            break
        if _settled(snapshots, epoch - window):
            break
    return PruningResult(objective, optimizer, history, pruned, ids, epoch)


def best_restart(n_clusters: Sequence[int], losses: Sequence[float], auto: bool) -> int:
    """The index of the restart to keep: the lowest loss; with ``auto``, among the restarts that
    found the most frequent number of clusters (the smaller number on ties)."""
    candidates = range(len(losses))
    if auto:
        counts = Counter(n_clusters)
        top = max(counts.values())
        k = min(n for n, c in counts.items() if c == top)
        candidates = [i for i in candidates if n_clusters[i] == k]
    return min(candidates, key=lambda i: losses[i])


def extend_history(history: dict, part: dict, **constants) -> None:
    """Append one stage's per-epoch history, plus a per-epoch column for each constant."""
    n = len(part["loss"])
    for name, values in part.items():
        history.setdefault(name, []).extend(values)
    for name, value in constants.items():
        history.setdefault(name, []).extend([value] * n)


def _gram(source: BatchSource) -> torch.Tensor:
    """``XᵀX`` (float64, on the source's device)."""
    d = source.n_features
    gram = torch.zeros(d, d, dtype=torch.float64, device=source.device)
    for batch in source.ordered_batches():
        batch = batch.double()
        gram.addmm_(batch.T, batch)
    return gram


def _mixture_statistics(layer: ClusteringLayer, source: BatchSource, gram: torch.Tensor):
    """The weights ``π̂`` and ``σ²_max``, the largest eigenvalue of the pooled within-cluster
    covariance ``Σ_i Σ_k γ_ik (x_i − μ_k)(x_i − μ_k)ᵀ / n``, in one pass over the data."""
    k, d = layer.n_clusters, layer.in_features
    counts = torch.zeros(k, dtype=torch.float64, device=source.device)
    moments = torch.zeros(k, d, dtype=torch.float64, device=source.device)
    with torch.no_grad():
        for batch in source.ordered_batches():
            gamma = layer(batch).double()
            counts += gamma.sum(dim=0)
            moments.addmm_(gamma.T, batch.double())
        mu = layer.centroids().double()
        cross = mu.T @ moments
        scatter = gram - cross - cross.T + (mu.T * counts) @ mu
    scatter = (scatter / source.n_samples).cpu().numpy()
    return (counts / source.n_samples).cpu().numpy(), _top_eigenvalue(scatter)


def _top_eigenvalue(matrix: np.ndarray) -> float:
    """The largest eigenvalue of a symmetric matrix (Lanczos above 512 rows)."""
    if matrix.shape[0] <= 512:
        return float(np.linalg.eigvalsh(matrix)[-1])
    start = np.ones(matrix.shape[0])
    return float(scipy.sparse.linalg.eigsh(matrix, k=1, which="LA", v0=start)[0][0])


def _settled(snapshots: list[tuple[int, np.ndarray]], since: int) -> bool:
    """Whether no cluster lost more than :data:`SHRINK_TOL` of its weight since epoch ``since``
    (False until a snapshot that old exists)."""
    old = [weights for epoch, weights in snapshots if epoch <= since]
    if not old:
        return False
    shrink = (old[-1] - snapshots[-1][1]) / old[-1]
    return float(shrink.max()) < SHRINK_TOL


def _carry_optimizer(old: FlatAdam, objective: CMObjective, index: torch.Tensor) -> FlatAdam:
    """A FlatAdam for ``objective`` that keeps ``old``'s moments of the kept parameters."""
    new = FlatAdam(objective.flat, lr=old.lr, betas=old.betas, eps=old.eps)
    new.step_count = old.step_count
    new.exp_avg.copy_(old.exp_avg[index])
    new.exp_avg_sq.copy_(old.exp_avg_sq[index])
    return new
