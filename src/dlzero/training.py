"""Mini-batch training: the loop at the end of chapter 5, as a reusable ``Trainer``.

The notes' loop, step by step::

    for i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)   # draw a mini-batch
        grad = network.gradient(x_batch, t_batch)               # backpropagation
        network.params[key] -= learning_rate * grad[key]        # SGD
        train_loss_list.append(network.loss(x_batch, t_batch))  # record the loss
        if i % iter_per_epoch == 0: ...                          # evaluate once per epoch

``Trainer`` does the same with any network (anything with ``params``, ``gradient``, ``loss``,
``accuracy``, e.g. a :class:`~dlzero.networks.Sequential`) and any optimizer
(``update(params, grads)`` in place), with these differences, each for a reason:

- **Epochs in integers.** One epoch is ``ceil(train_size / batch_size)`` iterations. The book's
  trainer tests ``i % (train_size / batch_size) == 0`` with a float, which is never true when
  the division is not exact, so epochs are silently skipped.
- **Evaluation schedule.** Train and test accuracy are measured for the weights before the
  first step (epoch 0, the untrained network) and after the last step of every epoch; a final
  partial epoch is evaluated when training ends. The default run (60,000 images, batch 100, 10,000
  iterations) has 600 iterations per epoch and 17 epochs, the last one 400 iterations long:
  18 points, epoch 0 to 17. Evaluation runs in chunks (``eval_batch_size``), so memory stays
  bounded whatever the size of the data.
- **No extra forward pass.** The loss recorded for an iteration is the one the gradient step
  computed (the notes run the network forward a second time, after the update, to get it).
- **Sampling, named.** ``sampling="shuffle"`` (the default) draws a fresh permutation each
  epoch and visits every sample exactly once per epoch, so an "epoch" means one pass over the
  data, as the word says; the last mini-batch of an epoch is smaller when ``batch_size`` does
  not divide ``train_size``. ``sampling="replacement"`` draws each mini-batch independently,
  with replacement, as the notes' ``np.random.choice(train_size, batch_size)`` does: in one
  "epoch" about 37% of the images are never seen and others twice. Both reach the same
  accuracy on MNIST within noise; ``shuffle`` is the default because its epochs are real
  passes over the data, and ``replacement`` is there to reproduce the notes exactly.
- **Stops you can trust.** A NaN or infinite loss stops training at once
  (:class:`TrainingDiverged`, naming the iteration); Ctrl-C stops after the current step
  (:class:`TrainingInterrupted`). Both carry the :class:`History` so far.

Chapter 6 adds three things a learner needs to see *why* a network does (not) learn, each
costing nothing unless asked for (none of them adds work to a gradient step):

- **A validation split** (``validation_fraction``): a share of the training set, drawn with the
  run's Generator before training, is held out and evaluated each epoch as ``"val"``. The
  hyperparameters are tuned on it, never on the test set (section 6.5).
- **Early stopping** (``patience``, :class:`EarlyStopping`): training stops when the validation
  accuracy has not improved for ``patience`` epochs, and the weights (and batch-norm running
  statistics) of the best epoch are copied back into the network.
- **Per-layer diagnostics** (``diagnostics``, :class:`RecordDiagnostics`): once per epoch, on a
  small fixed batch, the norm of every parameter and of its gradient and the share of dead ReLU
  units or saturated sigmoid/tanh outputs per layer (:func:`dlzero.diagnostics.layer_diagnostics`),
  kept in ``History.diagnostics``.

Every random choice comes from the Generator given as ``rng``: the same seed gives the same
history, bit for bit, on the same machine.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

import numpy as np
from numpy.typing import NDArray

from dlzero._io import atomic_write_text
from dlzero._rng import RngLike, as_rng
from dlzero._threads import SMALL_PRODUCT, can_limit_blas_threads, limit_blas_to_one_thread
from dlzero.layers import BatchNormalization

__all__ = [
    "GRADIENT_METHODS",
    "SAMPLING",
    "Callback",
    "EarlyStopping",
    "History",
    "RecordDiagnostics",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "check_batch_norm_batches",
    "iterations_per_epoch",
    "train",
    "validation_size",
]

# Ways to draw mini-batches, and how to compute gradients. See the module docstring.
SAMPLING = ("shuffle", "replacement")
GRADIENT_METHODS = ("backprop", "numerical")

HISTORY_FORMAT = "dlzero-history"
# Version 2 added ``diagnostics`` and ``best_epoch``; version-1 files still load.
HISTORY_VERSION = 2


def iterations_per_epoch(train_size: int, batch_size: int) -> int:
    """``ceil(train_size / batch_size)`` in integer arithmetic: the steps of one epoch."""
    return -(-int(train_size) // int(batch_size))


# -- history ---------------------------------------------------------------------------------


def _finite_or_none(values: Sequence[float]) -> list[float | None]:
    """JSON has no NaN or Infinity; a diverged loss is written as null."""
    return [float(v) if math.isfinite(v) else None for v in values]


@dataclass
class History:
    """What a training run recorded.

    Attributes
    ----------
    loss : ndarray, shape (iterations_done,), float64
        The mini-batch loss of every iteration, as the gradient step computed it.
    epochs : list of int
        The epoch of each evaluation: 0 (before training), 1, 2, ...
    epoch_iterations : list of int
        The number of gradient steps done at each evaluation (0, 600, 1200, ...).
    accuracy : dict of str to list of float
        Accuracy at each evaluation, by data set name (``"train"``, ``"test"``).
    epoch_loss : list of float or None
        Mean mini-batch loss over each epoch's iterations (None for epoch 0).
    train_time, eval_time : list of float
        Seconds spent in the gradient steps of each epoch, and in its evaluation (which, with
        background evaluation, ran alongside the next epoch's steps).
    wall_time : float or None
        Seconds ``fit`` took for its steps and evaluations (not the callbacks' ``on_train_end``);
        None until it returns.
    config : dict
        The settings of the run (batch size, sampling, optimizer, network, ...).
    seed : int or None
        The seed the run was started with, if the caller gave one.
    iterations : int
        Iterations planned; ``iterations_done`` tells how many ran.
    iterations_per_epoch : int
    stop_reason : {"running", "completed", "stopped", "diverged", "interrupted"}
        ("stopped": a callback ended training early, e.g. early stopping.)
    message : str or None
        Why training stopped early, in words.
    best_epoch : int or None
        With early stopping: the epoch whose weights the network was left with (its
        accuracies are ``accuracy[name][epochs.index(best_epoch)]``, see :meth:`at_best`).
    diagnostics : list of dict
        Per-layer diagnostics, when recorded: one dict per measurement, ``{"epoch": e,
        "params": [...], "activations": [...], "problems": [...]}`` (see
        :class:`RecordDiagnostics`).
    """

    iterations: int = 0
    iterations_per_epoch: int = 1
    config: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    loss: NDArray = field(default_factory=lambda: np.zeros(0))
    iterations_done: int = 0
    epochs: list[int] = field(default_factory=list)
    epoch_iterations: list[int] = field(default_factory=list)
    accuracy: dict[str, list[float]] = field(default_factory=dict)
    epoch_loss: list[float | None] = field(default_factory=list)
    train_time: list[float] = field(default_factory=list)
    eval_time: list[float] = field(default_factory=list)
    wall_time: float | None = None
    stop_reason: str = "running"
    message: str | None = None
    best_epoch: int | None = None
    diagnostics: list[dict[str, Any]] = field(default_factory=list)

    # The notes' names for the lists, for code written for the book.
    @property
    def train_loss_list(self) -> list[float]:
        return self.losses.tolist()

    @property
    def train_acc_list(self) -> list[float]:
        return self.accuracy.get("train", [])

    @property
    def test_acc_list(self) -> list[float]:
        return self.accuracy.get("test", [])

    @property
    def losses(self) -> NDArray:
        """The losses of the iterations that ran (``loss`` may be preallocated longer)."""
        return self.loss[: self.iterations_done]

    @property
    def num_epochs(self) -> int:
        """Epochs planned: ``ceil(iterations / iterations_per_epoch)``."""
        return iterations_per_epoch(self.iterations, self.iterations_per_epoch)

    def final(self, name: str) -> float | None:
        """The last accuracy measured on data set ``name`` (None if never measured)."""
        values = self.accuracy.get(name)
        return values[-1] if values else None

    def at_best(self, name: str) -> float | None:
        """Accuracy on ``name`` at ``best_epoch`` (the weights kept), else the last one."""
        values = self.accuracy.get(name)
        if not values:
            return None
        if self.best_epoch is None:
            return values[-1]
        return values[self.epochs.index(self.best_epoch)]

    # -- saving ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite losses become None)."""
        return {
            "format": HISTORY_FORMAT,
            "version": HISTORY_VERSION,
            "config": self.config,
            "seed": self.seed,
            "iterations": self.iterations,
            "iterations_per_epoch": self.iterations_per_epoch,
            "iterations_done": self.iterations_done,
            "stop_reason": self.stop_reason,
            "message": self.message,
            "epochs": list(self.epochs),
            "epoch_iterations": list(self.epoch_iterations),
            "accuracy": {k: list(v) for k, v in self.accuracy.items()},
            "epoch_loss": [None if v is None else float(v) for v in self.epoch_loss],
            "train_time": list(self.train_time),
            "eval_time": list(self.eval_time),
            "wall_time": self.wall_time,
            "best_epoch": self.best_epoch,
            "diagnostics": self.diagnostics,
            "loss": _finite_or_none(self.losses),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        """Inverse of :meth:`to_dict` (a None loss comes back as NaN)."""
        if data.get("format") != HISTORY_FORMAT:
            raise ValueError(
                f"not a dlzero history: expected format {HISTORY_FORMAT!r}, "
                f"got {data.get('format')!r}"
            )
        loss = np.array([np.nan if v is None else v for v in data["loss"]], dtype=np.float64)
        return cls(
            iterations=int(data["iterations"]),
            iterations_per_epoch=int(data["iterations_per_epoch"]),
            config=dict(data["config"]),
            seed=data["seed"],
            loss=loss,
            iterations_done=int(data["iterations_done"]),
            epochs=list(data["epochs"]),
            epoch_iterations=list(data["epoch_iterations"]),
            accuracy={k: list(v) for k, v in data["accuracy"].items()},
            epoch_loss=list(data["epoch_loss"]),
            train_time=list(data["train_time"]),
            eval_time=list(data["eval_time"]),
            wall_time=data.get("wall_time"),  # (absent from files written before it existed)
            stop_reason=data["stop_reason"],
            message=data["message"],
            best_epoch=data.get("best_epoch"),
            diagnostics=list(data.get("diagnostics", [])),
        )

    def to_json(self) -> str:
        # Diagnostics can hold inf (a zero weight with a nonzero gradient): JSON has no inf.
        return json.dumps(_json_safe(self.to_dict()), indent=1, allow_nan=False)

    def to_csv(self) -> str:
        """One row per evaluation: epoch, iteration, accuracies, mean loss, times."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        names = list(self.accuracy)
        writer.writerow(
            ["epoch", "iteration", *(f"{n}_acc" for n in names), "loss", "train_s", "eval_s"]
        )
        for i, epoch in enumerate(self.epochs):
            loss = self.epoch_loss[i]
            writer.writerow(
                [
                    epoch,
                    self.epoch_iterations[i],
                    *(f"{self.accuracy[n][i]:.6f}" for n in names),
                    "" if loss is None else f"{loss:.6f}",
                    f"{self.train_time[i]:.4f}",
                    f"{self.eval_time[i]:.4f}",
                ]
            )
        return buf.getvalue()

    def save(
        self, path: str | os.PathLike[str], *, csv_path: str | os.PathLike[str] | None = None
    ) -> None:
        """Write the history as JSON to ``path`` (and the per-epoch table as CSV to ``csv_path``).

        Both files are written atomically: a reader never sees a partial file.
        """
        atomic_write_text(path, self.to_json())
        if csv_path is not None:
            atomic_write_text(csv_path, self.to_csv())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> History:
        """Read a history written by :meth:`save`."""
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


# -- stopping --------------------------------------------------------------------------------


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite. ``history`` holds the run up to that iteration."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training after a complete step. ``history`` holds the run so far."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN or Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


class Callback(Protocol):
    """Hooks called by :meth:`Trainer.fit`; every method is optional.

    ``on_train_begin(trainer, history)`` runs once before the first step.
    ``on_epoch_end(trainer, history)`` runs after each evaluation (epoch 0 included, and one
    that finishes after a divergence or an interrupt); returning True stops training (as early
    stopping would). ``on_train_end(trainer, history)`` runs once at the end, also after a
    divergence or an interrupt. With background evaluation (see ``Trainer``) ``on_epoch_end``
    runs when the accuracies come in, up to one epoch's steps later, and a stop takes effect
    then; so only callbacks that do not read the network there may say ``background_safe``.
    """

    def on_epoch_end(self, trainer: Trainer, history: History) -> bool | None: ...


def _model_arrays(network: Any) -> dict[tuple[str, str], NDArray]:
    """The arrays that make up a trained model: every parameter, and every layer's state
    (batch normalization's running mean and variance), keyed by (layer or "params", name)."""
    arrays: dict[tuple[str, str], NDArray] = {
        ("params", key): p for key, p in network.params.items()
    }
    for lname, layer in getattr(network, "layers", {}).items():
        for sname in getattr(layer, "state_names", ()):
            value = getattr(layer, sname, None)
            if isinstance(value, np.ndarray):
                arrays[(lname, sname)] = value
    return arrays


class EarlyStopping:
    """Stop when the validation accuracy stops improving; keep the best epoch's weights.

    After every evaluation the accuracy on the eval set ``monitor`` (``"val"``, the validation
    split) is compared with the best so far. An epoch that is not strictly better counts
    toward ``patience``; after ``patience`` such epochs in a row, training stops. At the end of
    training (early stop, last epoch, divergence or Ctrl-C alike) the parameters and the layers'
    state arrays (batch-norm running statistics) of the best epoch are copied back *in place*,
    so the layers and ``network.params`` keep sharing the same arrays, and
    ``history.best_epoch`` names that epoch.

    Accuracy, not loss, is monitored: it is what the trainer measures on every eval set, and
    what the learner cares about. Ties keep the earlier epoch (fewer steps, same accuracy).

    Parameters
    ----------
    patience : int
        Epochs without improvement before stopping (>= 1).
    monitor : str, default "val"
        The eval set to watch. Early stopping on the test set would tune on it: use a
        validation split.
    restore_best_weights : bool, default True
    """

    def __init__(
        self, patience: int, monitor: str = "val", *, restore_best_weights: bool = True
    ) -> None:
        self.patience = _positive_int("patience", patience)
        self.monitor = monitor
        self.restore_best_weights = bool(restore_best_weights)
        self.best: float = -math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self._saved: dict[tuple[str, str], NDArray] = {}

    def on_epoch_end(self, trainer: Trainer, history: History) -> bool:
        if len(history.epochs) == 1:  # a new fit() begins: forget an earlier run's best
            self.best, self.best_epoch, self.wait, self._saved = -math.inf, None, 0, {}
        if self.monitor not in history.accuracy:
            raise ValueError(
                f"EarlyStopping: no eval set named {self.monitor!r}; the trainer evaluates "
                + ", ".join(repr(k) for k in history.accuracy)
            )
        value = history.accuracy[self.monitor][-1]
        epoch = history.epochs[-1]
        if value > self.best:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._saved = {k: a.copy() for k, a in _model_arrays(trainer.network).items()}
            return False
        self.wait += 1
        if self.wait < self.patience:
            return False
        history.message = (
            f"early stopping: {self.monitor} accuracy has not improved for {self.patience} "
            f"epoch{'s' if self.patience > 1 else ''} since epoch {self.best_epoch} "
            f"({self.best:.4f})"
        )
        return True

    def on_train_end(self, trainer: Trainer, history: History) -> None:
        if self.best_epoch is None:
            return
        history.best_epoch = self.best_epoch
        # The weights are the best epoch's only if it is the last evaluation and no step ran
        # after it (a divergence or Ctrl-C mid-epoch leaves later weights in the network).
        unchanged = (
            self.best_epoch == history.epochs[-1]
            and history.iterations_done == history.epoch_iterations[-1]
        )
        if not self.restore_best_weights or unchanged:
            return
        current = _model_arrays(trainer.network)
        for key, saved in self._saved.items():
            np.copyto(current[key], saved)
        if trainer.verbose:
            trainer._print(
                f"restored the weights of epoch {self.best_epoch} "
                f"({self.monitor} acc {self.best:.4f})"
            )


class RecordDiagnostics:
    """Record :func:`dlzero.diagnostics.layer_diagnostics` in ``history.diagnostics``.

    Each measurement runs on the same fixed batch ``(x, t)`` (a few hundred training samples:
    a millisecond or so), after the epoch's evaluation (the first one, of the initial weights,
    in ``on_train_begin``, before any step), on a copy where it would change the
    network, so training is unaffected, bit for bit.

    Parameters
    ----------
    x : ndarray, shape (n, ...)
    t : ndarray, shape (n,) or (n, C)
    every_epoch : bool, default True
        Measure after every evaluation; False measures only before training (epoch 0) and
        once at the end: enough to explain a run that failed, at almost no cost.
    on_record : callable, optional
        ``on_record(epoch, report)`` with the :class:`~dlzero.diagnostics.LayerDiagnostics`,
        e.g. to print it.
    """

    def __init__(
        self,
        x: NDArray,
        t: NDArray,
        *,
        every_epoch: bool = True,
        on_record: Callable[[int, Any], None] | None = None,
    ) -> None:
        self.x, self.t = x, t
        self.every_epoch = bool(every_epoch)
        self.on_record = on_record

    def _record(self, trainer: Trainer, history: History, epoch: int) -> None:
        from dlzero.diagnostics import layer_diagnostics

        if history.diagnostics and history.diagnostics[-1]["epoch"] == epoch:
            return
        with np.errstate(all="ignore"):  # a diverged network's NaNs are reported, not warned
            report = layer_diagnostics(trainer.network, self.x, self.t)
        history.diagnostics.append(
            {"epoch": epoch, **report.to_dict(), "problems": report.problems()}
        )
        if self.on_record is not None:
            self.on_record(epoch, report)

    def on_train_begin(self, trainer: Trainer, history: History) -> None:
        if not self.every_epoch:
            # Before the first step: with background evaluation, epoch 0's accuracies (and so
            # on_epoch_end) come in while the first epoch trains.
            self._record(trainer, history, 0)

    def on_epoch_end(self, trainer: Trainer, history: History) -> bool:
        if self.every_epoch:
            self._record(trainer, history, history.epochs[-1])
        return False

    @property
    def background_safe(self) -> bool:
        """Whether the trainer may evaluate in the background (see ``Trainer``).

        Measuring every epoch reads the network at the epoch's end, so it may not; measuring
        only before and after training may (the first measurement is taken in
        ``on_train_begin``, before any step).
        """
        return not self.every_epoch

    def on_train_end(self, trainer: Trainer, history: History) -> None:
        if history.epochs:
            self._record(trainer, history, history.epochs[-1])


# -- evaluation in a second thread ------------------------------------------------------------


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class _PendingEval:
    future: Future[tuple[dict[str, float], float]]
    epoch: int
    done: int
    seconds: float


class _BackgroundEvaluator:
    """Accuracy of copies of a plain MLP's weights, computed in one worker thread.

    While it exists every BLAS library runs one thread: the training steps in the main thread
    and the products here then each keep one core busy. (BLAS threads that spin while waiting
    for a core that the other caller holds would slow both.) ``close`` puts the count back.
    """

    def __init__(
        self, fused: Any, eval_sets: Mapping[str, tuple[NDArray, NDArray]], batch_size: int
    ) -> None:
        from dlzero.networks import as_labels, chunked_accuracy

        self._accuracy = chunked_accuracy
        self._fused = fused
        # (labels from one-hot targets once, as Sequential.accuracy takes them on each call)
        self._sets = {name: (x, as_labels(t)) for name, (x, t) in eval_sets.items()}
        self._batch_size = batch_size
        self._restore_blas = limit_blas_to_one_thread()
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(
            1, thread_name_prefix="dlzero-eval"
        )

    def submit(self) -> Future[tuple[dict[str, float], float]]:
        """Start evaluating the weights as they are now; the future gives (accuracies, s)."""
        assert self._pool is not None, "submit after close"
        snapshot = self._fused.snapshot()  # copied here, in the caller's thread, before any step
        return self._pool.submit(self._evaluate, snapshot)

    def _evaluate(self, snapshot: Any) -> tuple[dict[str, float], float]:
        t0 = time.perf_counter()
        # (errstate is per thread: the trainer's, which leaves a diverging run's overflow to
        # TrainingDiverged, must be set here again)
        with np.errstate(over="ignore", invalid="ignore"):
            acc = {
                name: self._accuracy(snapshot.predict, x, labels, self._batch_size)
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


# -- the trainer -----------------------------------------------------------------------------


class Trainer:
    """Train a network by mini-batch gradient descent, evaluating once per epoch.

    Parameters
    ----------
    network : Sequential or alike
        Needs ``params`` (dict of arrays updated in place), ``gradient(x, t)`` (or
        ``loss_and_gradient(x, t) -> (loss, grads)``), ``loss(x, t)`` and
        ``accuracy(x, t, batch_size=...)``.
    optimizer : object with ``update(params, grads)``
        E.g. ``dlzero.optimizers.get_optimizer("sgd", lr=0.1)``.
    x_train : ndarray, shape (N, ...)
    t_train : ndarray, shape (N,) labels or (N, C) one-hot
    x_test, t_test : ndarray, optional
        Evaluated at each epoch as ``"test"``.
    eval_sets : mapping of str to (x, t), optional
        More data sets to evaluate each epoch (e.g. a validation split), by name.
    batch_size : int, default 100
    iters : int, optional
        Number of gradient steps (default 10,000, the notes' ``iters_num``).
    epochs : int, optional
        Alternatively, the number of epochs; ``iters = epochs * iterations_per_epoch``.
    sampling : {"shuffle", "replacement"}, default "shuffle"
        How mini-batches are drawn; see the module docstring for why shuffle is the default.
    gradient : {"backprop", "numerical"}, default "backprop"
        ``"numerical"`` uses ``network.numerical_gradient``: thousands of times slower, for
        seeing why backpropagation matters.
    rng : Generator, int or None
        Source of the mini-batches.
    eval_batch_size : int, optional
        Evaluate accuracy in chunks of this many samples; by default the network's own
        ``eval_batch_size`` (10,000 for an MLP, less for a CNN, whose im2col matrices for
        10,000 images would take gigabytes).
    evaluate_train : bool, default True
        Also measure accuracy on the whole training set at each epoch, as the notes do.
    verbose : bool, default True
        Print one line per epoch to ``log``.
    progress : bool or "auto", default "auto"
        A tqdm progress bar on stderr while an epoch runs; "auto" shows it only when stderr
        is a terminal and ``verbose`` is on.
    handle_sigint : bool, default True
        When training in the main thread, let Ctrl-C finish the current step and stop
        cleanly (a second Ctrl-C interrupts at once).
    callbacks : sequence of Callback
    config : dict, optional
        Extra settings to record in the history (the network's description, the data set).
    log : text stream, optional
        Where the epoch lines go (default ``sys.stdout``).
    validation_fraction : float, default 0
        In [0, 1): hold out this share of the training set (rounded, at least one sample),
        drawn with ``rng`` before training, and evaluate it each epoch as ``"val"``. The
        held-out samples are not trained on; ``x_train`` then means the rest.
    patience : int, optional
        Early stopping on the ``"val"`` accuracy (:class:`EarlyStopping`, best weights
        restored); needs ``validation_fraction`` or an eval set named ``"val"``.
    diagnostics : int, default 0
        Record per-layer diagnostics on the first ``diagnostics`` training samples
        (:class:`RecordDiagnostics`); 0 records none.
    diagnostics_every_epoch : bool, default True
        Measure them after every evaluation; False only before and after training (which
        leaves background evaluation possible).
    on_diagnostics : callable, optional
        ``on_diagnostics(epoch, report)`` for each measurement, e.g. to print it.
    seed : int, optional
        The seed to record in the history; by default ``rng`` when it is an int. Give it when
        ``rng`` is a Generator made from a seed.
    background_eval : bool or "auto", default "auto"
        Evaluate each epoch's weights on a copy, in a second thread, while the next epoch
        trains: both cores work, each on one BLAS thread, and the accuracies are those of the
        weights at the epoch's end, as before. Needs a plain MLP (``Affine`` layers, ReLU or
        sigmoid, ``SoftmaxWithLoss``), threadpoolctl, and callbacks that all say
        ``background_safe`` (early stopping does not: it must act at the epoch's end). The
        initial weights are evaluated alongside the first epoch; the last epoch's evaluation
        runs in the foreground, with every BLAS thread. "auto" uses it when it can and
        it pays: at least 2 CPUs, steps small enough to run on one BLAS thread anyway, and an
        epoch's training work (about 3 x iterations x batch size samples' worth) at least the
        evaluation's. True insists (ValueError at ``fit`` if it cannot); False never.
    """

    def __init__(
        self,
        network: Any,
        optimizer: Any,
        x_train: NDArray,
        t_train: NDArray,
        x_test: NDArray | None = None,
        t_test: NDArray | None = None,
        *,
        eval_sets: Mapping[str, tuple[NDArray, NDArray]] | None = None,
        batch_size: int = 100,
        iters: int | None = None,
        epochs: int | None = None,
        sampling: str = "shuffle",
        gradient: str = "backprop",
        rng: RngLike = None,
        eval_batch_size: int | None = None,
        evaluate_train: bool = True,
        verbose: bool = True,
        progress: bool | str = "auto",
        handle_sigint: bool = True,
        callbacks: Sequence[Any] = (),
        config: Mapping[str, Any] | None = None,
        log: TextIO | None = None,
        validation_fraction: float = 0.0,
        patience: int | None = None,
        diagnostics: int = 0,
        diagnostics_every_epoch: bool = True,
        on_diagnostics: Callable[[int, Any], None] | None = None,
        seed: int | None = None,
        background_eval: bool | str = "auto",
    ) -> None:
        if not hasattr(optimizer, "update"):
            raise ValueError(
                f"optimizer must have an update(params, grads) method, got {optimizer!r}"
            )
        x_train, t_train = np.asarray(x_train), np.asarray(t_train)
        if x_train.ndim < 2 or t_train.ndim not in (1, 2):
            raise ValueError(
                "expected x_train of shape (N, ...) and t_train of shape (N,) labels or (N, C) "
                f"one-hot, got shapes {x_train.shape} and {t_train.shape}"
            )
        if len(x_train) != len(t_train):
            raise ValueError(
                f"x_train has {len(x_train)} samples but t_train has {len(t_train)} labels"
            )
        if len(x_train) == 0:
            raise ValueError("x_train is empty")
        self.rng = as_rng(rng)
        x_val = t_val = None
        validation_fraction = _check_fraction(validation_fraction)
        if validation_fraction:
            x_train, t_train, x_val, t_val = _validation_split(
                x_train, t_train, validation_fraction, self.rng
            )
        train_size = len(x_train)
        batch_size = _positive_int("batch_size", batch_size)
        if batch_size > train_size:
            raise ValueError(
                f"batch_size must be at most the number of training samples ({train_size}), "
                f"got {batch_size}"
            )
        if iters is not None and epochs is not None:
            raise ValueError("give iters or epochs, not both")
        ipe = iterations_per_epoch(train_size, batch_size)
        if epochs is not None:
            iters = _positive_int("epochs", epochs) * ipe
        elif iters is None:
            iters = 10_000
        iters = _positive_int("iters", iters)
        if sampling not in SAMPLING:
            raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
        if gradient not in GRADIENT_METHODS:
            raise ValueError(f"gradient must be one of {GRADIENT_METHODS}, got {gradient!r}")
        if progress not in (True, False, "auto"):
            raise ValueError(f"progress must be True, False or 'auto', got {progress!r}")
        if background_eval not in (True, False, "auto"):
            raise ValueError(
                f"background_eval must be True, False or 'auto', got {background_eval!r}"
            )
        check_batch_norm_batches(network, train_size, batch_size, sampling)
        if isinstance(diagnostics, bool) or not isinstance(diagnostics, (int, np.integer)):
            raise ValueError(f"diagnostics must be a number of samples >= 0, got {diagnostics!r}")
        if diagnostics < 0:
            raise ValueError(f"diagnostics must be a number of samples >= 0, got {diagnostics!r}")

        self.network = network
        self.optimizer = optimizer
        self.x_train, self.t_train = x_train, t_train
        self.eval_sets: dict[str, tuple[NDArray, NDArray]] = {}
        if evaluate_train:
            self.eval_sets["train"] = (x_train, t_train)
        if x_val is not None:
            if eval_sets and "val" in eval_sets:
                raise ValueError("give validation_fraction or an eval set named 'val', not both")
            self.eval_sets["val"] = (x_val, t_val)
        if (x_test is None) != (t_test is None):
            raise ValueError("give both x_test and t_test, or neither")
        if x_test is not None:
            self.eval_sets["test"] = (x_test, t_test)
        for name, (x, t) in (eval_sets or {}).items():
            if len(x) != len(t):
                raise ValueError(f"eval set {name!r}: {len(x)} samples but {len(t)} labels")
            self.eval_sets[name] = (x, t)

        self.train_size = train_size
        self.batch_size = batch_size
        self.iters = iters
        self.iterations_per_epoch = ipe
        self.num_epochs = iterations_per_epoch(iters, ipe)
        self.sampling = sampling
        self.gradient_method = gradient
        if seed is None and isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            seed = int(rng)
        self.seed = None if seed is None else int(seed)
        if eval_batch_size is None:
            eval_batch_size = getattr(network, "eval_batch_size", 10_000)
        self.eval_batch_size = _positive_int("eval_batch_size", eval_batch_size)
        self.verbose = bool(verbose)
        self.progress = progress
        self.background_eval = background_eval
        self.handle_sigint = bool(handle_sigint)
        self.callbacks = list(callbacks)
        # Diagnostics first: at the end they describe the last epoch's weights, before early
        # stopping puts the best epoch's back.
        if diagnostics:
            n = min(int(diagnostics), train_size)
            self.callbacks.append(
                RecordDiagnostics(
                    x_train[:n],
                    t_train[:n],
                    every_epoch=diagnostics_every_epoch,
                    on_record=on_diagnostics,
                )
            )
        if patience is not None:
            if "val" not in self.eval_sets:
                raise ValueError(
                    "patience (early stopping) needs a validation set: give "
                    "validation_fraction > 0 or an eval set named 'val'"
                )
            self.callbacks.append(EarlyStopping(patience))
        self.log = log
        self.config: dict[str, Any] = {
            "batch_size": batch_size,
            "iters": iters,
            "sampling": sampling,
            "gradient": gradient,
            "optimizer": repr(optimizer),
            "network": type(network).__name__,
            "train_size": train_size,
            **({"validation_fraction": validation_fraction} if validation_fraction else {}),
            **({"patience": patience} if patience is not None else {}),
            **{
                f"{name}_size": len(x) for name, (x, _) in self.eval_sets.items() if name != "train"
            },
            **(dict(config) if config else {}),
        }
        self._stop_requested = False
        self._bar: Any = None  # the progress bar on screen, if any

    # -- one step ----------------------------------------------------------------------------

    def _step_function(self) -> Callable[[NDArray, NDArray], tuple[float, Mapping[str, NDArray]]]:
        """Return ``step(x, t) -> (loss, grads)`` computing the loss with the gradient, once."""
        net = self.network
        if self.gradient_method == "numerical":

            def numerical_step(x: NDArray, t: NDArray) -> tuple[float, Mapping[str, NDArray]]:
                # Numerical gradients are thousands of forward passes; one more is noise.
                loss = float(net.loss(x, t))
                return loss, net.numerical_gradient(x, t)

            return numerical_step
        if hasattr(net, "loss_and_gradient"):
            return net.loss_and_gradient
        last = getattr(net, "last_layer", None)
        if last is None or not hasattr(last, "loss"):

            def generic_step(x: NDArray, t: NDArray) -> tuple[float, Mapping[str, NDArray]]:
                grads = net.gradient(x, t)
                return float(net.loss(x, t)), grads  # no cached loss: one extra forward

            return generic_step
        weight_decay = getattr(net, "weight_decay_loss", None)

        def backprop_step(x: NDArray, t: NDArray) -> tuple[float, Mapping[str, NDArray]]:
            # gradient() ran the forward pass; its loss layer kept the data loss. Weight decay
            # is added from the parameters before the update, as loss() would have.
            grads = net.gradient(x, t)
            loss = last.loss
            if weight_decay is not None and net.weight_decay_lambda:
                loss += weight_decay()
            return loss, grads

        return backprop_step

    # -- evaluation --------------------------------------------------------------------------

    def evaluate(self) -> dict[str, float]:
        """Accuracy on every evaluation set, by name."""
        return {
            name: float(self.network.accuracy(x, t, batch_size=self.eval_batch_size))
            for name, (x, t) in self.eval_sets.items()
        }

    def _record_eval(
        self,
        history: History,
        epoch: int,
        done: int,
        seconds: float,
        result: tuple[dict[str, float], float] | None = None,
    ) -> None:
        """Evaluate now (or take ``result``, (accuracies, seconds), from the background)."""
        if result is None:
            t0 = time.perf_counter()
            acc = self.evaluate()
            t_eval = time.perf_counter() - t0
        else:
            acc, t_eval = result
        history.epochs.append(epoch)
        history.epoch_iterations.append(done)
        for name, value in acc.items():
            history.accuracy.setdefault(name, []).append(value)
        start = history.epoch_iterations[-2] if len(history.epoch_iterations) > 1 else 0
        history.epoch_loss.append(float(np.mean(history.loss[start:done])) if done else None)
        history.train_time.append(seconds)
        history.eval_time.append(t_eval)
        if self.verbose:
            self._print(self.epoch_line(history))

    def epoch_line(self, history: History, index: int = -1) -> str:
        """``epoch  3/17  loss 0.2412  train 0.9352  test 0.9368  1.1 s`` for one evaluation."""
        width = len(str(self.num_epochs))
        epoch = history.epochs[index]
        loss = history.epoch_loss[index]
        parts = [f"epoch {epoch:>{width}}/{self.num_epochs}"]
        parts.append("loss      -" if loss is None else f"loss {loss:.4f}")
        parts += [f"{name} {acc[index]:.4f}" for name, acc in history.accuracy.items()]
        parts.append(f"{history.train_time[index] + history.eval_time[index]:.1f} s")
        return "  ".join(parts)

    def _print(self, line: str) -> None:
        # A background evaluation's line can come while the next epoch's bar is drawn: take
        # the bar off the terminal, print, and draw it again below.
        bar = self._bar
        if bar is not None:
            bar.clear()
        print(line, file=self.log if self.log is not None else sys.stdout, flush=True)
        if bar is not None:
            bar.refresh()

    # -- the loop ----------------------------------------------------------------------------

    def _batches_of_epoch(self, n_steps: int) -> NDArray:
        """Indices of the mini-batches of one epoch, shape (n_steps * batch_size,) or less."""
        n, b = self.train_size, self.batch_size
        if self.sampling == "replacement":
            return self.rng.integers(0, n, n_steps * b)
        return self.rng.permutation(n)[: n_steps * b]

    def fit(self) -> History:
        """Train for ``iters`` steps and return the :class:`History`.

        Raises
        ------
        TrainingDiverged
            The loss became NaN or infinite; ``.history`` has the run until then.
        TrainingInterrupted
            Ctrl-C (SIGINT); training stopped after the current step. ``.history`` too.
        """
        history = History(
            iterations=self.iters,
            iterations_per_epoch=self.iterations_per_epoch,
            config=dict(self.config),
            seed=self.seed,
            loss=np.full(self.iters, np.nan, dtype=np.float64),
        )
        self.history = history
        previous_handler = self._install_sigint_handler()
        start = time.perf_counter()
        try:
            for cb in self.callbacks:
                if hasattr(cb, "on_train_begin"):
                    cb.on_train_begin(self, history)
            # A diverging run overflows before its loss turns NaN; the trainer reports that
            # itself (TrainingDiverged), so NumPy's overflow warnings would only be noise.
            with np.errstate(over="ignore", invalid="ignore"):
                self._fit(history)
        finally:
            history.wall_time = time.perf_counter() - start
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
            for cb in self.callbacks:
                if hasattr(cb, "on_train_end"):
                    cb.on_train_end(self, history)
        return history

    def _fit(self, history: History) -> None:
        opt, params = self.optimizer, self.network.params
        x_train, t_train = self.x_train, self.t_train
        step = self._step_function()
        losses = history.loss
        b = self.batch_size
        # Mini-batches are gathered into these buffers: no new arrays on the hot path.
        x_buf = np.empty((b, *x_train.shape[1:]), dtype=x_train.dtype)
        t_buf = np.empty((b, *t_train.shape[1:]), dtype=t_train.dtype)
        bar_factory = self._progress_bar_factory()

        background = self._start_background_eval()
        history.config["background_eval"] = background is not None
        pending: _PendingEval | None = None
        done = 0
        try:
            if background is not None:
                # The initial weights are evaluated alongside the first epoch too.
                pending = _PendingEval(background.submit(), 0, 0, 0.0)
            else:
                self._record_eval(history, 0, 0, 0.0)
                if self._callbacks_say_stop(history):
                    history.stop_reason = "stopped"
                    history.message = (
                        history.message or "stopped by a callback before the first step"
                    )
                    return
            for epoch in range(1, self.num_epochs + 1):
                n_steps = min(self.iterations_per_epoch, self.iters - done)
                order = self._batches_of_epoch(n_steps)
                bar = self._bar = bar_factory(epoch, n_steps) if bar_factory else None
                # Steps run in chunks between progress-bar updates (and looks at a background
                # evaluation): no per-step cost.
                watching = bar is not None or pending is not None
                chunk = max(1, n_steps // 50) if watching else n_steps
                t0 = time.perf_counter()
                for chunk_start in range(0, n_steps, chunk):
                    for j in range(chunk_start, min(chunk_start + chunk, n_steps)):
                        idx = order[j * b : (j + 1) * b]
                        m = len(idx)
                        xb = np.take(x_train, idx, axis=0, out=x_buf[:m], mode="clip")
                        tb = np.take(t_train, idx, axis=0, out=t_buf[:m], mode="clip")
                        loss, grads = step(xb, tb)
                        opt.update(params, grads)
                        losses[done] = loss
                        done += 1
                        if not math.isfinite(loss):
                            self._diverged(history, done, epoch, bar)
                        if self._stop_requested:
                            self._interrupted(history, done, epoch, bar)
                    if bar is not None:
                        bar.update(min(chunk, n_steps - chunk_start))
                    if pending is not None and pending.future.done():
                        # The previous epoch's accuracies are in: record and print them now.
                        result = pending.future.result()
                        finished, pending = pending, None
                        if self._finish_background_eval(history, finished, done, result):
                            if bar is not None:
                                bar.close()
                            return
                seconds = time.perf_counter() - t0
                if bar is not None:
                    bar.close()
                    self._bar = None
                history.iterations_done = done
                if pending is not None:
                    # (pending is cleared only once its result is in hand: a Ctrl-C while
                    # waiting leaves it to the handler below, which still records it)
                    result = pending.future.result()
                    finished, pending = pending, None
                    if self._finish_background_eval(history, finished, done, result):
                        return
                if background is not None and epoch < self.num_epochs:
                    pending = _PendingEval(background.submit(), epoch, done, seconds)
                    continue
                if background is not None:  # the last evaluation has every thread to itself
                    background.close()
                self._record_eval(history, epoch, done, seconds)
                if self._callbacks_say_stop(history):
                    self._stopped_by_callback(history, epoch)
                    return
            history.stop_reason = "completed"
        except BaseException:
            if pending is not None:
                # Training failed or was interrupted: keep the evaluation under way, if it
                # finishes, so the history has every epoch that ended.
                try:
                    self._record_eval(
                        history,
                        pending.epoch,
                        pending.done,
                        pending.seconds,
                        result=pending.future.result(),
                    )
                    # (callbacks see every recorded epoch; training is ending anyway)
                    self._callbacks_say_stop(history)
                except Exception:  # the error in flight is the one to report
                    pass
            raise
        finally:
            self._bar = None
            if background is not None:
                background.close()

    def _stopped_by_callback(self, history: History, epoch: int) -> None:
        history.stop_reason = "stopped"
        history.message = history.message or f"stopped by a callback after epoch {epoch}"
        if self.verbose:
            self._print(history.message)

    # -- evaluation in a second thread -------------------------------------------------------

    def background_eval_problem(self) -> str | None:
        """Why this run's evaluation would not run in the background, or None if it would.

        With ``background_eval=True`` only what makes it impossible counts; with "auto", also
        what makes it not worth it (see the class docstring).
        """
        if self.background_eval is False:
            return "background_eval is False"
        fused_step = getattr(self.network, "fused_step", None)
        fused = fused_step() if callable(fused_step) else None
        if fused is None or self.gradient_method != "backprop":
            return (
                "only a plain MLP (Affine layers, ReLU or sigmoid, SoftmaxWithLoss) trained "
                "by backprop can be evaluated on a copy"
            )
        if not self.eval_sets:
            return "there is nothing to evaluate"
        if self.num_epochs < 2:
            return "a run of one epoch has nothing to overlap"
        unsafe = sorted(
            {type(cb).__name__ for cb in self.callbacks if not getattr(cb, "background_safe", 0)}
        )
        if unsafe:
            return f"callbacks act on the network at each epoch's end ({', '.join(unsafe)})"
        if not can_limit_blas_threads():
            return "the BLAS thread count cannot be set (threadpoolctl is not installed)"
        if self.background_eval is True:
            return None
        if _available_cpus() < 2:
            return "one CPU"
        if max(self.batch_size * a.W.size for a in fused.affines) >= SMALL_PRODUCT:
            return "the steps are large enough to use every BLAS thread"
        eval_samples = sum(len(x) for x, _ in self.eval_sets.values())
        if 3 * self.iterations_per_epoch * self.batch_size < eval_samples:
            return "an epoch's training is shorter than its evaluation"
        return None

    def _start_background_eval(self) -> _BackgroundEvaluator | None:
        problem = self.background_eval_problem()
        if problem is None:
            return _BackgroundEvaluator(
                self.network.fused_step(), self.eval_sets, self.eval_batch_size
            )
        if self.background_eval is True:
            raise ValueError(f"background_eval=True, but {problem}")
        return None

    def _finish_background_eval(
        self,
        history: History,
        p: _PendingEval,
        done: int,
        result: tuple[dict[str, float], float],
    ) -> bool:
        """Record a background evaluation and run the callbacks; True if they say stop.

        ``done`` is the number of steps taken by now (``p.done`` when the epoch ended).
        """
        self._record_eval(history, p.epoch, p.done, p.seconds, result=result)
        history.iterations_done = done
        if self._callbacks_say_stop(history):
            # (Callbacks that allow background evaluation do not stop training; should one,
            # training stops here, some steps after the epoch it judged.)
            self._stopped_by_callback(history, p.epoch)
            return True
        return False

    def _callbacks_say_stop(self, history: History) -> bool:
        stop = False
        for cb in self.callbacks:
            if hasattr(cb, "on_epoch_end") and cb.on_epoch_end(self, history):
                stop = True
        return stop

    def _diverged(self, history: History, done: int, epoch: int, bar: Any) -> None:
        if bar is not None:
            bar.close()
            self._bar = None
        history.iterations_done = done
        loss = history.loss[done - 1]
        lr = getattr(self.optimizer, "lr", None)
        hint = f" (now {lr:g})" if isinstance(lr, (int, float)) else ""
        history.stop_reason = "diverged"
        history.message = (
            f"training diverged: the loss became {loss} at iteration {done} (epoch {epoch}); "
            f"try a smaller learning rate{hint}"
        )
        raise TrainingDiverged(history.message, history)

    def _interrupted(self, history: History, done: int, epoch: int, bar: Any) -> None:
        if bar is not None:
            bar.close()
            self._bar = None
        history.iterations_done = done
        history.stop_reason = "interrupted"
        history.message = f"interrupted at iteration {done} of {self.iters} (epoch {epoch})"
        raise TrainingInterrupted(history.message, history)

    # -- Ctrl-C and the progress bar ---------------------------------------------------------

    def _install_sigint_handler(self) -> Any:
        """Make the first Ctrl-C finish the current step; return the handler to restore."""
        self._stop_requested = False
        if not self.handle_sigint or threading.current_thread() is not threading.main_thread():
            return None
        previous = signal.getsignal(signal.SIGINT)
        if previous is None or previous == signal.SIG_IGN:
            return None  # not ours to change: set outside Python, or Ctrl-C is ignored

        def request_stop(signum: int, frame: Any) -> None:
            self._stop_requested = True
            # A second Ctrl-C interrupts at once.
            signal.signal(signal.SIGINT, previous)
            print(
                "\nstopping after the current step (Ctrl-C again to abort)",
                file=sys.stderr,
                flush=True,
            )

        signal.signal(signal.SIGINT, request_stop)
        return previous

    def _progress_bar_factory(self) -> Callable[[int, int], Any] | None:
        show = self.progress
        if show == "auto":
            show = self.verbose and sys.stderr.isatty()
        if not show:
            return None
        try:
            from tqdm import tqdm  # imported only when a bar is shown: keeps start-up fast
        except ImportError:
            if self.progress == "auto":
                return None
            raise ImportError(
                "progress=True needs tqdm: pip install 'dlzero[cli]' (or tqdm)"
            ) from None

        def make(epoch: int, total: int) -> Any:
            return tqdm(
                total=total,
                desc=f"epoch {epoch}/{self.num_epochs}",
                unit="it",
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
            )

        return make


def _check_fraction(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not 0.0 <= float(value) < 1.0
    ):
        raise ValueError(f"validation_fraction must be a number in [0, 1), got {value!r}")
    return float(value)


def validation_size(n: int, fraction: float) -> int:
    """How many of ``n`` training samples ``validation_fraction=fraction`` holds out:
    ``round(fraction * n)``, at least one and at most ``n - 1`` (0 when ``fraction`` is 0)."""
    if not fraction:
        return 0
    if n < 2:
        raise ValueError(f"validation_fraction needs at least 2 training samples, got {n}")
    return min(max(1, round(fraction * n)), n - 1)


def _validation_split(
    x: NDArray, t: NDArray, fraction: float, rng: np.random.Generator
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Split off ``round(fraction * N)`` random samples (at least one, at most N - 1).

    Both parts keep the original order of the samples (the indices are sorted), so the split
    depends only on the Generator, and the data are copied once, here, not per step.
    """
    n = len(x)
    n_val = validation_size(n, fraction)
    perm = rng.permutation(n)
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return x[train_idx], t[train_idx], x[val_idx], t[val_idx]


def check_batch_norm_batches(network: Any, train_size: int, batch_size: int, sampling: str) -> None:
    """Batch normalization cannot normalize a batch of one (its variance is 0): refuse a run
    in which a training mini-batch would hold a single sample, before it starts."""
    layers = getattr(network, "layers", None)
    if not isinstance(layers, Mapping) or not any(
        isinstance(layer, BatchNormalization) for layer in layers.values()
    ):
        return
    if batch_size == 1:
        raise ValueError("a network with batch normalization needs batch_size >= 2, got 1")
    if sampling == "shuffle" and train_size % batch_size == 1:
        raise ValueError(
            f"a network with batch normalization cannot train on a mini-batch of one sample, "
            f"but {train_size} training samples in batches of {batch_size} leave one sample "
            "for the last mini-batch of each epoch; change the batch size or the training size"
        )


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def train(
    network: Any,
    optimizer: Any,
    x_train: NDArray,
    t_train: NDArray,
    x_test: NDArray | None = None,
    t_test: NDArray | None = None,
    **kwargs: Any,
) -> History:
    """Train ``network`` and return its :class:`History`: ``Trainer(...).fit()`` in one call.

    Takes the same arguments as :class:`Trainer`.
    """
    return Trainer(network, optimizer, x_train, t_train, x_test, t_test, **kwargs).fit()
