"""Evaluating each epoch's weights: now, in the trainer's thread, or on the other core.

Both evaluators have one method the trainer uses, ``submit(epoch, steps, seconds)``, which
returns a :class:`PendingEvaluation`; the trainer's loop reads the same with either.

- :class:`ForegroundEvaluator` evaluates at once, in the caller's thread: what the notes' loop does.
- :class:`BackgroundEvaluator` copies the weights of a network with a fused step (a plain
  MLP, or the convolutional networks) and evaluates the copy in a worker thread while the
  next epoch trains. On 2 cores this hides most of the chapter-5 run's evaluation time
  (``python benchmarks/background_eval.py``; BENCHMARKS.md has the figures).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._threads import available_cpus, can_limit_blas_threads, limit_blas_to_one_thread
from dlzero.fast import FusedStep, fused_step
from dlzero.functions import as_labels, chunked_accuracy

__all__ = [
    "BackgroundEvaluator",
    "ForegroundEvaluator",
    "PendingEvaluation",
    "available_cpus",
    "background_eval_problem",
]

# (accuracy by eval set name, seconds the evaluation took)
Result = tuple[dict[str, float], float]


@dataclass
class PendingEvaluation:
    """The evaluation of the weights after ``epoch``: ``steps`` steps and ``seconds`` of
    training in all."""

    future: Future[Result]
    epoch: int
    steps: int
    seconds: float

    def ready(self) -> bool:
        return self.future.done()

    def result(self) -> Result:
        """Wait for the accuracies (and the seconds they took)."""
        return self.future.result()


class ForegroundEvaluator:
    """Evaluate in the caller's thread: ``submit`` returns a finished evaluation.

    Parameters
    ----------
    evaluate : callable
        ``evaluate() -> {name: accuracy}`` for the network's weights as they are now.
    """

    def __init__(self, evaluate: Callable[[], dict[str, float]]) -> None:
        self._evaluate = evaluate

    def submit(self, epoch: int, steps: int, seconds: float) -> PendingEvaluation:
        t0 = time.perf_counter()
        future: Future[Result] = Future()
        future.set_result((self._evaluate(), time.perf_counter() - t0))
        return PendingEvaluation(future, epoch, steps, seconds)

    def close(self) -> None:
        """Nothing to release (the background evaluator has a thread)."""


class BackgroundEvaluator:
    """Accuracy of copies of a network's weights, computed in one worker thread.

    While it exists every BLAS library runs one thread: the training steps in the main thread
    and the products here then each keep one core busy. (BLAS threads that spin while waiting
    for a core that the other caller holds would slow both.) ``close`` puts the count back.

    Parameters
    ----------
    fused : FusedStep
        The network's fused step (:func:`dlzero.fast.fused_step`), whose ``snapshot`` copies
        the weights.
    eval_sets : mapping of str to (x, t)
    batch_size : int
        Evaluate in chunks of this many samples.
    """

    def __init__(
        self,
        fused: FusedStep,
        eval_sets: Mapping[str, tuple[NDArray, NDArray]],
        batch_size: int,
    ) -> None:
        self._fused = fused
        # Labels from one-hot targets once, not at every evaluation.
        self._sets = {name: (x, as_labels(t)) for name, (x, t) in eval_sets.items()}
        self._batch_size = batch_size
        self._restore_blas = limit_blas_to_one_thread()
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(
            1, thread_name_prefix="dlzero-eval"
        )

    def submit(self, epoch: int, steps: int, seconds: float) -> PendingEvaluation:
        """Start evaluating the weights as they are now."""
        assert self._pool is not None, "submit after close"
        snapshot = self._fused.snapshot()  # copied here, in the caller's thread, before any step
        return PendingEvaluation(self._pool.submit(self._evaluate, snapshot), epoch, steps, seconds)

    def _evaluate(self, snapshot: FusedStep) -> Result:
        t0 = time.perf_counter()
        # errstate is per thread: a diverging run's overflow is the trainer's to report, here
        # as in the main thread.
        with np.errstate(over="ignore", invalid="ignore"):
            acc = {
                name: chunked_accuracy(snapshot.predict, x, labels, self._batch_size)
                for name, (x, labels) in self._sets.items()
            }
        return acc, time.perf_counter() - t0

    def close(self) -> None:
        """Wait for the worker, end it, and give BLAS its thread count back (idempotent)."""
        try:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        finally:  # even when Ctrl-C interrupts the wait
            if self._restore_blas is not None:
                self._restore_blas()
                self._restore_blas = None


def background_eval_problem(trainer: Any) -> str | None:
    """Why a :class:`~dlzero.training.Trainer`'s evaluation would not run in the background,
    or None if it would.

    With ``background_eval=True`` only what makes it impossible counts; with "auto", also what
    makes it not worth it: one CPU, steps that already keep every core busy (large enough to
    use every BLAS thread, or the convolutional networks' two lanes), or an epoch's training
    work (about 3 x iterations x batch size samples' worth) under the evaluation's.
    """
    if trainer.background_eval is False:
        return "background_eval is False"
    fused = fused_step(trainer.network)
    if fused is None or trainer.gradient_method != "backprop":
        return (
            "only a network with a fused step (a plain MLP: Affine layers, ReLU or sigmoid, "
            "SoftmaxWithLoss; or SimpleConvNet, DeepConvNet) trained by backprop can be "
            "evaluated on a copy"
        )
    if not trainer.eval_sets:
        return "there is nothing to evaluate"
    if trainer.num_epochs < 2:
        return "a run of one epoch has nothing to overlap"
    unsafe = sorted(
        {type(cb).__name__ for cb in trainer.callbacks if not getattr(cb, "background_safe", 0)}
    )
    if unsafe:
        return f"callbacks act on the network at each epoch's end ({', '.join(unsafe)})"
    if not can_limit_blas_threads():
        return "the BLAS thread count cannot be set (threadpoolctl is not installed)"
    if trainer.background_eval is True:
        return None
    if available_cpus() < 2:
        return "one CPU"
    if fused.uses_every_blas_thread(trainer.batch_size):
        return "the steps are large enough to use every BLAS thread"
    if fused.lanes >= available_cpus():
        # Measured (BENCHMARKS.md, issue 26): an image evaluated beside DeepConvNet's steps
        # costs them 1.0-1.1 times the time of one evaluated in the foreground on both lanes
        # (Trainer.fit 7% slower); beside SimpleConvNet's 0.6 times on a quiet machine, 1.4
        # times in a busy spell (its fit 3-7% faster, or no faster with a train subset).
        return "the steps already keep every core busy (two lanes)"
    eval_samples = sum(len(x) for x, _ in trainer.eval_sets.values())
    if 3 * trainer.iterations_per_epoch * trainer.batch_size < eval_samples:
        return "an epoch's training is shorter than its evaluation"
    return None
