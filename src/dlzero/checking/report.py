"""What a check found, as a learner reads it: a verdict line, a table, hints and warnings.

Every report of :mod:`dlzero.checking` prints as text that begins with ``PASS`` or ``FAIL`` and
the name of what was checked, and shows as an HTML table in Jupyter (``_repr_html_``).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
from numpy.typing import NDArray

from dlzero._html import html_table

__all__ = [
    "GradientResult",
    "LayerCheck",
    "Report",
    "describe_exception",
    "format_index",
    "join_names",
    "relative_error",
]


def relative_error(a: NDArray, b: NDArray) -> float:
    """``||a - b|| / (||a|| + ||b||)``: 0 when equal, 1 when opposite, scale-free.

    The measure of :func:`dlzero.gradient_check`, so that the two checks read the same.
    """
    denom = float(np.linalg.norm(a) + np.linalg.norm(b))
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b)) / denom


# Frames from these folders are not the learner's code: the line to show is the last one
# outside them (a NumPy error raised deep inside ``np.dot`` is about the learner's call).
_NOT_THE_LEARNERS = (os.path.dirname(np.__file__), os.path.dirname(__file__))


def describe_exception(exc: BaseException) -> str:
    """``"ValueError: message (line 12: dx = np.dot(dout, self.W))"``: what and where, one line.

    The line is the last one of the traceback that is not in NumPy or in this package, so that
    an error raised inside ``np.dot`` points at the learner's call of ``np.dot``.
    """
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(_NOT_THE_LEARNERS)
    ]
    if frames and frames[-1].line:
        message += f" (line {frames[-1].lineno}: {frames[-1].line.strip()})"
    return message


def format_index(index: tuple[int, ...]) -> str:
    """``(1, 2)`` -> ``"[1, 2]"``, as the learner would index the array."""
    return "[" + ", ".join(str(i) for i in index) + "]"


def join_names(names: Sequence[str]) -> str:
    """``["dW", "db"]`` -> ``"dW and db"``; three or more with commas."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class GradientResult:
    """Backpropagation against central differences for one gradient of a layer.

    Attributes
    ----------
    name : str
        ``"dx"`` (the first input), ``"dy"`` (the second), ``"dW"``, ``"db"``, ...
    shape : tuple of int
        The shape the gradient must have: that of the input or parameter.
    problem : str or None
        None when the gradient is right; otherwise what is wrong, in words.
    relative_error : float or None
        ``||backprop - numerical|| / (||backprop|| + ||numerical||)`` over the elements
        compared; None when nothing could be compared (a missing gradient, a wrong shape).
    worst : tuple of int or None
        Index of the element where the two differ most, and the two values there.
    backprop, numerical : float or None
    compared : int
        Elements compared.
    at_kinks : int
        Elements left out because ``forward`` has a kink there (an input at 0 for a ReLU, a
        tie for max pooling), where the numerical derivative means nothing.
    """

    name: str
    shape: tuple[int, ...]
    problem: str | None = None
    relative_error: float | None = None
    worst: tuple[int, ...] | None = None
    backprop: float | None = None
    numerical: float | None = None
    compared: int = 0
    at_kinks: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None

    def verdict(self) -> str:
        """The last column of the table: ``ok`` or ``WRONG: ...``."""
        if self.problem is not None:
            return f"WRONG: {self.problem}"
        if self.at_kinks:
            return f"ok ({self.at_kinks} of {self.compared + self.at_kinks} at a kink, skipped)"
        return "ok"


class Report:
    """What the reports share: a verdict line, a table, notes below it; text and HTML.

    A subclass has ``failures`` (the names of what is wrong) and gives ``headline()`` (which
    begins with PASS or FAIL and the name of what was checked), ``_rows()`` (one list of
    strings per row, under ``_headers``) and ``_notes()``.
    """

    failures: list[str]
    _headers: tuple[str, ...] = ()
    _right_aligned: tuple[int, ...] = ()  # the columns of numbers

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (warnings do not count)."""
        return not self.failures

    def headline(self) -> str:
        raise NotImplementedError

    def _rows(self) -> list[list[str]]:
        return []

    def _notes(self) -> list[str]:
        return []

    def __str__(self) -> str:
        lines = [self.headline()]
        rows = self._rows()
        if rows:
            table = [list(self._headers), *rows]
            widths = [max(len(r[i]) for r in table) for i in range(len(self._headers) - 1)]
            for r in table:
                cells = [
                    f"{c:>{w}}" if i in self._right_aligned else f"{c:<{w}}"
                    for i, (c, w) in enumerate(zip(r[:-1], widths, strict=True))
                ]
                lines.append(("  " + "  ".join([*cells, r[-1]])).rstrip())
        lines += [f"  {n}" for n in self._notes()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        """Jupyter's display: the verdict, the table (if any), then the notes."""
        rows = self._rows()
        if rows:
            head = html_table(self._headers, rows, caption=self.headline())
        else:
            head = f"<p>{escape(self.headline())}</p>"
        return head + "".join(f"\n<p>{escape(n)}</p>" for n in self._notes())


@dataclass(repr=False)
class LayerCheck(Report):
    """The report of :func:`~dlzero.checking.check_layer`.

    Attributes
    ----------
    layer : str
        The layer's class name.
    gradients : list of GradientResult
        One row per gradient: the inputs' (``dx``, ``dy``), then the parameters'.
    failures : list of str
        The names of exactly the gradients that are wrong, in table order; ``["forward"]``
        when ``forward`` itself failed, so that no gradient could be checked.
    errors : list of str
        What went wrong outside the table: ``forward`` or ``backward`` raised, returned None,
        ``forward`` is not repeatable, ...
    hints : list of str
        The common mistakes that fit the numbers.
    warnings : list of str
        Right but risky: a ``backward`` that writes into its ``dout``, a ``forward`` that
        writes into its input.
    not_written : str or None
        ``"forward"`` or ``"backward"`` when that method raises ``NotImplementedError``.
    tolerance : float
        Largest relative error that passes.
    """

    layer: str
    gradients: list[GradientResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_written: str | None = None
    tolerance: float = 1e-6

    _headers = ("gradient", "shape", "rel. error", "")
    _right_aligned = (2,)

    def headline(self) -> str:
        """The first line: ``PASS Affine: ...`` or ``FAIL Affine: ...``."""
        verdict = "PASS" if self.ok else "FAIL"
        if self.not_written == "forward":
            what = "not written yet (forward raises NotImplementedError)"
        elif self.not_written == "backward":
            what = "backward not written yet (it raises NotImplementedError)"
        elif self.errors:
            what = self.errors[0]
        elif not self.ok:
            wrong = [g.name for g in self.gradients if not g.ok]
            what = f"{join_names(wrong)} {'is' if len(wrong) == 1 else 'are'} wrong"
        else:
            names = [g.name for g in self.gradients]
            errors = [g.relative_error for g in self.gradients if g.relative_error is not None]
            worst = f" (largest relative error {max(errors):.1e})" if errors else ""
            agree = "matches" if len(names) == 1 else "match"
            agree += " the numerical gradient" + ("" if len(names) == 1 else "s")
            what = f"{join_names(names)} {agree}{worst}" if names else "no gradient to check"
        return f"{verdict} {self.layer}: {what}"

    def _rows(self) -> list[list[str]]:
        return [
            [
                g.name,
                str(g.shape),
                "-" if g.relative_error is None else f"{g.relative_error:.1e}",
                g.verdict(),
            ]
            for g in self.gradients
        ]

    def _notes(self) -> list[str]:
        """The lines below the table: errors not in the headline, hints, warnings."""
        notes = [] if self.not_written else self.errors[1:]
        notes += [f"hint: {h}" for h in self.hints]
        notes += [f"warning: {w}" for w in self.warnings]
        return notes
