"""Argument checks shared by the library: each returns the value as a plain Python number or
raises ``ValueError`` with a message that names the argument and says what was expected.

``bool`` is refused wherever a number is expected: ``True`` is an ``int`` to Python, but
``batch_size=True`` is always a mistake.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["check_finite_nonnegative", "check_fraction", "check_int", "check_positive_int"]

_REALS = (int, float, np.integer, np.floating)


def _is_real(value: Any) -> bool:
    return isinstance(value, _REALS) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, minimum: int) -> int:
    """An integer ``>= minimum`` (``"a positive integer"`` when ``minimum`` is 1)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """An integer ``>= 1``: a size, a count of steps or epochs."""
    return check_int(name, value, 1)


def check_fraction(name: str, value: Any) -> float:
    """A number in [0, 1): a dropout ratio, a momentum, a share of the data held out."""
    if not _is_real(value) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_finite_nonnegative(name: str, value: Any) -> float:
    """A finite number ``>= 0``: a weight-decay strength."""
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)
