"""The numerical side of :func:`~dlzero.checking.check_layer`: a layer's ``forward`` called on
fresh float64 copies, with the random state held, and central differences through it.

Each evaluation of ``f = sum(forward(...) * dout)`` runs on a new deep copy of one float64
copy of the learner's layer, so that nothing a ``forward`` keeps (a saved input, a running
mean, a generator's state) carries from one evaluation to the next; the global NumPy random
state is set to the same value before every call, so that the book's ``Dropout``, which draws
from ``np.random.rand``, draws the same mask every time.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero.checking.report import describe_exception

__all__ = ["Failed", "Harness", "float64_copy", "numerical_gradients"]


class Failed(Exception):
    """``forward`` failed: the check stops with this message (and ``not_written``)."""

    def __init__(self, message: str, not_written: bool = False) -> None:
        super().__init__(message)
        self.not_written = not_written


def float64_copy(layer: Any) -> Any:
    """A deep copy of ``layer`` whose floating-point array attributes are float64."""
    base = copy.deepcopy(layer)
    for name, value in list(getattr(base, "__dict__", {}).items()):
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            setattr(base, name, value.astype(np.float64))
    return base


def _takes_train_flg(method: Any) -> bool:
    try:
        return "train_flg" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def _as_array(value: Any, what: str) -> NDArray:
    """``value`` as a float64 array, or ``Failed`` saying what it was instead."""
    if value is None:
        raise Failed(f"{what} returned None: it must return its result")
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Failed(f"{what} returned a {type(value).__name__}, not an array") from None


class Harness:
    """Calls ``forward`` on fresh copies of one float64 layer, the random state held fixed."""

    def __init__(self, base: Any, inputs: list[NDArray], labels: NDArray | None) -> None:
        self.base = base
        self.inputs = inputs
        self.labels = labels
        self.train_flg = _takes_train_flg(getattr(base, "forward", None))
        # The global state the book's layers draw from (np.random.rand), held on purpose.
        self.random_state = np.random.get_state()  # noqa: NPY002

    def forward(self, layer: Any, inputs: list[NDArray]) -> NDArray:
        """``layer.forward(*inputs[, labels][, train_flg=True])`` as a float64 array."""
        np.random.set_state(self.random_state)  # noqa: NPY002
        args = [*inputs] if self.labels is None else [*inputs, self.labels.copy()]
        kwargs = {"train_flg": True} if self.train_flg else {}
        try:
            out = layer.forward(*args, **kwargs)
        except Exception as exc:
            written = isinstance(exc, NotImplementedError)
            message = f"forward raised {describe_exception(exc)}"
            if self.labels is None and isinstance(exc, TypeError) and "missing" in str(exc):
                message += (
                    "; a loss layer is checked with its labels: check_layer(layer, x, labels=t)"
                )
            raise Failed(message, written) from exc
        return _as_array(out, "forward")

    def value(self, dout: NDArray | None) -> float:
        """``sum(forward(...) * dout)`` on a fresh copy (the loss itself for a loss layer)."""
        out = self.forward(copy.deepcopy(self.base), [x.copy() for x in self.inputs])
        return float(out.sum() if dout is None else np.sum(out * dout))


def _numerical(
    harness: Harness,
    target: NDArray,
    dout: NDArray | None,
    f0: float,
    h: float,
    chosen: NDArray,
) -> tuple[NDArray, NDArray]:
    """Central differences of ``harness.value`` with respect to the elements ``chosen`` (flat
    indices) of ``target``, nudged in place and restored.

    Returns the gradient (NaN where not computed or at a kink) and the mask of the kinks:
    elements where the slopes left and right of the point differ (a ReLU input at 0, a tie
    in max pooling), so that the derivative is not defined.
    """
    grad = np.full(target.shape, np.nan)
    kinks = np.zeros(target.shape, dtype=bool)
    flat, gflat, kflat = target.flat, grad.reshape(-1), kinks.reshape(-1)  # (.flat: any layout)
    for j in chosen:
        original = float(flat[j])
        try:
            flat[j] = original + h
            f_plus = harness.value(dout)
            flat[j] = original - h
            f_minus = harness.value(dout)
        finally:
            flat[j] = original
        right, left = (f_plus - f0) / h, (f0 - f_minus) / h
        jump = abs(right - left)
        if jump > 0.1 * max(abs(right), abs(left)) and jump > 1e-6 * (1 + abs(f0)):
            kflat[j] = True
        else:
            gflat[j] = (f_plus - f_minus) / (2 * h)
    return grad, kinks


def numerical_gradients(
    harness: Harness,
    values: dict[str, NDArray],
    dout: NDArray | None,
    out: NDArray,
    h: float,
    max_elements: int,
    rng: np.random.Generator,
) -> tuple[dict[str, NDArray], dict[str, NDArray]]:
    """Central differences for every array of ``values`` (the inputs and parameters, nudged
    in place), and the kinks found; at most ``max_elements`` elements of each, at random.

    Raises ``Failed`` when ``forward`` is not repeatable (gives another ``f`` for the same
    input than the output ``out`` of the backprop pass) or fails at a nudged point.
    """
    f0 = harness.value(dout)
    expected = float(out.sum() if dout is None else np.sum(out * dout))
    if not np.isclose(f0, expected, rtol=1e-12, atol=1e-300):
        raise Failed(
            "forward is not repeatable: the same input gave another output (a random draw "
            "that is not from np.random or the layer's own generator, or state kept between "
            "calls)"
        )
    grads, kinks = {}, {}
    # The forward's prints and warnings were seen once already, not twice an element.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, value in values.items():
            chosen = np.arange(value.size)
            if value.size > max_elements:
                chosen = np.sort(rng.choice(value.size, max_elements, replace=False))
            grads[name], kinks[name] = _numerical(harness, value, dout, f0, h, chosen)
    return grads, kinks
