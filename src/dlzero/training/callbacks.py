"""Callbacks: code that runs at the trainer's epoch ends, e.g. early stopping.

A callback is any object with some of ``on_train_begin``, ``on_epoch_end`` and ``on_train_end``
(see :class:`Callback`). Two come with dlzero: :class:`EarlyStopping` (section 6.5: stop when
the validation accuracy stops improving, keep the best weights) and :class:`RecordDiagnostics`
(per-layer weight and gradient norms, dead ReLUs, saturated sigmoids, once per epoch).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_positive_int
from dlzero.training.diagnostics import layer_diagnostics
from dlzero.training.history import History

__all__ = ["Callback", "EarlyStopping", "RecordDiagnostics"]


class Callback(Protocol):
    """Hooks called by :meth:`Trainer.fit`; every method is optional.

    Each receives the :class:`~dlzero.training.Trainer` (typed ``Any``: the trainer's module
    imports this one, not the other way round) and the :class:`History` so far.

    ``on_train_begin(trainer, history)`` runs once before the first step.
    ``on_epoch_end(trainer, history)`` runs after each evaluation (epoch 0 included, and one
    that finishes after a divergence or an interrupt); returning True stops training (as early
    stopping would). ``on_train_end(trainer, history)`` runs once at the end, also after a
    divergence or an interrupt. With background evaluation (see ``Trainer``) ``on_epoch_end``
    runs when the accuracies come in, up to one epoch's steps later, and a stop takes effect
    then; so only callbacks that do not read the network there may say ``background_safe``.
    """

    def on_epoch_end(self, trainer: Any, history: History) -> bool | None: ...


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
        self.patience = check_positive_int("patience", patience)
        self.monitor = monitor
        self.restore_best_weights = bool(restore_best_weights)
        self.best: float = -math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self._saved: dict[tuple[str, str], NDArray] = {}

    def on_epoch_end(self, trainer: Any, history: History) -> bool:
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

    def on_train_end(self, trainer: Any, history: History) -> None:
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
            trainer.log_line(
                f"restored the weights of epoch {self.best_epoch} "
                f"({self.monitor} acc {self.best:.4f})"
            )


class RecordDiagnostics:
    """Record :func:`dlzero.training.diagnostics.layer_diagnostics` in ``history.diagnostics``.

    Each measurement runs on the same fixed batch ``(x, t)`` (a few hundred training samples:
    a millisecond or so), after the epoch's evaluation (the first one, of the initial weights,
    in ``on_train_begin``, before any step), on a copy where it would change the
    network, so training is unaffected, bit for bit.

    Parameters
    ----------
    x : ndarray, shape (n, ...), optional
    t : ndarray, shape (n,) or (n, C), optional
        The batch to measure on; by default the first ``samples`` of the trainer's training
        set (after any validation split), taken when training begins.
    samples : int, default 200
        How many training samples to take when ``x`` and ``t`` are not given.
    every_epoch : bool, default True
        Measure after every evaluation; False measures only before training (epoch 0) and
        once at the end: enough to explain a run that failed, at almost no cost.
    on_record : callable, optional
        ``on_record(epoch, report)`` with the
        :class:`~dlzero.training.diagnostics.LayerDiagnostics`, e.g. to print it.
    """

    def __init__(
        self,
        x: NDArray | None = None,
        t: NDArray | None = None,
        *,
        samples: int = 200,
        every_epoch: bool = True,
        on_record: Callable[[int, Any], None] | None = None,
    ) -> None:
        if (x is None) != (t is None):
            raise ValueError("give both x and t, or neither")
        self.x, self.t = x, t
        self.samples = check_positive_int("samples", samples)
        self.every_epoch = bool(every_epoch)
        self.on_record = on_record
        self._from_trainer = x is None

    def _record(self, trainer: Any, history: History, epoch: int) -> None:
        if history.diagnostics and history.diagnostics[-1]["epoch"] == epoch:
            return
        with np.errstate(all="ignore"):  # a diverged network's NaNs are reported, not warned
            report = layer_diagnostics(trainer.network, self.x, self.t)
        history.diagnostics.append(
            {"epoch": epoch, **report.to_dict(), "problems": report.problems()}
        )
        if self.on_record is not None:
            self.on_record(epoch, report)

    def on_train_begin(self, trainer: Any, history: History) -> None:
        if self._from_trainer:
            self.x = trainer.x_train[: self.samples]
            self.t = trainer.t_train[: self.samples]
        if not self.every_epoch:
            # Before the first step: with background evaluation, epoch 0's accuracies (and so
            # on_epoch_end) come in while the first epoch trains.
            self._record(trainer, history, 0)

    def on_epoch_end(self, trainer: Any, history: History) -> bool:
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

    def on_train_end(self, trainer: Any, history: History) -> None:
        if history.epochs:
            self._record(trainer, history, history.epochs[-1])
