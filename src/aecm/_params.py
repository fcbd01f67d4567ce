"""A small declarative table of parameter constraints, checked at the start of ``fit``.

Each estimator declares ``_parameter_constraints = {name: [constraint, ...]}``; a value is valid
when it satisfies any of its constraints. Messages name the parameter, what it accepts and what
it got.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = ["AUTO", "Interval", "Options", "is_auto", "validate_params"]


@dataclass(frozen=True)
class Interval:
    """Numbers of ``kind`` (``Integral`` or ``Real``) in ``[left, right]``, ends open or closed."""

    kind: type
    left: float | None
    right: float | None
    closed: str = "both"  # "both", "left", "right", "neither"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool | np.bool_):
            return False
        if self.kind is Integral and not isinstance(value, Integral):
            return False
        if not isinstance(value, Real) or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.left is not None:
            if value < self.left or (value == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if value > self.right or (value == self.right and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self) -> str:
        kind = "an int" if self.kind is Integral else "a float"
        lo = "-inf" if self.left is None else f"{self.left:g}"
        hi = "inf" if self.right is None else f"{self.right:g}"
        lb = "[" if self.closed in ("both", "left") and self.left is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.right is not None else ")"
        return f"{kind} in the range {lb}{lo}, {hi}{rb}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (strings)."""

    values: tuple

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


class _Bool:
    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool | np.bool_)

    def __str__(self) -> str:
        return "a bool"


class _ArrayLike:
    def accepts(self, value: Any) -> bool:
        return hasattr(value, "__array__") or isinstance(value, list | tuple)

    def __str__(self) -> str:
        return "an array-like"


class _RandomState:
    def accepts(self, value: Any) -> bool:
        return (
            value is None
            or isinstance(value, np.random.RandomState)
            or (isinstance(value, Integral) and not isinstance(value, bool) and 0 <= value < 2**32)
        )

    def __str__(self) -> str:
        return "None, an int in [0, 2**32) or a numpy RandomState"


class _NoneValue:
    def accepts(self, value: Any) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


class _Path:
    def accepts(self, value: Any) -> bool:
        return isinstance(value, str | os.PathLike)

    def __str__(self) -> str:
        return "a path (str or os.PathLike)"


class _Device:
    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) or type(value).__name__ == "device"

    def __str__(self) -> str:
        return "a device name ('auto', 'cpu', 'cuda', 'cuda:N') or a torch.device"


def is_auto(value: Any) -> bool:
    """Whether ``value`` is the string ``"auto"`` (e.g. ``n_clusters="auto"``)."""
    return isinstance(value, str) and value == "auto"


class _Auto:
    def accepts(self, value: Any) -> bool:
        return is_auto(value)

    def __str__(self) -> str:
        return "'auto'"


AUTO = _Auto()
BOOLEAN = _Bool()
DEVICE = _Device()
ARRAY_LIKE = _ArrayLike()
RANDOM_STATE = _RandomState()
NONE = _NoneValue()
PATH = _Path()
#: ``on_nan`` of the torch-trained estimators: what a non-finite loss does (see ``LoopConfig``).
ON_NAN = Options(("raise", "restore"))


def validate_params(estimator: Any, constraints: dict[str, list]) -> None:
    """Raise ``ValueError`` (``TypeError`` for a wrong type) for the first invalid parameter."""
    params = estimator.get_params(deep=False)
    for name, allowed in constraints.items():
        value = params[name]
        if any(c.accepts(value) for c in allowed):
            continue
        accepted = " or ".join(str(c) for c in allowed)
        message = (
            f"The {name!r} parameter of {type(estimator).__name__} must be {accepted}; "
            f"got {value!r}."
        )
        numeric_expected = any(isinstance(c, Interval) for c in allowed)
        is_number = isinstance(value, Real) and not isinstance(value, bool)
        wrong_type = (
            numeric_expected and not is_number and not any(isinstance(c, Options) for c in allowed)
        )
        raise (TypeError if wrong_type else ValueError)(message)
