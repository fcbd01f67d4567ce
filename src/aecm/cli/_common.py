"""Pieces shared by the subcommands: tables, error type, argument helpers."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

__all__ = ["CommandError", "format_table", "mean_std", "positive_int"]


class CommandError(Exception):
    """A failure of a command caused by its data or a model (exit code 1, one-line message)."""


def format_table(rows: list[dict[str, str]]) -> str:
    """A Markdown table of ``rows`` (all with the same keys), columns padded to align."""
    headers = list(rows[0])
    widths = [max(len(h), *(len(r[h]) for r in rows)) for h in headers]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "| " + " | ".join("-" * w for w in widths) + " |",
    ]
    for row in rows:
        cells = (row[h].ljust(w) for h, w in zip(headers, widths, strict=True))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mean_std(values: Sequence[float], scale: float = 1.0, digits: int = 1) -> str:
    """``"mean ± std"`` of ``values`` times ``scale``, with ``digits`` decimals."""
    values = np.asarray(values, dtype=float) * scale
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1 (a usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
