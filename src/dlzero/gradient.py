"""Numerical differentiation and gradient checking (chapters 4 and 5).

``numerical_gradient`` is the slow, obviously-correct way to differentiate: nudge one number by
``h`` either way and look at how the loss moves. Backpropagation must give the same answer;
``gradient_check`` compares the two for every parameter of a network, and
``directional_gradient_check`` does a cheaper check along one random direction, with two loss
evaluations whatever the size of the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import DTypeLike, NDArray

from dlzero._html import html_table
from dlzero._rng import RngLike, as_rng

__all__ = [
    "CheckableNetwork",
    "DirectionalCheck",
    "GradientCheckReport",
    "ParamCheck",
    "directional_gradient_check",
    "gradient_check",
    "numerical_gradient",
    "numerical_gradient_2d",
]


class CheckableNetwork(Protocol):
    """What the gradient checks need of a network (:class:`~dlzero.networks.Sequential` has it).

    ``params`` maps names to the parameter arrays the network computes with, so that nudging
    ``params[key]`` in place changes ``loss``; ``gradient`` and ``numerical_gradient`` return
    dicts with the same keys and shapes.
    """

    params: dict[str, NDArray]

    def astype(self, dtype: DTypeLike) -> CheckableNetwork:
        """An independent copy whose arrays have dtype ``dtype``."""
        ...

    def loss(self, x: NDArray, t: NDArray, train_flg: bool = False) -> float: ...

    def gradient(self, x: NDArray, t: NDArray) -> dict[str, NDArray]: ...

    def numerical_gradient(self, x: NDArray, t: NDArray) -> dict[str, NDArray]: ...

    def backward(self, dout: float = 1.0) -> NDArray:
        """dL/dx of the last ``loss`` (used only by ``include_input=True``)."""
        ...


def numerical_gradient(f: Callable[[NDArray], float], x: NDArray, h: float = 1e-4) -> NDArray:
    """Gradient of ``f`` at ``x`` by central differences, ``(f(x+h) - f(x-h)) / 2h`` per element.

    ``x`` is changed in place, one element at a time, while ``f`` is evaluated, and every
    element is put back to its original value, bit for bit, before the function returns, also
    when ``f`` raises. This is what lets a network's loss be differentiated with respect to its
    own parameter arrays (``f`` ignores its argument and reads the network's parameters).

    Parameters
    ----------
    f : callable
        Takes ``x`` and returns a scalar.
    x : ndarray, any shape, floating dtype
        The point; modified temporarily, restored on return.
    h : float, default 1e-4
        The step.

    Returns
    -------
    ndarray, same shape as ``x``, float64
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            "numerical_gradient: x must be a floating-point ndarray (it is nudged by h in "
            f"place), got {type(x).__name__}"
            + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else "")
        )
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        original = x[idx].copy()
        try:
            x[idx] = original + h
            f_plus = float(f(x))
            x[idx] = original - h
            f_minus = float(f(x))
        finally:
            x[idx] = original
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_2d(f: Callable[[NDArray], float], X: NDArray, h: float = 1e-4) -> NDArray:
    """The gradient of ``f`` at each row of ``X``: one point a row (the book's ``gradient.py``).

    Where :func:`numerical_gradient` treats the whole of ``x`` as one point, this takes a 2-D
    ``X`` as a batch of points and returns, in row ``i``, the gradient of ``f`` at ``X[i]``
    (``f`` is called with that row); a 1-D ``X`` is one point. The book uses it to draw the
    gradient field of ``f(x0, x1) = x0**2 + x1**2`` (chapter 4).

    Parameters
    ----------
    f : callable
        Takes one point, an ndarray of shape (D,), and returns a scalar.
    X : ndarray, shape (D,) or (N, D), floating dtype
        Modified temporarily, restored on return (as for :func:`numerical_gradient`).
    h : float, default 1e-4

    Returns
    -------
    ndarray, shape of ``X``, float64
    """
    if isinstance(X, np.ndarray) and X.ndim == 2:
        grad = np.zeros(X.shape, dtype=np.float64)
        for i in range(X.shape[0]):
            grad[i] = numerical_gradient(f, X[i], h)  # X[i] is a view: nudged in place
        return grad
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise ValueError(
            f"numerical_gradient_2d: X must be 1-D (one point) or 2-D (a point a row), got "
            f"shape {X.shape}"
        )
    return numerical_gradient(f, X, h)


def _relative_error(a: NDArray, b: NDArray) -> float:
    """``||a - b|| / (||a|| + ||b||)``: 0 when equal, 1 when opposite, scale-free."""
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    if denom == 0:
        return 0.0
    return float(np.linalg.norm(a - b) / denom)


@dataclass(frozen=True)
class ParamCheck:
    """Backprop versus numerical gradient for one parameter."""

    name: str
    shape: tuple[int, ...]
    max_abs_diff: float
    mean_abs_diff: float
    relative_error: float
    passed: bool


@dataclass
class GradientCheckReport:
    """Per-parameter comparison of backprop and numerical gradients.

    ``passed`` is True when every parameter's relative error is below ``tolerance``.
    ``str(report)`` gives a table.
    """

    checks: list[ParamCheck] = field(default_factory=list)
    tolerance: float = 1e-6

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def __getitem__(self, name: str) -> ParamCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def __str__(self) -> str:
        lines = [
            f"{'param':<8}{'shape':<14}{'max |diff|':>12}{'mean |diff|':>13}{'rel. error':>12}"
        ]
        for c in self.checks:
            lines.append(
                f"{c.name:<8}{c.shape!s:<14}{c.max_abs_diff:>12.3e}{c.mean_abs_diff:>13.3e}"
                f"{c.relative_error:>12.3e}  {'ok' if c.passed else 'FAIL'}"
            )
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"{verdict}: relative error tolerance {self.tolerance:g}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Jupyter's display: the table of ``str(report)``."""
        rows = [
            [
                c.name,
                str(c.shape),
                f"{c.max_abs_diff:.3e}",
                f"{c.mean_abs_diff:.3e}",
                f"{c.relative_error:.3e}",
                "ok" if c.passed else "FAIL",
            ]
            for c in self.checks
        ]
        verdict = "PASS" if self.passed else "FAIL"
        return html_table(
            ["param", "shape", "max |diff|", "mean |diff|", "rel. error", ""],
            rows,
            caption="Gradient check: backprop against numerical gradients, in float64",
            footer=f"{verdict}: relative error tolerance {self.tolerance:g}",
        )


def _compare(
    name: str, analytic: NDArray, numeric: NDArray, tolerance: float, atol: float = 0.0
) -> ParamCheck:
    diff = np.abs(np.asarray(analytic, dtype=np.float64) - numeric)
    rel = _relative_error(np.asarray(analytic, dtype=np.float64), numeric)
    return ParamCheck(
        name=name,
        shape=tuple(numeric.shape),
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
        relative_error=rel,
        # ``atol`` lets a gradient that is zero in truth (e.g. a bias feeding a batch norm)
        # pass, where the relative error of two tiny numbers means nothing.
        passed=bool(rel < tolerance or (diff.size and diff.max() <= atol) or not diff.size),
    )


def _as_float64(t: NDArray) -> NDArray:
    t = np.asarray(t)
    return t.astype(np.float64) if np.issubdtype(t.dtype, np.floating) else t


def gradient_check(
    network: CheckableNetwork,
    x: NDArray,
    t: NDArray,
    *,
    tolerance: float = 1e-6,
    atol: float = 0.0,
    include_input: bool = False,
) -> GradientCheckReport:
    """Compare backprop with numerical gradients for every parameter of ``network``, in float64.

    The network is not touched: the check runs on a float64 copy, so float32 rounding cannot
    hide or fake a bug.

    Parameters
    ----------
    network : CheckableNetwork
        Any dlzero network, or any object with ``params``, ``astype``, ``loss``, ``gradient``,
        ``numerical_gradient`` (and ``backward`` for ``include_input``).
    x : ndarray, shape (N, ...)
        A small batch of inputs; the numerical gradient costs two loss evaluations per
        parameter element, so keep the batch small.
    t : ndarray, shape (N,) or (N, C)
        Labels or one-hot targets.
    tolerance : float, default 1e-6
        Largest relative error ``||a - b|| / (||a|| + ||b||)`` that passes.
    atol : float, default 0
        A parameter also passes when its largest absolute difference is at most ``atol``:
        for gradients that are exactly zero in truth, whose relative error is noise.
    include_input : bool, default False
        Also check the gradient with respect to ``x`` itself (reported as ``"x"``).

    Returns
    -------
    GradientCheckReport
    """
    net = network.astype(np.float64)
    x64 = np.array(x, dtype=np.float64)
    t64 = _as_float64(t)
    analytic = net.gradient(x64, t64)
    numeric = net.numerical_gradient(x64, t64)
    report = GradientCheckReport(tolerance=tolerance)
    for key in net.params:
        report.checks.append(_compare(key, analytic[key], numeric[key], tolerance, atol))
    if include_input:
        net.loss(x64, t64, train_flg=True)
        dx = net.backward()
        dx_num = numerical_gradient(lambda _: net.loss(x64, t64, train_flg=True), x64)
        report.checks.append(_compare("x", dx, dx_num, tolerance, atol))
    return report


@dataclass(frozen=True)
class DirectionalCheck:
    """Directional derivative along a random unit direction: backprop versus two loss values."""

    analytic: float
    numeric: float
    relative_error: float
    passed: bool

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict}: directional derivative backprop {self.analytic:.10e}, "
            f"numerical {self.numeric:.10e}, relative error {self.relative_error:.3e}"
        )


def directional_gradient_check(
    network: CheckableNetwork,
    x: NDArray,
    t: NDArray,
    *,
    rng: RngLike = None,
    eps: float = 1e-5,
    tolerance: float = 1e-6,
) -> DirectionalCheck:
    """Check the whole gradient at once along one random direction ``v``, in float64.

    Backprop gives the directional derivative as ``sum_p <grad_p, v_p>``; the loss gives it as
    ``(L(theta + eps v) - L(theta - eps v)) / (2 eps)``. Two loss evaluations, whatever the
    number of parameters, so even a large network is checked in milliseconds. A wrong
    gradient in any parameter changes the first number and almost surely not the second.

    Parameters
    ----------
    network : CheckableNetwork
        Only ``params``, ``astype``, ``loss`` and ``gradient`` are used.
    x : ndarray, shape (N, ...)
    t : ndarray, shape (N,) or (N, C)
    rng : Generator, int or None
        Draws the direction.
    eps : float, default 1e-5
    tolerance : float, default 1e-6
        Largest relative error ``|a - n| / (|a| + |n|)`` that passes.
    """
    gen = as_rng(rng)
    net = network.astype(np.float64)
    x64 = np.array(x, dtype=np.float64)
    t64 = _as_float64(t)
    grads = net.gradient(x64, t64)
    directions = {k: gen.standard_normal(p.shape) for k, p in net.params.items()}
    norm = np.sqrt(sum(float(np.sum(v * v)) for v in directions.values()))
    for v in directions.values():
        v /= norm
    analytic = float(sum(np.sum(grads[k] * v) for k, v in directions.items()))
    originals = {k: p.copy() for k, p in net.params.items()}
    losses = []
    for sign in (+1.0, -1.0):
        for k, p in net.params.items():
            np.copyto(p, originals[k] + sign * eps * directions[k])
        losses.append(net.loss(x64, t64, train_flg=True))
    numeric = (losses[0] - losses[1]) / (2 * eps)
    denom = abs(analytic) + abs(numeric)
    rel = 0.0 if denom == 0 else abs(analytic - numeric) / denom
    return DirectionalCheck(analytic, float(numeric), float(rel), bool(rel < tolerance))
