"""Two lanes: half a batch in the caller's thread, the other half in one worker thread.

The convolutional path (:mod:`dlzero.fast.conv` for training, :mod:`dlzero.fast.infer` for
inference) splits a batch in two and runs the halves at once, each on one BLAS thread: NumPy
and BLAS release the GIL, so the two keep both cores busy. Threads that block, unlike BLAS
threads that spin, cost nothing when another process holds the other core.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["MIN_LANE", "halves", "in_lanes"]

T = TypeVar("T")
U = TypeVar("U")

# Smallest half-batch worth a second thread: below it the hand-over costs more than it saves.
MIN_LANE = 8

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _lane_pool() -> ThreadPoolExecutor:
    """The one worker thread that runs the second half of every batch (made on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(1, thread_name_prefix="dlzero-lane")
        return _pool


def _forget_pool_in_child() -> None:
    # A forked child has no copy of the worker thread: it makes its own on first use.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def halves(n: int, lanes: int) -> tuple[slice, slice] | None:
    """The two halves of a batch of ``n`` (the first one larger when ``n`` is odd), or None
    when it stays in one lane: one lane asked for, or halves under :data:`MIN_LANE`."""
    if lanes < 2 or n < 2 * MIN_LANE:
        return None
    half = (n + 1) // 2
    return slice(0, half), slice(half, n)


def in_lanes(second: Callable[[], T], first: Callable[[], U]) -> tuple[U, T]:
    """Run ``second`` in the worker thread and ``first`` here, at once; both results."""
    future: Future[T] = _lane_pool().submit(second)
    try:
        result = first()
    finally:
        # Wait in any case: the worker must not write into buffers the next call uses.
        other = future.result()
    return result, other
