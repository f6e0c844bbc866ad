"""Layers with ``forward`` and ``backward``: the computational graph of chapter 5, one node a class.

Each layer remembers what its ``forward`` saw so that its ``backward`` can apply the chain rule:
``backward(dout)`` takes the gradient of the loss with respect to the layer's output and returns
the gradient with respect to its input. A layer with parameters lists their attribute names in
``param_names``; the gradient of parameter ``W`` is kept in attribute ``dW`` after ``backward``
(the book's convention), so a network can collect parameters and gradients generically.
Chapter 6 adds ``Dropout`` and ``BatchNormalization``, chapter 7 ``Convolution`` and ``Pooling``
(on the array functions of :mod:`dlzero.conv`).

The classes keep the book's names and signatures (``common/layers.py``), so code written for the
book runs with ``from dlzero.layers import *``. Two deliberate differences: ``Relu.backward`` does
not write into the array it is given, and ``SoftmaxWithLoss`` also takes integer class labels.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_fraction, check_int
from dlzero._rng import RngLike, as_rng
from dlzero.conv import as_image_batch, col2im, conv_output_hw, im2col, window_slices
from dlzero.functions import as_batch, sigmoid

__all__ = [
    "AddLayer",
    "Affine",
    "BatchNormalization",
    "Convolution",
    "Dropout",
    "Layer",
    "MulLayer",
    "Pooling",
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


class Dropout(Layer):
    """Dropout (chapter 6.4.3): in training, each unit is kept with probability ``1 - ratio``.

    This is *inverted* dropout: in training the kept values are divided by ``1 - ratio``, and at
    inference the layer is the identity. The book's ``Dropout`` instead leaves the kept values
    as they are in training and multiplies by ``1 - ratio`` at inference; both give every unit
    the same expected output in training and inference, but the inverted form does no work at
    inference time and a network's weights mean the same with or without the layer.

    :class:`BookDropout` has the book's scaling, for weights trained by the book's code.

    Parameters
    ----------
    dropout_ratio : float, default 0.5
        Probability of dropping a unit, in [0, 1); 0 keeps everything.
    rng : Generator, int or None
        Source of the masks (``MultiLayerNet`` passes its own Generator), so a seeded network
        drops the same units on every run.

    Attributes
    ----------
    mask : ndarray of bool or None
        The units kept by the last training forward (True = kept), shape of its input.
    fixed_mask : bool, default False
        When True, a training ``forward`` reuses ``mask`` instead of drawing a new one (it draws
        one only if there is none yet). The loss is then a deterministic function of the
        parameters, which is what a numerical gradient check needs. The shape must not change.
    """

    takes_train_flag = True

    def __init__(self, dropout_ratio: float = 0.5, rng: RngLike = None) -> None:
        self.dropout_ratio = check_fraction("dropout_ratio", dropout_ratio)
        self.rng = as_rng(rng)
        self.mask: NDArray | None = None
        self.fixed_mask = False
        self._scale = 1.0 / (1.0 - self.dropout_ratio)
        self._trained = False  # whether the last forward was a training one

    def forward(self, x: NDArray, train_flg: bool = True) -> NDArray:  # type: ignore[override]
        """x : ndarray, any shape -> ndarray, same shape (``x`` itself at inference)."""
        x = np.asarray(x)
        self._trained = bool(train_flg)
        if not train_flg:
            return x
        if self.fixed_mask and self.mask is not None:
            if self.mask.shape != x.shape:
                raise ValueError(
                    f"Dropout: fixed_mask is set for inputs of shape {self.mask.shape}, "
                    f"got shape {x.shape}"
                )
        else:
            # float32 uniforms are half the work of float64 ones and plenty for a coin flip.
            self.mask = self.rng.random(x.shape, dtype=np.float32) >= self.dropout_ratio
        return x * self.mask * _scalar(self._scale, x)

    def backward(self, dout: NDArray) -> NDArray:
        """dout -> dx: the gradient flows through the kept units only, scaled the same way."""
        if not self._trained:
            return dout
        return dout * self.mask * _scalar(self._scale, dout)

    def __repr__(self) -> str:
        return f"Dropout(dropout_ratio={self.dropout_ratio})"


class BookDropout(Dropout):
    """Dropout with the book's scaling: kept units unscaled in training, ``x * (1 - ratio)`` at
    inference (``common/layers.py``).

    dlzero's networks use :class:`Dropout` (inverted dropout). This class is for running the
    book's own network classes (``ch08/deep_convnet.py``) with weights trained by the book's
    code, which expect the factor at inference: with :class:`Dropout` instead, the book's
    ``deep_convnet_params.pkl`` changes 6 of the 10,000 MNIST test predictions. (A dlzero
    network's ``load_params`` folds the factor into the weights instead.)
    """

    def __init__(self, dropout_ratio: float = 0.5, rng: RngLike = None) -> None:
        super().__init__(dropout_ratio, rng)
        self._scale = 1.0  # training keeps units as they are

    def forward(self, x: NDArray, train_flg: bool = True) -> NDArray:  # type: ignore[override]
        """x : ndarray, any shape -> ndarray, same shape."""
        if train_flg:
            return super().forward(x, True)
        x = np.asarray(x)
        self._trained = False
        return x * _scalar(1.0 - self.dropout_ratio, x)

    def backward(self, dout: NDArray) -> NDArray:
        """dout -> dx: through the kept units in training, times ``1 - ratio`` after inference."""
        if self._trained:
            return super().backward(dout)
        return dout * _scalar(1.0 - self.dropout_ratio, dout)

    def __repr__(self) -> str:
        return f"BookDropout(dropout_ratio={self.dropout_ratio})"


class BatchNormalization(Layer):
    """Batch normalization (chapter 6.3): normalize each feature over the batch, then scale.

    In training, ``xn = (x - mu) / sqrt(var + eps)`` with the batch's mean ``mu`` and (biased)
    variance ``var``, and ``out = gamma * xn + beta``; moving averages of ``mu`` and ``var``
    are kept for inference, where they replace the batch statistics.

    Parameters
    ----------
    gamma : ndarray, shape (D,) or (C,)
        Scale, usually ones; kept as is (no copy), so the network's ``params`` share it.
    beta : ndarray, same shape as ``gamma``
        Shift, usually zeros; shared the same way.
    momentum : float, default 0.9
        ``running = momentum * running + (1 - momentum) * batch_statistic``; in [0, 1).
    running_mean, running_var : ndarray, same shape as ``gamma``, optional
        Start values of the inference statistics; zeros and ones by default. (The book starts
        the variance at zero, which divides by ``sqrt(eps)`` at inference until training has
        run; ones make an untrained layer the identity at inference.)
    eps : float, default 1e-6
        Added to the variance (the book's ``10e-7``).

    Notes
    -----
    Input of shape (N, D) is normalized per feature (``gamma`` of shape (D,)). Input of shape
    (N, C, H, W) is normalized *per channel*, over the batch and all positions (``gamma`` of
    shape (C,)), as convolutional networks use it (Ioffe and Szegedy, section 3.2); the book's
    code would flatten such input to (N, C*H*W) and normalize every position separately.
    Training on a single value per feature (a batch of one, on (N, D) input) is allowed, as
    in the book, but warns (``RuntimeWarning``): the batch variance is 0, so every output is
    ``beta`` and no gradient reaches the input or ``gamma``. The gradients are still the exact
    ones of that function, so a gradient check on one sample (as the book's
    ``batch_norm_gradient_check.py`` does) agrees.
    After ``backward``, ``dgamma`` and ``dbeta`` hold the gradients, as in the book.
    """

    param_names = ("gamma", "beta")
    state_names = ("running_mean", "running_var")
    takes_train_flag = True

    def __init__(
        self,
        gamma: NDArray,
        beta: NDArray,
        momentum: float = 0.9,
        running_mean: NDArray | None = None,
        running_var: NDArray | None = None,
        *,
        eps: float = 1e-6,
    ) -> None:
        gamma = np.asarray(gamma)
        beta = np.asarray(beta)
        if gamma.ndim != 1 or beta.shape != gamma.shape:
            raise ValueError(
                "BatchNormalization: gamma and beta must be 1-D of the same shape (D,); "
                f"got gamma {gamma.shape}, beta {beta.shape}"
            )
        self.gamma = gamma
        self.beta = beta
        self.momentum = check_fraction("momentum", momentum)
        if not eps > 0:
            raise ValueError(f"BatchNormalization: eps must be > 0, got {eps!r}")
        self.eps = float(eps)
        dtype = gamma.dtype if np.issubdtype(gamma.dtype, np.floating) else np.float64
        self.running_mean = self._state("running_mean", running_mean, 0.0, dtype)
        self.running_var = self._state("running_var", running_var, 1.0, dtype)
        self.input_shape: tuple[int, ...] | None = None
        self.xn: NDArray | None = None
        self.std: NDArray | None = None
        self.dgamma: NDArray | None = None
        self.dbeta: NDArray | None = None
        self._trained = False  # whether the last forward used the batch statistics

    def _state(self, name: str, value: NDArray | None, fill: float, dtype: Any) -> NDArray:
        if value is None:
            return np.full(self.gamma.shape, fill, dtype=dtype)
        value = np.array(value, dtype=dtype)
        if value.shape != self.gamma.shape:
            raise ValueError(
                f"BatchNormalization: {name} must have gamma's shape {self.gamma.shape}, "
                f"got {value.shape}"
            )
        return value

    def _to_2d(self, x: NDArray) -> NDArray:
        """(N, D) as is; (N, C, H, W) -> (N*H*W, C), so each channel is one column."""
        size = self.gamma.shape[0]
        if not ((x.ndim == 2 or x.ndim == 4) and x.shape[1] == size):
            raise ValueError(
                f"BatchNormalization: expected input of shape (N, {size}) or (N, {size}, H, W) "
                f"for gamma of shape {self.gamma.shape}, got shape {x.shape}"
            )
        if x.ndim == 2:
            return x
        return x.transpose(0, 2, 3, 1).reshape(-1, size)

    def _from_2d(self, y: NDArray) -> NDArray:
        if len(self.input_shape) == 2:
            return y
        n, c, h, w = self.input_shape
        return y.reshape(n, h, w, c).transpose(0, 3, 1, 2)

    def forward(self, x: NDArray, train_flg: bool = True) -> NDArray:  # type: ignore[override]
        """x : ndarray, shape (N, D) or (N, C, H, W) -> ndarray, same shape."""
        x = np.asarray(x)
        x2 = self._to_2d(x)
        self.input_shape = x.shape
        if train_flg:
            if x2.shape[0] < 2:
                if x2.shape[0] == 0:
                    raise ValueError(f"BatchNormalization: empty batch, input of shape {x.shape}")
                warnings.warn(
                    "BatchNormalization: training on one value per feature (input of shape "
                    f"{x.shape}, a batch of one?): the batch variance is 0, so every output "
                    "is beta and the input and gamma get no gradient",
                    RuntimeWarning,
                    stacklevel=2,
                )
            mu = x2.mean(axis=0)
            xc = x2 - mu
            var = np.mean(xc * xc, axis=0)
            self.std = np.sqrt(var + self.eps)
            self.xn = xc / self.std
            # In place, so the state arrays keep their identity and dtype.
            self.running_mean *= self.momentum
            self.running_mean += (1.0 - self.momentum) * mu
            self.running_var *= self.momentum
            self.running_var += (1.0 - self.momentum) * var
        else:
            self.std = np.sqrt(self.running_var + self.eps)
            self.xn = (x2 - self.running_mean) / self.std
        self._trained = bool(train_flg)
        return self._from_2d(self.gamma * self.xn + self.beta)

    def backward(self, dout: NDArray) -> NDArray:
        """dout : ndarray, shape of the forward input -> dx, same shape.

        With ``m`` values per feature, the chain rule through ``mu`` and ``var`` (the book's
        step-by-step graph) collapses to::

            dxn = gamma * dout
            dx  = (dxn - mean(dxn) - xn * mean(dxn * xn)) / std

        The two mean terms are the paths through the batch mean and variance. After an
        inference forward those are constants, and ``dx = dxn / std``.
        """
        dout2 = self._to_2d(np.asarray(dout))
        self.dbeta = dout2.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout2, axis=0)
        dxn = self.gamma * dout2
        if self._trained:
            dxn = dxn - dxn.mean(axis=0) - self.xn * np.mean(dxn * self.xn, axis=0)
        return self._from_2d(dxn / self.std)

    def __repr__(self) -> str:
        return f"BatchNormalization(gamma={self.gamma.shape}, momentum={self.momentum})"


class Convolution(Layer):
    """Convolution layer: each of ``FN`` filters slides over the input, one dot product a place.

    Parameters
    ----------
    W : ndarray, shape (FN, C, FH, FW)
        Filters; kept as is (no copy), so the network's ``params`` dict shares them.
    b : ndarray, shape (FN,), or a scalar
        One bias per filter, shared the same way; a scalar (the book's ``Convolution(W, b=0)``)
        is one bias for all filters, and ``db`` is then a scalar too.
    stride : int, default 1
    pad : int, default 0
        Zero padding on each side of the input.

    Notes
    -----
    ``forward`` computes ``im2col(x)`` once and one matrix product with the filters;
    ``backward`` reuses that matrix for ``dW`` and folds ``dout @ W`` back with ``col2im`` for
    ``dx``. After ``backward``, ``dW`` (shape (FN, C, FH, FW)) and ``db`` (the shape of ``b``)
    hold the gradients. ``out_h`` and ``out_w`` are
    :func:`~dlzero.conv.conv_output_size`'s: when the stride does not divide the padded size
    less the filter's, they floor, and the pixels past the last whole window get ``dx = 0``.

    Attributes
    ----------
    compute_dx : bool, default True
        When False, ``backward`` computes ``dW`` and ``db`` only and returns None. A network
        sets it on its first layer for a training step, where the gradient with respect to the
        input images would be thrown away.
    """

    param_names = ("W", "b")
    compute_dx: bool = True

    def __init__(self, W: NDArray, b: NDArray, stride: int = 1, pad: int = 0) -> None:
        W = np.asarray(W)
        b = _as_bias(b, W)
        if W.ndim != 4 or b.shape not in ((W.shape[0],), ()):
            raise ValueError(
                "Convolution: W must be 4-D (FN, C, FH, FW) and b of shape (FN,) or a scalar; "
                f"got W {W.shape}, b {b.shape}"
            )
        self.W = W
        self.b = b
        self.stride = check_int("stride", stride, 1)
        self.pad = check_int("pad", pad, 0)
        self.x_shape: tuple[int, ...] | None = None
        self.col: NDArray | None = None
        self.dW: NDArray | None = None
        self.db: NDArray | None = None

    def forward(self, x: NDArray) -> NDArray:
        """x : ndarray, shape (N, C, H, W) -> ndarray, shape (N, FN, out_h, out_w)."""
        x = as_image_batch(x, "Convolution")
        fn, c, fh, fw = self.W.shape
        if x.shape[1] != c:
            raise ValueError(
                f"Convolution: filters of shape {self.W.shape} expect {c} input channels, "
                f"got input of shape {x.shape}"
            )
        out_h, out_w = conv_output_hw(x.shape, fh, fw, self.stride, self.pad, "Convolution")
        n = x.shape[0]
        col = im2col(x, fh, fw, self.stride, self.pad)  # (N*out_h*out_w, C*FH*FW)
        # One product for the whole batch: (FN, C*FH*FW) @ col.T -> (FN, N*out_h*out_w).
        out = self.W.reshape(fn, -1) @ col.T
        out += self.b.reshape(-1, 1)  # (FN, 1), or (1, 1) for a scalar bias
        self.x_shape = x.shape
        self.col = col
        return np.ascontiguousarray(out.reshape(fn, n, out_h, out_w).transpose(1, 0, 2, 3))

    def backward(self, dout: NDArray) -> NDArray | None:
        """dout : ndarray, shape (N, FN, out_h, out_w) -> dx, shape (N, C, H, W)."""
        dout = np.asarray(dout)
        fn, c, fh, fw = self.W.shape
        # (FN, N*out_h*out_w): the layout of the forward product's result.
        dout_t = dout.transpose(1, 0, 2, 3).reshape(fn, -1)
        self.db = dout_t.sum(axis=1)
        if self.db.shape != self.b.shape:  # a scalar bias
            self.db = _sum_to(self.db, self.b.shape)
        self.dW = (dout_t @ self.col).reshape(fn, c, fh, fw)
        if not self.compute_dx:
            return None
        dcol_t = self.W.reshape(fn, -1).T @ dout_t  # (C*FH*FW, N*out_h*out_w)
        return col2im(dcol_t.T, self.x_shape, fh, fw, self.stride, self.pad)

    def __repr__(self) -> str:
        return (
            f"Convolution(W={self.W.shape}, b={self.b.shape}, stride={self.stride}, pad={self.pad})"
        )


class Pooling(Layer):
    """Pooling layer: the maximum (or the mean) of each ``pool_h x pool_w`` window, per channel.

    Parameters
    ----------
    pool_h, pool_w : int
        Window size.
    stride : int, default 2
        The usual 2x2 pooling with stride 2 halves the height and width. (The book's default
        is 1; its networks always pass 2.)
    pad : int, default 0
        Padding on each side. Max pooling pads with ``-inf`` so that padding is never the
        maximum, and needs ``pad < pool_h`` and ``pad < pool_w`` so that every window holds at
        least one real pixel; average pooling pads with zeros and always divides by
        ``pool_h * pool_w`` (PyTorch's ``count_include_pad=True``).
    mode : {"max", "avg"}, default "max"

    Notes
    -----
    The windows are :func:`~dlzero.conv.im2col`'s, but each strided slice is reduced as the
    loop over window offsets goes, with no column matrix: ``arg_max`` keeps the offset of each
    maximum (the first, on ties, as the book's ``argmax``), and ``backward`` sends each output
    gradient to that one input. ``tests/test_conv.py`` checks both against the book's code.
    As for ``Convolution``, the output size floors when the stride does not divide the input:
    a 5x5 input pooled 2x2 with stride 2 gives 2x2, its last row and column unused.
    """

    def __init__(
        self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0, *, mode: str = "max"
    ) -> None:
        self.pool_h = check_int("pool_h", pool_h, 1)
        self.pool_w = check_int("pool_w", pool_w, 1)
        self.stride = check_int("stride", stride, 1)
        self.pad = check_int("pad", pad, 0)
        if mode not in ("max", "avg"):
            raise ValueError(f"Pooling: mode must be 'max' or 'avg', got {mode!r}")
        if mode == "max" and (self.pad >= self.pool_h or self.pad >= self.pool_w):
            raise ValueError(
                f"Pooling: max pooling needs pad < pool size, so that no window is all "
                f"padding; got pad {pad} for a {pool_h}x{pool_w} window"
            )
        self.mode = mode
        self.x_shape: tuple[int, ...] | None = None
        self.arg_max: NDArray | None = None

    def forward(self, x: NDArray) -> NDArray:
        """x : ndarray, shape (N, C, H, W) -> ndarray, shape (N, C, out_h, out_w)."""
        x = as_image_batch(x, "Pooling")
        ph, pw, stride, p = self.pool_h, self.pool_w, self.stride, self.pad
        out_h, out_w = conv_output_hw(x.shape, ph, pw, stride, p, "Pooling")
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        self.x_shape = x.shape
        if p:  # -inf: padding is never a window's maximum
            pad_value = -np.inf if self.mode == "max" else 0
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=pad_value)
        views = [x[:, :, sy, sx] for _, _, sy, sx in window_slices(ph, pw, stride, out_h, out_w)]
        out = views[0].copy()
        if self.mode == "max":
            k = len(views)
            arg_dtype = np.int8 if k <= 127 else np.intp
            arg = np.zeros(out.shape, dtype=arg_dtype)
            greater = np.empty(out.shape, dtype=bool)
            candidate = np.empty(out.shape, dtype=arg_dtype)
            for offset, view in enumerate(views[1:], start=1):
                # Strictly greater: on ties the first offset keeps the maximum.
                np.greater(view, out, out=greater)
                # ``arg[greater] = offset``, without a masked write (4x slower here): offsets
                # only grow, so the last offset that beat the running maximum is the largest.
                np.multiply(greater, arg_dtype(offset), out=candidate)
                np.maximum(arg, candidate, out=arg)
                np.maximum(out, view, out=out)
            self.arg_max = arg
        else:
            for view in views[1:]:
                out += view
            out /= out.dtype.type(len(views))
        return out

    def backward(self, dout: NDArray) -> NDArray:
        """dout : ndarray, shape (N, C, out_h, out_w) -> dx, shape (N, C, H, W)."""
        dout = np.asarray(dout)
        n, c, h, w = self.x_shape
        p = self.pad
        slices = window_slices(self.pool_h, self.pool_w, self.stride, *dout.shape[2:])
        dx = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=dout.dtype)
        if self.mode == "avg":
            dout = dout / dout.dtype.type(len(slices))
        # Windows that do not overlap write disjoint slices of dx: no accumulation needed.
        overlap = self.stride < self.pool_h or self.stride < self.pool_w
        for offset, (_, _, sy, sx) in enumerate(slices):
            part = dout * (self.arg_max == offset) if self.mode == "max" else dout
            if overlap:
                dx[:, :, sy, sx] += part
            else:
                dx[:, :, sy, sx] = part
        return dx[:, :, p : p + h, p : p + w] if p else dx

    def __repr__(self) -> str:
        return (
            f"Pooling({self.pool_h}, {self.pool_w}, stride={self.stride}, pad={self.pad}, "
            f"mode={self.mode!r})"
        )
