"""Mini-batch training: the loop at the end of chapter 5, as a reusable :class:`Trainer`.

Where to read:

- :mod:`~dlzero.training.trainer`: :class:`Trainer` and its loop, ``Trainer._fit``, which reads
  against the notes' loop (draw a mini-batch, backpropagate, update, record, evaluate).
- :mod:`~dlzero.training.settings`: the trainer's settings in four groups, :class:`Steps`,
  :class:`Evaluation`, :class:`Stopping` and :class:`Output`.
- :mod:`~dlzero.training.loop_support`: what runs beside the loop: the mini-batch buffers, the
  evaluations at each epoch's end, the progress bar, Ctrl-C.
- :mod:`~dlzero.training.history`: :class:`History`, what a run recorded, saved as JSON and CSV.
- :mod:`~dlzero.training.callbacks`: :class:`EarlyStopping` and :class:`RecordDiagnostics`.
- :mod:`~dlzero.training.data`: the validation split and how mini-batches are drawn.
- :mod:`~dlzero.training.background`: evaluating each epoch now, or on the other core.
- :mod:`~dlzero.training.diagnostics`: per-layer norms, dead ReLUs, saturated sigmoids.

The book's ``Trainer`` on this one is :class:`dlzero.book.BookTrainer`.
"""

from dlzero.training.callbacks import Callback, EarlyStopping, RecordDiagnostics
from dlzero.training.data import (
    SAMPLING,
    check_batch_norm_batches,
    shuffle_dataset,
    validation_size,
)
from dlzero.training.history import (
    History,
    TrainingDiverged,
    TrainingInterrupted,
    iterations_per_epoch,
)
from dlzero.training.settings import Evaluation, Output, Steps, Stopping
from dlzero.training.trainer import GRADIENT_METHODS, Trainer, train

__all__ = [
    "GRADIENT_METHODS",
    "SAMPLING",
    "Callback",
    "EarlyStopping",
    "Evaluation",
    "History",
    "Output",
    "RecordDiagnostics",
    "Steps",
    "Stopping",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "check_batch_norm_batches",
    "iterations_per_epoch",
    "shuffle_dataset",
    "train",
    "validation_size",
]
