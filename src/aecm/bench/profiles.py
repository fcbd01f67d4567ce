"""Benchmark profiles: how long each method trains, and the default number of seeds."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROFILES", "Profile", "get_profile"]


@dataclass(frozen=True)
class Profile:
    """The training budget of a benchmark run.

    Every profile uses the paper's architecture (an MLP autoencoder ``d–500–500–2000–p``
    pretrained with Adam, batch 256, shared by all deep methods of one data set and seed) and
    the paper's per-data-set tuned hyper-parameters for the CM and AE-CM
    (:mod:`aecm.paper`); profiles differ in epochs and seeds only.

    Attributes
    ----------
    name : str
    description : str
    seeds : int
        Default number of seeds (``0 … seeds − 1``).
    cm_epochs : int
        Maximum epochs of the CM (:meth:`aecm.ClusteringModule.from_paper`).
    cm_tol : float
        The CM's early-stopping tolerance (0 trains every epoch, as the authors did).
    pretrain_epochs : int
        Epochs of the shared autoencoder pretraining.
    cluster_epochs : int
        Clustering epochs of DEC, IDEC, DCN and DKM.
    aecm_cm_epochs : int
        Epochs of AE-CM's CM-only phase on the frozen embedding.
    aecm_joint_epochs : int
        Epochs of AE-CM's joint phase.
    hidden_dims : tuple of int
        Hidden layers of the autoencoder's encoder.
    embedding_dim : int
        Embedding size of the baselines' autoencoder (AE-CM uses the paper's tuned size).
    batch_size : int
        Batch size of pretraining and of the deep baselines (AE-CM and the CM use their tuned
        batch sizes).
    """

    name: str
    description: str
    seeds: int
    cm_epochs: int
    cm_tol: float
    pretrain_epochs: int
    cluster_epochs: int
    aecm_cm_epochs: int
    aecm_joint_epochs: int
    hidden_dims: tuple[int, ...] = (500, 500, 2000)
    embedding_dim: int = 10
    batch_size: int = 256

    def as_dict(self) -> dict:
        """The profile's fields, for the results file."""
        return {
            "cm_epochs": self.cm_epochs,
            "cm_tol": self.cm_tol,
            "pretrain_epochs": self.pretrain_epochs,
            "cluster_epochs": self.cluster_epochs,
            "aecm_cm_epochs": self.aecm_cm_epochs,
            "aecm_joint_epochs": self.aecm_joint_epochs,
            "hidden_dims": list(self.hidden_dims),
            "embedding_dim": self.embedding_dim,
            "batch_size": self.batch_size,
        }


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "quick",
            "A smoke test: the paper's architecture and tuned values, 5 pretraining and 5 "
            "clustering epochs (the CM: up to 150), 2 seeds",
            seeds=2,
            cm_epochs=150,
            cm_tol=1e-3,
            pretrain_epochs=5,
            cluster_epochs=5,
            aecm_cm_epochs=5,
            aecm_joint_epochs=5,
        ),
        Profile(
            "medium",
            "A longer CPU run: 20 pretraining and 20 clustering epochs (the CM: up to 150), "
            "3 seeds",
            seeds=3,
            cm_epochs=150,
            cm_tol=1e-3,
            pretrain_epochs=20,
            cluster_epochs=20,
            aecm_cm_epochs=20,
            aecm_joint_epochs=20,
        ),
        Profile(
            "paper",
            "The paper's protocol: 100 pretraining epochs, 100 clustering epochs (AE-CM: 100 "
            "CM-only and 1000 joint), the CM's full 150 epochs, 20 seeds",
            seeds=20,
            cm_epochs=150,
            cm_tol=0.0,
            pretrain_epochs=100,
            cluster_epochs=100,
            aecm_cm_epochs=100,
            aecm_joint_epochs=1000,
        ),
    )
}


def get_profile(profile: str | Profile) -> Profile:
    """A profile by name (or the :class:`Profile` itself); unknown names list the known ones."""
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}; known: {', '.join(PROFILES)}.")
    return PROFILES[profile]
