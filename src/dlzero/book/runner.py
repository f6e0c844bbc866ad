"""Run the book's own scripts on dlzero, unchanged: ``dlzero book ch05/train_neuralnet.py``.

The scripts of "Deep Learning from Scratch" (chapters 3-8) import the book's helper modules,
``common.*`` and ``dataset.mnist``. ``python -m dlzero.book SCRIPT.py [ARGS]`` (or
``dlzero book``) runs a script as ``__main__`` with those imports answered by dlzero
(:mod:`dlzero.book.hook`), as Python itself would run it otherwise: ``sys.argv`` is
``[SCRIPT.py, ARGS...]`` and the script's own folder comes first on ``sys.path``, so that
``ch07/train_convnet.py`` still imports ``ch07/simple_convnet.py``. Networks built without
``rng=`` draw from NumPy's global random state, so ``np.random.seed(...)`` in a script makes
the run repeatable, as in the book. ``docs/book.md`` has the table of what answers what, and
what dlzero does differently on purpose.

Exit status: the script's own (0 when it ends normally, its ``sys.exit`` code); 1 when it
raises (its traceback is printed from the script's first frame down); 2 when there is no such
file; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from dlzero import _rng
from dlzero.book.hook import BOOK_MODULES, book_imports

__all__ = ["BOOK_MODULES", "build_parser", "main", "run_script"]

EXIT_ERROR = 1  # the script raised
EXIT_USAGE = 2  # no script to run
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C

DESCRIPTION = (
    "Run a script written for the book 'Deep Learning from Scratch' with its common.* and "
    "dataset.mnist imports answered by dlzero. Run it from the book's folder, as the book does "
    "(the script appends its parent folder to sys.path)."
)
EPILOG = """examples:
  cd deep-learning-from-scratch
  %(prog)s ch05/train_neuralnet.py
  MPLBACKEND=Agg %(prog)s ch07/train_convnet.py      # plots drawn off screen

Arguments after SCRIPT.py are the script's own (sys.argv[1:]). Exit status: the script's own;
1 if it raised (its traceback is shown); 2 if there is no such file; 130 on Ctrl-C.
See docs/book.md for which dlzero module answers each of the book's, and what differs."""


def run_script(script: str | os.PathLike[str], args: Sequence[str] = ()) -> dict[str, Any]:
    """Run ``script`` as ``__main__`` with the book's imports answered by dlzero.

    Parameters
    ----------
    script : path
        A Python file written for the book.
    args : sequence of str
        Its command-line arguments (``sys.argv[1:]``).

    Returns
    -------
    dict
        The script's global variables when it ended.

    Raises
    ------
    FileNotFoundError
        If ``script`` is not a file.
    BaseException
        Whatever the script raises, ``SystemExit`` included.

    Notes
    -----
    ``sys.argv``, ``sys.path``, the import hook and the global-random mode are as before when
    this returns, and modules imported from the script's folder are forgotten.
    """
    path = os.path.abspath(script)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such script: {os.fspath(script)}")
    folder = os.path.dirname(path)
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    before = set(sys.modules)
    sys.argv = [os.fspath(script), *args]
    sys.path.insert(0, folder)
    # Networks built without rng= draw from NumPy's global state, as the book's do.
    was_global = _rng._use_numpy_global
    _rng.use_numpy_global_random(True)
    try:
        with book_imports():
            return runpy.run_path(path, run_name="__main__")
    finally:
        _rng.use_numpy_global_random(was_global)
        sys.argv, sys.path[:] = saved_argv, saved_path
        # The script's neighbours (ch07/simple_convnet.py) and their packages' submodules
        # (ch07/mypkg/util.py, namespace packages included), so that a later run reads them
        # afresh; library modules imported on the way stay.
        new = set(sys.modules) - before
        own = {name for name in new if "." not in name and _is_in(sys.modules[name], folder)}
        for name in new:
            if name.split(".")[0] in own:
                del sys.modules[name]


def _is_in(module: Any, folder: str) -> bool:
    """Whether a top-level module was imported from ``folder``: ``folder/name.py``,
    ``folder/name/__init__.py``, or a namespace package with ``folder/name`` on its path."""
    file = getattr(module, "__file__", None)
    if file:
        where = os.path.dirname(os.path.abspath(file))
        if getattr(module, "__path__", None) is not None:  # a package: name/__init__.py
            where = os.path.dirname(where)
        return where == folder
    paths = getattr(module, "__path__", None) or []
    return any(os.path.dirname(os.path.abspath(p)) == folder for p in paths)


def _print_script_traceback(exc: BaseException, script: str) -> None:
    """The traceback Python would print for the script: from its own first frame down."""
    path = os.path.abspath(script)
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != path:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def build_parser(prog: str = "python -m dlzero.book") -> argparse.ArgumentParser:
    """The argument parser of ``python -m dlzero.book``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The script and its arguments, for this parser and ``dlzero book``'s."""
    parser.add_argument("script", metavar="SCRIPT.py", help="the book's script to run")
    rest = parser.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="ARGS", help="the script's own arguments"
    )
    # It may be empty: without this, a missing SCRIPT.py is reported as "SCRIPT.py, ARGS".
    rest.required = False


def run(script: str, args: Sequence[str], prog: str) -> int:
    """Run ``script`` and return the exit status, reporting errors as the module docstring
    says. ``SystemExit`` from the script passes through, as Python would exit."""
    if not os.path.isfile(script):
        what = "is a folder, not a script" if os.path.isdir(script) else "no such file"
        print(f"{prog}: error: {script}: {what}", file=sys.stderr)
        return EXIT_USAGE
    try:
        run_script(script, args)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        _print_script_traceback(exc, script)
        return EXIT_ERROR
    finally:
        sys.stdout.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dlzero.book SCRIPT.py [ARGS]``; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run(args.script, args.args, parser.prog)
