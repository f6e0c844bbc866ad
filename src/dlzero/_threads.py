"""How many BLAS threads a fused training step uses.

The matrix products of the chapter-5 step are small (100x784 by 784x50, about 4 million
multiply-adds). On an idle machine OpenBLAS runs them a little faster on every core than on one,
but its threads wait for each other by spinning: when another process holds a core, every
product waits for a thread that is not running, and we measured whole training runs 10 to 40
times slower on a shared 2-core machine (the same run: 3.1 s on one thread, 64 s on two). One
thread costs about 20% on an idle machine and is immune to that, and a fixed choice keeps a
seeded run reproducible (results can differ in the last bits between thread counts). So steps
whose largest product is small run on one thread; large products (evaluation on 10,000 images,
wide or big-batch networks) keep every thread.

Setting the count needs ``threadpoolctl`` (in the ``cli`` extra); without it BLAS keeps its
own setting. The library's setting is restored after each call, so nothing outside changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# Multiply-adds of the largest product below which a step runs on one thread (2**25 = 33.5M;
# the chapter-5 step's largest is 3.9M, hidden 1000 with batch 1000 is 784M).
SMALL_PRODUCT = 2**25

_libraries: list[Any] | None = None


def _blas_libraries() -> list[Any]:
    """threadpoolctl's controllers of the loaded BLAS libraries (empty without threadpoolctl)."""
    global _libraries
    if _libraries is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _libraries = []
        else:
            _libraries = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _libraries


class SingleThreadBlas:
    """Run calls on one BLAS thread, putting the library's own setting back after each.

    A set costs under a microsecond (``openblas_set_num_threads``), so wrapping every step is
    cheap. Does nothing when threadpoolctl is missing or BLAS already runs one thread.
    """

    def __init__(self) -> None:
        self._libs = _blas_libraries()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        # The setting is read at every call (a get costs under a microsecond), so a limit the
        # caller set later, e.g. with threadpoolctl, is what gets restored.
        restore = [lib.num_threads for lib in self._libs]
        if all(n == 1 for n in restore):
            return fn(*args)
        for lib in self._libs:
            lib.set_num_threads(1)
        try:
            return fn(*args)
        finally:
            for lib, n in zip(self._libs, restore, strict=True):
                lib.set_num_threads(n)


def blas_thread_count() -> int:
    """The most threads a loaded BLAS library may use now (1 when it cannot be read)."""
    return max((lib.num_threads for lib in _blas_libraries()), default=1)


def can_limit_blas_threads() -> bool:
    """Whether the BLAS thread count can be set (threadpoolctl present, a BLAS it knows)."""
    return bool(_blas_libraries())


def limit_blas_to_one_thread() -> Callable[[], None] | None:
    """Set every loaded BLAS library to one thread; return a function that puts them back.

    Returns None, changing nothing, when the thread count cannot be set (no threadpoolctl, or
    no BLAS it knows). Used while a second Python thread evaluates: two callers each running
    one-thread products keep both cores busy without BLAS threads spinning against them.
    """
    libs = _blas_libraries()
    if not libs:
        return None
    before = [lib.num_threads for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)

    def restore() -> None:
        for lib, n in zip(libs, before, strict=True):
            lib.set_num_threads(n)

    return restore


_single: SingleThreadBlas | None = None


def single_thread_blas() -> SingleThreadBlas:
    """The process-wide :class:`SingleThreadBlas` (the BLAS libraries are process-wide too)."""
    global _single
    if _single is None:
        _single = SingleThreadBlas()
    return _single


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
