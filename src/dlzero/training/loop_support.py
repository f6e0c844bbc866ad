"""What runs beside the trainer's loop, so that the loop itself reads like the notes' loop.

``Trainer._fit`` draws a mini-batch, backpropagates, updates and records the loss, step after
step, and evaluates once an epoch. Everything else a run needs is here, each piece kept out of
the steps:

- :class:`MiniBatches` gathers each mini-batch into buffers made once (and augments it), so a
  step allocates nothing.
- :class:`Epochs` evaluates at each epoch's end, now or on the other core
  (:mod:`dlzero.training.background`), records the results in the :class:`History`, prints the
  epoch line and runs the callbacks. Its :meth:`Epochs.steps` numbers an epoch's steps in
  chunks; between two chunks, never inside a step, it moves the progress bar and records an
  evaluation that has finished in the background.
- :class:`ProgressBars` draws one bar per epoch, and prints the epoch lines above it.
- :class:`StopOnCtrlC` makes the first Ctrl-C finish the step under way and stop cleanly.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, NoReturn, TextIO

import numpy as np
from numpy.typing import NDArray

from dlzero._progress import interactive, progress_bar
from dlzero.training.background import (
    BackgroundEvaluator,
    ForegroundEvaluator,
    PendingEvaluation,
)
from dlzero.training.history import History, TrainingDiverged, TrainingInterrupted

__all__ = ["Epochs", "MiniBatches", "ProgressBars", "StopOnCtrlC", "progress_bar_factory"]


class MiniBatches:
    """The training set's mini-batches, gathered into buffers made once: a step allocates nothing.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    t : ndarray, shape (N,) labels or (N, C) one-hot
    batch_size : int
        B, the size of every mini-batch but a shuffled epoch's last.
    augment : callable, optional
        ``augment(x, rng, out=...)``, applied to each mini-batch with ``augment_rng``.
    augment_rng : Generator, optional
    """

    def __init__(
        self,
        x: NDArray,
        t: NDArray,
        batch_size: int,
        augment: Callable[..., NDArray] | None = None,
        augment_rng: np.random.Generator | None = None,
    ) -> None:
        self.x, self.t, self.batch_size = x, t, batch_size
        self.augment, self.augment_rng = augment, augment_rng
        self.x_buf = np.empty((batch_size, *x.shape[1:]), dtype=x.dtype)
        self.t_buf = np.empty((batch_size, *t.shape[1:]), dtype=t.dtype)
        if augment is not None:
            self.a_buf = np.empty(self.x_buf.shape, np.result_type(x.dtype, np.float32))

    def take(self, order: NDArray, j: int) -> tuple[NDArray, NDArray]:
        """Mini-batch ``j`` of an epoch whose samples come in ``order``.

        Parameters
        ----------
        order : ndarray of int, shape (n_steps * B,) or less
            The epoch's sample indices (:func:`~dlzero.training.data.batch_order`).
        j : int
            The step within the epoch.

        Returns
        -------
        x_batch : ndarray, shape (B, ...), or fewer rows for a shuffled epoch's last step
        t_batch : ndarray, shape (B,) or (B, C)
            Views of the buffers, overwritten by the next call.
        """
        b = self.batch_size
        idx = order[j * b : (j + 1) * b]
        m = len(idx)
        x_batch = np.take(self.x, idx, axis=0, out=self.x_buf[:m], mode="clip")
        t_batch = np.take(self.t, idx, axis=0, out=self.t_buf[:m], mode="clip")
        if self.augment is not None:
            x_batch = self.augment(x_batch, self.augment_rng, out=self.a_buf[:m])
        return x_batch, t_batch


def progress_bar_factory(
    progress: bool | str, verbose: bool, num_epochs: int
) -> Callable[[int, int], Any] | None:
    """``make(epoch, total)`` drawing one epoch's bar, or None when no bar is shown.

    ``progress="auto"`` shows bars only when ``verbose`` is on and someone watches: stderr is a
    terminal, or the code runs in a Jupyter notebook.
    """
    show = progress
    if show == "auto":
        show = verbose and interactive()
    if not show:
        return None

    def make(epoch: int, total: int) -> Any:
        return progress_bar(total, f"epoch {epoch}/{num_epochs}")

    return make


class ProgressBars:
    """The progress bar of the epoch under way, if bars are shown.

    Parameters
    ----------
    make : callable, optional
        ``make(epoch, total)`` returns a bar with ``update(n)``, ``clear()``, ``refresh()`` and
        ``close()`` (:func:`progress_bar_factory`); None draws none.
    """

    def __init__(self, make: Callable[[int, int], Any] | None = None) -> None:
        self.make = make
        self.current: Any = None  # the bar on screen, if any

    def open(self, epoch: int, total: int) -> Any:
        self.current = self.make(epoch, total) if self.make is not None else None
        return self.current

    def update(self, n: int) -> None:
        if self.current is not None:
            self.current.update(n)

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None

    def print(self, line: str, file: TextIO) -> None:
        """Print ``line`` above the bar on screen, if any."""
        # A background evaluation's line can come while the next epoch's bar is drawn: take
        # the bar off the terminal, print, and draw it again below.
        bar = self.current
        if bar is not None:
            bar.clear()
        print(line, file=file, flush=True)
        if bar is not None:
            bar.refresh()


class StopOnCtrlC:
    """While training in the main thread, the first Ctrl-C asks the trainer to stop.

    It sets ``trainer._stop_requested``, which the loop reads after each step, and puts the
    previous handler back, so that a second Ctrl-C interrupts at once. Nothing changes with
    ``trainer.handle_sigint`` off, in another thread, or where Ctrl-C is ignored.
    """

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.previous: Any = None  # the handler to restore, if one was replaced

    def __enter__(self) -> StopOnCtrlC:
        trainer = self.trainer
        trainer._stop_requested = False
        if not trainer.handle_sigint or threading.current_thread() is not threading.main_thread():
            return self
        previous = signal.getsignal(signal.SIGINT)
        if previous is None or previous == signal.SIG_IGN:
            return self  # not ours to change: set outside Python, or Ctrl-C is ignored

        def request_stop(signum: int, frame: Any) -> None:
            trainer._stop_requested = True
            signal.signal(signal.SIGINT, previous)  # a second Ctrl-C interrupts at once
            print(
                "\nstopping after the current step (Ctrl-C again to abort)",
                file=sys.stderr,
                flush=True,
            )

        signal.signal(signal.SIGINT, request_stop)
        self.previous = previous
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


class Epochs:
    """The evaluations at each epoch's end, recorded in the history as they finish.

    :meth:`end` starts evaluating the weights an epoch left; with a
    :class:`~dlzero.training.background.ForegroundEvaluator` that evaluation has finished when it
    returns, with a :class:`~dlzero.training.background.BackgroundEvaluator` it runs while the
    next epoch trains, is recorded between two chunks of its steps if it finishes then, and is
    waited for at that epoch's end. Recording one adds it to the history, prints the epoch line
    and runs the callbacks, which may say stop. As a context manager it keeps, if training
    fails or is interrupted, the evaluation under way, and closes the evaluator and the bar.

    Parameters
    ----------
    trainer : Trainer
        Gives ``num_epochs``, ``callbacks``, ``verbose``, ``epoch_line``, ``log_line`` and
        ``evaluate`` (for the last epoch's evaluation).
    history : History
        Where the evaluations go.
    evaluator : ForegroundEvaluator or BackgroundEvaluator
    bars : ProgressBars

    Attributes
    ----------
    losses : ndarray, shape (trainer.iters,), float64
        The loss of each step, filled in place by the loop (NaN for steps not taken).
    """

    def __init__(
        self,
        trainer: Any,
        history: History,
        evaluator: ForegroundEvaluator | BackgroundEvaluator,
        bars: ProgressBars,
    ) -> None:
        self.trainer, self.history, self.evaluator = trainer, history, evaluator
        self.bars, self.losses = bars, np.full(trainer.iters, np.nan)
        self.pending: PendingEvaluation | None = None  # the evaluation under way
        self.stopped = False  # a callback said stop
        self.seconds = 0.0  # the training time of the epoch that ended last
        history.config["background_eval"] = isinstance(evaluator, BackgroundEvaluator)

    def __enter__(self) -> Epochs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None and self.pending is not None:
                self._keep(self.pending)
        finally:
            self.bars.close()
            self.evaluator.close()

    def steps(self, epoch: int, n_steps: int, done: int) -> Iterator[int]:
        """0 to ``n_steps - 1``, the steps of ``epoch``, ``done`` steps having run before it.

        The steps run in chunks, between looks at the progress bar and at the evaluation under
        way: nothing is added to a step. Ends early if a callback says stop (:meth:`end` then
        says so); ``seconds`` is then the epoch's training time.
        """
        bar = self.bars.open(epoch, n_steps)
        watching = bar is not None or self.pending is not None
        chunk = max(1, n_steps // 50) if watching else n_steps
        t0 = time.perf_counter()
        for start in range(0, n_steps, chunk):
            if self._collect(done + start, wait=False):
                self.stopped = True
                return
            yield from range(start, min(start + chunk, n_steps))
            self.bars.update(min(chunk, n_steps - start))
        self.seconds = time.perf_counter() - t0
        self.bars.close()

    def end(self, epoch: int, done: int) -> bool:
        """Evaluate the weights after ``epoch`` (0: the initial ones), ``done`` steps in all.

        Returns
        -------
        bool
            True: training stops, a callback said so (here or during the epoch).
        """
        if self.stopped or self._collect(done, wait=True):  # the previous epoch's, if under way
            return True
        if epoch == self.trainer.num_epochs:  # the last evaluation has every thread to itself
            self.evaluator.close()
            self.evaluator = ForegroundEvaluator(self.trainer.evaluate)
        self.pending = self.evaluator.submit(epoch, done, self.seconds)
        return self._collect(done, wait=False)

    def stop(self, done: int, epoch: int) -> NoReturn:
        """End a run whose last loss (step ``done``, in ``epoch``) is not finite, or that Ctrl-C
        asked to stop.

        Raises
        ------
        TrainingDiverged, TrainingInterrupted
            With the history so far.
        """
        history, losses = self.history, self.losses
        self.bars.close()
        history.loss, history.iterations_done = losses[:done], done
        loss = losses[done - 1]
        if not math.isfinite(loss):
            lr = getattr(self.trainer.optimizer, "lr", None)
            hint = f" (now {lr:g})" if isinstance(lr, (int, float)) else ""
            history.stop_reason = "diverged"
            history.message = (
                f"training diverged: the loss became {loss} at iteration {done} (epoch {epoch}); "
                f"try a smaller learning rate{hint}"
            )
            raise TrainingDiverged(history.message, history)
        history.stop_reason = "interrupted"
        history.message = f"interrupted at iteration {done} of {self.trainer.iters} (epoch {epoch})"
        raise TrainingInterrupted(history.message, history)

    def _collect(self, done: int, wait: bool) -> bool:
        """Record the evaluation under way if it has finished (or, with ``wait``, once it has):
        True if the callbacks then say stop. A same-thread one has always finished."""
        pending = self.pending
        if pending is None or not (wait or pending.ready()):
            return False
        # pending is cleared only once its result is in hand: a Ctrl-C while waiting leaves it
        # to __exit__, which still records it.
        result, self.pending = pending.result(), None
        return self.record(pending, result, done)

    def _keep(self, pending: PendingEvaluation) -> None:
        """Training failed or was interrupted: record the evaluation under way, if it finishes,
        so the history has every epoch that ended."""
        history = self.history
        if history.stop_reason in ("diverged", "interrupted"):
            done = history.iterations_done  # the trainer's own stop recorded it
        else:  # every loss recorded so far is finite (a NaN stops training), the rest NaN
            done = int(np.count_nonzero(~np.isnan(self.losses)))
        # The callbacks see it, but the reason training ended stays the one in flight
        # (``ending`` keeps the stop reason; a callback may still have written its own message).
        message = history.message
        try:
            self.record(pending, pending.result(), done, ending=True)
        except Exception:  # the error in flight is the one to report
            pass
        history.message = message

    def record(
        self,
        evaluation: PendingEvaluation,
        result: tuple[dict[str, float], float],
        done: int,
        *,
        ending: bool = False,
    ) -> bool:
        """Add a finished evaluation to the history and run the callbacks; True: they say stop.

        ``done`` steps have run by now: ``evaluation.steps`` of them before it started, and more
        when it ran in the background. ``ending``: training is already ending (a divergence or
        Ctrl-C), so a stop asked for by a callback changes nothing.
        """
        trainer, history, losses = self.trainer, self.history, self.losses
        acc, t_eval = result
        history.loss, history.iterations_done = losses[:done], done
        history.epochs.append(evaluation.epoch)
        history.epoch_iterations.append(evaluation.steps)
        for name, value in acc.items():
            history.accuracy.setdefault(name, []).append(value)
        start = history.epoch_iterations[-2] if len(history.epoch_iterations) > 1 else 0
        history.epoch_loss.append(
            float(np.mean(losses[start : evaluation.steps])) if evaluation.steps else None
        )
        history.train_time.append(evaluation.seconds)
        history.eval_time.append(t_eval)
        if trainer.verbose:
            trainer.log_line(trainer.epoch_line(history))
        stop = False
        for cb in trainer.callbacks:
            if hasattr(cb, "on_epoch_end") and cb.on_epoch_end(trainer, history):
                stop = True
        if stop and not ending:
            history.stop_reason = "stopped"
            history.message = history.message or (
                f"stopped by a callback after epoch {evaluation.epoch}"
                if done
                else "stopped by a callback before the first step"
            )
            if trainer.verbose:
                trainer.log_line(history.message)
        return stop
