"""Save a trained network and load it back: parameters and architecture in one ``.npz`` file.

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

Loading rebuilds the architecture as ``cls(**config)``, where ``cls`` is looked up by name in
:data:`NETWORK_CLASSES` (a fixed registry: a file can never choose which code runs), then checks
every stored array's dtype and shape against the rebuilt network *from the ``.npy`` header,
before reading its data*, and copies it in. Nothing is ever unpickled: an object array (which
would need pickle) is refused with its name, as is anything that is not exactly the model the
header describes.

Writes are atomic (see :mod:`dlzero._io`): a save that is interrupted leaves the previous file
as it was.

Examples
--------
>>> import tempfile, os
>>> import numpy as np
>>> from dlzero.networks import TwoLayerNet
>>> net = TwoLayerNet(4, 3, 2, rng=0)
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> save(net, path, metadata={"note": "untrained"})
>>> again = load(path)
>>> type(again).__name__, again.config == net.config
('TwoLayerNet', True)
>>> x = np.ones((1, 4), dtype=np.float32)
>>> bool(np.array_equal(again.predict(x), net.predict(x)))
True
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from dlzero._io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from dlzero.networks import Sequential

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "NETWORK_CLASSES",
    "ModelFileError",
    "load",
    "load_info",
    "save",
]

FORMAT = "dlzero-model"
FORMAT_VERSION = 1

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


def _network_classes() -> dict[str, type]:
    """The classes a model file may name: every network dlzero builds, by class name."""
    from dlzero.networks import MultiLayerNet, TwoLayerNet

    classes: dict[str, type] = {"TwoLayerNet": TwoLayerNet, "MultiLayerNet": MultiLayerNet}
    try:  # the convolutional networks live in their own module
        from dlzero.convnets import DeepConvNet, SimpleConvNet
    except ImportError:  # pragma: no cover - only while convnets.py is absent
        pass
    else:
        classes.update(SimpleConvNet=SimpleConvNet, DeepConvNet=DeepConvNet)
    return classes


class _Registry(Mapping[str, type]):
    """Read-only view of the network classes, filled on first use (keeps ``import`` light)."""

    def __getitem__(self, name: str) -> type:
        return _network_classes()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_network_classes())

    def __len__(self) -> int:
        return len(_network_classes())

    def __repr__(self) -> str:
        return f"NETWORK_CLASSES({', '.join(self)})"


#: Name -> class of every network a model file may contain. Loading looks the header's class
#: name up here and nowhere else.
NETWORK_CLASSES: Mapping[str, type] = _Registry()


# -- save --------------------------------------------------------------------------------------


def _state_arrays(network: Sequential) -> dict[str, np.ndarray]:
    """``{"BatchNorm1.running_mean": array, ...}`` for every layer's ``state_names``."""
    return {
        f"{layer_name}.{name}": getattr(layer, name)
        for layer_name, layer in network.layers.items()
        for name in layer.state_names
    }


def _header_array(header: Mapping[str, Any], what: str) -> np.ndarray:
    try:
        text = json.dumps(header, allow_nan=False, sort_keys=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"save: {what} must be plain JSON values (numbers, strings, ...): {exc}"
        ) from None
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def save(
    network: Sequential,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Save ``network``'s architecture and parameters to ``path`` (an ``.npz`` file), atomically.

    Parameters
    ----------
    network : Sequential
        One of the networks in :data:`NETWORK_CLASSES` (``TwoLayerNet``, ``MultiLayerNet``,
        ``SimpleConvNet``, ``DeepConvNet``): they have a ``config`` that rebuilds them.
    path : str or PathLike
        The file to write, exactly as given (no suffix is added); ``.npz`` by convention.
    metadata : mapping, optional
        Plain JSON values kept with the model (e.g. ``{"dataset": "mnist", "seed": 3}``);
        :func:`load_info` returns them.

    Raises
    ------
    ValueError
        The network is not of a class dlzero can rebuild, or ``metadata`` is not JSON.
    OSError
        The file cannot be written; a previous file at ``path`` is left intact.
    """
    cls_name = type(network).__name__
    classes = dict(NETWORK_CLASSES)
    if classes.get(cls_name) is not type(network):
        raise ValueError(
            f"save: cannot save a {cls_name}: only the networks dlzero builds can be rebuilt "
            f"from a file ({', '.join(classes)})"
        )
    params = network.params
    state = _state_arrays(network)
    for key, array in (*params.items(), *state.items()):
        if array.dtype.name not in _DTYPES:
            raise ValueError(f"save: {key} has dtype {array.dtype}, expected one of {_DTYPES}")
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "class": cls_name,
        "config": network.config,
        "params": list(params),
        "state": list(state),
        "metadata": dict(metadata) if metadata is not None else {},
    }
    from dlzero import __version__

    header["dlzero_version"] = __version__
    arrays = {_HEADER_KEY: _header_array(header, "the config and metadata")}
    arrays.update({_PARAM_PREFIX + key: np.asarray(a) for key, a in params.items()})
    arrays.update({_STATE_PREFIX + key: np.asarray(a) for key, a in state.items()})
    with atomic_write(path, "wb") as f:
        # A file object, so numpy writes exactly ``path`` (it appends ".npz" to a bare name).
        np.savez_compressed(f, **arrays)


# -- load --------------------------------------------------------------------------------------


class _Archive:
    """The ``.npy`` members of a zip file, read without pickle and checked before reading."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = os.fspath(path)
        with open(path, "rb") as f:  # OSError (missing file, a folder) passes through as is
            magic = f.read(4)
        if magic != b"PK\x03\x04":
            raise self.error(
                "not a dlzero model (expected an .npz archive made by "
                "'dlzero train --save' or network.save)"
            )
        try:
            self.zip = zipfile.ZipFile(path)
            names = self.zip.namelist()
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise self.error(f"damaged or truncated .npz archive ({exc})") from None
        self.keys = [n[: -len(".npy")] for n in names if n.endswith(".npy")]
        if len(self.keys) != len(names) or len(set(self.keys)) != len(self.keys):
            raise self.error("not a dlzero model (the archive holds files other than arrays)")

    def error(self, message: str) -> ModelFileError:
        return ModelFileError(f"{self.name}: {message}")

    def close(self) -> None:
        if hasattr(self, "zip"):
            self.zip.close()

    def _open(self, key: str) -> IO[bytes]:
        return self.zip.open(key + ".npy")

    def _read_header(self, key: str) -> tuple[tuple[int, ...], bool, np.dtype]:
        fmt = np.lib.format
        with self._open(key) as f:
            version = fmt.read_magic(f)
            if version == (1, 0):
                return fmt.read_array_header_1_0(f)
            if version == (2, 0):
                return fmt.read_array_header_2_0(f)
            raise ValueError(f"unsupported .npy format version {version}")

    def read(
        self, key: str, check: Callable[[tuple[int, ...], np.dtype], str | None]
    ) -> np.ndarray:
        """The array ``key``, after ``check(shape, dtype)`` (a message, or None) approves it."""
        try:
            shape, _, dtype = self._read_header(key)
        except (ValueError, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise self.error(f"array {key!r} is damaged or truncated ({exc})") from None
        if dtype.hasobject:
            # Reading it would need pickle, which can run any code: never.
            raise self.error(
                f"array {key!r} holds Python objects (pickled data); dlzero model files hold "
                "numbers only and are never unpickled"
            )
        problem = check(shape, dtype)
        if problem:
            raise self.error(f"array {key!r}: {problem}")
        try:
            with self._open(key) as f:
                array = np.lib.format.read_array(f, allow_pickle=False)
        except (ValueError, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise self.error(f"array {key!r} is damaged or truncated ({exc})") from None
        if array.shape != shape or array.dtype != dtype:  # pragma: no cover - numpy's own check
            raise self.error(f"array {key!r} does not match its header")
        return array

    def header(self) -> dict[str, Any]:
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


def _check_header(header: Any, error: Callable[[str], ModelFileError]) -> dict[str, Any]:
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
    classes = dict(NETWORK_CLASSES)
    if not isinstance(header.get("class"), str) or header["class"] not in classes:
        raise error(
            f"unknown network class {header.get('class')!r}; expected one of {', '.join(classes)}"
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


def load_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of the model file ``path``, checked, without building the network.

    Returns
    -------
    dict
        ``class`` (e.g. ``"TwoLayerNet"``), ``config``, ``params`` and ``state`` (the stored
        keys), ``metadata``, ``version`` and ``dlzero_version``.

    Raises
    ------
    ModelFileError
        ``path`` is not a dlzero model file, or is damaged.
    OSError
        ``path`` cannot be opened.
    """
    archive = _Archive(path)
    try:
        return archive.header()
    finally:
        archive.close()


def _shape_check(
    expected: np.ndarray, what: str
) -> Callable[[tuple[int, ...], np.dtype], str | None]:
    def check(shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        if shape != expected.shape or dtype != expected.dtype:
            return (
                f"{shape} {dtype} in the file, but {what} needs {expected.shape} {expected.dtype}"
            )
        return None

    return check


def load(path: str | os.PathLike[str]) -> Sequential:
    """Load a network saved by :func:`save`; it predicts exactly as the saved one did.

    Parameters
    ----------
    path : str or PathLike
        A ``.npz`` model file.

    Returns
    -------
    Sequential
        A new network of the saved class (``TwoLayerNet``, ...), its parameters and layer state
        (e.g. batch normalization's running statistics) equal to the saved ones, bit for bit.

    Raises
    ------
    ModelFileError
        ``path`` is not a dlzero model, is truncated or damaged, holds pickled objects, names
        an architecture dlzero does not build, or holds arrays that do not fit it. Nothing in
        the file is executed, whatever it contains.
    OSError
        ``path`` cannot be opened (missing, a folder, no permission).
    """
    archive = _Archive(path)
    try:
        header = archive.header()
        cls = NETWORK_CLASSES[header["class"]]
        config = header["config"]
        try:
            # The initial weights are overwritten below; a fixed seed keeps loading
            # deterministic. (A config holding "rng" is a TypeError here: refused.)
            network = cls(**config, rng=0)
        except (TypeError, ValueError, OverflowError, MemoryError) as exc:
            raise archive.error(
                f"cannot rebuild {header['class']} from the stored config {config}: {exc}"
            ) from None
        what = f"{header['class']}({_format_config(config)})"
        expected = {_PARAM_PREFIX + k: v for k, v in network.params.items()}
        expected.update({_STATE_PREFIX + k: v for k, v in _state_arrays(network).items()})
        stored = {_PARAM_PREFIX + k for k in header["params"]}
        stored |= {_STATE_PREFIX + k for k in header["state"]}
        present = set(archive.keys) - {_HEADER_KEY}
        if stored != set(expected) or present != set(expected):
            missing = sorted(set(expected) - (stored & present))
            extra = sorted((stored | present) - set(expected))
            raise archive.error(
                f"the arrays do not fit {what}: "
                + "; ".join(
                    part
                    for part in (
                        f"missing {', '.join(missing)}" if missing else "",
                        f"unexpected {', '.join(extra)}" if extra else "",
                    )
                    if part
                )
            )
        for key, target in expected.items():
            target[...] = archive.read(key, _shape_check(target, what))
    finally:
        archive.close()
    return network


def _format_config(config: Mapping[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:g}" if isinstance(v, float) and math.isfinite(v) else repr(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in config.items())
