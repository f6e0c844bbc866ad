"""``check_optimizer``: a few steps of your optimizer against dlzero's, on the same gradients.

An optimizer has the book's interface, ``update(params, grads)``, changing every
``params[key]`` in place. :func:`check_optimizer` runs a copy of it and dlzero's own optimizer
of the same kind (the book's formulas, :mod:`dlzero.optimizers`) side by side for a few steps,
from the same parameters with the same random gradients, and compares how far each moved
every parameter.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero.checking.report import (
    Report,
    describe_exception,
    format_index,
    join_names,
    relative_error,
)

__all__ = ["OptimizerCheck", "check_optimizer"]


@dataclass(repr=False)
class OptimizerCheck(Report):
    """The report of :func:`check_optimizer`.

    Attributes
    ----------
    optimizer : str
        The class name of the optimizer checked.
    reference : str
        The optimizer it was compared with, with its hyperparameters.
    steps : list of tuple
        ``(step, parameter name, relative error or None, problem or None)``, one per parameter
        and step: the relative error of the change since the start.
    failures : list of str
        The names of the parameters that were updated wrongly at some step.
    errors, hints : list of str
    not_written : bool
        True when ``update`` raises ``NotImplementedError``.
    tolerance : float
    """

    optimizer: str
    reference: str = ""
    steps: list[tuple[int, str, float | None, str | None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    not_written: bool = False
    tolerance: float = 1e-4

    _headers = ("step", "param", "rel. error", "")
    _right_aligned = (0, 2)

    def headline(self) -> str:
        """The report's first line: PASS or FAIL, the name, what was found."""
        verdict = "PASS" if self.ok else "FAIL"
        if self.not_written:
            what = "not written yet (update raises NotImplementedError)"
        elif self.errors:
            what = self.errors[0]
        elif self.failures:
            be = "is" if len(self.failures) == 1 else "are"
            what = f"{join_names(self.failures)} {be} updated wrongly (against {self.reference})"
        else:
            last = max(s[0] for s in self.steps) if self.steps else 0
            what = f"{last} steps match {self.reference}"
        return f"{verdict} {self.optimizer}: {what}"

    def _rows(self) -> list[list[str]]:
        return [
            [str(step), name, "-" if rel is None else f"{rel:.1e}", f"WRONG: {p}" if p else "ok"]
            for step, name, rel, p in self.steps
        ]

    def _notes(self) -> list[str]:
        return self.errors[1:] + [f"hint: {h}" for h in self.hints]


def _reference(optimizer: Any, reference: Any) -> Any:
    """dlzero's optimizer named ``reference``, with the hyperparameters ``optimizer`` has."""
    if not isinstance(reference, str):
        return copy.deepcopy(reference)
    from dlzero.optimizers import OPTIMIZERS  # the book's formulas, in the library

    cls = OPTIMIZERS.get(reference.lower())
    if cls is None:
        raise ValueError(
            f"check_optimizer: unknown reference {reference!r}; expected one of "
            + ", ".join(repr(k) for k in OPTIMIZERS)
        )
    names = list(inspect.signature(cls.__init__).parameters)[1:]
    kwargs = {k: getattr(optimizer, k) for k in names if hasattr(optimizer, k)}
    return cls(**kwargs)


def check_optimizer(
    optimizer: Any,
    reference: Any,
    *,
    steps: int = 3,
    tolerance: float = 1e-4,
    seed: int = 0,
) -> OptimizerCheck:
    """Run ``optimizer`` and a reference side by side for a few steps and compare the updates.

    Parameters
    ----------
    optimizer : object
        Anything with ``update(params, grads)`` that changes every ``params[key]`` in place.
        It is not changed: the check runs on a copy, so its memory stays empty.
    reference : str or object
        The name of one of dlzero's optimizers (``"sgd"``, ``"momentum"``, ``"nesterov"``,
        ``"adagrad"``, ``"rmsprop"``, ``"adam"``), built with the hyperparameters the
        optimizer has as attributes of the same names (``lr``, ``momentum``, ``beta1``,
        ``beta2``, ``decay_rate``); or an optimizer object to compare with (copied).
    steps : int, default 3
        Updates compared; from the second on, the optimizer's memory matters.
    tolerance : float, default 1e-4
        Largest relative error of a parameter's change since the start. Loose enough that an
        ``eps`` of 1e-8 instead of the book's 1e-7, or placed inside the square root, passes
        (the gradients are drawn away from 0); a wrong formula is off by far more.
    seed : int, default 0
        Seeds the parameters and gradients.

    Returns
    -------
    OptimizerCheck
        ``report.ok``, ``report.failures`` (the parameters updated wrongly), a table of the
        relative error per step and parameter; ``print(report)`` begins with PASS or FAIL.

    Raises
    ------
    ValueError
        For an unknown reference name (a wrong call); a wrong optimizer never raises.
    """
    report = OptimizerCheck(type(optimizer).__name__, tolerance=tolerance)
    ref = _reference(optimizer, reference)
    report.reference = repr(ref) if not isinstance(reference, str) else _describe(ref)
    rng = np.random.default_rng(seed)
    start = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    mine = {k: v.copy() for k, v in start.items()}
    theirs = {k: v.copy() for k, v in start.items()}
    try:
        learner = copy.deepcopy(optimizer)
    except Exception as exc:
        report.errors.append(f"the optimizer could not be copied: {describe_exception(exc)}")
        report.failures = list(start)
        return report
    arrays = dict(mine)  # the arrays a network's layers would hold
    wrong: dict[str, int] = {}  # parameter -> first wrong step
    for step in range(1, steps + 1):
        # Gradients away from 0, so that where eps is added does not matter.
        grads = {
            k: rng.uniform(0.5, 1.5, v.shape) * rng.choice([-1.0, 1.0], v.shape)
            for k, v in start.items()
        }
        try:
            learner.update(mine, {k: g.copy() for k, g in grads.items()})
        except Exception as exc:
            report.not_written = isinstance(exc, NotImplementedError)
            report.errors.append(f"update raised {describe_exception(exc)}")
            report.failures = list(start)
            return report
        ref.update(theirs, {k: g.copy() for k, g in grads.items()})
        for k in start:
            rel, problem = _compare(mine.get(k), arrays[k], theirs[k], start[k], tolerance)
            report.steps.append((step, k, rel, problem))
            if problem and k not in wrong:
                wrong[k] = step
    report.failures = [k for k in start if k in wrong]
    if any(p and "in place" in p for *_, p in report.steps):
        report.hints.append(
            "update must change every params[key] in place, with -= or +=: a network's layers "
            "hold those very arrays, and would not see a new one"
        )
    elif wrong and min(wrong.values()) > 1:
        report.hints.append(
            "right at the first step, wrong from the second: the optimizer's memory (v, h, m, "
            "the step count) must be created once and carried over from one update to the next"
        )
    return report


def _describe(ref: Any) -> str:
    return f"dlzero's {ref!r}"


def _compare(
    value: Any, held: NDArray, expected: NDArray, start: NDArray, tolerance: float
) -> tuple[float | None, str | None]:
    """The relative error of the change of one parameter, and what is wrong (None if right)."""
    if value is not held:
        return None, "not changed in place: params[key] is a new array"
    moved, should = held - start, expected - start
    rel = relative_error(moved, should)
    if rel <= tolerance:
        return rel, None
    worst = np.unravel_index(int(np.argmax(np.abs(moved - should))), moved.shape)
    return rel, (
        f"at {format_index(worst)} moved by {moved[worst]:.6g}, expected {should[worst]:.6g}"
    )
