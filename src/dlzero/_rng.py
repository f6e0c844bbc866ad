"""One place that turns the caller's ``rng`` argument into a ``numpy.random.Generator``.

By default ``rng=None`` means fresh entropy: two networks built without a seed differ. The
book's scripts instead seed NumPy's global state (``np.random.seed(...)``) and build their
networks without one; :func:`use_numpy_global_random` makes dlzero follow them, so that such a
script is repeatable (``python -m dlzero.book`` turns it on).
"""

from __future__ import annotations

import numpy as np

__all__ = ["RngLike", "as_rng", "use_numpy_global_random"]

RngLike = np.random.Generator | int | None

# Whether ``rng=None`` draws from NumPy's global state (see use_numpy_global_random).
_use_numpy_global = False


def use_numpy_global_random(enabled: bool = True) -> None:
    """Make ``rng=None`` draw from NumPy's global random state (or, with False, stop).

    Afterwards every network, layer (``Dropout`` masks included) and trainer built without an
    ``rng`` draws its numbers from the state that ``np.random.seed`` sets and ``np.random.rand``
    uses, at the moment it draws them: a script that calls ``np.random.seed(0)`` first gives the
    same run every time, as the book's scripts do. The numbers are not the book's own (dlzero
    draws through a ``Generator``, whose normal and uniform algorithms differ from the legacy
    ``np.random.randn``), only repeatable. An explicit ``rng=`` (a seed or a Generator) is
    unaffected, and objects built before the call keep the source they were given.

    Parameters
    ----------
    enabled : bool, default True
        False restores dlzero's default: ``rng=None`` is fresh entropy.
    """
    global _use_numpy_global
    _use_numpy_global = bool(enabled)


def _numpy_global_generator() -> np.random.Generator:
    """A Generator over the bit generator of NumPy's global ``RandomState``.

    It shares that bit generator (not a copy of its state), so its draws advance the global
    state, and ``np.random.seed`` (which reseeds the same bit generator in place) resets it.
    """
    return np.random.Generator(np.random.mtrand._rand._bit_generator)


def as_rng(rng: RngLike) -> np.random.Generator:
    """Return a Generator for ``rng``: a Generator as is, an int as a seed, None as fresh entropy.

    Every random draw in dlzero goes through the Generator returned here, so the same seed
    gives the same numbers. After :func:`use_numpy_global_random`, None means NumPy's global
    random state instead of fresh entropy.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None and _use_numpy_global:
        return _numpy_global_generator()
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")
