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

``dlzero book NB.ipynb`` runs one of the book's notebooks instead (:mod:`dlzero.book.notebook`)
and ``dlzero book --install-kernel`` installs the Jupyter kernel (:mod:`dlzero.book.kernel`);
:func:`dispatch` picks which. Neither imports Jupyter unless asked for.
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
    "Run a script or notebook written for the book 'Deep Learning from Scratch' with its "
    "common.* and dataset.mnist imports answered by dlzero. Run a script from the book's "
    "folder, as the book does (the script appends its parent folder to sys.path); a notebook "
    "runs in its own folder. Or install a Jupyter kernel that does the same."
)
EPILOG = """examples:
  cd deep-learning-from-scratch
  %(prog)s ch05/train_neuralnet.py
  MPLBACKEND=Agg %(prog)s ch07/train_convnet.py      # plots drawn off screen
  %(prog)s notebooks/ch05.ipynb --out ch05.run.ipynb  # the executed copy, figures included
  DLZERO_QUICK=1 %(prog)s notebooks/ch06.ipynb        # the long training cells cut
  %(prog)s --install-kernel --user                    # then pick 'Python 3 (dlzero book)'

Arguments after SCRIPT.py are the script's own (sys.argv[1:]). Exit status: the script's own;
1 if it raised (its traceback is shown); 2 if there is no such file; 130 on Ctrl-C. For a
notebook: 0 when every cell ran, 1 when a cell raised (it is named), 2 for bad input.
In IPython or Jupyter, %%load_ext dlzero.book does the same for the session.
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
    """The script and its arguments, the notebook's options and the kernel's, for this parser
    and ``dlzero book``'s."""
    parser.add_argument(
        "script",
        metavar="SCRIPT.py",
        nargs="?",  # not with --install-kernel; required otherwise (dispatch says so)
        help="the book's script to run, or one of its notebooks (NB.ipynb)",
    )
    rest = parser.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="ARGS", help="the script's own arguments"
    )
    # It may be empty: without this, a missing SCRIPT.py is reported as "SCRIPT.py, ARGS".
    rest.required = False
    _add_notebook_options(parser)
    kernel = parser.add_argument_group("the Jupyter kernel 'Python 3 (dlzero book)'")
    what = kernel.add_mutually_exclusive_group()
    what.add_argument(
        "--install-kernel", action="store_true", help="install it (system-wide unless told)"
    )
    what.add_argument("--uninstall-kernel", action="store_true", help="remove it")
    where = kernel.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for this user only")
    where.add_argument("--prefix", metavar="P", help="under P/share/jupyter/kernels (a venv)")


def _add_notebook_options(parser: argparse.ArgumentParser) -> None:
    """``--out`` and ``--timeout``: before SCRIPT.py, or after a notebook's name."""
    group = parser.add_argument_group("a notebook (NB.ipynb)")
    group.add_argument("--out", metavar="EXECUTED.ipynb", help="write the executed notebook")
    group.add_argument(
        "--timeout", type=float, metavar="S", help="seconds a cell may run (default: no limit)"
    )


def dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run what the parsed ``args`` ask for: a script, a notebook, or the kernel's install."""
    prog = parser.prog
    if args.install_kernel or args.uninstall_kernel:
        if args.script is not None:
            parser.error("--install-kernel and --uninstall-kernel take no SCRIPT.py")
        from dlzero.book import kernel

        return kernel.command(args.uninstall_kernel, args.user, args.prefix, prog)
    if args.script is None:
        parser.error("the following arguments are required: SCRIPT.py")
    if args.user or args.prefix is not None:
        parser.error("--user and --prefix go with --install-kernel or --uninstall-kernel")
    if args.script.endswith(".ipynb"):
        # A notebook has no arguments of its own: what follows its name is ours.
        after = argparse.ArgumentParser(prog=prog, add_help=False)
        _add_notebook_options(after)
        late, unknown = after.parse_known_args(args.args)
        if unknown:
            parser.error(f"a notebook takes no arguments: {' '.join(unknown)}")
        out = late.out if late.out is not None else args.out
        timeout = late.timeout if late.timeout is not None else args.timeout
        from dlzero.book import notebook

        return notebook.main(args.script, out, timeout, prog)
    if args.out is not None or args.timeout is not None:
        parser.error("--out and --timeout are for a notebook (NB.ipynb)")
    return run(args.script, args.args, prog)


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
    return dispatch(args, parser)
