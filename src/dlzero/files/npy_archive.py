"""``.npz`` archives read one ``.npy`` member at a time, at a cost known before reading.

A NumPy ``.npz`` file is a zip archive of ``.npy`` files. ``np.load`` allocates whatever a
member's ``.npy`` header declares and lets :mod:`zipfile` expand whatever compression the
member names: a few hundred bytes of bzip2 expand to gigabytes, a header of a few bytes
declares terabytes. :class:`NpyArchive` reads such an archive the other way round:

- every member is an ``.npy`` file, stored or deflated (what ``np.savez`` and
  ``np.savez_compressed`` write), not encrypted, and claims no more bytes than deflate can
  expand its compressed size to (1032:1); the members' compressed data do not overlap: what
  the archive may cost is bounded by its size on disk before anything is read;
- a member's ``.npy`` header is read first, alone, and must declare exactly the bytes the
  archive claims for it; an object array (which would need pickle) is refused;
- the caller sees each shape and dtype, and approves them, before the data is read.

Every zip, zlib, ``.npy`` or memory error becomes the error of the kind of file being read
(:class:`~dlzero.files.model_file.ModelFileError`, the book's ``ParamFileError``), naming the
file. Model files (:mod:`dlzero.files.model_file`) and the book's parameter files
(:mod:`dlzero.book.params`) are read this way.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Callable
from types import TracebackType
from typing import IO

import numpy as np
from numpy.typing import NDArray

__all__ = ["READ_ERRORS", "NpyArchive", "member_problem"]

# Deflate cannot expand data by more than 1032:1 (a 258-byte match in at least 2 bits); an
# archive member that claims more was crafted or damaged.
MAX_DEFLATE_RATIO = 1032
DEFLATE_SLACK = 1024  # bytes: the end of a tiny stream, stored blocks' headers
# What numpy.savez_compressed writes (deflate), and what an uncompressed np.savez writes.
COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
#: Errors zipfile, zlib and numpy's .npy reader raise on a damaged member: reported as the
#: file's own error, never as a traceback from inside the standard library.
READ_ERRORS = (
    ValueError,
    zipfile.BadZipFile,
    EOFError,
    OSError,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    OverflowError,
)

Check = Callable[[tuple[int, ...], np.dtype], "str | None"]


def member_problem(info: zipfile.ZipInfo, files: str) -> str | None:
    """What makes an archive member unreadable or too costly to read, from the zip's own
    directory: encryption, a compression other than numpy's, or a size deflate cannot give.
    ``files`` names the kind of file in the message ("dlzero model files")."""
    if info.flag_bits & 0x1:
        return f"is encrypted; {files} are not (is this a file dlzero wrote?)"
    method = COMPRESSIONS.get(info.compress_type)
    if method is None:
        return (
            f"is compressed with zip method {info.compress_type}; {files} use "
            f"{' or '.join(COMPRESSIONS.values())} only"
        )
    limit = (
        info.compress_size
        if method == "stored"
        else MAX_DEFLATE_RATIO * info.compress_size + DEFLATE_SLACK
    )
    if info.file_size > limit:
        return (
            f"claims {info.file_size:,} bytes from {info.compress_size:,} compressed ({method}), "
            "more than that compression can give: the archive is damaged or crafted"
        )
    return None


class NpyArchive:
    """An open ``.npz`` archive whose members are checked before any is read.

    Use it in a ``with`` block. ``keys`` are the members' names without ``.npy``;
    :meth:`npy_header` gives a member's shape and dtype without reading its data, and
    :meth:`read` the array once a check approves them. Every error is ``error(message)``.

    Parameters
    ----------
    path : str or PathLike
    error : callable
        Makes the exception to raise from a message (the file's name is added first).
    files : str
        The kind of file, plural, for messages: "dlzero model files".
    not_ours : str
        What to say of an archive that holds anything but ``.npy`` members.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        error: Callable[[str], Exception],
        files: str,
        not_ours: str,
    ) -> None:
        self.name = os.fspath(path)
        self._error = error
        self._files = files
        try:
            self.zip = zipfile.ZipFile(path)
            names = self.zip.namelist()
        except (*READ_ERRORS, MemoryError) as exc:
            raise self.error(f"damaged or truncated .npz archive ({exc})") from None
        self.keys = [n[: -len(".npy")] for n in names if n.endswith(".npy")]
        if len(self.keys) != len(names) or len(set(self.keys)) != len(self.keys):
            self.zip.close()
            raise self.error(not_ours)
        for info in self.zip.infolist():
            problem = member_problem(info, files)
            if problem:
                self.zip.close()
                raise self.error(f"{info.filename!r} {problem}")
        # Members whose compressed data overlap (each quoting the next) would let one kernel
        # of deflate be counted, and expanded, again and again: each byte belongs to one.
        compressed = sum(info.compress_size for info in self.zip.infolist())
        if compressed > os.path.getsize(path):
            self.zip.close()
            raise self.error(
                f"its members claim {compressed:,} compressed bytes, more than the file's "
                f"{os.path.getsize(path):,}: the archive is damaged or crafted"
            )

    def __enter__(self) -> NpyArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.zip.close()

    def error(self, message: str) -> Exception:
        """The reader's own exception (``ModelFileError``, ``ParamFileError``), naming the file."""
        return self._error(f"{self.name}: {message}")

    def _open(self, key: str) -> IO[bytes]:
        return self.zip.open(key + ".npy")

    def npy_header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """The member's shape and dtype from its ``.npy`` header, its size checked, no data."""
        fmt = np.lib.format
        try:
            with self._open(key) as f:
                version = fmt.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = fmt.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = fmt.read_array_header_2_0(f)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
                offset = f.tell()
        except READ_ERRORS as exc:
            raise self.error(f"array {key!r} is damaged or truncated ({exc})") from None
        if dtype.hasobject:
            # Reading it would need pickle, which can run any code: never.
            raise self.error(
                f"array {key!r} holds Python objects (pickled data); {self._files} hold "
                "numbers only and are never unpickled"
            )
        # The archive's own record of the member's size must be the header's: what reading
        # it costs is then what the file's size allows (see member_problem), not more.
        declared = offset + math.prod(shape) * dtype.itemsize
        stored = self.zip.getinfo(key + ".npy").file_size
        if declared != stored:
            raise self.error(
                f"array {key!r} is damaged: its header declares {declared:,} bytes, the archive "
                f"holds {stored:,}"
            )
        return shape, dtype

    def stored_bytes(self) -> int:
        """What reading every member would take, as the archive (checked above) claims."""
        return sum(info.file_size for info in self.zip.infolist())

    def read(self, key: str, check: Check | None = None) -> NDArray:
        """The array ``key``, after ``check(shape, dtype)`` (a message, or None) approves it."""
        shape, dtype = self.npy_header(key)
        problem = check(shape, dtype) if check else None
        if problem:
            raise self.error(f"array {key!r}: {problem}")
        try:
            with self._open(key) as f:
                array = np.lib.format.read_array(f, allow_pickle=False)
        except READ_ERRORS as exc:
            raise self.error(f"array {key!r} is damaged or truncated ({exc})") from None
        except MemoryError:
            raise self.error(
                f"array {key!r} of shape {shape} {dtype} ({math.prod(shape) * dtype.itemsize:,} "
                "bytes) does not fit in the memory left"
            ) from None
        if array.shape != shape or array.dtype != dtype:  # pragma: no cover - numpy's own check
            raise self.error(f"array {key!r} does not match its header")
        return array
