"""Pieces shared by the ``dlzero`` command's modules (:mod:`dlzero.cli`, :mod:`dlzero.cli_model`).

Exit statuses, the one-line error, argument types that name what was expected, and the check of
an output path made before any work starts.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from dlzero._io import check_writable
from dlzero.plotting import PLOT_FORMATS

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process stopped by Ctrl-C


class CommandError(Exception):
    """A failure to report in one line, with an exit status (not a usage error by default)."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def positive_float(text: str) -> float:
    """argparse type: a positive finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def check_output(parser: argparse.ArgumentParser, option: str, path: str, plot: bool) -> None:
    """Reject an output path before any work: a plot needs a known suffix; any path must be
    writable (a usage error, exit status 2)."""
    if plot:
        suffix = Path(path).suffix.lstrip(".").lower()
        if suffix not in PLOT_FORMATS:
            parser.error(
                f"argument {option}: {path!r} needs a plot file suffix, one of "
                + " ".join("." + f for f in PLOT_FORMATS)
            )
    try:
        check_writable(path)
    except ValueError as exc:
        parser.error(f"argument {option}: {exc}")
