"""Pure array functions of chapters 3 and 4: activations, softmax and losses.

Nothing here keeps state; every function takes arrays and returns new arrays. The names and
argument orders are the book's (``common/functions.py``), so code written for the book can
import them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "cross_entropy_error",
    "identity_function",
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "softmax_loss",
    "step_function",
    "sum_squared_error",
]
# (``as_batch``, ``as_labels`` and ``chunked_accuracy``, which the layers and networks share,
# are public too, but kept out of ``__all__``: ``from dlzero.functions import *`` gives the
# book's names only.)

# Added inside the logarithm of ``cross_entropy_error``, as the book does, so that a predicted
# probability of exactly 0 gives a large finite loss instead of ``log(0) = -inf``.
_LOG_DELTA = 1e-7


def identity_function(x: ArrayLike) -> NDArray:
    """Return ``x`` unchanged (as an array): the output activation for regression."""
    return np.asarray(x)


def step_function(x: ArrayLike) -> NDArray:
    """Heaviside step: 1 where ``x > 0``, else 0, as integers (the perceptron's activation)."""
    return (np.asarray(x) > 0).astype(np.int64)


def sigmoid(x: ArrayLike) -> NDArray:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, elementwise, without overflow.

    The textbook formula overflows in ``exp(-x)`` for ``x < -709`` (float64) and warns. Here
    ``exp`` only ever sees ``-|x|``, which is at most 0, so it never overflows:
    ``sigmoid(x) = 1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` for ``x < 0``, with
    ``e = exp(-|x|)``.

    Parameters
    ----------
    x : array_like, any shape
        Floating input; integers are converted to float64.

    Returns
    -------
    ndarray, same shape as ``x``
        Values in ``[0, 1]``.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def sigmoid_grad(x: ArrayLike) -> NDArray:
    """Derivative of the sigmoid at ``x``: ``sigmoid(x) * (1 - sigmoid(x))``.

    Note that ``x`` is the *input* of the sigmoid (the book's ``sigmoid_grad(a1)``), not its
    output.
    """
    y = sigmoid(x)
    return (1.0 - y) * y


def relu(x: ArrayLike) -> NDArray:
    """Rectified linear unit ``max(0, x)``, elementwise."""
    return np.maximum(0, np.asarray(x))


def relu_grad(x: ArrayLike) -> NDArray:
    """Derivative of ReLU at ``x``: 1 where ``x > 0``, else 0 (0 at ``x == 0``, by convention)."""
    x = np.asarray(x)
    return (x > 0).astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)


def softmax(x: ArrayLike) -> NDArray:
    """Softmax over the last axis, for a single vector or a batch.

    The maximum of each row is subtracted before ``exp``; this changes nothing mathematically
    and keeps ``exp`` from overflowing, so logits of ``±1e4`` give finite probabilities.

    Parameters
    ----------
    x : array_like, shape (C,) or (N, C)
        Scores (logits).

    Returns
    -------
    ndarray, same shape as ``x``
        Non-negative, each row summing to 1.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def as_batch(y: NDArray, t: NDArray, name: str) -> tuple[NDArray, NDArray]:
    """Turn a single sample into a batch of one and check that ``t`` fits ``y``.

    ``t`` may be one-hot (same shape as ``y``) or integer class labels (one fewer dimension,
    or a column of shape (N, 1), as the book's chapter-7 gradient check passes them).
    Returns ``(y, t)`` with ``y`` of shape (N, C) and ``t`` either (N, C) or (N,).
    """
    if y.ndim == 1:
        y = y.reshape(1, -1)
        t = t.reshape(1, -1) if t.ndim == 1 else t.reshape(1)
    if y.ndim != 2:
        raise ValueError(f"{name}: expected y of shape (C,) or (N, C), got shape {y.shape}")
    if t.shape == y.shape:
        return y, t
    if t.shape == (y.shape[0], 1) and np.issubdtype(t.dtype, np.integer):
        t = t.reshape(-1)  # labels in a column (a one-hot t would be (N, C))
    if t.shape == y.shape[:1]:
        if not np.issubdtype(t.dtype, np.integer):
            raise ValueError(
                f"{name}: integer class labels expected for t of shape {t.shape}, "
                f"got dtype {t.dtype}"
            )
        if t.size and (t.min() < 0 or t.max() >= y.shape[1]):
            raise ValueError(
                f"{name}: labels must lie in [0, {y.shape[1] - 1}], "
                f"got values from {t.min()} to {t.max()}"
            )
        return y, t
    raise ValueError(
        f"{name}: t must be one-hot of shape {y.shape} or labels of shape {y.shape[:1]}, "
        f"got shape {t.shape}"
    )


def as_labels(t: ArrayLike) -> NDArray:
    """Class labels, shape (N,), from labels (N,) or (N, 1), or one-hot targets (N, C).

    An integer column (N, 1) is read as labels, the book's chapter-7 form (a one-hot target of
    a single class would be meaningless).
    """
    t = np.asarray(t)
    if t.ndim != 2:
        return t
    if t.shape[1] == 1 and np.issubdtype(t.dtype, np.integer):
        return t.reshape(-1)
    return t.argmax(axis=1)


def chunked_accuracy(
    predict: Callable[[NDArray], NDArray], x: NDArray, labels: NDArray, batch_size: int
) -> float:
    """Share of ``x`` whose highest score under ``predict`` is the label, ``batch_size`` at a time.

    Parameters
    ----------
    predict : callable, ``predict(x) -> scores`` of shape (n, C)
    x : ndarray, shape (N, ...)
    labels : ndarray of int, shape (N,)
    batch_size : int
        Every sample counts, including those of a final partial chunk.
    """
    correct = 0
    for start in range(0, len(x), batch_size):
        scores = predict(x[start : start + batch_size])
        hits = scores.argmax(axis=1) == labels[start : start + batch_size]
        correct += int(np.count_nonzero(hits))
    return correct / len(x)


def cross_entropy_error(y: ArrayLike, t: ArrayLike) -> float:
    """Cross-entropy loss of predicted probabilities ``y`` against targets ``t``.

    Parameters
    ----------
    y : array_like, shape (C,) or (N, C)
        Predicted probabilities (e.g. the output of :func:`softmax`).
    t : array_like, shape like ``y`` (one-hot) or (N,) / () (integer class labels)
        The correct classes.

    Returns
    -------
    float
        ``-sum(t * log(y + 1e-7)) / N``, the mean over the batch. The small constant keeps a
        probability of 0 from giving ``log(0)``.
    """
    y_arr, t_arr = as_batch(np.asarray(y), np.asarray(t), "cross_entropy_error")
    if t_arr.shape == y_arr.shape:
        # One-hot: the label of each row is where its 1 is.
        t_arr = t_arr.argmax(axis=1)
    batch_size = y_arr.shape[0]
    picked = y_arr[np.arange(batch_size), t_arr]
    return float(-np.sum(np.log(picked + _LOG_DELTA)) / batch_size)


def sum_squared_error(y: ArrayLike, t: ArrayLike) -> float:
    """Sum-of-squares loss ``0.5 * sum((y - t) ** 2)``, the book's ``sum_squared_error``.

    Parameters
    ----------
    y, t : array_like, same shape
        Prediction and target.
    """
    y_arr, t_arr = np.asarray(y), np.asarray(t)
    if y_arr.shape != t_arr.shape:
        raise ValueError(
            f"sum_squared_error: y and t must have the same shape, got {y_arr.shape} "
            f"and {t_arr.shape}"
        )
    return float(0.5 * np.sum((y_arr - t_arr) ** 2))


def softmax_loss(X: ArrayLike, t: ArrayLike) -> float:
    """Cross-entropy loss of the softmax of scores ``X``: ``cross_entropy_error(softmax(X), t)``.

    The book's ``softmax_loss``. Parameters and result as for :func:`cross_entropy_error`, with
    ``X`` the scores (logits) of shape (C,) or (N, C) instead of probabilities; like it, the
    loss is capped (``log(p + 1e-7)``) where ``SoftmaxWithLoss`` computes the exact one.
    """
    return cross_entropy_error(softmax(X), t)
