"""Look inside a trained classifier: accuracy, confusion matrix, precision and recall per class,
and the test images it gets wrong with the most confidence (the book's chapter-8 figure).

Everything here is plain NumPy on the network's predicted probabilities; the pictures are in
:mod:`dlzero.plotting.models`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dlzero._html import html_table
from dlzero.fast import predictor
from dlzero.functions import softmax

__all__ = [
    "Evaluation",
    "confusion_matrix",
    "evaluate",
    "format_report",
    "input_shape",
    "most_confident_mistakes",
    "precision_recall",
    "predict_proba",
]


def input_shape(network: object) -> tuple[int, ...]:
    """The shape of one input sample the network expects: ``(784,)`` or ``(1, 28, 28)``.

    Read from the network's ``config`` (``input_size`` for the fully connected networks,
    ``input_dim`` for the convolutional ones).
    """
    config = getattr(network, "config", {})
    if "input_dim" in config:
        return tuple(int(v) for v in config["input_dim"])
    if "input_size" in config:
        return (int(config["input_size"]),)
    raise ValueError(
        f"cannot tell the input shape of a {type(network).__name__}: it has no config with "
        "input_size or input_dim"
    )


def predict_proba(network: object, x: NDArray, batch_size: int | None = None) -> NDArray:
    """Class probabilities (softmax of the scores) in inference mode, in bounded chunks.

    Parameters
    ----------
    network : Sequential
    x : ndarray, shape (N, ...)
        Samples; each is reshaped to the network's :func:`input_shape` (so flattened 784-pixel
        images feed a convolutional network too).
    batch_size : int, optional
        Chunk size, the network's ``eval_batch_size`` by default.

    Returns
    -------
    ndarray, shape (N, C), float64
    """
    shape = input_shape(network)
    x = np.asarray(x)
    size = int(np.prod(shape))
    if x.ndim == 0 or x.size != len(x) * size:
        raise ValueError(
            f"{type(network).__name__} expects samples of shape {shape} ({size} values each), "
            f"got an array of shape {x.shape}"
        )
    x = x.reshape(len(x), *shape).astype(network.dtype, copy=False)
    step = batch_size or network.eval_batch_size
    predict = predictor(network)  # the fused forward pass where there is one
    chunks = [softmax(predict(x[i : i + step]).astype(np.float64)) for i in range(0, len(x), step)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 0))


def confusion_matrix(labels: NDArray, predicted: NDArray, num_classes: int) -> NDArray:
    """Counts of (true class, predicted class) pairs.

    Parameters
    ----------
    labels, predicted : ndarray of int, shape (N,)
        Values in ``0 .. num_classes - 1``.
    num_classes : int

    Returns
    -------
    ndarray, shape (num_classes, num_classes), int64
        ``cm[i, j]`` is the number of samples of class ``i`` predicted as ``j``: the diagonal
        is right, a row sums to the class's sample count.
    """
    labels = np.asarray(labels)
    predicted = np.asarray(predicted)
    if labels.shape != predicted.shape or labels.ndim != 1:
        raise ValueError(
            f"confusion_matrix: labels and predictions must be 1-D of the same length, got "
            f"{labels.shape} and {predicted.shape}"
        )
    for name, v in (("labels", labels), ("predicted", predicted)):
        if v.size and (
            not np.issubdtype(v.dtype, np.integer) or v.min() < 0 or v.max() >= num_classes
        ):
            raise ValueError(
                f"confusion_matrix: {name} must be integers in 0..{num_classes - 1}, got values "
                f"from {v.min()} to {v.max()} ({v.dtype})"
            )
    flat = labels.astype(np.int64) * num_classes + predicted
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def precision_recall(cm: NDArray) -> tuple[NDArray, NDArray]:
    """Per-class precision and recall from a confusion matrix.

    precision[j] = cm[j, j] / (column j's sum): of the samples predicted ``j``, the share that
    are ``j``. recall[i] = cm[i, i] / (row i's sum): of the samples of class ``i``, the share
    found. Where the denominator is 0 (a class never predicted, or with no samples) the value
    is undefined and returned as NaN, which :func:`format_report` prints as ``-``.

    Returns
    -------
    precision, recall : ndarray, shape (C,), float64
    """
    cm = np.asarray(cm, dtype=np.float64)
    diag = np.diag(cm)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, diag / predicted, np.nan)
        recall = np.where(actual > 0, diag / actual, np.nan)
    return precision, recall


def most_confident_mistakes(proba: NDArray, labels: NDArray, k: int) -> NDArray:
    """Indices of the ``k`` misclassified samples whose wrong answer had the highest probability.

    Parameters
    ----------
    proba : ndarray, shape (N, C)
    labels : ndarray of int, shape (N,)
    k : int

    Returns
    -------
    ndarray of int, shape (min(k, mistakes),)
        Most confident first; ties keep the data set's order.
    """
    proba = np.asarray(proba)
    labels = np.asarray(labels)
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = proba[wrong, predicted[wrong]]
    order = np.argsort(-confidence, kind="stable")
    return wrong[order[: max(0, int(k))]]


@dataclass
class Evaluation:
    """What :func:`evaluate` found.

    Attributes
    ----------
    proba : ndarray, shape (N, C)
        Predicted class probabilities.
    labels, predicted : ndarray of int, shape (N,)
    confusion : ndarray, shape (C, C)
        See :func:`confusion_matrix`.
    precision, recall : ndarray, shape (C,)
        See :func:`precision_recall`.
    """

    proba: NDArray
    labels: NDArray
    predicted: NDArray
    confusion: NDArray
    precision: NDArray
    recall: NDArray

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predicted == self.labels))

    @property
    def num_mistakes(self) -> int:
        return int(np.count_nonzero(self.predicted != self.labels))

    def mistakes(self, k: int) -> NDArray:
        """Indices of the ``k`` most confident mistakes (see :func:`most_confident_mistakes`)."""
        return most_confident_mistakes(self.proba, self.labels, k)

    def _repr_html_(self) -> str:
        """Jupyter's display: the table of :func:`format_report`."""
        support = self.confusion.sum(axis=1)

        def pct(v: float) -> str:
            return f"{100 * v:.2f}%" if np.isfinite(v) else "-"

        rows = [
            [i, pct(self.precision[i]), pct(self.recall[i]), f"{support[i]:,}"]
            for i in range(len(self.precision))
        ]
        right = len(self.labels) - self.num_mistakes
        caption = (
            f"accuracy: {self.accuracy:.4f} ({right:,} of {len(self.labels):,} right, "
            f"{self.num_mistakes:,} wrong)"
        )
        return html_table(["class", "precision", "recall", "samples"], rows, caption=caption)


def evaluate(network: object, x: NDArray, t: NDArray, batch_size: int | None = None) -> Evaluation:
    """Run ``network`` on a labelled set and collect everything worth looking at.

    Parameters
    ----------
    network : Sequential
    x : ndarray, shape (N, ...)
    t : ndarray, shape (N,) labels or (N, C) one-hot
    batch_size : int, optional
        Predict in chunks of this many samples.
    """
    t = np.asarray(t)
    labels = t.argmax(axis=1) if t.ndim == 2 else t
    if labels.shape != (len(x),) or len(x) == 0:
        raise ValueError(
            f"evaluate: expected one label (or one-hot row) per sample for {len(x)} samples, "
            f"got t of shape {t.shape}"
        )
    proba = predict_proba(network, x, batch_size)
    num_classes = proba.shape[1]
    labels = labels.astype(np.int64)
    predicted = proba.argmax(axis=1)
    cm = confusion_matrix(labels, predicted, num_classes)
    precision, recall = precision_recall(cm)
    return Evaluation(proba, labels, predicted, cm, precision, recall)


def format_report(ev: Evaluation, class_names: list[str] | None = None) -> str:
    """Accuracy and a table of precision, recall and sample count per class."""
    names = class_names or [str(i) for i in range(len(ev.precision))]
    width = max(5, *(len(n) for n in names))

    def pct(v: float) -> str:
        return f"{f'{100 * v:.2f}%':>9}" if np.isfinite(v) else f"{'-':>9}"

    lines = [
        f"accuracy: {ev.accuracy:.4f} ({len(ev.labels) - ev.num_mistakes:,} of "
        f"{len(ev.labels):,} right, {ev.num_mistakes:,} wrong)",
        f"{'class':<{width}}  {'precision':>9}  {'recall':>9}  {'samples':>7}",
    ]
    support = ev.confusion.sum(axis=1)
    for i, name in enumerate(names):
        lines.append(
            f"{name:<{width}}  {pct(ev.precision[i])}  {pct(ev.recall[i])}  {support[i]:>7,}"
        )
    return "\n".join(lines)
