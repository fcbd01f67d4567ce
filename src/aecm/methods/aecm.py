"""AE-CM: a clustering module on the embedding of an autoencoder, trained jointly."""

from __future__ import annotations

import torch
from torch import Tensor

from aecm.losses import AECM_TERMS, aecm_loss
from aecm.nn.autoencoder import Autoencoder
from aecm.nn.cm import ClusteringLayer
from aecm.training import AutogradObjective

__all__ = ["AECMObjective"]


class AECMObjective(AutogradObjective):
    """The AE-CM loss (:func:`aecm.losses.aecm_loss`) of an autoencoder and a CM on its embedding.

    With ``joint=False`` only the CM is trained, on the frozen embedding (the "pre" schedule's
    third phase); the autoencoder's reconstruction is then a constant and is not computed.
    """

    term_names = AECM_TERMS

    def __init__(
        self,
        autoencoder: Autoencoder,
        layer: ClusteringLayer,
        alpha: Tensor,
        *,
        beta: float,
        lbd: float,
        form: str,
        joint: bool = True,
    ) -> None:
        self.autoencoder, self.layer, self.alpha = autoencoder, layer, alpha
        self.beta, self.lbd, self.form, self.joint = beta, lbd, form, joint

    def parameters(self) -> list[Tensor]:
        params = list(self.layer.parameters())
        if self.joint:
            params += list(self.autoencoder.parameters())
        return params

    def loss(self, batch: Tensor, index: Tensor) -> dict[str, Tensor]:
        if self.joint:
            z = self.autoencoder.encode(batch)
            x_hat = self.autoencoder.decode(z)
        else:
            with torch.no_grad():
                z = self.autoencoder.encode(batch)
            x_hat = batch  # constant reconstruction term: zero
        beta = self.beta if self.joint else 0.0
        return aecm_loss(
            batch,
            x_hat,
            z,
            self.layer(z),
            self.layer.centroids(),
            self.alpha,
            beta=beta,
            lbd=self.lbd,
            form=self.form,
            reduce=self.reduce,
        )

    def assign(self, batch: Tensor) -> Tensor:
        return self.layer(self.autoencoder.encode(batch)).argmax(dim=1)
