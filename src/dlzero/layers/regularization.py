"""Chapter 6's layers against overfitting and for stable training: ``Dropout`` and
``BatchNormalization``.

Both behave differently in training and at inference, so their ``forward`` takes ``train_flg``
(``takes_train_flag = True`` tells a network to pass it). :func:`held_still` makes a network's
loss a function of its parameters alone while a numerical gradient is taken: dropout keeps one
mask, and batch normalization's running statistics are put back afterwards.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_fraction
from dlzero._rng import RngLike, as_rng
from dlzero.layers.basic import Layer, _scalar

__all__ = ["BatchNormalization", "Dropout", "held_still"]


class Dropout(Layer):
    """Dropout (chapter 6.4.3): in training, each unit is kept with probability ``1 - ratio``.

    This is *inverted* dropout: in training the kept values are divided by ``1 - ratio``, and at
    inference the layer is the identity. The book's ``Dropout`` instead leaves the kept values
    as they are in training and multiplies by ``1 - ratio`` at inference; both give every unit
    the same expected output in training and inference, but the inverted form does no work at
    inference time and a network's weights mean the same with or without the layer.

    :class:`dlzero.book.BookDropout` has the book's scaling, for the book's own network classes.

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


@contextmanager
def held_still(layers: Iterable[Layer], batch_size: int) -> Iterator[None]:
    """Hold the layers' randomness and state still while a numerical gradient is taken.

    Inside the block every ``Dropout`` reuses one mask (the last one drawn, if it was drawn for
    ``batch_size`` samples, so the result compares with the backpropagated gradient just
    computed; else the first loss draws a new one), so the loss is a function of the
    parameters alone. On the way out the masks are free again, and every state array (batch
    normalization's running statistics, which each training forward moves) is put back.

    Parameters
    ----------
    layers : iterable of Layer
    batch_size : int
        The number of samples the losses inside the block are computed on.
    """
    layers = list(layers)
    dropouts = [layer for layer in layers if isinstance(layer, Dropout)]
    saved_flags = [d.fixed_mask for d in dropouts]
    saved_states = [
        (layer, name, getattr(layer, name).copy())
        for layer in layers
        for name in getattr(layer, "state_names", ())  # (a user's own layer may not say)
    ]
    for d in dropouts:
        if not d.fixed_mask and d.mask is not None and d.mask.shape[0] != batch_size:
            d.mask = None  # drawn for another batch: the first loss below draws one
        d.fixed_mask = True
    try:
        yield
    finally:
        for d, flag in zip(dropouts, saved_flags, strict=True):
            d.fixed_mask = flag
        for layer, name, value in saved_states:
            getattr(layer, name)[...] = value
