"""What a training run records: :class:`History`, and the two ways a run can end early.

A history is plain data: per-iteration losses, per-epoch accuracies and times, the settings and
the seed. It is saved as JSON (everything) and CSV (one row per evaluation), atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._html import html_table
from dlzero._io import atomic_write_text

__all__ = [
    "History",
    "TrainingDiverged",
    "TrainingInterrupted",
    "iterations_per_epoch",
]

HISTORY_FORMAT = "dlzero-history"
# Version 2 added ``diagnostics`` and ``best_epoch``; version-1 files still load.
HISTORY_VERSION = 2


def iterations_per_epoch(train_size: int, batch_size: int) -> int:
    """``ceil(train_size / batch_size)`` in integer arithmetic: the steps of one epoch."""
    return -(-int(train_size) // int(batch_size))


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
        return self.loss.tolist()

    @property
    def train_acc_list(self) -> list[float]:
        return self.accuracy.get("train", [])

    @property
    def test_acc_list(self) -> list[float]:
        return self.accuracy.get("test", [])

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

    def _repr_html_(self) -> str:
        """Jupyter's display: one row per evaluation, as :meth:`to_csv` has them."""
        names = list(self.accuracy)
        rows = []
        for i, epoch in enumerate(self.epochs):
            loss = self.epoch_loss[i] if i < len(self.epoch_loss) else None
            rows.append(
                [
                    epoch,
                    self.epoch_iterations[i],
                    *(f"{self.accuracy[n][i]:.4f}" for n in names),
                    "-" if loss is None else f"{loss:.4f}",
                    f"{self.train_time[i]:.2f}" if i < len(self.train_time) else "-",
                ]
            )
        what = self.config.get("network", "network")
        caption = (
            f"History of {what}: {self.iterations_done:,} of {self.iterations:,} iterations, "
            f"{self.stop_reason}"
        )
        if self.seed is not None:
            caption += f", seed {self.seed}"
        footer = self.message or None
        headers = ["epoch", "iteration", *(f"{n} acc" for n in names), "loss", "train s"]
        return html_table(headers, rows, caption=caption, footer=footer)

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
            "loss": _finite_or_none(self.loss),
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
