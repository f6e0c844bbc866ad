"""Small file helpers shared by the modules that write results (history, plots, saved models).

Every file dlzero writes is written *atomically*: into a temporary file in the same folder,
then moved over the target with ``os.replace``. A reader never sees half a file, and a run
stopped mid-write (Ctrl-C, a full disk) leaves the previous file, if any, intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "check_writable"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success move it onto ``path``.

    Parameters
    ----------
    path : str or PathLike
        The file to create or replace.
    mode : {"w", "wb"}
        Text or binary.
    **open_kwargs
        Passed to ``open`` (e.g. ``encoding``, ``newline``).

    If the ``with`` block raises, the temporary file is removed and ``path`` is left as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    target = Path(path)
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    # Same folder as the target, so os.replace is a rename on one file system (atomic).
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file with mode 0600; give it the permissions open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise ValueError unless a file can be written at ``path`` (checked before long work).

    The folder must exist and accept a new file (tested by creating and removing a temporary
    file, which also catches read-only file systems), and ``path`` must not be a folder.
    """
    target = Path(path)
    if str(path) == "" or target.name == "":
        raise ValueError(f"{str(path)!r} is not a file name")
    if target.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, expected a file name")
    parent = target.parent
    if not parent.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: folder {str(parent)!r} does not exist")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise ValueError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    if target.exists() and not os.access(target, os.W_OK):
        raise ValueError(f"cannot write {str(path)!r}: permission denied")
