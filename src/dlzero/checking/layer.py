"""``check_layer``: one layer's backward pass against central differences, with a diagnosis.

The book asks the reader to type ``Affine``, ``Relu`` and ``SoftmaxWithLoss`` themselves.
:func:`check_layer` takes any object of the book's layer shape (``forward(*inputs)`` and
``backward(dout)``), differentiates it numerically, and says which gradient is wrong and, when
a usual mistake fits the numbers, which one.

How it works: a copy of the layer, cast to float64, gives ``out = forward(*inputs)``; a random
``G`` of ``out``'s shape is the ``dout`` of ``backward``, so the gradients are those of
``f = sum(out * G)``, which the check also differentiates by central differences,
``(f(v + h) - f(v - h)) / 2h`` for every element ``v`` of every input and parameter, each
``f`` on a fresh copy of the layer. (A loss layer, checked with ``labels``, is its own ``f``,
and ``backward()`` is called with its default ``dout``.) The global NumPy random state and
any generator the layer holds are the same at every call of ``forward``, so a dropout mask is
the same in every evaluation. The learner's layer, inputs and random state are left as they
were.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero.checking.hints import HintContext, find_hints
from dlzero.checking.numeric import Failed, Harness, float64_copy, numerical_gradients
from dlzero.checking.report import (
    GradientResult,
    LayerCheck,
    describe_exception,
    format_index,
    relative_error,
)

__all__ = ["check_layer"]

# The names of the book's parameters: a float array attribute of one of these names is taken
# for a parameter even when ``backward`` sets no gradient for it (then that gradient is missing).
_BOOK_PARAMS = ("W", "b", "gamma", "beta")
_INPUT_GRADS = ("dx", "dy", "dz")


def _compare(
    name: str, analytic: NDArray, numeric: NDArray, kinks: NDArray, tolerance: float, atol: float
) -> GradientResult:
    """One row of the table: the two gradients on the elements compared."""
    known = np.isfinite(numeric)
    a, n = analytic[known], numeric[known]
    common = {"name": name, "shape": numeric.shape, "at_kinks": int(kinks.sum())}
    if not n.size:
        return GradientResult(**common, relative_error=None, compared=0)
    rel = relative_error(a, n)
    diff = np.where(known, np.abs(analytic - np.where(known, numeric, 0)), -1.0)
    worst = np.unravel_index(int(np.argmax(diff)), numeric.shape)
    problem = None
    if not (rel <= tolerance or float(diff.max()) <= atol):
        problem = (
            f"worst at {format_index(worst)}: backprop {analytic[worst]:.6g}, "
            f"numerical {numeric[worst]:.6g}"
        )
    return GradientResult(
        **common,
        problem=problem,
        relative_error=rel,
        worst=tuple(int(i) for i in worst),
        backprop=float(analytic[worst]),
        numerical=float(numeric[worst]),
        compared=int(n.size),
    )


def _gradient_array(value: Any, name: str, shape: tuple[int, ...]) -> tuple[NDArray | None, str]:
    """The gradient ``value`` as float64, and the problem with it ("" if none)."""
    if value is None:
        return None, f"{name} is None"
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None, f"{name} is a {type(value).__name__}, not an array"
    if a.shape != shape:
        return a, f"{name} has shape {a.shape}, expected {shape}"
    if not np.isfinite(a).all():
        return a, f"{name} has NaN or infinite values"
    return a, ""


def _input_gradients(returned: Any, count: int) -> list[tuple[Any, str]]:
    """What ``backward`` returned, as (value, problem) per input ("" for no problem)."""
    if count == 1:
        if isinstance(returned, (tuple, list)):
            kind = f"a {type(returned).__name__} of {len(returned)}"
            return [(None, f"backward returned {kind}; a layer with one input returns dx itself")]
        if returned is None:
            return [(None, "backward returned None: it must return dx")]
        return [(returned, "")]
    if isinstance(returned, (tuple, list)) and len(returned) == count:
        return [(value, "") for value in returned]
    if returned is None:
        got = "None"
    elif isinstance(returned, (tuple, list)):
        got = f"a {type(returned).__name__} of {len(returned)}"
    else:
        got = "one array" if isinstance(returned, np.ndarray) else f"a {type(returned).__name__}"
    problem = f"backward returned {got}; it must return ({', '.join(_grad_names(count))})"
    return [(None, problem)] * count


def _parameters(layer: Any, kept: list[str], inputs: int) -> list[str]:
    """The parameters among the float arrays ``kept`` that forward did not replace: those with
    a gradient attribute ``d<name>`` (set by backward, or by ``__init__``), those the layer
    declares in ``param_names``, and the book's names (``W``, ``b``, ``gamma``, ``beta``).
    """
    declared = tuple(getattr(layer, "param_names", ()) or ())
    return [
        k
        for k in kept
        if (hasattr(layer, "d" + k) or k in declared or k in _BOOK_PARAMS)
        and "d" + k not in _grad_names(inputs)
    ]


def _grad_names(count: int) -> list[str]:
    return [_INPUT_GRADS[i] if i < len(_INPUT_GRADS) else f"d(input {i + 1})" for i in range(count)]


def check_layer(
    layer: Any,
    *inputs: Any,
    labels: Any = None,
    tolerance: float = 1e-6,
    atol: float = 1e-8,
    h: float = 1e-5,
    max_elements: int = 2000,
    seed: int = 0,
) -> LayerCheck:
    """Check a layer's ``backward`` against numerical gradients, and diagnose what is wrong.

    Parameters
    ----------
    layer : object
        Anything with the book's layer shape: ``forward(*inputs)`` returning the output and
        ``backward(dout)`` returning the input gradient (a tuple ``(dx, dy)`` for two inputs,
        as ``MulLayer`` and ``AddLayer``). Its parameters are found the book's way: every
        float array attribute ``X`` for which ``backward`` sets ``dX`` (``W``/``dW``,
        ``b``/``db``, ``gamma``/``dgamma``, ...). A ``forward`` that takes ``train_flg`` gets
        ``train_flg=True``. The layer is not changed: the check runs on copies.
    *inputs : array_like
        The inputs of ``forward``, e.g. ``x`` of shape (N, D); cast to float64. Keep them
        small: each element costs two calls of ``forward``.
    labels : array_like, optional
        For a loss layer: the labels, one-hot (N, C) or integer (N,), passed to ``forward``
        after the inputs; ``backward()`` is then called with its default ``dout``.
    tolerance : float, default 1e-6
        Largest relative error ``||backprop - numerical|| / (||backprop|| + ||numerical||)``
        that passes (that of :func:`dlzero.gradient_check`).
    atol : float, default 1e-8
        A gradient also passes when no element differs by more than this (gradients that are
        zero in truth, whose relative error is noise).
    h : float, default 1e-5
        Step of the central differences.
    max_elements : int, default 2000
        Compare at most this many elements of each gradient, chosen at random.
    seed : int, default 0
        Seeds ``G`` (the ``dout`` of ``backward``) and the choice of elements.

    Returns
    -------
    LayerCheck
        ``report.ok``, ``report.failures`` (the names of the wrong gradients), ``hints``,
        ``warnings`` and a table; ``print(report)`` begins with PASS or FAIL. A wrong layer
        never raises: an exception inside it, a None or a wrong shape is a finding.

    Raises
    ------
    TypeError, ValueError
        Only for a wrong call: no inputs, or inputs that are not arrays of numbers.
    """
    if not inputs:
        raise TypeError("check_layer needs the input(s) of forward: check_layer(layer, x)")
    xs = []
    for i, x in enumerate(inputs):
        try:
            xs.append(np.array(x, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(
                f"check_layer: input {i + 1} must be an array of numbers, got {type(x).__name__}"
            ) from None
    t = None if labels is None else np.array(labels)
    state = np.random.get_state()  # noqa: NPY002 (put back as it was, whatever forward drew)
    try:
        return _check(layer, xs, t, tolerance, atol, h, max_elements, seed)
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _check(
    layer: Any,
    xs: list[NDArray],
    labels: NDArray | None,
    tolerance: float,
    atol: float,
    h: float,
    max_elements: int,
    seed: int,
) -> LayerCheck:
    report = LayerCheck(type(layer).__name__, tolerance=tolerance)
    rng = np.random.default_rng(seed)
    is_loss = labels is not None
    # The backprop pass, on a float64 copy of its own: forward, then backward with dout = G.
    try:
        harness = _harness(layer, xs, labels)
        work = copy.deepcopy(harness.base)
        arrays = _float_arrays(work)
        given = [x.copy() for x in xs]
        out = harness.forward(work, given)
        if is_loss and out.size != 1:
            raise Failed(
                "a loss layer's forward returns one number, the mean loss over the batch; "
                f"got an array of shape {out.shape}"
            )
        if not np.isfinite(out).all():
            raise Failed("forward returned NaN or infinite values")
    except Failed as failed:
        report.errors.append(str(failed))
        report.not_written = "forward" if failed.not_written else None
        report.failures = ["forward"]
        return report
    if any(not np.array_equal(g, x) for g, x in zip(given, xs, strict=True)):
        report.warnings.append(
            "forward writes into its input: the caller's array changes (copy it first, "
            "e.g. out = x.copy())"
        )
    # Arrays that forward replaced are state (a saved input or output), not parameters.
    kept = [k for k, v in arrays.items() if getattr(work, k, None) is v]
    dout = None if is_loss else rng.standard_normal(out.shape)
    given_dout = None if dout is None else dout.copy()
    try:
        returned = work.backward() if is_loss else work.backward(given_dout)
    except Exception as exc:
        return _backward_raised(report, exc, work, kept, xs, labels)
    if dout is not None and not np.array_equal(given_dout, dout):
        report.warnings.append(
            "backward writes into the dout it was given (as the book's Relu does: "
            "dout[self.mask] = 0): a caller that keeps dout sees it change"
        )
    params = _parameters(work, kept, len(xs))
    names = _grad_names(len(xs)) + ["d" + k for k in params]
    # The arrays the gradients are of: those of the copy that the numerical side nudges.
    values = dict(zip(names, xs + [harness.base.__dict__[k] for k in params], strict=True))
    got = _input_gradients(returned, len(xs)) + [(getattr(work, "d" + k, None), "") for k in params]
    analytic: dict[str, NDArray | None] = {}
    problems: dict[str, str] = {}
    for name, (value, problem) in zip(names, got, strict=True):
        analytic[name], problems[name] = _gradient_array(value, name, values[name].shape)
        if problem:
            problems[name] = problem
        elif analytic[name] is None and name[1:] in params:
            problems[name] = f"backward did not set self.{name} (the gradient of {name[1:]})"

    # Central differences for every gradient, the layer's arrays nudged one element at a time.
    try:
        numerical, kinks = numerical_gradients(harness, values, dout, out, h, max_elements, rng)
    except Failed as failed:
        report.errors.append(str(failed))
        report.failures = ["forward"]
        return report
    for name in names:
        if problems[name]:
            result = GradientResult(name, values[name].shape, problems[name])
        else:
            result = _compare(name, analytic[name], numerical[name], kinks[name], tolerance, atol)
        report.gradients.append(result)
    report.failures = [g.name for g in report.gradients if not g.ok]
    context = HintContext(
        inputs=xs,
        out=out,
        dout=dout,
        values=values,
        analytic=analytic,
        numerical=numerical,
        labels=labels,
        param_grads={"d" + k for k in params},
    )
    report.hints += find_hints(context, report.failures)
    return report


def _harness(layer: Any, xs: list[NDArray], labels: NDArray | None) -> Harness:
    """The harness on a float64 copy of ``layer``, or ``Failed`` if it cannot be one."""
    for method in ("forward", "backward"):
        if not callable(getattr(layer, method, None)):
            raise Failed(f"the layer has no {method} method")
    try:
        return Harness(float64_copy(layer), xs, labels)
    except Exception as exc:
        raise Failed(f"the layer could not be copied: {describe_exception(exc)}") from exc


def _float_arrays(layer: Any) -> dict[str, NDArray]:
    """The layer's floating-point array attributes, the declared parameters first."""
    attrs = getattr(layer, "__dict__", {})
    declared = [k for k in getattr(layer, "param_names", ()) or () if k in attrs]
    order = declared + [k for k in attrs if k not in declared]
    return {
        k: attrs[k]
        for k in order
        if isinstance(attrs[k], np.ndarray) and attrs[k].dtype.kind == "f"
    }


def _backward_raised(
    report: LayerCheck,
    exc: Exception,
    work: Any,
    kept: list[str],
    xs: list[NDArray],
    labels: NDArray | None,
) -> LayerCheck:
    """The report when ``backward`` raised: every gradient missing, the error said."""
    written = isinstance(exc, NotImplementedError)
    report.not_written = "backward" if written else None
    report.errors.append(f"backward raised {describe_exception(exc)}")
    if not written and labels is not None and labels.ndim == xs[0].ndim - 1:
        report.hints.append(
            f"the labels are class indices here (shape {labels.shape}); a layer written for "
            "one-hot labels needs t = np.eye(C)[t]"
        )
    problem = "not written yet" if written else "backward raised an exception"
    params = _parameters(work, kept, len(xs))
    shapes = [x.shape for x in xs] + [getattr(work, k).shape for k in params]
    names = _grad_names(len(xs)) + ["d" + k for k in params]
    report.gradients = [GradientResult(n, s, problem) for n, s in zip(names, shapes, strict=True)]
    report.failures = names
    return report
