"""One progress bar for the whole package: tqdm's when it is installed, else a plain line.

tqdm is optional (``pip install 'dlzero[cli]'``): the library needs only NumPy. Whether a bar
is shown at all is the caller's decision; :func:`interactive` says whether someone is watching
(a terminal, or a Jupyter notebook, where ``tqdm.auto`` draws the bar as a widget).
"""

from __future__ import annotations

import sys
from typing import IO, Any, Protocol

__all__ = ["ProgressBar", "TextBar", "interactive", "progress_bar"]


class ProgressBar(Protocol):
    """What a caller may do with a bar: tqdm's methods of the same names."""

    def update(self, n: int = 1) -> Any: ...

    def close(self) -> None: ...

    def clear(self) -> None: ...

    def refresh(self) -> Any: ...


def progress_bar(
    total: int | None,
    desc: str,
    *,
    unit: str = "it",
    leave: bool = False,
) -> ProgressBar:
    """A progress bar on stderr: tqdm's if it is installed, else a :class:`TextBar`.

    Parameters
    ----------
    total : int or None
        The count at 100% (None: unknown, the bar shows the count only).
    desc : str
        Printed before the bar.
    unit : str, default "it"
        What is counted; ``"B"`` shows bytes as kB, MB, ...
    leave : bool, default False
        Keep the finished bar on the screen; else ``close`` erases it.

    Returns
    -------
    tqdm.auto.tqdm or TextBar
        tqdm.auto is the terminal bar, or in Jupyter a notebook widget (with ipywidgets; the
        terminal bar otherwise). Either has ``update(n)``, ``close()``, ``clear()`` and
        ``refresh()``, and works as a context manager that closes it.
    """
    try:
        # Imported only when a bar is made: keeps start-up fast. (``import tqdm.auto``, not
        # ``from tqdm.auto import``, so that a blocked ``tqdm`` is seen as missing.)
        import tqdm.auto
    except ImportError:
        return TextBar(total, desc, unit=unit, leave=leave, stream=sys.stderr)
    return tqdm.auto.tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit == "B",
        leave=leave,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def interactive() -> bool:
    """True when a person is watching stderr: a terminal, or a Jupyter notebook's kernel.

    In Jupyter, stderr is not a terminal, but a bar drawn there (by ``tqdm.auto``) is seen.
    """
    if sys.stderr is not None and sys.stderr.isatty():
        return True
    ipython = sys.modules.get("IPython")  # never imported here: only if already running
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"  # ipykernel's shell


class TextBar:
    """A plain one-line bar, redrawn in place with ``\\r``: ``desc: 42% (21 of 50 it)``."""

    def __init__(
        self, total: int | None, desc: str, *, unit: str, leave: bool, stream: IO[str]
    ) -> None:
        self.total, self.desc, self.unit, self.leave = total, desc, unit, leave
        self.n = 0
        self._stream = stream
        self._width = 0  # of the last line drawn, so that clear() can blank it

    def _amount(self, count: int) -> str:
        return f"{count / 1e6:.1f} MB" if self.unit == "B" else f"{count} {self.unit}"

    def update(self, n: int = 1) -> None:
        self.n += n
        self.refresh()

    def refresh(self) -> None:
        line = f"{self.desc}: {self._amount(self.n)}"
        if self.total:
            percent = 100 * self.n // self.total
            line = f"{self.desc}: {percent:3d}% ({self._amount(self.n)} of "
            line += f"{self._amount(self.total)})"
        self._stream.write("\r" + line.ljust(self._width))
        self._stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        self._stream.write("\r" + " " * self._width + "\r")
        self._stream.flush()

    def close(self) -> None:
        if self.leave:
            self._stream.write("\n")
            self._stream.flush()
        else:
            self.clear()
        self._width = 0

    def __enter__(self) -> TextBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
