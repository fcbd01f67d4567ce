"""The multilayer-perceptron autoencoder shared by AE-CM and the deep baselines.

As in DEC/IDEC and the AE-CM paper: encoder ``d–500–500–2000–p`` with LeakyReLU(0.2) after each
hidden layer and a linear embedding layer; a mirrored decoder ``p–2000–500–500–d`` with a linear
output; Glorot-uniform weights and zero biases. The sizes are configurable.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["Autoencoder"]


def _mlp(sizes: Sequence[int], device, dtype) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with LeakyReLU(0.2) between them."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out, device=device, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """MLP autoencoder: ``z = encoder(x)`` (the embedding), ``x̂ = decoder(z)``.

    Parameters
    ----------
    in_features : int
        Input dimension ``d``.
    embedding_dim : int
        Embedding dimension ``p``.
    hidden_dims : sequence of int, default=(500, 500, 2000)
        Hidden layer sizes of the encoder; the decoder uses them in reverse order.
    """

    def __init__(
        self,
        in_features: int,
        embedding_dim: int,
        hidden_dims: Sequence[int] = (500, 500, 2000),
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.embedding_dim = embedding_dim
        self.hidden_dims = tuple(int(h) for h in hidden_dims)
        sizes = (in_features, *self.hidden_dims, embedding_dim)
        self.encoder = _mlp(sizes, device, dtype)
        self.decoder = _mlp(sizes[::-1], device, dtype)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights and zero biases, drawn from ``generator``."""
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    bound = (6.0 / (module.in_features + module.out_features)) ** 0.5
                    module.weight.uniform_(-bound, bound, generator=generator)
                    module.bias.zero_()

    @torch.no_grad()
    def rescale_embedding(self, factor: float) -> None:
        """Divide the embedding by ``factor``; the decoder's first layer multiplies it back, so
        the reconstructions stay the same (up to float rounding)."""
        last, first = self.encoder[-1], self.decoder[0]
        last.weight.div_(factor)
        last.bias.div_(factor)
        first.weight.mul_(factor)

    def encode(self, x: Tensor) -> Tensor:
        """The embedding ``z`` (n × p)."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """The reconstruction ``x̂`` (n × d) of an embedding."""
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        """The reconstruction ``x̂ = decoder(encoder(x))``."""
        return self.decoder(self.encoder(x))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, embedding_dim={self.embedding_dim}, "
            f"hidden_dims={self.hidden_dims}"
        )
