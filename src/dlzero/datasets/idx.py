"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a header followed by its data in C order, big-endian::

    bytes 0-1     zero
    byte 2        type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                  0x0D float32, 0x0E float64
    byte 3        number of dimensions d (0 to 255)
    4 * d bytes   the size of each dimension, unsigned 32-bit big-endian
    the data      prod(sizes) items of that type, big-endian

Files may be gzip-compressed; :func:`open_idx` tells by the content, not by the name.

Every fault (a short header, a wrong magic number, data shorter or longer than the header
says, a damaged gzip stream) raises :class:`DatasetError` naming the file and the fault,
and no partial array is ever returned.

Examples
--------
>>> import io
>>> import numpy as np
>>> from dlzero.datasets import idx
>>> a = np.arange(6, dtype=np.int16).reshape(2, 3)
>>> idx.read_idx(io.BytesIO(idx.to_idx_bytes(a)))
array([[0, 1, 2],
       [3, 4, 5]], dtype=int16)
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

import numpy as np

__all__ = [
    "TYPE_CODES",
    "DatasetError",
    "IdxHeader",
    "open_idx",
    "read_chunks",
    "read_header",
    "read_idx",
    "to_idx_bytes",
]


class DatasetError(Exception):
    """A data file is missing, damaged, or not the file it should be.

    The message names the file and the fault; for the data sets it also says which sources
    were tried and how to put the files in place by hand.
    """


#: IDX type code -> the on-disk (big-endian) dtype.
TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot compress better than about 1032:1, so a gzip file of n bytes holds at most
# this many times n bytes; it bounds what a damaged header may make us allocate.
_MAX_DEFLATE_RATIO = 1032
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class IdxHeader:
    """What an IDX header says.

    Attributes
    ----------
    dtype : numpy.dtype
        Type of the items as stored (big-endian for multi-byte types).
    shape : tuple of int
        Size of each dimension; ``()`` for a file of one item.
    """

    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def header_size(self) -> int:
        """Bytes taken by the header: 4 + 4 per dimension."""
        return 4 + 4 * len(self.shape)

    @property
    def data_size(self) -> int:
        """Bytes of data the header promises (a Python int: it cannot overflow)."""
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        """Short human form, e.g. ``'uint8 (60000, 28, 28)'``."""
        return f"{self.dtype.newbyteorder('=').name} {self.shape}"


def open_idx(path: str | os.PathLike[str]) -> BinaryIO:
    """Open an IDX file for reading, decompressing it if it is gzip data.

    Parameters
    ----------
    path : str or os.PathLike
        The file, raw or gzip-compressed (told apart by its first two bytes).

    Returns
    -------
    BinaryIO
        A binary stream of the uncompressed content; the caller closes it.

    Raises
    ------
    DatasetError
        If the file cannot be opened.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
        if magic == _GZIP_MAGIC:
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb")
    except OSError as exc:
        raise DatasetError(f"{os.fspath(path)}: cannot open: {exc}") from exc


def _fill(stream: BinaryIO, view: memoryview, name: str) -> int:
    """Read into ``view`` until it is full or the stream ends; return the bytes read.

    A stream's ``readinto`` may return fewer bytes than asked (gzip does), so loop.
    Errors of the gzip layer become :class:`DatasetError` here, the one place that reads.
    """
    filled = 0
    try:
        while filled < len(view):
            n = stream.readinto(view[filled:])
            if not n:
                break
            filled += n
    except EOFError as exc:  # gzip: "Compressed file ended before the end-of-stream marker"
        raise DatasetError(f"{name}: truncated gzip data ({exc})") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:  # bad header, bad deflate data, bad CRC
        raise DatasetError(f"{name}: corrupt gzip data ({exc})") from exc
    except OSError as exc:
        raise DatasetError(f"{name}: read error ({exc})") from exc
    return filled


def read_header(stream: BinaryIO, name: str) -> IdxHeader:
    """Read and check the header at the start of an IDX stream.

    Parameters
    ----------
    stream : BinaryIO
        Uncompressed IDX content, positioned at its start (anything with ``readinto``).
    name : str
        The file's name, for error messages.

    Returns
    -------
    IdxHeader

    Raises
    ------
    DatasetError
        If the stream ends inside the header or the magic number is not an IDX one.
    """
    magic = bytearray(4)
    got = _fill(stream, memoryview(magic), name)
    if got < 4:
        raise DatasetError(f"{name}: truncated: {got} bytes, shorter than an IDX header (4)")
    zero, code, ndim = magic[0] | magic[1], magic[2], magic[3]
    if zero or code not in TYPE_CODES:
        hint = " (it is gzip data)" if bytes(magic[:2]) == _GZIP_MAGIC else ""
        raise DatasetError(
            f"{name}: not an IDX file: wrong magic number 0x{bytes(magic).hex().upper()}{hint}; "
            "expected 0x0000TTDD with type code TT one of "
            + ", ".join(f"{c:02X}" for c in TYPE_CODES)
        )
    dims = bytearray(4 * ndim)
    got = _fill(stream, memoryview(dims), name)
    if got < len(dims):
        raise DatasetError(
            f"{name}: truncated header: {ndim} dimensions need {len(dims)} bytes of sizes, "
            f"found {got}"
        )
    return IdxHeader(TYPE_CODES[code], struct.unpack(f">{ndim}I", dims))


def read_chunks(
    stream: BinaryIO, header: IdxHeader, name: str, chunk_bytes: int = _CHUNK_BYTES
) -> Iterator[np.ndarray]:
    """Yield the data after the header as consecutive 1-D arrays, then check the end.

    Reading in chunks lets a caller convert the data (say, to normalized float32) as it
    arrives, without holding a second full-size copy.

    Parameters
    ----------
    stream : BinaryIO
        The stream :func:`read_header` was called on.
    header : IdxHeader
        Its header.
    name : str
        The file's name, for error messages.
    chunk_bytes : int, optional
        About how many bytes each chunk holds (rounded down to whole items, at least one).

    Yields
    ------
    numpy.ndarray
        1-D, ``header.dtype`` (on-disk byte order), a whole number of items. Each is a view
        of one reused buffer: use or copy it before asking for the next.

    Raises
    ------
    DatasetError
        If the data is shorter or longer than the header says, or unreadable. It is raised
        at the end, so a caller must not use what it was given until the generator is done.
    """
    itemsize = header.dtype.itemsize
    buf = bytearray(max(itemsize, chunk_bytes - chunk_bytes % itemsize))
    view = memoryview(buf)
    remaining = total = header.data_size
    while remaining:
        want = min(remaining, len(buf))
        got = _fill(stream, view[:want], name)
        if got < want:
            raise DatasetError(
                f"{name}: truncated: header says {header.describe()}, {total} bytes of data, "
                f"found only {total - remaining + got}"
            )
        remaining -= got
        yield np.frombuffer(buf, header.dtype, count=got // itemsize)
    # Reading past the end also makes gzip check its CRC and length trailer.
    if _fill(stream, memoryview(bytearray(1)), name):
        raise DatasetError(
            f"{name}: more bytes than the header says ({header.describe()}, {total} bytes of "
            "data): not an IDX file, or a damaged one"
        )


def read_idx(source: str | os.PathLike[str] | BinaryIO, *, name: str | None = None) -> np.ndarray:
    """Read a whole IDX file into an array.

    Parameters
    ----------
    source : str, os.PathLike or BinaryIO
        A path (raw or gzip-compressed) or an open binary stream of uncompressed content.
    name : str, optional
        Name for error messages; defaults to the path or the stream's ``name``.

    Returns
    -------
    numpy.ndarray
        Shape from the header, dtype from the type code in native byte order; writable.

    Raises
    ------
    DatasetError
        If the file is missing, truncated, too long, damaged, or has a wrong magic number.
    """
    if isinstance(source, (str, os.PathLike)):
        name = name or os.fspath(source)
        with open_idx(source) as stream:
            return _read_all(stream, name, os.path.getsize(source))
    name = name or str(getattr(source, "name", "<stream>"))
    return _read_all(source, name, None)


def _read_all(stream: BinaryIO, name: str, file_size: int | None) -> np.ndarray:
    header = read_header(stream, name)
    # Refuse a header that claims more than the file can hold before allocating for it.
    needed = header.header_size + header.data_size
    if file_size is not None and isinstance(stream, gzip.GzipFile):
        if needed > file_size * _MAX_DEFLATE_RATIO:
            raise DatasetError(
                f"{name}: truncated or damaged: header says {header.describe()}, "
                f"{header.data_size} bytes of data, more than the file can hold"
            )
    elif file_size is not None and needed > file_size:
        raise DatasetError(
            f"{name}: truncated: header says {header.describe()}, {header.data_size} bytes "
            f"of data, found only {file_size - header.header_size}"
        )
    try:
        out = np.empty(header.shape, header.dtype.newbyteorder("="))
    except (MemoryError, ValueError) as exc:
        raise DatasetError(
            f"{name}: header says {header.describe()}, too large to allocate ({exc})"
        ) from exc
    flat = out.reshape(-1)
    pos = 0
    for chunk in read_chunks(stream, header, name):
        flat[pos : pos + chunk.size] = chunk  # the assignment also swaps to native order
        pos += chunk.size
    return out


def to_idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as the bytes of an uncompressed IDX file.

    Parameters
    ----------
    array : array_like
        Of dtype uint8, int8, int16, int32, float32 or float64; at most 255 dimensions.

    Returns
    -------
    bytes
        Header and big-endian data; ``read_idx`` gives back an equal array.

    Raises
    ------
    ValueError
        If the dtype has no IDX type code or the shape does not fit the header.
    """
    a = np.asarray(array)
    codes = {dt.newbyteorder("=").str: code for code, dt in TYPE_CODES.items()}
    code = codes.get(a.dtype.newbyteorder("=").str)
    if code is None:
        raise ValueError(f"IDX has no type code for dtype {a.dtype}")
    if a.ndim > 255 or any(n >= 2**32 for n in a.shape):
        raise ValueError(f"shape {a.shape} does not fit an IDX header")
    head = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return head + a.astype(TYPE_CODES[code], copy=False).tobytes(order="C")


class HashingReader:
    """A read-through stream that hashes what passes and copies it to ``copy_to``, if given.

    A failed write to the copy stops the copying and sets ``copied`` to False; it is not
    raised here, where it would pass for a fault of the file being read.
    """

    def __init__(self, inner: BinaryIO, copy_to: IO[bytes] | None) -> None:
        self._inner = inner
        self._copy_to = copy_to
        self.copied = True
        self.hash = hashlib.sha256()

    def readinto(self, buffer: memoryview) -> int:
        n = self._inner.readinto(buffer)
        if n:
            data = memoryview(buffer)[:n]
            self.hash.update(data)
            if self._copy_to is not None and self.copied:
                try:
                    self._copy_to.write(data)
                except OSError:
                    self.copied = False
        return n
