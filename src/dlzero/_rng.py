"""One place that turns the caller's ``rng`` argument into a ``numpy.random.Generator``."""

from __future__ import annotations

import numpy as np

RngLike = np.random.Generator | int | None


def as_rng(rng: RngLike) -> np.random.Generator:
    """Return a Generator for ``rng``: a Generator as is, an int as a seed, None as fresh entropy.

    Every random draw in dlzero goes through the Generator returned here, so the same seed
    gives the same numbers.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")
