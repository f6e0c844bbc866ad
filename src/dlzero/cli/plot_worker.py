"""Drawing ``dlzero train``'s plots in a second process that gets ready while training runs.

Importing matplotlib costs about half a second of CPU, a tenth of the chapter-5 run. A worker
process, forked before the data is loaded (so it copies almost nothing), imports it on the
other core while this one trains, and draws the plots when the history is ready. Only on
Linux: elsewhere forking a process that has loaded system frameworks is not safe (macOS) or not
possible (Windows). There, or if the worker dies, the plots are drawn here instead: slower,
never lost. BENCHMARKS.md has the measurement that keeps this module.
"""

from __future__ import annotations

import signal
import sys
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["PlotWorker", "draw_plots"]


def draw_plots(history: Any, accuracy_path: str, loss_path: str, title: str) -> None:
    """Draw the accuracy and the loss curves of ``history`` to their files."""
    from dlzero.plotting import plot_accuracy, plot_loss

    plot_accuracy(history, accuracy_path, title=title)
    plot_loss(history, loss_path, title=title)


def _get_ready() -> None:
    # Ctrl-C reaches the whole process group. It is the trainer's to handle (it stops training
    # and still asks for the plots), so the worker must not die of it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from dlzero.plotting import new_figure

    new_figure()  # imports matplotlib and its Agg canvas


class PlotWorker:
    """A process that imports matplotlib now and runs :func:`draw_plots` later."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        if not sys.platform.startswith("linux"):
            return
        # Imported here, not at the top: every dlzero command imports this module, and only
        # train with plots needs a process pool.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        try:
            self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_get_ready)
            with warnings.catch_warnings():
                # Python 3.12+ warns about forking a process that has threads. At this point
                # the only ones are BLAS's, and OpenBLAS restarts its pool in a forked child.
                warnings.simplefilter("ignore", DeprecationWarning)
                self._pool.submit(int)  # the worker starts with its first task: start it now
        except OSError:  # no process to be had
            self.close()

    def draw(self, history: Any, accuracy_path: str, loss_path: str, title: str) -> None:
        """Draw the plots in the worker, or here if it is gone. Errors (e.g. an OSError from
        writing a file) are raised here, as if the plots were drawn here."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            if self._pool is not None:
                try:
                    future = self._pool.submit(draw_plots, history, accuracy_path, loss_path, title)
                    return future.result()
                except BrokenProcessPool:
                    pass
            draw_plots(history, accuracy_path, loss_path, title)
        finally:
            self.close()

    def close(self) -> None:
        """End the worker (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
