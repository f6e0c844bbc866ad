"""``check_function``: your function's result against the expected one, never an error.

For the exercises that are functions rather than layers: chapter 4's ``numerical_gradient``
(against the exact gradient), chapter 7's ``im2col`` (against :func:`dlzero.im2col`), and a
network's ``gradient`` (against its ``numerical_gradient``, as the book's
``gradient_check.py`` does).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlzero.checking.report import (
    Report,
    describe_exception,
    format_index,
    join_names,
    relative_error,
)

__all__ = ["FunctionCheck", "check_function"]


@dataclass(repr=False)
class FunctionCheck(Report):
    """The report of :func:`check_function`.

    Attributes
    ----------
    function : str
        The name of the function checked.
    results : list of tuple
        ``(name, expected shape, relative error or None, problem or None)``: one row, named
        ``"result"``, or one per key when the result is a dict.
    failures : list of str
        The names of the rows that are wrong (``["result"]`` when the call itself failed).
    errors, warnings : list of str
    not_written : bool
        True when the function raises ``NotImplementedError``.
    tolerance : float
    """

    function: str
    results: list[tuple[str, tuple[int, ...], float | None, str | None]] = field(
        default_factory=list
    )
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_written: bool = False
    tolerance: float = 1e-6

    _headers = ("", "shape", "rel. error", "")
    _right_aligned = (2,)

    def headline(self) -> str:
        """The report's first line: PASS or FAIL, the name, what was found."""
        verdict = "PASS" if self.ok else "FAIL"
        if self.not_written:
            what = "not written yet (it raises NotImplementedError)"
        elif self.errors:
            what = self.errors[0]
        elif self.failures:
            be = "is" if len(self.failures) == 1 else "are"
            what = f"{join_names(self.failures)} {be} wrong"
        else:
            errors = [r[2] for r in self.results if r[2] is not None]
            worst = f" (relative error {max(errors):.1e})" if errors else ""
            what = f"the result is right{worst}"
        return f"{verdict} {self.function}: {what}"

    def _rows(self) -> list[list[str]]:
        if not self.results or ([r[0] for r in self.results] == ["result"] and self.ok):
            return []  # one right result: the headline says it all
        return [
            [name, str(shape), "-" if rel is None else f"{rel:.1e}", f"WRONG: {p}" if p else "ok"]
            for name, shape, rel, p in self.results
        ]

    def _notes(self) -> list[str]:
        return self.errors[1:] + [f"warning: {w}" for w in self.warnings]


def _compare(
    name: str, got: Any, expected: Any, tolerance: float
) -> tuple[str, tuple[int, ...], float | None, str | None]:
    """One row: ``got`` against ``expected`` (arrays of numbers, or numbers)."""
    want = np.asarray(expected, dtype=np.float64)
    if got is None:
        return name, want.shape, None, "None"
    try:
        have = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return name, want.shape, None, f"a {type(got).__name__}, not an array of numbers"
    if have.shape != want.shape:
        return name, want.shape, None, f"shape {have.shape}, expected {want.shape}"
    if not np.isfinite(have).all():
        return name, want.shape, None, "NaN or infinite values"
    rel = relative_error(have, want)
    if rel <= tolerance:
        return name, want.shape, rel, None
    worst = np.unravel_index(int(np.argmax(np.abs(have - want))), want.shape)
    return (
        name,
        want.shape,
        rel,
        (f"at {format_index(worst)} {have[worst]:.6g}, expected {want[worst]:.6g}"),
    )


def check_function(
    fn: Callable[..., Any],
    *args: Any,
    expected: Any,
    tolerance: float = 1e-6,
    name: str | None = None,
) -> FunctionCheck:
    """Call ``fn(*args)`` and compare its result with ``expected``.

    Parameters
    ----------
    fn : callable
    *args
        Its arguments; it gets copies, and a function that changes one is warned about
        (``numerical_gradient`` must put every element of ``x`` back).
    expected : array_like, number, dict of arrays, or callable
        The right result. A callable is called with (copies of) the same arguments, inside the
        check, so that an error there is reported too (``network.numerical_gradient``, say,
        which runs layers that may not be written yet). A dict is compared key by key; the
        result must then be a dict with the same keys.
    tolerance : float, default 1e-6
        Largest relative error ``||got - expected|| / (||got|| + ||expected||)`` that passes.
    name : str, optional
        The name shown; by default ``fn.__name__``.

    Returns
    -------
    FunctionCheck
        ``report.ok``, ``report.failures``; ``print(report)`` begins with PASS or FAIL.
    """
    report = FunctionCheck(name or getattr(fn, "__name__", type(fn).__name__), tolerance=tolerance)
    given = copy.deepcopy(args)
    try:
        got = fn(*given)
    except Exception as exc:
        report.not_written = isinstance(exc, NotImplementedError)
        report.errors.append(f"it raised {describe_exception(exc)}")
        report.failures = ["result"]
        return report
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    for i, (before, after) in enumerate(zip(args, given, strict=True)):
        if isinstance(before, np.ndarray) and not np.array_equal(before, after):
            what = f"its argument {params[i]}" if i < len(params) else f"argument {i + 1}"
            report.warnings.append(f"{report.function} changed {what}; it must put it back")
    if callable(expected):
        try:
            expected = expected(*copy.deepcopy(args))
        except Exception as exc:
            report.not_written = isinstance(exc, NotImplementedError)
            report.errors.append(f"the expected value raised {describe_exception(exc)}")
            report.failures = ["result"]
            return report
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            report.errors.append(f"it returned a {type(got).__name__}, expected a dict")
            report.failures = ["result"]
            return report
        missing = [k for k in expected if k not in got]
        if missing:
            report.errors.append(f"the result has no {join_names([repr(k) for k in missing])}")
        report.results = [_compare(str(k), got.get(k), v, tolerance) for k, v in expected.items()]
    else:
        report.results = [_compare("result", got, expected, tolerance)]
    report.failures = [r[0] for r in report.results if r[3] is not None]
    return report
