"""Optimizers: rules that update a network's parameters in place from their gradients.

Each optimizer has the book's interface, ``update(params, grads)``, where both are dicts keyed
by parameter name (``W1``, ``b1``, ...). The update is in place, so the network's layers, which
hold the same arrays as ``params``, see it at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["OPTIMIZERS", "SGD", "Optimizer", "get_optimizer"]


class Optimizer:
    """Base class: ``update(params, grads)`` changes every ``params[key]`` in place."""

    def update(self, params: Mapping[str, NDArray], grads: Mapping[str, NDArray]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _check_lr(lr: float) -> float:
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning rate must be a positive finite number, got {lr!r}")
    return float(lr)


class SGD(Optimizer):
    """Stochastic gradient descent: ``W <- W - lr * dW``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate (the book's default; the chapter-5 experiment uses 0.1).
    """

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = _check_lr(lr)

    def update(self, params: Mapping[str, NDArray], grads: Mapping[str, NDArray]) -> None:
        for key, p in params.items():
            # ``p -= ...`` on the array (not ``params[key] = ...``) keeps the layers' arrays.
            p -= self.lr * grads[key]


# Optimizers by the name a user gives on the command line or to the trainer.
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD}


def get_optimizer(name: str | Optimizer, **kwargs: Any) -> Optimizer:
    """Return ``name`` if it is an optimizer, else a new one of that name (case-insensitive)."""
    if isinstance(name, Optimizer):
        return name
    cls = OPTIMIZERS.get(str(name).lower())
    if cls is None:
        expected = ", ".join(repr(k) for k in OPTIMIZERS)
        raise ValueError(f"unknown optimizer {name!r}; expected one of {expected}")
    return cls(**kwargs)
