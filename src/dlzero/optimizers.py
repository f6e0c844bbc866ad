"""Optimizers: rules that update a network's parameters in place from their gradients.

Each optimizer has the book's interface, ``update(params, grads)``, where both are dicts keyed
by parameter name (``W1``, ``b1``, ...). The update is in place, so the network's layers, which
hold the same arrays as ``params``, see it at once. Optimizers with a memory (velocities,
squared-gradient sums, moments) keep one array per parameter name, created at the first update
with the parameter's shape and dtype (chapter 6.1; the rules and defaults are the book's
``common/optimizer.py``).

A parameter may also be a plain number in a dict, as in the book's comparison of optimizers on
``f(x, y) = x**2 / 20 + y**2`` (``params = {"x": -7.0, "y": 2.0}``, gradients as numbers): a
number cannot change in place, so the dict entry is replaced by the updated value (a Python
float), and the optimizer's memory for it carries over to the next call as for an array.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_fraction

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "AdaGrad",
    "Adam",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "get_optimizer",
]

# Added to the denominators of AdaGrad, RMSprop and Adam so that a zero gradient history does
# not divide by zero (the book's 1e-7).
EPSILON = 1e-7


class Optimizer:
    """Base class: ``update(params, grads)`` changes every ``params[key]`` in place.

    A subclass writes the rule in ``_update(pairs)``, which receives ``(key, param, grad)`` for
    every parameter, checked, each ``param`` an array to change in place (a number from the
    dict comes as a 0-d float64 array, and ``update`` puts the result back in the dict).
    """

    def update(
        self, params: Mapping[str, NDArray | float], grads: Mapping[str, NDArray | float]
    ) -> None:
        """Apply one step of the rule to every parameter.

        Parameters
        ----------
        params : dict of str to ndarray (floating, changed in place) or number (replaced)
        grads : dict of str to ndarray or number
            The gradient of every key of ``params``, with the parameter's shape.
        """
        pairs, numbers = _pairs(type(self).__name__, params, grads)
        self._update(pairs)
        for key, p in numbers:
            params[key] = float(p)  # type: ignore[index]

    def _update(self, pairs: list[tuple[str, NDArray, NDArray]]) -> None:
        raise NotImplementedError

    def _state(self, slots: dict[str, NDArray], key: str, p: NDArray) -> NDArray:
        """The memory array of parameter ``key`` in ``slots``, zeros of ``p``'s shape at first."""
        s = slots.get(key)
        if s is None:
            s = slots[key] = np.zeros_like(p)
        elif s.shape != p.shape:
            raise ValueError(
                f"{type(self).__name__}: parameter {key!r} changed shape from {s.shape} to "
                f"{p.shape} between updates; use a new optimizer for a new network"
            )
        return s

    def __repr__(self) -> str:
        # The hyperparameters only, not the per-parameter memory or the step count.
        args = ", ".join(
            f"{k}={v!r}"
            for k, v in vars(self).items()
            if not k.startswith("_") and not isinstance(v, dict) and k != "iter"
        )
        return f"{type(self).__name__}({args})"


def _check_lr(lr: float) -> float:
    if (
        isinstance(lr, bool)
        or not isinstance(lr, (int, float, np.integer, np.floating))
        or not np.isfinite(lr)
        or lr <= 0
    ):
        raise ValueError(f"learning rate must be a positive finite number, got {lr!r}")
    return float(lr)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _pairs(
    name: str, params: Mapping[str, NDArray | float], grads: Mapping[str, NDArray | float]
) -> tuple[list[tuple[str, NDArray, NDArray]], list[tuple[str, NDArray]]]:
    """(key, param, grad) for every parameter, checked before any parameter is changed.

    Also returns ``(key, array)`` for each parameter given as a number: ``array`` is the 0-d
    float64 array that stands for it in the triples, to be written back to ``params``.
    """
    out = []
    numbers = []
    for key, p in params.items():
        g = grads.get(key)
        if g is None:
            raise ValueError(f"{name}: no gradient for parameter {key!r} (grads has {list(grads)})")
        if not isinstance(p, np.ndarray):  # (the common case, an array, pays one test)
            p = _number_param(name, params, key, p, g)
            numbers.append((key, p))
        elif p.dtype.kind != "f":
            raise ValueError(
                f"{name}: parameter {key!r} is an array of {p.dtype}; it must be floating-point "
                "to be updated in place (e.g. params[key] = params[key].astype(np.float64))"
            )
        if np.shape(g) != p.shape:
            raise ValueError(
                f"{name}: gradient of {key!r} has shape {np.shape(g)}, the parameter has {p.shape}"
            )
        out.append((key, p, g))
    return out, numbers


def _number_param(
    name: str, params: Mapping[str, object], key: str, p: object, g: object
) -> NDArray:
    """A parameter that is not an ndarray: a number in a dict, as a 0-d float64 array."""
    if not _is_number(p):
        raise ValueError(
            f"{name}: parameter {key!r} must be a NumPy array of floats (updated in place) or "
            f"a number in a dict (replaced by its new value), got {type(p).__name__} {p!r}"
        )
    if not isinstance(params, MutableMapping):
        raise ValueError(
            f"{name}: parameter {key!r} is a number, which can only be updated by replacing "
            f"it in params; params must then be a dict, got {type(params).__name__}"
        )
    if not (_is_number(g) or (isinstance(g, np.ndarray) and g.dtype.kind in "fiu")):
        raise ValueError(
            f"{name}: the gradient of {key!r} must be a number, got {type(g).__name__} {g!r}"
        )
    return np.array(float(p), dtype=np.float64)


class SGD(Optimizer):
    """Stochastic gradient descent: ``W <- W - lr * dW``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate (the book's default; the chapter-5 experiment uses 0.1).
    """

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = _check_lr(lr)
        # One scratch array per parameter for ``lr * g``, so a step allocates nothing.
        self._step: dict[str, NDArray] = {}

    def _update(self, pairs: list[tuple[str, NDArray, NDArray]]) -> None:
        for key, p, g in pairs:
            step = self._step.get(key)
            if step is None or step.shape != p.shape or step.dtype != p.dtype:
                step = self._step[key] = np.empty_like(p)
            np.multiply(g, self.lr, out=step)
            # ``p -= ...`` on the array (not ``params[key] = ...``) keeps the layers' arrays.
            p -= step


class Momentum(Optimizer):
    """SGD with momentum: ``v <- momentum * v - lr * dW``, then ``W <- W + v``.

    The velocity ``v`` starts at zero; gradients that keep their sign build it up, and
    gradients that flip sign cancel out, which damps the zigzag of plain SGD.

    Parameters
    ----------
    lr : float, default 0.01
    momentum : float, default 0.9
        In [0, 1); 0 is plain SGD.
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr = _check_lr(lr)
        self.momentum = check_fraction("momentum", momentum)
        self.v: dict[str, NDArray] = {}

    def _update(self, pairs: list[tuple[str, NDArray, NDArray]]) -> None:
        for key, p, g in pairs:
            v = self._state(self.v, key, p)
            v *= self.momentum
            v -= self.lr * g
            p += v


class Nesterov(Optimizer):
    """Nesterov's accelerated gradient, in the book's form (it cites arXiv:1212.0901)::

        v <- momentum * v - lr * dW
        W <- W + momentum ** 2 * v - (1 + momentum) * lr * dW

    This is the momentum step taken from the look-ahead point, rewritten so that only the
    gradient at the current parameters is needed.

    Parameters
    ----------
    lr : float, default 0.01
    momentum : float, default 0.9
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr = _check_lr(lr)
        self.momentum = check_fraction("momentum", momentum)
        self.v: dict[str, NDArray] = {}

    def _update(self, pairs: list[tuple[str, NDArray, NDArray]]) -> None:
        for key, p, g in pairs:
            v = self._state(self.v, key, p)
            v *= self.momentum
            v -= self.lr * g
            p += self.momentum * self.momentum * v
            p -= (1 + self.momentum) * self.lr * g


class AdaGrad(Optimizer):
    """AdaGrad: a learning rate per parameter element that shrinks with its gradient history::

        h <- h + dW * dW
        W <- W - lr * dW / (sqrt(h) + 1e-7)

    Parameters
    ----------
    lr : float, default 0.01
    """

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = _check_lr(lr)
        self.h: dict[str, NDArray] = {}

    def _update(self, pairs: list[tuple[str, NDArray, NDArray]]) -> None:
        for key, p, g in pairs:
            h = self._state(self.h, key, p)
            h += g * g
            p -= self.lr * g / (np.sqrt(h) + EPSILON)


class RMSprop(Optimizer):
    """RMSprop: AdaGrad with a moving average that forgets old gradients::

        h <- decay_rate * h + (1 - decay_rate) * dW * dW
        W <- W - lr * dW / (sqrt(h) + 1e-7)

    Parameters
    ----------
    lr : float, default 0.01
    decay_rate : float, default 0.99
        In [0, 1).
    """

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        self.lr = _check_lr(lr)
        self.decay_rate = check_fraction("decay_rate", decay_rate)
        self.h: dict[str, NDArray] = {}

    def _update(self, pairs: list[tuple[str, NDArray, NDArray]]) -> None:
        for key, p, g in pairs:
            h = self._state(self.h, key, p)
            h *= self.decay_rate
            h += (1 - self.decay_rate) * g * g
            p -= self.lr * g / (np.sqrt(h) + EPSILON)


class Adam(Optimizer):
    """Adam (Kingma and Ba, arXiv:1412.6980) in the book's form::

        t    <- t + 1
        lr_t  = lr * sqrt(1 - beta2 ** t) / (1 - beta1 ** t)    # bias correction
        m    <- m + (1 - beta1) * (dW - m)                      # = beta1 m + (1 - beta1) dW
        v    <- v + (1 - beta2) * (dW ** 2 - v)
        W    <- W - lr_t * m / (sqrt(v) + 1e-7)

    ``t`` counts ``update`` calls (one per mini-batch), shared by all parameters.

    Parameters
    ----------
    lr : float, default 0.001
    beta1 : float, default 0.9
    beta2 : float, default 0.999
        Both in [0, 1).
    """

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr = _check_lr(lr)
        self.beta1 = check_fraction("beta1", beta1)
        self.beta2 = check_fraction("beta2", beta2)
        self.iter = 0
        self.m: dict[str, NDArray] = {}
        self.v: dict[str, NDArray] = {}
        # Two scratch arrays per parameter. The update is the formulas above, operation for
        # operation, but written into these instead of fresh temporaries: for the 432,000
        # weights of SimpleConvNet's affine layer that is 1 ms a step instead of 11 ms on our
        # test machine, where every fresh megabyte-sized array costs page faults.
        self._scratch: dict[str, tuple[NDArray, NDArray]] = {}

    def _update(self, pairs: list[tuple[str, NDArray, NDArray]]) -> None:
        self.iter += 1
        # math.sqrt gives a Python float, which keeps float32 arithmetic float32 (NumPy 2).
        lr_t = self.lr * math.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key, p, g in pairs:
            m = self._state(self.m, key, p)
            v = self._state(self.v, key, p)
            a, b = self._scratch_for(key, m)
            np.subtract(g, m, out=a)  # m += (1 - beta1) * (g - m)
            a *= 1 - self.beta1
            m += a
            np.multiply(g, g, out=a)  # v += (1 - beta2) * (g * g - v)
            a -= v
            a *= 1 - self.beta2
            v += a
            np.multiply(m, lr_t, out=a)  # p -= lr_t * m / (sqrt(v) + eps)
            np.sqrt(v, out=b)
            b += EPSILON
            a /= b
            p -= a

    def _scratch_for(self, key: str, like: NDArray) -> tuple[NDArray, NDArray]:
        pair = self._scratch.get(key)
        if pair is None or pair[0].shape != like.shape or pair[0].dtype != like.dtype:
            pair = self._scratch[key] = (np.empty_like(like), np.empty_like(like))
        return pair


# Optimizers by the name a user gives on the command line or to the trainer.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": AdaGrad,
    "rmsprop": RMSprop,
    "adam": Adam,
}


def get_optimizer(name: str | Optimizer, **kwargs: Any) -> Optimizer:
    """Return ``name`` if it is an optimizer, else a new one of that name (case-insensitive)."""
    if isinstance(name, Optimizer):
        return name
    cls = OPTIMIZERS.get(str(name).lower())
    if cls is None:
        expected = ", ".join(repr(k) for k in OPTIMIZERS)
        raise ValueError(f"unknown optimizer {name!r}; expected one of {expected}")
    return cls(**kwargs)
