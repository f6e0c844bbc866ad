"""The one buffer cache of the fast paths: arrays made for a shape, kept for the next call.

A fused step allocates its arrays once per input shape (the training batch, the last partial
batch, an evaluation chunk, the last chunk) and reuses them at every later call with that
shape: on a small machine a fresh multi-megabyte array costs page faults at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["BufferCache"]

T = TypeVar("T")


class BufferCache(Generic[T]):
    """Arrays made for a key on its first use and kept for the next.

    At most ``size`` keys are kept; making one more drops the least recently used. Four is
    enough for a training run: batch, last batch, evaluation chunk, last chunk.

    The maker is passed to :meth:`get`, not kept: a cache that held its owner's bound method
    would make a reference cycle, and an owner no longer used (a fused step's snapshot, after
    its evaluation) would keep its megabytes until the garbage collector ran.
    """

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._items: dict[Hashable, T] = {}

    def get(self, key: Hashable, make: Callable[[Hashable], T]) -> T:
        """The arrays for ``key``: kept ones, or new ones from ``make(key)``."""
        item = self._items.pop(key, None)
        if item is None:
            if len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))  # the least recently used
            item = make(key)
        self._items[key] = item  # the most recently used last
        return item

    def __len__(self) -> int:
        return len(self._items)
