"""The dlzero model file: parameters and architecture in one ``.npz`` archive, never pickled.

A model file is an ordinary NumPy ``.npz`` archive (``np.load(path)`` opens it) holding:

``__dlzero__``
    The header: UTF-8 JSON bytes (a ``uint8`` array) naming the format, the network's class
    and its ``config`` (the constructor arguments), the parameter and state keys, and
    optional free-form ``metadata`` (e.g. the data set and the seed it was trained with).
``param.W1``, ``param.b1``, ...
    Every entry of ``network.params``, with its dtype.
``state.BatchNorm1.running_mean``, ...
    Every array a layer lists in ``state_names`` (batch normalization's running statistics):
    not trained by the optimizer, but needed to predict as the saved network did.

This module is the format alone: it writes such a file (atomically, see :mod:`dlzero._io`),
checks a header, and reads arrays into a network's own arrays after checking each one's dtype
and shape *from the ``.npy`` header, before reading its data*. A header may name only the
classes in :data:`NETWORK_NAMES`, and an object array (which would need pickle) is refused with
its name: nothing in a file is ever executed.

What a file may cost is decided before it is read
(:class:`~dlzero.files.npy_archive.NpyArchive`): every member must be stored or deflated (no
encryption, no other zip method), and claim no more bytes than deflate can expand its
compressed size to (1032:1), so a file's arrays are bounded by its size on disk; a member's
``.npy`` header must agree with that claim; and :meth:`ModelArchive.check_arrays` compares the
shapes a header's config implies with the ``.npy`` headers before the network is built.
Non-finite and complex weights are refused. Every zip, zlib or ``.npy`` error is a
:class:`ModelFileError`. Which class a name stands for, and building it, is
:mod:`dlzero.files.serialization`'s; this module imports no network.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._io import atomic_write
from dlzero._version import __version__
from dlzero.files.npy_archive import NpyArchive

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "NETWORK_NAMES",
    "ModelArchive",
    "ModelFileError",
    "describe",
    "read_header",
    "write",
]

FORMAT = "dlzero-model"
FORMAT_VERSION = 1

#: The network classes a model file may name: those whose ``config`` rebuilds them.
NETWORK_NAMES = ("TwoLayerNet", "MultiLayerNet", "SimpleConvNet", "DeepConvNet")

_HEADER_KEY = "__dlzero__"
_PARAM_PREFIX = "param."
_STATE_PREFIX = "state."
# A header is a few hundred bytes; anything far larger is not one of ours.
_MAX_HEADER_BYTES = 1 << 20
# The dtypes a network's arrays may have (float16 is there for users who cast to save space).
_DTYPES = ("float16", "float32", "float64")


class ModelFileError(ValueError):
    """A file is not a dlzero model, is damaged, or does not match the architecture it names.

    The message names the file and what is wrong with it.
    """


# -- write -------------------------------------------------------------------------------------


def _header_array(header: Mapping[str, Any], what: str) -> NDArray:
    try:
        text = json.dumps(header, allow_nan=False, sort_keys=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"save: {what} must be plain JSON values (numbers, strings, ...): {exc}"
        ) from None
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def write(
    path: str | os.PathLike[str],
    class_name: str,
    config: Mapping[str, Any] | None,
    params: Mapping[str, NDArray],
    state: Mapping[str, NDArray],
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write a model file to ``path`` exactly as given (no suffix added), atomically.

    Parameters
    ----------
    path : str or PathLike
    class_name : str
        One of :data:`NETWORK_NAMES`.
    config : mapping
        Plain JSON values: the constructor arguments that rebuild the network.
    params, state : mapping of str to ndarray
        ``network.params`` and ``network.state``, of the dtypes float16, float32 or float64.
    metadata : mapping, optional
        Plain JSON values kept with the model.

    Raises
    ------
    ValueError
        ``class_name`` is not one the format knows, a dtype is not allowed, or ``config`` or
        ``metadata`` is not JSON. Nothing is written.
    OSError
        The file cannot be written; a previous file at ``path`` is left intact.
    """
    if class_name not in NETWORK_NAMES:
        raise ValueError(
            f"save: cannot save a {class_name}: only the networks dlzero builds can be rebuilt "
            f"from a file ({', '.join(NETWORK_NAMES)})"
        )
    for key, array in (*params.items(), *state.items()):
        if array.dtype.name not in _DTYPES:
            raise ValueError(f"save: {key} has dtype {array.dtype}, expected one of {_DTYPES}")
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "class": class_name,
        "config": dict(config or {}),
        "params": list(params),
        "state": list(state),
        "metadata": dict(metadata) if metadata is not None else {},
        "dlzero_version": __version__,
    }
    arrays = {_HEADER_KEY: _header_array(header, "the config and metadata")}
    arrays.update({_PARAM_PREFIX + key: np.asarray(a) for key, a in params.items()})
    arrays.update({_STATE_PREFIX + key: np.asarray(a) for key, a in state.items()})
    with atomic_write(path, "wb") as f:
        # A file object, so numpy writes exactly ``path`` (it appends ".npz" to a bare name).
        np.savez_compressed(f, **arrays)


# -- read --------------------------------------------------------------------------------------


class ModelArchive(NpyArchive):
    """An open model file: its ``.npy`` members, read without pickle and checked before reading.

    Use it in a ``with`` block: ``header()`` returns the checked header, ``read_into`` copies
    the stored arrays into a network's arrays. Every error is a :class:`ModelFileError` that
    names the file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        with open(path, "rb") as f:  # OSError (missing file, a folder) passes through as is
            magic = f.read(4)
        if magic != b"PK\x03\x04":
            raise ModelFileError(
                f"{os.fspath(path)}: not a dlzero model (expected an .npz archive made by "
                "'dlzero train --save' or network.save)"
            )
        super().__init__(
            path,
            ModelFileError,
            "dlzero model files",
            "not a dlzero model (the archive holds files other than arrays)",
        )

    def __enter__(self) -> ModelArchive:
        return self

    def header(self) -> dict[str, Any]:
        """The header, checked: format, version, class name, config, keys and metadata."""
        if _HEADER_KEY not in self.keys:
            raise self.error(f"not a dlzero model (no {_HEADER_KEY!r} header array)")

        def check(shape: tuple[int, ...], dtype: np.dtype) -> str | None:
            if dtype != np.uint8 or len(shape) != 1 or shape[0] > _MAX_HEADER_BYTES:
                return f"expected at most {_MAX_HEADER_BYTES} bytes of JSON as uint8"
            return None

        raw = self.read(_HEADER_KEY, check)
        try:
            header = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise self.error(f"the {_HEADER_KEY!r} header is not valid JSON ({exc})") from None
        return _check_header(header, self.error)

    def check_arrays(
        self,
        header: Mapping[str, Any],
        params: Mapping[str, tuple[int, ...]],
        state: Mapping[str, tuple[int, ...]],
    ) -> None:
        """Check that the file holds exactly these arrays, of these shapes and the config's
        dtype, from the ``.npy`` headers alone: nothing is allocated for them.

        :func:`dlzero.files.serialization.load` calls it with the shapes the config implies, before
        building the network: a header that names a network far larger than the file's arrays
        is refused here, not after the network has been built.
        """
        dtype = np.dtype(header["config"]["dtype"])
        expected = {_PARAM_PREFIX + k: s for k, s in params.items()}
        expected.update({_STATE_PREFIX + k: s for k, s in state.items()})
        self._check_keys(header, expected)
        what = describe(header)
        for key, shape in expected.items():
            found_shape, found_dtype = self.npy_header(key)
            problem = _shape_problem(found_shape, found_dtype, tuple(shape), dtype, what)
            if problem:
                raise self.error(f"array {key!r}: {problem}")

    def _check_keys(self, header: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
        stored = {_PARAM_PREFIX + k for k in header["params"]}
        stored |= {_STATE_PREFIX + k for k in header["state"]}
        present = set(self.keys) - {_HEADER_KEY}
        if stored != set(expected) or present != set(expected):
            missing = sorted(set(expected) - (stored & present))
            extra = sorted((stored | present) - set(expected))
            problems = [f"missing {', '.join(missing)}"] if missing else []
            problems += [f"unexpected {', '.join(extra)}"] if extra else []
            raise self.error(f"the arrays do not fit {describe(header)}: " + "; ".join(problems))

    def read_into(
        self, header: Mapping[str, Any], params: Mapping[str, NDArray], state: Mapping[str, NDArray]
    ) -> None:
        """Copy the stored arrays into ``params`` and ``state`` (a network's own arrays).

        The file must hold exactly these keys (compared before anything is read), each array
        with its target's dtype and shape (checked before its data is read), and only finite
        numbers: a NaN or an infinite weight would make every prediction NaN.
        """
        what = describe(header)
        expected = {_PARAM_PREFIX + k: v for k, v in params.items()}
        expected.update({_STATE_PREFIX + k: v for k, v in state.items()})
        self._check_keys(header, expected)
        for key, target in expected.items():
            array = self.read(key, _shape_check(target, what))
            finite = np.isfinite(array)
            if not finite.all():
                nan = int(np.count_nonzero(np.isnan(array)))
                inf = array.size - int(np.count_nonzero(finite)) - nan
                raise self.error(
                    f"array {key!r} holds {nan:,} NaN and {inf:,} infinite values; a network's "
                    "weights must be finite numbers (was it saved after its training diverged?)"
                )
            target[...] = array


def _check_header(header: Any, error: Callable[[str], Exception]) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise error(f"not a dlzero model (the header does not say format {FORMAT!r})")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise error(f"bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise error(
            f"saved in model format version {version} by a newer dlzero "
            f"({header.get('dlzero_version', '?')}); this one reads version {FORMAT_VERSION}"
        )
    if header.get("class") not in NETWORK_NAMES:
        raise error(
            f"unknown network class {header.get('class')!r}; expected one of "
            + ", ".join(NETWORK_NAMES)
        )
    config = header.get("config")
    if not isinstance(config, dict):
        raise error("the header's 'config' is not a JSON object")
    if config.get("dtype") not in _DTYPES:
        raise error(f"config dtype {config.get('dtype')!r} is not one of {_DTYPES}")
    for field in ("params", "state"):
        names = header.get(field)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise error(f"the header's {field!r} is not a list of names")
    if not isinstance(header.get("metadata", {}), dict):
        raise error("the header's 'metadata' is not a JSON object")
    return header


def _shape_problem(
    shape: tuple[int, ...], dtype: np.dtype, want: tuple[int, ...], want_dtype: np.dtype, what: str
) -> str | None:
    if dtype.kind == "c":
        return (
            f"{shape} {dtype}: complex numbers in the file, but {what}'s weights are real "
            f"({want_dtype}); the imaginary part would be dropped"
        )
    if shape != want or dtype != want_dtype:
        return f"{shape} {dtype} in the file, but {what} needs {want} {want_dtype}"
    return None


def _shape_check(expected: NDArray, what: str) -> Callable[[tuple[int, ...], np.dtype], str | None]:
    def check(shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        return _shape_problem(shape, dtype, expected.shape, expected.dtype, what)

    return check


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked header of the model file ``path``, without reading any other array."""
    with ModelArchive(path) as archive:
        return archive.header()


def describe(header: Mapping[str, Any]) -> str:
    """The architecture a header names, as a call: ``TwoLayerNet(input_size=784, ...)``."""

    def fmt(v: Any) -> str:
        return f"{v:g}" if isinstance(v, float) and math.isfinite(v) else repr(v)

    config = ", ".join(f"{k}={fmt(v)}" for k, v in header["config"].items())
    return f"{header['class']}({config})"
