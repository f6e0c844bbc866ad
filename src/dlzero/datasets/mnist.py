"""MNIST and Fashion-MNIST: find, verify, cache and, if need be, download the four IDX files.

Each file is looked for in this order, and the first good copy is used:

1. ``data_dir``, if given (in ``data_dir/<set>/`` and then ``data_dir/`` itself);
2. the folder named by the ``DLZERO_DATA`` environment variable (likewise);
3. the user cache, ``$XDG_CACHE_HOME/dlzero/<set>/`` or else ``~/.cache/dlzero/<set>/``;
4. installed copies: MNIST's genuine files ship inside this package, and Debian's
   ``dataset-fashion-mnist`` puts Fashion-MNIST in ``/usr/share/datasets/fashion-mnist/``;
5. a download from each mirror in turn, with a timeout, one retry, a progress bar on a
   terminal, and an atomic write.

``<set>`` is ``mnist`` or ``fashion-mnist``. A file may be gzip-compressed or not. Files in
the folders the user names are read from there each time, not copied to the cache, so
uncompressed ones load fastest.

Every copy, whatever its source, is verified by the SHA-256 of its *uncompressed* content,
so any gzip of the right bytes is accepted and nothing else is. A bad copy is never used:
in a folder the user named it is an error (using another copy would hide the problem),
in the cache it is deleted, elsewhere the search goes on. The error, when no good copy is
found, names the file, the expected and actual hashes, every source tried, and how to put
the file in place by hand.

The cache
---------
A copy read from a slow source (gzip, an installed copy, a download) is written to the
user cache uncompressed, through a temporary file in the same folder and ``os.replace``,
and only once its hash has been checked; so the cache never holds a partial or bad file.

The cache is verified on *every* load, not trusted: the whole file is hashed as it is read,
in the same pass that converts it to the array. With SHA-256 at about 1 GB/s that costs
some 50 ms for the 47 MB of training images, within the budget of a repeat load, and it
catches what a size-and-date sidecar would miss (a disk error, a hand edit). A file that
fails is deleted and the next source is used, which writes a good copy again.

Memory: the images are converted chunk by chunk straight into the output array, so no
second full-size copy (uint8 or float64) ever exists; loading MNIST peaks at about the
size of the arrays returned.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import DTypeLike

from dlzero._io import atomic_write
from dlzero.datasets import idx
from dlzero.datasets.download import DownloadError, download, download_folder
from dlzero.datasets.idx import DatasetError, HashingReader

__all__ = [
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "DatasetError",
    "cache_dir",
    "load_fashion_mnist",
    "load_mnist",
]

#: MNIST's class names: the digits, index ``i`` names label ``i``.
MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))

#: Fashion-MNIST's class names, index ``i`` names label ``i``.
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass(frozen=True)
class _File:
    name: str  # without .gz
    sha256: str  # of the uncompressed content
    shape: tuple[int, ...]  # what the header must say (all files are uint8)


@dataclass(frozen=True)
class _Dataset:
    key: str  # folder name under the cache and DLZERO_DATA
    title: str
    train_images: _File
    train_labels: _File
    test_images: _File
    test_labels: _File

    @property
    def files(self) -> tuple[_File, ...]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


def _dataset(key: str, title: str, sha256: dict[str, str]) -> _Dataset:
    shapes = {"train": 60000, "t10k": 10000}
    files = [
        _File(f"{part}-{kind}", sha256[f"{part}-{kind}"], (n, 28, 28) if kind[0] == "i" else (n,))
        for part, n in shapes.items()
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
    ]
    return _Dataset(key, title, *files)


# MNIST's values are those of the genuine files (they match the SHA256SUMS kept with the
# project's shared data); Fashion-MNIST's were computed from Debian's dataset-fashion-mnist
# 0.0~git20200523.55506a9-1 (`gunzip -c FILE.gz | sha256sum`), whose gzip files differ from
# the upstream ones but hold the same bytes.
DATASETS: dict[str, _Dataset] = {
    "mnist": _dataset(
        "mnist",
        "MNIST",
        {
            "train-images-idx3-ubyte": (
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
            ),
            "train-labels-idx1-ubyte": (
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
            ),
            "t10k-images-idx3-ubyte": (
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
            ),
            "t10k-labels-idx1-ubyte": (
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
            ),
        },
    ),
    "fashion-mnist": _dataset(
        "fashion-mnist",
        "Fashion-MNIST",
        {
            "train-images-idx3-ubyte": (
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
            ),
            "train-labels-idx1-ubyte": (
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
            ),
            "t10k-images-idx3-ubyte": (
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
            ),
            "t10k-labels-idx1-ubyte": (
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
            ),
        },
    ),
}

BUNDLED_DIR = Path(__file__).resolve().parent / "data"

#: Installed copies per data set, as (label, folder), searched after the user cache.
INSTALLED: dict[str, list[tuple[str, Path]]] = {
    "mnist": [("copy bundled with dlzero", BUNDLED_DIR)],
    "fashion-mnist": [
        ("Debian package dataset-fashion-mnist", Path("/usr/share/datasets/fashion-mnist"))
    ],
}

#: Download mirrors per data set, tried in order; a file's URL is mirror + name + ".gz".
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    # Zalando's own repository over https first; its S3 website serves plain http only (the
    # SHA-256 check guards the content either way, https also who can see what is fetched).
    "fashion-mnist": [
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
}


# -- public API -------------------------------------------------------------------------------


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    dtype: DTypeLike = np.float32,
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST, as the book's ``dataset/mnist.py`` does, verified and offline-first.

    Parameters
    ----------
    normalize : bool, default True
        Pixels as floats in [0, 1] (``x / 255`` in ``dtype``); else the raw ``uint8`` 0..255.
    flatten : bool, default True
        Images as rows of 784 pixels; else as ``(1, 28, 28)`` single-channel images.
    one_hot_label : bool, default False
        Labels as one-hot rows of 10 (in ``dtype``); else as integer labels (``uint8``).
    dtype : numpy dtype, keyword-only, default float32
        The floating type of normalized images and one-hot labels.
    data_dir : str or os.PathLike, keyword-only, optional
        A folder to take the files from first (see the module's docstring for the order).

    Returns
    -------
    ((x_train, t_train), (x_test, t_test)) : tuple of tuples of numpy.ndarray
        ``x_train`` is ``(60000, 784)`` or ``(60000, 1, 28, 28)``, ``x_test`` likewise with
        10000; ``t_train`` is ``(60000,)`` or ``(60000, 10)``, ``t_test`` likewise.

    Raises
    ------
    ValueError
        If ``dtype`` is not a floating type.
    DatasetError
        If no good copy of a file is found, or a folder the user named holds a bad one.

    Examples
    --------
    >>> (x_train, t_train), (x_test, t_test) = load_mnist()  # doctest: +SKIP
    >>> x_train.shape, x_train.dtype, t_train[:5]  # doctest: +SKIP
    ((60000, 784), dtype('float32'), array([5, 0, 4, 1, 9], dtype=uint8))
    """
    return _load(DATASETS["mnist"], normalize, flatten, one_hot_label, dtype, data_dir)


def load_fashion_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    dtype: DTypeLike = np.float32,
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST; same arguments, shapes and sources as :func:`load_mnist`.

    Fashion-MNIST is not bundled: it comes from Debian's ``dataset-fashion-mnist`` where
    installed, else from its official address. Label ``i`` is ``FASHION_MNIST_CLASSES[i]``.
    """
    return _load(DATASETS["fashion-mnist"], normalize, flatten, one_hot_label, dtype, data_dir)


def cache_dir() -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/dlzero``, or ``~/.cache/dlzero``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG specification says.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "dlzero"


# -- loading ----------------------------------------------------------------------------------


def _load(
    ds: _Dataset,
    normalize: bool,
    flatten: bool,
    one_hot_label: bool,
    dtype: DTypeLike,
    data_dir: str | os.PathLike[str] | None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    float_type = _float_dtype(dtype)
    folders = _user_folders(ds, data_dir)
    image_type = float_type if normalize else np.dtype(np.uint8)

    def images(f: _File) -> np.ndarray:
        x = _fetch(ds, f, folders, image_type, scale=bool(normalize))
        return x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, 28, 28)

    def labels(f: _File) -> np.ndarray:
        t = _fetch(ds, f, folders, np.dtype(np.uint8), scale=False)
        if not one_hot_label:
            return t
        one_hot = np.zeros((t.size, 10), float_type)
        one_hot[np.arange(t.size), t] = 1
        return one_hot

    # Train images first: they are the largest, so memory peaks before the rest exists.
    x_train, t_train = images(ds.train_images), labels(ds.train_labels)
    x_test, t_test = images(ds.test_images), labels(ds.test_labels)
    return (x_train, t_train), (x_test, t_test)


def _float_dtype(dtype: DTypeLike) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype must be a NumPy floating type; got {dtype!r}") from exc
    if not np.issubdtype(dt, np.floating):
        raise ValueError(
            f"dtype must be a floating type such as np.float32 (it is the type of normalized "
            f"images and one-hot labels); got {dt}. For raw uint8 pixels pass normalize=False."
        )
    return dt


def _user_folders(ds: _Dataset, data_dir: str | os.PathLike[str] | None) -> list[tuple[str, Path]]:
    """The folders the user named, as (label, folder), ``<dir>/<set>`` before ``<dir>``."""
    named = [("data_dir", data_dir), ("DLZERO_DATA", os.environ.get("DLZERO_DATA") or None)]
    folders = []
    for label, value in named:
        if value is None:
            continue
        folder = Path(value).expanduser()
        if not folder.is_dir():
            # A mistyped folder would otherwise be passed over in silence.
            raise DatasetError(f"{label} {os.fspath(value)!r} is not a folder")
        folders += [(label, folder / ds.key), (label, folder)]
    return folders


def _fetch(
    ds: _Dataset, f: _File, folders: list[tuple[str, Path]], out_type: np.dtype, scale: bool
) -> np.ndarray:
    """Return one file's array from the first source with a good copy (see module doc)."""
    tried: list[str] = []
    cache = cache_dir() / ds.key
    cached = cache / f.name

    def copies(folder: Path) -> list[Path]:
        return [p for p in (folder / f.name, folder / f"{f.name}.gz") if p.is_file()]

    def read(path: Path, label: str, cache_it: bool) -> np.ndarray:
        return _read_verified(path, label, f, out_type, scale, cached if cache_it else None)

    # 1-2: folders the user named. A bad file there is an error: the user put it there.
    for label, folder in folders:
        found = copies(folder)
        if not found:
            tried.append(f"{label} {folder}: no {f.name} or {f.name}.gz")
        for path in found:
            try:
                return read(path, str(path), cache_it=False)
            except _OtherDatasetsFile as exc:
                tried.append(f"{label}: {exc}; passed over")
            except DatasetError as exc:
                tried.append(f"{label}: {exc}")
                raise DatasetError(
                    _message(ds, f, f"bad {ds.title} file {path} in {label}", tried)
                ) from None

    # 3: the user cache. A bad file there is deleted, and a good copy is found again below.
    found = copies(cache)
    if not found:
        tried.append(f"user cache {cache}: no {f.name} or {f.name}.gz")
    for path in found:
        try:
            return read(path, str(path), cache_it=path != cached)
        except DatasetError as exc:
            try:
                path.unlink(missing_ok=True)
                tried.append(f"user cache: {exc}; deleted it")
            except OSError as unlink_error:  # then it stays, but is never used
                tried.append(f"user cache: {exc}; could not delete it: {unlink_error}")

    # 4: installed copies.
    for label, folder in INSTALLED.get(ds.key, []):
        found = copies(folder)
        if not found:
            tried.append(f"{label} {folder}: no {f.name} or {f.name}.gz")
        for path in found:
            try:
                return read(path, f"{path} ({label})", cache_it=True)
            except DatasetError as exc:
                tried.append(f"{label}: {exc}")

    # 5: the mirrors.
    for mirror in MIRRORS.get(ds.key, []):
        url = f"{mirror}{f.name}.gz"
        try:
            tmp = download(url, download_folder(cache), f.name, max_download_bytes(f))
        except DownloadError as exc:
            tried.append(f"{url}: {exc}")
            continue
        try:
            return read(tmp, url, cache_it=True)
        except DatasetError as exc:
            tried.append(f"{exc}; rejected")
        finally:
            tmp.unlink(missing_ok=True)

    raise DatasetError(_message(ds, f, f"no good copy of {ds.title} file {f.name} found", tried))


def _message(ds: _Dataset, f: _File, headline: str, tried: list[str]) -> str:
    mirrors = MIRRORS.get(ds.key) or ["<a mirror>"]
    sources = "\n".join(f"  {i}. {line}" for i, line in enumerate(tried, 1))
    return (
        f"{headline}.\n"
        f"Expected SHA-256 of the uncompressed {f.name}: {f.sha256}\n"
        f"Sources tried, in order:\n{sources}\n"
        f"To put the file in place by hand: download {mirrors[0]}{f.name}.gz (or copy it from "
        f"another machine), check that `gunzip -c {f.name}.gz | sha256sum` prints {f.sha256}, "
        f"and put it, gzipped or not, in {cache_dir() / ds.key}, or in a folder you pass as "
        "data_dir= or name in the DLZERO_DATA environment variable."
    )


# -- verified reading -------------------------------------------------------------------------


class _HashMismatch(DatasetError):
    pass


class _OtherDatasetsFile(_HashMismatch):
    """A genuine file, but of another data set (MNIST and Fashion-MNIST share file names)."""


def _known_files() -> dict[str, str]:
    return {f.sha256: f"{ds.title}'s {f.name}" for ds in DATASETS.values() for f in ds.files}


def _read_verified(
    path: Path, label: str, f: _File, out_type: np.dtype, scale: bool, cache_to: Path | None
) -> np.ndarray:
    """Read ``path`` into a new array of ``out_type``, checking header and SHA-256.

    With ``scale`` the uint8 values are divided by 255. With ``cache_to`` the uncompressed
    bytes are also written there, atomically, once the hash is known to be right; the cache
    is an optimisation, so a copy that cannot be written is dropped and loading goes on.
    Raises :class:`DatasetError` naming ``label`` if anything is wrong; returns nothing then.
    """
    out = None
    if cache_to is not None:
        try:
            cache_to.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(cache_to, "wb") as copy:
                out, copied = _read(path, label, f, out_type, scale, copy)
                if not copied:  # e.g. a full disk: leave the cache as it was
                    raise OSError(f"cannot write {cache_to}")
        except OSError:
            pass
    if out is None:  # no cache wanted, or no temporary file could be made for it
        out, _ = _read(path, label, f, out_type, scale, None)
    return out


def _read(
    path: Path, label: str, f: _File, out_type: np.dtype, scale: bool, copy_to: IO[bytes] | None
) -> tuple[np.ndarray, bool]:
    """:func:`_read_verified`'s reading: the array, and whether ``copy_to`` got every byte."""
    with idx.open_idx(path) as raw:
        stream = HashingReader(raw, copy_to)
        header = idx.read_header(stream, label)  # type: ignore[arg-type]
        if header.dtype != np.uint8 or header.shape != f.shape:
            raise DatasetError(
                f"{label}: header says {header.describe()}, expected uint8 {f.shape}"
            )
        out = np.empty(f.shape, out_type)
        flat = out.reshape(-1)
        pos = 0
        for chunk in idx.read_chunks(stream, header, label):  # type: ignore[arg-type]
            dst = flat[pos : pos + chunk.size]
            if scale:
                # dtype= keeps the arithmetic in out_type (no float64 detour, and no
                # float16 under NumPy 1's value-based casting); x / 255 as the book does.
                np.divide(chunk, 255, out=dst, dtype=out_type)
            else:
                dst[...] = chunk
            pos += chunk.size
    actual = stream.hash.hexdigest()
    if actual != f.sha256:
        other = _known_files().get(actual)
        kind = _OtherDatasetsFile if other else _HashMismatch
        raise kind(
            f"{label}: SHA-256 of the uncompressed content is {actual}, expected {f.sha256}"
            + (f" (it is {other})" if other else "")
        )
    return out, stream.copied


# -- downloading ------------------------------------------------------------------------------


def max_download_bytes(f: _File) -> int:
    """The most bytes a download of ``f`` (gzipped) may take before it is cut off.

    Twice the uncompressed file, plus 64 KiB: gzip makes MNIST 4-8 times smaller and never
    grows anything by more than a few bytes per 32 KiB block, so a genuine copy is always far
    below this, while a mirror that sends endless bytes stops filling the disk here, before
    the checksum (which needs the whole file) could refuse it.
    """
    return 2 * (4 + 4 * len(f.shape) + math.prod(f.shape)) + 65536
