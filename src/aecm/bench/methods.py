"""The methods a benchmark can run, and how each is built for one cell of the grid."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aecm.bench.profiles import Profile
from aecm.persistence import _jsonable

__all__ = ["METHODS", "Cell", "Method", "params_json", "resolve_methods"]


@dataclass(frozen=True)
class Cell:
    """One (data set, seed) of the grid, under a profile, on a device (and thread limit)."""

    dataset: str
    n_clusters: int
    seed: int
    profile: Profile
    device: str
    threads: int | None = None


@dataclass(frozen=True)
class Method:
    """A benchmarked method.

    Attributes
    ----------
    name : str
        Its name on the command line and in the results file.
    label : str
        Its name in reports.
    build : callable
        ``build(cell, pretrained)`` → an unfitted estimator; ``pretrained`` is the shared
        pretrained autoencoder for deep methods, None otherwise.
    embedding_dim : callable or None
        For deep methods, ``embedding_dim(cell)``: the size of the autoencoder to share.
    dense : bool
        Whether the method needs a dense ``X`` (sparse inputs are densified before timing).
    """

    name: str
    label: str
    build: Callable[[Cell, Any], Any]
    embedding_dim: Callable[[Cell], int] | None = None
    dense: bool = False

    @property
    def deep(self) -> bool:
        return self.embedding_dim is not None


def _cm(cell: Cell, _):
    from aecm import ClusteringModule

    p = cell.profile
    return ClusteringModule.from_paper(
        cell.dataset,
        n_epochs=p.cm_epochs,
        tol=p.cm_tol,
        random_state=cell.seed,
        device=cell.device,
    )


def _cm_default(cell: Cell, _):
    from aecm import ClusteringModule

    p = cell.profile
    return ClusteringModule(
        cell.n_clusters,
        n_epochs=p.cm_epochs,
        tol=p.cm_tol,
        random_state=cell.seed,
        device=cell.device,
    )


def _kmeans(cell: Cell, _):
    from sklearn.cluster import KMeans

    return KMeans(cell.n_clusters, n_init=10, random_state=cell.seed)


def _gmm(cell: Cell, _):
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(cell.n_clusters, covariance_type="spherical", random_state=cell.seed)


def _igmm(cell: Cell, _):
    from aecm import IsotropicGMM

    return IsotropicGMM(cell.n_clusters, random_state=cell.seed)


def _deep_common(cell: Cell, pretrained) -> dict:
    p = cell.profile
    return {
        "embedding_dim": p.embedding_dim,
        "hidden_dims": p.hidden_dims,
        "pretrain_epochs": p.pretrain_epochs,
        "batch_size": p.batch_size,
        "pretrained": pretrained,
        "random_state": cell.seed,
        "device": cell.device,
    }


def _deep(name: str, epochs: bool = True):
    def build(cell: Cell, pretrained):
        import aecm

        extra = {"n_epochs": cell.profile.cluster_epochs} if epochs else {}
        estimator = getattr(aecm, name)
        return estimator(cell.n_clusters, **_deep_common(cell, pretrained), **extra)

    return build


def _aecm(cell: Cell, pretrained):
    from aecm import AECM

    p = cell.profile
    return AECM.from_paper(
        cell.dataset,
        hidden_dims=p.hidden_dims,
        pretrain_epochs=p.pretrain_epochs,
        cm_epochs=p.aecm_cm_epochs,
        n_epochs=p.aecm_joint_epochs,
        pretrained=pretrained,
        random_state=cell.seed,
        device=cell.device,
    )


def _aecm_default(cell: Cell, pretrained):
    from aecm import AECM

    p = cell.profile
    return AECM(
        cell.n_clusters,
        **{**_deep_common(cell, pretrained), "embedding_dim": _aecm_default_embedding(cell)},
        cm_epochs=p.aecm_cm_epochs,
        n_epochs=p.aecm_joint_epochs,
    )


def _baseline_embedding(cell: Cell) -> int:
    return cell.profile.embedding_dim


def _aecm_default_embedding(cell: Cell) -> int:
    """The baselines' embedding size, raised to K where K is larger (AE-CM needs ``p ≥ K``:
    20 Newsgroups has 20 classes)."""
    return max(cell.profile.embedding_dim, cell.n_clusters)


def _aecm_embedding(cell: Cell) -> int:
    from aecm import paper

    return int(paper.tuned(paper.AECM_TUNED, cell.dataset)["embedding_dim"])


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("cm", "CM (paper's α/batch)", _cm),
        Method("cm-default", "CM (aecm's defaults)", _cm_default),
        Method("kmeans", "k-means (n_init=10)", _kmeans),
        Method("gmm", "GMM spherical", _gmm, dense=True),
        Method("igmm", "IsotropicGMM (EM)", _igmm),
        Method("aekmeans", "AE+KM", _deep("AEKMeans", epochs=False), _baseline_embedding),
        Method("dec", "DEC", _deep("DEC"), _baseline_embedding),
        Method("idec", "IDEC", _deep("IDEC"), _baseline_embedding),
        Method("dcn", "DCN", _deep("DCN"), _baseline_embedding),
        Method("dkm", "DKM", _deep("DKM"), _baseline_embedding),
        Method("aecm", "AE-CM (paper's values)", _aecm, _aecm_embedding),
        Method("aecm-default", "AE-CM (aecm's defaults)", _aecm_default, _aecm_default_embedding),
    )
}


def resolve_methods(names: str | Iterable[str]) -> list[str]:
    """Method names from a comma-separated string or a list; ``"all"`` is every method.

    Raises
    ------
    ValueError
        On an unknown name (the message lists the valid ones) or an empty list.
    """
    items = names.split(",") if isinstance(names, str) else list(names)
    items = [item.strip().lower() for item in items if item.strip()]
    if items == ["all"]:
        return list(METHODS)
    unknown = [item for item in items if item not in METHODS]
    if unknown:
        raise ValueError(
            f"Unknown method{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(METHODS)} (or all)."
        )
    if not items:
        raise ValueError(f"No method given; valid: {', '.join(METHODS)} (or all).")
    return list(dict.fromkeys(items))


def params_json(estimator: Any, extra: dict | None = None, drop: Sequence[str] = ()) -> str:
    """The estimator's parameters (``get_params``) and ``extra`` as one line of sorted JSON."""
    params = {k: v for k, v in estimator.get_params(deep=False).items() if k not in drop}
    return json.dumps(_jsonable({**params, **(extra or {})}, unknown=str), sort_keys=True)
