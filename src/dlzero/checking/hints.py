"""The usual mistakes of a hand-written ``backward``, recognised from the numbers.

Each rule looks at one wrong gradient: the backprop value, the numerical one, and what the
layer's ``forward`` did (its input, output and the ``dout`` it was given), and returns a hint
only when a known mistake fits those numbers: a bias gradient that fits "the sum of dout over
the batch" and was not computed that way, a ``dx`` that is exactly ``dout`` where a mask should
have stopped it, a gradient that is the right one times the batch size, ... A gradient that is
wrong in no recognised way gets no hint rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["HintContext", "find_hints"]


@dataclass
class HintContext:
    """What the rules may look at, all in float64.

    Attributes
    ----------
    inputs : list of ndarray
        The inputs given to ``forward`` (without the labels).
    out : ndarray
        What ``forward`` returned.
    dout : ndarray or None
        The ``dout`` given to ``backward``; None for a loss layer (``backward()``).
    values : dict of str to ndarray
        For each gradient name (``"dx"``, ``"dW"``), the array it is the gradient of.
    analytic : dict of str to ndarray or None
        The gradient from ``backward`` (any shape), or None where there was none.
    numerical : dict of str to ndarray
        Central differences, the shape of ``values[name]``; NaN where not compared.
    labels : ndarray or None
    param_grads : set of str
        The names of the parameters' gradients (``"dW"``), as opposed to the inputs'.
    """

    inputs: list[NDArray]
    out: NDArray
    dout: NDArray | None
    values: dict[str, NDArray]
    analytic: dict[str, NDArray | None]
    numerical: dict[str, NDArray]
    labels: NDArray | None = None
    param_grads: set[str] = field(default_factory=set)

    @property
    def batch_size(self) -> int:
        x = self.inputs[0]
        return int(x.shape[0]) if x.ndim >= 1 else 1


def _close(a: NDArray | None, b: NDArray | None, rtol: float = 1e-5) -> bool:
    """``a`` and ``b`` have one shape and agree where both are finite (at least one element)."""
    if a is None or b is None or np.shape(a) != np.shape(b):
        return False
    a, b = np.asarray(a), np.asarray(b)
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return False
    a, b = a[both], b[both]
    diff = float(np.linalg.norm(a - b))
    return diff <= rtol * float(np.linalg.norm(a) + np.linalg.norm(b)) or diff <= 1e-9


def _bias(ctx: HintContext, name: str) -> str | None:
    """A 1-D parameter whose gradient is dout summed over every axis but the channel axis."""
    value, g = ctx.values[name], ctx.dout
    if name not in ctx.param_grads or value.ndim != 1 or g is None or g.ndim < 2:
        return None
    if g.shape[1] != value.shape[0]:
        return None
    axes = tuple(a for a in range(g.ndim) if a != 1)
    if not _close(ctx.numerical[name], g.sum(axis=axes)):
        return None
    if g.ndim == 2:
        return f"{name} is the sum of dout over the batch: {name} = np.sum(dout, axis=0)"
    return (
        f"{name} is the sum of dout over the batch and every position: "
        f"{name} = np.sum(dout, axis={axes})"
    )


def _flat_input(ctx: HintContext, width: int) -> NDArray | None:
    """The one input as forward's product saw it, (N, D), if it has ``width`` values a row."""
    if len(ctx.inputs) != 1 or ctx.inputs[0].ndim < 1:
        return None
    x = ctx.inputs[0]
    x2 = x.reshape(x.shape[0], -1)
    return x2 if x2.shape[1] == width else None


def _weight(ctx: HintContext, name: str) -> str | None:
    """A 2-D weight matrix whose gradient fits ``x.T @ dout`` (an Affine layer's ``dW``)."""
    value, g = ctx.values[name], ctx.dout
    if name not in ctx.param_grads or value.ndim != 2 or g is None or g.ndim != 2:
        return None
    x2 = _flat_input(ctx, value.shape[0])
    if x2 is None or x2.shape[0] != g.shape[0] or not _close(ctx.numerical[name], x2.T @ g):
        return None
    a = ctx.analytic[name]
    if a is not None and a.shape == value.shape[::-1] != value.shape:
        return (
            f"{name} = x.T @ dout, which has the shape of {name[1:]}, {value.shape}; "
            "dout.T @ x is its transpose"
        )
    return f"{name} = x.T @ dout, with x as forward saw it, of shape {x2.shape}"


def _affine_dx(ctx: HintContext, name: str) -> str | None:
    """The input gradient of an Affine layer: ``dout @ W.T``, in the shape of the input."""
    g = ctx.dout
    if name != "dx" or g is None or g.ndim != 2:
        return None
    for other in ctx.param_grads:
        w = ctx.values[other]
        x2 = _flat_input(ctx, w.shape[0]) if w.ndim == 2 else None
        if x2 is not None and w.shape[1] == g.shape[1]:
            fit = (g @ w.T).reshape(ctx.inputs[0].shape)
            if _close(ctx.numerical[name], fit):
                return f"dx = dout @ {other[1:]}.T, reshaped to the shape of x, {fit.shape}"
    return None


def _loss_dx(ctx: HintContext, name: str) -> str | None:
    """A loss layer's ``dx``: ``(y - t) / batch_size``, not without the division or twice."""
    a, n = ctx.analytic[name], ctx.numerical[name]
    if ctx.dout is not None or name != "dx" or a is None:
        return None
    size = ctx.batch_size
    if size > 1 and (_close(a, n * size) or _close(a, n / size)):
        return "the loss layer's dx is divided by the batch size: dx = (y - t) / batch_size"
    if _close(a, -n):
        return "the loss layer's dx is (y - t) / batch_size: y - t, not t - y"
    softmax = _softmax_gradients(ctx)
    if softmax is not None and _close(a, softmax[0], 1e-9) and _close(n, softmax[1], 1e-7):
        return (
            "the loss takes log(y + 1e-7), as the book's cross_entropy_error does, and its "
            "gradient is then not exactly (y - t) / batch_size: take the log of y itself"
        )
    return None


def _softmax_gradients(ctx: HintContext) -> tuple[NDArray, NDArray] | None:
    """For 2-D scores ``x``: ``(y - t) / N``, and the gradient of the book's loss
    ``-sum(t * log(softmax(x) + 1e-7)) / N``, which is not quite that."""
    x, t = ctx.inputs[0], ctx.labels
    if x.ndim != 2 or t is None:
        return None
    if t.shape != x.shape:  # integer labels
        if t.shape != x.shape[:1] or not np.issubdtype(t.dtype, np.integer):
            return None
        t = np.eye(x.shape[1])[t]
    y = np.exp(x - x.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    py = t / (y + 1e-7) * y
    return (y - t) / x.shape[0], -(py - y * py.sum(axis=1, keepdims=True)) / x.shape[0]


def _activation(ctx: HintContext, name: str) -> str | None:
    """A sigmoid or tanh layer (recognised by its output), whose derivative uses that output."""
    if name != "dx" or len(ctx.inputs) != 1 or ctx.out.shape != ctx.inputs[0].shape:
        return None
    x = ctx.inputs[0]
    with np.errstate(over="ignore"):
        if _close(ctx.out, 1.0 / (1.0 + np.exp(-x)), 1e-7):
            return (
                "sigmoid's derivative is out * (1 - out), with out the output of forward: "
                "dx = dout * (1.0 - self.out) * self.out"
            )
    if _close(ctx.out, np.tanh(x), 1e-7):
        return "tanh's derivative is 1 - out ** 2: dx = dout * (1.0 - self.out ** 2)"
    return None


def _mask(ctx: HintContext, name: str) -> str | None:
    """A mask layer (ReLU, dropout): the right dx is dout (times a constant) or 0, element by
    element, and backward let dout through elsewhere, or stopped it elsewhere."""
    a, n, g = ctx.analytic[name], ctx.numerical[name], ctx.dout
    if name != "dx" or g is None or a is None or len(ctx.inputs) != 1:
        return None
    if not (a.shape == n.shape == g.shape == ctx.out.shape):
        return None
    known = np.isfinite(n)
    stopped = np.abs(n) <= 1e-7 * (1 + np.abs(g))
    passed = known & ~stopped
    if not (known & stopped).any() or not passed.any():
        return None
    ratio = n[passed] / g[passed]
    if not np.allclose(ratio, ratio[0], rtol=1e-5):
        return None
    a_stopped = np.abs(a) <= 1e-7 * (1 + np.abs(g))
    if np.array_equal(a_stopped[known], stopped[known]):
        return None  # the same elements are stopped: the mistake is elsewhere
    return (
        "the mask of forward must be applied: dx = dout * mask, 0 where forward stopped the "
        "value (for ReLU, where x <= 0) and dout where it let it through"
    )


def _transposed(ctx: HintContext, name: str) -> str | None:
    a, n = ctx.analytic[name], ctx.numerical[name]
    if a is None or a.ndim != 2 or a.shape == n.shape or not _close(a.T, n):
        return None
    return f"{name} is transposed: it must have the shape {n.shape}"


def _sign(ctx: HintContext, name: str) -> str | None:
    if not _close(ctx.analytic[name], -ctx.numerical[name]):
        return None
    return f"{name} has the wrong sign: it is minus the right gradient"


def _scale(ctx: HintContext, name: str) -> str | None:
    """A gradient that is the right one times a constant: a missing or extra factor."""
    a, n = ctx.analytic[name], ctx.numerical[name]
    if a is None or a.shape != n.shape:
        return None
    known = np.isfinite(n) & np.isfinite(a)
    nn = float(np.sum(n[known] ** 2))
    if nn == 0:
        return None
    c = float(np.sum(a[known] * n[known])) / nn
    if abs(c - 1) < 1e-3 or not _close(a, c * n):
        return None
    size = ctx.batch_size
    if size > 1 and (abs(c / size - 1) < 1e-4 or abs(c * size - 1) < 1e-4):
        return (
            f"{name} is {c:.3g} times the right value: a division by the batch size "
            f"({size}) too many, or one missing"
        )
    return f"{name} is {c:.4g} times the right value: a factor is missing or extra"


# The rules that know a layer (the first that fits gives its hint), then the general ones (the
# first that fits adds its hint, unless the layer's hint already said it).
_LAYER_RULES = (_bias, _weight, _affine_dx, _loss_dx, _activation, _mask)
_GENERAL_RULES = (_transposed, _sign, _scale)


def _swapped(ctx: HintContext, failing: list[str]) -> str | None:
    """Two inputs whose gradients are each other's (a multiplication node that forgot to swap)."""
    if len(ctx.inputs) < 2 or not {"dx", "dy"} <= set(failing):
        return None
    an, nu = ctx.analytic, ctx.numerical
    if not (_close(an["dx"], nu["dy"]) and _close(an["dy"], nu["dx"])):
        return None
    x, y = ctx.inputs[0], ctx.inputs[1]
    if np.shape(x) == np.shape(y) == ctx.out.shape and _close(ctx.out, x * y):
        return (
            "dx and dy are swapped: a multiplication node swaps its inputs on the way back, "
            "dx = dout * y and dy = dout * x"
        )
    return "dx and dy are swapped"


def find_hints(ctx: HintContext, failing: list[str]) -> list[str]:
    """The hints for the wrong gradients ``failing``, in table order, none twice."""
    hints = []
    swapped = _swapped(ctx, failing)
    if swapped:
        hints.append(swapped)
        failing = [f for f in failing if f not in ("dx", "dy")]
    for name in failing:
        if name not in ctx.numerical:
            continue
        rule = next((r for r in _LAYER_RULES if r(ctx, name)), None)
        found = [rule(ctx, name)] if rule else []
        general = next((h for h in (r(ctx, name) for r in _GENERAL_RULES) if h), None)
        # (_loss_dx already says which factor is wrong, _weight that dW is transposed)
        if general and not (
            rule is _loss_dx or (found and "transpose" in found[0] and "transposed" in general)
        ):
            found.append(general)
        hints += [h for h in found if h and h not in hints]
    return hints
