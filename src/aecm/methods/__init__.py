"""One short file per method: its objective (loss terms and gradients) for the training loop."""

from aecm.methods.cm import CMObjective

__all__ = ["CMObjective"]
