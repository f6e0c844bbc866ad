"""Chapter 5's layers: the computational graph, one node a class, ``forward`` beside ``backward``.

Each layer remembers what its ``forward`` saw so that its ``backward`` can apply the chain rule:
``backward(dout)`` takes the gradient of the loss with respect to the layer's output and returns
the gradient with respect to its input. A layer with parameters lists their attribute names in
``param_names``; the gradient of parameter ``W`` is kept in attribute ``dW`` after ``backward``
(the book's convention), so a network can collect parameters and gradients generically.

Read in this order: ``MulLayer`` and ``AddLayer`` (the apple example), ``Relu``, ``Sigmoid``,
``Affine``, ``SoftmaxWithLoss``. The classes keep the book's names and signatures
(``common/layers.py``). Two deliberate differences: ``Relu.backward`` does not write into the
array it is given, and ``SoftmaxWithLoss`` also takes integer class labels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero.functions import as_batch, sigmoid

__all__ = [
    "AddLayer",
    "Affine",
    "Layer",
    "MulLayer",
    "Relu",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Tanh",
]


def _as_bias(b: Any, W: NDArray) -> NDArray:
    """``b`` as an array; a bias of integers (the book's ``b=0``) takes the weights' dtype.

    An integer bias could not be trained (an update would have to cast), and would turn a
    float32 network's output into float64.
    """
    b = np.asarray(b)
    if not np.issubdtype(b.dtype, np.inexact) and np.issubdtype(W.dtype, np.floating):
        b = b.astype(W.dtype)
    return b


def _sum_to(g: NDArray, shape: tuple[int, ...]) -> NDArray:
    """Sum the gradient ``g`` of a broadcast value down to the value's ``shape``.

    A bias of shape (1, M) or () added to an (N, M) result receives the sum of the gradients
    of every element it was added to (the backward of broadcasting is a sum).
    """
    if shape == ():
        return np.asarray(g.sum())
    return g.reshape(shape) if g.size == math.prod(shape) else g.sum().reshape(shape)


class Layer:
    """Base class of the layers: the protocol a network relies on.

    Attributes
    ----------
    param_names : tuple of str
        Names of the attributes holding this layer's parameters (e.g. ``("W", "b")``). The
        gradient of parameter ``name`` is stored in attribute ``"d" + name`` by ``backward``.
    state_names : tuple of str
        Names of array attributes that are not trained but belong to the model and must be
        saved and cast with it (e.g. batch normalization's running mean).
    takes_train_flag : bool
        True for layers whose ``forward`` behaves differently in training and inference
        (dropout, batch normalization); a network passes them ``train_flg``.
    """

    param_names: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ()
    takes_train_flag: bool = False

    def forward(self, x: NDArray) -> NDArray:
        """Compute the output and remember what ``backward`` needs."""
        raise NotImplementedError

    def backward(self, dout: NDArray) -> NDArray:
        """Return dL/dx from dL/dout, storing parameter gradients in ``d<name>``."""
        raise NotImplementedError

    @property
    def params(self) -> dict[str, NDArray]:
        """The parameter arrays themselves (not copies), by attribute name."""
        return {name: getattr(self, name) for name in self.param_names}

    @property
    def grads(self) -> dict[str, NDArray | None]:
        """The gradients of the last ``backward``, by parameter name (None before any)."""
        return {name: getattr(self, "d" + name, None) for name in self.param_names}

    def cast(self, dtype: np.dtype | type) -> None:
        """Replace every parameter and state array by a copy of dtype ``dtype``, in place."""
        for name in self.param_names + self.state_names:
            setattr(self, name, np.array(getattr(self, name), dtype=dtype))

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}={getattr(self, n).shape}" for n in self.param_names)
        return f"{type(self).__name__}({shapes})"


class MulLayer(Layer):
    """Multiplication node ``out = x * y`` (chapter 5's apple example).

    ``backward`` swaps the inputs: dL/dx = dout * y and dL/dy = dout * x.
    """

    def __init__(self) -> None:
        self.x: Any = None
        self.y: Any = None

    def forward(self, x: Any, y: Any) -> Any:  # type: ignore[override]
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout: Any) -> tuple[Any, Any]:  # type: ignore[override]
        return dout * self.y, dout * self.x


class AddLayer(Layer):
    """Addition node ``out = x + y``: ``backward`` passes ``dout`` on to both inputs."""

    def forward(self, x: Any, y: Any) -> Any:  # type: ignore[override]
        return x + y

    def backward(self, dout: Any) -> tuple[Any, Any]:  # type: ignore[override]
        return dout * 1, dout * 1


class Relu(Layer):
    """ReLU ``max(0, x)``; the gradient passes where the input was positive and stops elsewhere.

    Unlike the book's ``Relu``, ``backward`` returns a new array and leaves ``dout`` unchanged,
    so a caller that keeps ``dout`` (for a check, or a second branch) still has it intact.
    """

    def __init__(self) -> None:
        self.mask: NDArray | None = None

    def forward(self, x: NDArray) -> NDArray:
        """x : ndarray, any shape -> ndarray, same shape."""
        self.mask = x <= 0
        # (np.maximum and a product with the mask are several times faster than np.where)
        return np.maximum(x, 0)

    def backward(self, dout: NDArray) -> NDArray:
        """dout : ndarray, shape of the last forward's input -> dx, same shape."""
        return dout * ~self.mask


class Sigmoid(Layer):
    """Sigmoid ``1 / (1 + exp(-x))``; its derivative ``y (1 - y)`` uses the saved output ``y``."""

    def __init__(self) -> None:
        self.out: NDArray | None = None

    def forward(self, x: NDArray) -> NDArray:
        """x : ndarray, any shape -> ndarray, same shape, values in [0, 1]."""
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: NDArray) -> NDArray:
        return dout * (1.0 - self.out) * self.out


class Tanh(Layer):
    """Hyperbolic tangent ``tanh(x)``; its derivative ``1 - y ** 2`` uses the saved output ``y``.

    Like the sigmoid it squashes, but into (-1, 1) and centred on 0 (chapter 6.2 compares the
    activation distributions of the three).
    """

    def __init__(self) -> None:
        self.out: NDArray | None = None

    def forward(self, x: NDArray) -> NDArray:
        """x : ndarray, any shape -> ndarray, same shape, values in [-1, 1]."""
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: NDArray) -> NDArray:
        """dout : ndarray, shape of the last forward's input -> dx, same shape."""
        return dout * (1.0 - self.out * self.out)


class Affine(Layer):
    """Fully connected layer ``out = x @ W + b``.

    Parameters
    ----------
    W : ndarray, shape (D, M)
        Weights; the layer keeps this very array (no copy), so the network's ``params`` dict
        and the layer share it.
    b : ndarray, shape (M,), or (1, M) or () to broadcast
        Biases, shared the same way. A row of shape (1, M) or a scalar (which the book's code
        may pass) is added by broadcasting, and ``db`` then has the same shape as ``b``, so an
        optimizer's in-place update fits.

    Notes
    -----
    The input may have any number of dimensions, e.g. images of shape (N, C, H, W): it is
    flattened to (N, D) for the product, and ``backward`` returns ``dx`` in the input's shape.
    After ``backward``, ``dW`` (shape (D, M)) and ``db`` (the shape of ``b``) hold the gradients.
    """

    param_names = ("W", "b")

    def __init__(self, W: NDArray, b: NDArray) -> None:
        W = np.asarray(W)
        b = _as_bias(b, W)
        if W.ndim != 2 or b.shape not in ((W.shape[1],), (1, W.shape[1]), ()):
            raise ValueError(
                "Affine: W must be 2-D (D, M) and b of shape (M,) (or (1, M), or a scalar); "
                f"got W {W.shape}, b {b.shape}"
            )
        self.W = W
        self.b = b
        self.x: NDArray | None = None
        self.original_x_shape: tuple[int, ...] | None = None
        self.dW: NDArray | None = None
        self.db: NDArray | None = None

    def forward(self, x: NDArray) -> NDArray:
        """x : ndarray, shape (N, D) or (N, d1, d2, ...) with d1*d2*... == D -> shape (N, M)."""
        x = np.asarray(x)
        width = self.W.shape[0]
        # (math.prod: np.prod on a shape tuple costs microseconds, a share of a tiny forward)
        if x.ndim == 0 or math.prod(x.shape[1:]) != width or (x.ndim == 1 and width != 1):
            raise ValueError(
                f"Affine: expected input of shape (N, {width}) (or (N, ...) with {width} "
                f"values per sample) for W of shape {self.W.shape}, got shape {x.shape}"
            )
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout: NDArray) -> NDArray:
        """dout : ndarray, shape (N, M) -> dx, shape of the forward input."""
        dx = dout @ self.W.T
        self.dW = self.x.T @ dout
        self.db = np.sum(dout, axis=0)
        if self.db.shape != self.b.shape:  # a broadcast bias: (1, M) or a scalar
            self.db = _sum_to(self.db, self.b.shape)
        return dx.reshape(self.original_x_shape)


class SoftmaxWithLoss(Layer):
    """Softmax followed by the cross-entropy loss: the last layer of a classifier.

    ``forward(x, t)`` returns the mean loss over the batch; ``backward(dout=1)`` returns
    ``(y - t) / N``, the famously simple gradient of the pair. ``t`` may be one-hot (same shape
    as ``x``) or integer class labels (shape (N,)).

    The loss is computed from the log-softmax of the scores (``x - max - log(sum(exp))``) rather
    than ``log(softmax(x) + 1e-7)``: it is finite for any finite scores and is the exact function
    whose gradient ``backward`` returns, so numerical gradient checks agree to rounding error.
    """

    def __init__(self) -> None:
        self.loss: float | None = None
        self.y: NDArray | None = None
        self.t: NDArray | None = None
        self._single = False

    def forward(self, x: NDArray, t: NDArray) -> float:  # type: ignore[override]
        """
        Parameters
        ----------
        x : ndarray, shape (N, C) or (C,)
            Scores (logits).
        t : ndarray, shape (N, C) one-hot, or (N,) integer labels (or (C,) / () for one sample)

        Returns
        -------
        float
            Mean cross-entropy loss.
        """
        x = np.asarray(x)
        self._single = x.ndim == 1
        x, t = as_batch(x, np.asarray(t), "SoftmaxWithLoss")
        shifted = x - np.max(x, axis=1, keepdims=True)
        log_norm = np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        log_y = shifted - log_norm
        self.y = np.exp(log_y)
        self.t = t
        n = x.shape[0]
        if t.shape == x.shape:
            self.loss = float(-np.sum(t * log_y) / n)
        else:
            self.loss = float(-np.sum(log_y[np.arange(n), t]) / n)
        return self.loss

    def backward(self, dout: float = 1) -> NDArray:  # type: ignore[override]
        """Return dL/dx = dout * (y - t) / N, shape of the forward's ``x``."""
        n = self.y.shape[0]
        if self.t.shape == self.y.shape:
            dx = self.y - self.t.astype(self.y.dtype, copy=False)
        else:
            dx = self.y.copy()
            dx[np.arange(n), self.t] -= 1
        dx *= dout / n
        return dx.reshape(-1) if self._single else dx


def _scalar(value: float, like: NDArray) -> np.generic:
    """``value`` in the floating dtype of ``like``, so float32 arrays stay float32."""
    dtype = like.dtype if np.issubdtype(like.dtype, np.floating) else np.dtype(np.float64)
    return dtype.type(value)
