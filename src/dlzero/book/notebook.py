"""``dlzero book NB.ipynb``: run one of the book's notebooks on dlzero, cell by cell.

The notebook runs on an IPython kernel of this Python with ``dlzero.book`` loaded (the spec of
:mod:`dlzero.book.kernel`, written to a temporary folder), in the notebook's own folder (the
book's notebooks open ``../ch03/sample_weight.pkl``), so its ``common.*`` and
``dataset.mnist`` imports are dlzero's. Each code cell's number, time and, when it raises, the
first line of its error are printed as it ends; the first cell that raises stops the run, as
Jupyter's "Run All" does. ``--out`` writes the executed copy (atomically, also after an error:
the outputs up to the failing cell, its traceback included).

With ``DLZERO_QUICK=1`` in the environment the cells that train for minutes are cut first
(:mod:`dlzero.book.cuts`); each cut is printed with its cell, and the executed copy shows the
code that ran.

nbformat, nbclient and ipykernel come with the ``notebooks`` extra and are imported only here,
when a notebook is run.
"""

from __future__ import annotations

import os
import site
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlzero
from dlzero._io import atomic_write_text, check_writable
from dlzero.book import cuts, kernel

__all__ = ["KernelError", "NotebookError", "NotebookRun", "execute", "main", "missing_extra"]

EXIT_OK = 0
EXIT_ERROR = 1  # a cell raised or timed out, or the kernel died
EXIT_USAGE = 2  # no notebook, not a notebook, a bad option, the extra missing
EXIT_INTERRUPTED = 130

INSTALL_HINT = "pip install 'dlzero[notebooks]'"
NEEDED = ("nbformat", "nbclient", "ipykernel", "jupyter_client")
# Asked of the kernel before the first cell: did it load the extension?
LOADED_CHECK = "'dlzero.book' in get_ipython().extension_manager.loaded"


class NotebookError(Exception):
    """The notebook cannot be run: not there, or not a notebook (exit status 2)."""


class KernelError(NotebookError):
    """The kernel did not start, or did not load ``dlzero.book`` (exit status 1)."""


@dataclass
class NotebookRun:
    """What running a notebook gave.

    Attributes
    ----------
    notebook : NotebookNode
        The executed notebook (outputs of the cells that ran).
    cells : int
        Its code cells.
    ran : int
        Code cells that ran to the end (empty ones count: there was nothing to run).
    seconds : list of float
        Each executed code cell's wall time, in order.
    failed : dict or None
        The cell that raised: ``index`` (in the notebook), ``number`` (among code cells,
        from 1), ``error`` (its first line) and ``first_line`` (of its source).
    cut : list of str
        The ``DLZERO_QUICK`` cuts applied, one line each.
    """

    notebook: Any
    cells: int
    ran: int = 0
    seconds: list[float] = field(default_factory=list)
    failed: dict[str, Any] | None = None
    cut: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        """The wall time of all the cells that ran."""
        return sum(self.seconds)


def missing_extra() -> str | None:
    """The first module of the ``notebooks`` extra that cannot be imported, or None."""
    import importlib

    for name in NEEDED:
        try:
            importlib.import_module(name)
        except ImportError:
            return name
    return None


def _kernel_env() -> dict[str, str]:
    """The kernel's environment: this one, with the dlzero running this command importable,
    and without ``MPLBACKEND`` (``Agg``, right for scripts, would hide the notebook's figures:
    the kernel draws them inline)."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    source = str(Path(dlzero.__file__).resolve().parents[1])
    sites = [*site.getsitepackages(), site.getusersitepackages()]
    installed = {str(Path(p).resolve()) for p in sites}
    if source not in installed:  # a source tree (PYTHONPATH=src): the kernel must see it too
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    return env


def _first_line(text: str) -> str:
    """The first non-empty line of ``text``, shortened for one line of report."""
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 60 else line[:57] + "..."
    return ""


def _error_line(exc: BaseException) -> str:
    """``ename: evalue`` of a cell's error, as its traceback's last line says."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}" if evalue else ename
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__


def read(path: str | os.PathLike[str]) -> Any:
    """Read a notebook (version 4), or raise :class:`NotebookError` saying why not."""
    import nbformat

    p = Path(path)
    if p.is_dir():
        raise NotebookError(f"{path}: is a folder, not a notebook")
    if not p.is_file():
        raise NotebookError(f"{path}: no such file")
    try:
        nb = nbformat.read(p, as_version=4)
        nbformat.validate(nb)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        first = _first_line(str(exc)) or type(exc).__name__
        raise NotebookError(f"{path}: not a Jupyter notebook ({first})") from None
    except OSError as exc:
        raise NotebookError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return nb


def execute(
    path: str | os.PathLike[str],
    timeout: float | None = None,
    quick: bool = False,
    extension: bool = True,
    report: Callable[[str], None] | None = None,
) -> NotebookRun:
    """Run a notebook on a fresh kernel in its own folder.

    Parameters
    ----------
    path : path
        The ``.ipynb`` file.
    timeout : float, optional
        Seconds a cell may run; None for no limit.
    quick : bool, default False
        Apply the ``DLZERO_QUICK`` cuts of :mod:`dlzero.book.cuts` first.
    extension : bool, default True
        Load ``dlzero.book`` in the kernel. False runs the notebook as the book's own code
        would (for measuring both sides).
    report : callable, optional
        Called with one line of text per cell as it ends, and per cut.

    Returns
    -------
    NotebookRun
        Which cells ran, their times, the cell that raised if any.

    Raises
    ------
    NotebookError
        If the file is not a notebook, or the kernel did not start (or did not load the
        extension).
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    say = report or (lambda line: None)
    nb = read(path)
    folder = str(Path(path).resolve().parent)
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    run = NotebookRun(notebook=nb, cells=len(code))
    for number, (_, cell) in enumerate(code, 1):
        # The book's notebooks are saved with the authors' outputs: a cell not reached must not
        # show them as if this run had made them.
        cell.outputs, cell.execution_count = [], None
        if quick:
            cell.source, notes = cuts.apply(cell.source)
            for note in notes:
                run.cut.append(f"cell {number}: {note}")
                say(f"  DLZERO_QUICK cut, cell {number}: {note}")
    name = kernel.KERNEL_NAME if extension else "python-plain"
    with tempfile.TemporaryDirectory(prefix="dlzero-book-kernel-") as specs:
        kernel.write_spec(Path(specs) / name, extension=extension)
        manager = AsyncKernelManager(
            kernel_name=name, kernel_spec_manager=KernelSpecManager(kernel_dirs=[specs])
        )
        client = NotebookClient(
            nb,
            km=manager,
            timeout=timeout,
            resources={"metadata": {"path": folder}},
            # The kernel's own warnings (TCP without encryption) are noise in this report; a
            # failed load of the extension is reported by _check_extension.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
        started = False
        try:
            with client.setup_kernel(cleanup_kc=True, env=_kernel_env(), cwd=folder):
                started = True
                if extension:
                    _check_extension(client)
                for number, (index, cell) in enumerate(code, 1):
                    start = time.perf_counter()
                    try:
                        client.execute_cell(cell, index, execution_count=number)
                    except CellTimeoutError:
                        error = f"timed out after {timeout:g} s"
                    except DeadKernelError:
                        error = "the kernel died"
                    except CellExecutionError as exc:
                        error = _error_line(exc)
                    else:
                        error = None
                    seconds = time.perf_counter() - start
                    run.seconds.append(seconds)
                    status = "ok" if error is None else f"error: {error}"
                    if not cell.source.strip():
                        status = "empty"
                    say(f"  cell {f'{number}/{len(code)}':<5} {seconds:7.1f} s  {status}")
                    if error is not None:
                        run.failed = {
                            "index": index,
                            "number": number,
                            "error": error,
                            "first_line": _first_line(cell.source),
                        }
                        break
                    run.ran += 1
        except (RuntimeError, TimeoutError) as exc:  # DeadKernelError is a RuntimeError
            if started:
                raise KernelError(f"the kernel failed: {_first_line(str(exc))}") from None
            raise KernelError(f"the kernel did not start: {_first_line(str(exc))}") from None
    if extension:
        nb.metadata["kernelspec"] = {
            "name": kernel.KERNEL_NAME,
            "display_name": kernel.DISPLAY_NAME,
            "language": "python",
        }
    return run


def _check_extension(client: Any) -> None:
    """Raise :class:`KernelError` unless the kernel loaded ``dlzero.book``, saying why."""
    expressions = {"loaded": LOADED_CHECK, "importable": "__import__('dlzero.book') and 1"}
    msg_id = client.kc.execute("", silent=True, store_history=False, user_expressions=expressions)
    reply = client.wait_for_reply(msg_id)
    found = (reply or {}).get("content", {}).get("user_expressions", {})
    if found.get("loaded", {}).get("data", {}).get("text/plain") == "True":
        return
    why = found.get("importable", {})
    because = f" ({why['ename']}: {why.get('evalue', '')})" if why.get("ename") else ""
    raise KernelError(
        f"the kernel did not load dlzero.book{because}: is dlzero importable by {sys.executable}?"
    )


def main(path: str, out: str | None, timeout: float | None, prog: str) -> int:
    """Run the notebook at ``path``, print the report, write ``out``; return the exit status."""
    missing = missing_extra()
    if missing:
        print(
            f"{prog}: error: running a notebook needs {missing} (the notebooks extra): "
            f"{INSTALL_HINT}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if timeout is not None and not timeout > 0:
        print(f"{prog}: error: --timeout must be a number of seconds > 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        if out is not None:
            check_writable(out)
    except (OSError, ValueError) as exc:
        print(f"{prog}: error: --out {out}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    quick = os.environ.get("DLZERO_QUICK", "0") == "1"
    name = Path(path).name
    try:
        read(path)  # a bad file is reported before any kernel starts
        print(f"{prog}: running {path} on dlzero in {Path(path).resolve().parent}", flush=True)
        run = execute(path, timeout, quick, report=lambda line: print(line, flush=True))
    except NotebookError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR if isinstance(exc, KernelError) else EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if out is not None:
        import nbformat

        try:
            atomic_write_text(out, nbformat.writes(run.notebook))
        except OSError as exc:  # checked writable before the run, but the disk may fill
            print(f"{prog}: error: --out {out}: {exc}", file=sys.stderr)
            return EXIT_ERROR
    if run.failed:
        f = run.failed
        left = run.cells - f["number"]
        print(
            f"{name}: code cell {f['number']} of {run.cells} (notebook cell {f['index'] + 1}, "
            f"`{f['first_line']}`) raised {f['error']}"
            + (f"; the {left} after it did not run" if left else ""),
            file=sys.stderr,
        )
    else:
        print(f"{name}: all {run.cells} code cells ran in {run.total_seconds:.1f} s")
    if out is not None:
        print(f"wrote {out}")
    return EXIT_ERROR if run.failed else EXIT_OK
