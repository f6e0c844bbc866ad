"""Parameter files: the book's ``save_params`` and ``load_params``, for any dlzero network.

``save_params(network, path)`` writes a network's parameters (and batch-norm statistics) as a
plain NumPy ``.npz`` archive, whatever the file name; ``load_params(network, path)`` reads that
back, or a pickle saved by the book's code, through the restricted unpickler of
:mod:`dlzero.book.unpickler` (nothing in the file is run).

The book's ``Dropout`` keeps units as they are in training and multiplies by ``1 - ratio`` at
inference; dlzero's divides by ``1 - ratio`` in training and does nothing at inference. Weights
trained by the book's code therefore expect that factor at inference, and
:func:`fold_test_time_dropout` moves it into the weights of the next layer, so that the
network predicts exactly as the book's did.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._io import atomic_write
from dlzero.book.layers import BookDropout
from dlzero.book.unpickler import ParamFileError, read_array_pickle
from dlzero.files.npy_archive import NpyArchive
from dlzero.layers import Affine, Convolution, Dropout, Layer, Pooling, Relu

__all__ = [
    "MAX_PARAMS_BYTES",
    "ParamFileError",
    "check_params",
    "fold_test_time_dropout",
    "load_params",
    "plan_dropout_fold",
    "read_params",
    "read_params_file",
    "save_params",
    "write_params",
]


#: What the arrays of a parameter file may hold in all, in bytes, when no network says what
#: it expects (:func:`read_params`): 1 GiB, hundreds of times the book's largest file.
MAX_PARAMS_BYTES = 1 << 30

#: Checks the shapes a file holds, by name, before its arrays are read (raises ParamFileError).
ShapeCheck = Callable[[Mapping[str, tuple[int, ...]]], None]


def read_params_file(
    path: str | os.PathLike[str],
    fits: ShapeCheck | None = None,
    *,
    max_bytes: int = MAX_PARAMS_BYTES,
) -> tuple[dict[str, NDArray], str]:
    """Read a parameter file: ``(arrays by name, "pickle" or "npz")``.

    A pickle (the book's ``save_params``) goes through the restricted unpickler, which may
    make no more than a few times the file's size in objects; an ``.npz`` archive (dlzero's
    ``save_params``) is read member by member (:class:`~dlzero.files.npy_archive.NpyArchive`):
    only ``.npy`` members, stored or deflated, whose headers are read first.

    Parameters
    ----------
    path : str or PathLike
    fits : callable, optional
        ``fits(shapes)``, given each array's shape by name, raises ParamFileError if they do not
        fit what the caller expects (:func:`load_params`: the network's); for an ``.npz``,
        before any array is read.
    max_bytes : int, default MAX_PARAMS_BYTES
        Refuse an ``.npz`` whose arrays would take more bytes than this, before reading them.

    Raises
    ------
    ParamFileError
        If the file is neither, holds anything but a dict of real numeric arrays, holds NaN
        or infinite numbers, would cost more memory than its size allows, or does not fit
        (a pickle that names any other global, e.g. a function to call, is refused before it
        runs). Every zip-level error and ``MemoryError`` is reported this way.
    OSError
        If the file cannot be read.
    """
    name = os.fspath(path)
    with open(name, "rb") as f:
        magic = f.read(2)
    if magic == b"PK":  # a zip archive: an .npz
        arrays, kind = _read_npz(name, fits, max_bytes), "npz"
    elif magic[:1] == b"\x80":  # a pickle's PROTO opcode (protocol 2 and later)
        with open(name, "rb") as f:
            data = f.read()
        arrays, kind = read_array_pickle(data, name), "pickle"
        _check_dtypes({k: a.dtype for k, a in arrays.items()}, name)
        if fits:
            fits({k: a.shape for k, a in arrays.items()})
    else:
        raise ParamFileError(
            f"{name}: not a parameter file (expected the book's pickle or dlzero's .npz)"
        )
    _check_finite(arrays, name)
    return arrays, kind


def _read_npz(name: str, fits: ShapeCheck | None, max_bytes: int) -> dict[str, NDArray]:
    """The arrays of an ``.npz``, each header checked (and ``fits``) before any data is read."""
    with NpyArchive(
        name, ParamFileError, "parameter files", "not a parameter file (an archive of other files)"
    ) as archive:
        headers = {key: archive.npy_header(key) for key in archive.keys}
        _check_dtypes({key: dtype for key, (_, dtype) in headers.items()}, name)
        total = archive.stored_bytes()
        if total > max_bytes:
            raise ParamFileError(
                f"{name}: its arrays would take {total:,} bytes, more than the {max_bytes:,} "
                "a parameter file may hold"
            )
        if fits:
            fits({key: shape for key, (shape, _) in headers.items()})
        return {key: archive.read(key) for key in archive.keys}


def _check_dtypes(dtypes: Mapping[str, np.dtype], where: str) -> None:
    """Refuse complex arrays and anything but numbers, by name."""
    for key, dtype in dtypes.items():
        if dtype.kind == "c":
            raise ParamFileError(
                f"{where}: parameter {key!r} is complex ({dtype}); a network's weights are "
                "real numbers (the imaginary part would be dropped)"
            )
        if dtype.kind not in "biuf":
            raise ParamFileError(
                f"{where}: parameter {key!r} has dtype {dtype}, expected a NumPy array of numbers"
            )


def _check_finite(arrays: Mapping[str, NDArray], where: str) -> None:
    """Refuse NaN and infinite numbers, naming the array: every prediction would be NaN."""
    for key, a in arrays.items():
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            nan = int(np.count_nonzero(np.isnan(a)))
            inf = int(np.count_nonzero(np.isinf(a)))
            raise ParamFileError(
                f"{where}: parameter {key!r} holds {nan:,} NaN and {inf:,} infinite values; a "
                "network's weights must be finite numbers (was it saved after its training "
                "diverged?)"
            )


def read_params(path: str | os.PathLike[str]) -> dict[str, NDArray]:
    """The dict of arrays in a parameter file: the book's ``.pkl`` or dlzero's ``.npz``.

    For the book's ``ch03/sample_weight.pkl``, which its chapter-3 script unpickles itself:
    ``network = read_params("sample_weight.pkl")`` gives the same dict, safely.
    """
    return read_params_file(path)[0]


def write_params(path: str | os.PathLike[str], arrays: Mapping[str, NDArray]) -> None:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz`` archive, atomically.

    The name is kept as given (``np.savez`` would append ``.npz``), so the book's
    ``save_params("params.pkl")`` writes ``params.pkl``, an archive that ``load_params`` reads.
    """
    with atomic_write(path, "wb") as f:
        np.savez(f, **{key: np.asarray(a) for key, a in arrays.items()})


def check_params(expected: Mapping[str, NDArray], given: Mapping[str, NDArray], where: str) -> None:
    """Raise ParamFileError unless ``given`` has exactly ``expected``'s keys and shapes."""
    _check_shapes(
        {k: np.shape(v) for k, v in expected.items()},
        {k: np.shape(v) for k, v in given.items()},
        where,
    )


def _check_shapes(
    expected: Mapping[str, tuple[int, ...]], given: Mapping[str, tuple[int, ...]], where: str
) -> None:
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    if missing or unexpected:
        raise ParamFileError(
            f"{where}: the file's parameters do not fit the network: "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and unexpected else "")
            + (f"not in the network {unexpected}" if unexpected else "")
        )
    for key, shape in expected.items():
        if tuple(given[key]) != tuple(shape):
            raise ParamFileError(
                f"{where}: parameter {key!r} has shape {tuple(given[key])} in the file, "
                f"the network's has {tuple(shape)} (built with other sizes?)"
            )


def _fits(network: Any, where: str) -> ShapeCheck:
    """The check :func:`load_params` makes of a file's shapes: exactly the network's
    parameters (names without a dot), and state arrays (names with one) it has."""
    state = getattr(network, "state", {})

    def fits(shapes: Mapping[str, tuple[int, ...]]) -> None:
        params = {k: s for k, s in shapes.items() if "." not in k}
        state_given = {k: s for k, s in shapes.items() if "." in k}
        _check_shapes({k: np.shape(v) for k, v in network.params.items()}, params, where)
        unknown = [k for k in state_given if k not in state]
        if unknown:
            raise ParamFileError(f"{where}: state {unknown} not in the network")
        _check_shapes({k: np.shape(state[k]) for k in state_given}, state_given, where)

    return fits


# Layers through which a positive factor passes unchanged: f(s * x) = s * f(x) for s > 0.
_HOMOGENEOUS = (Relu, Pooling, Dropout)


def plan_dropout_fold(layers: Iterable[Layer]) -> list[tuple[Layer, float, bool]]:
    """Where :func:`fold_test_time_dropout` would put each factor: ``(layer, factor, bias)``.

    Nothing is changed; a network whose factors cannot be folded raises here, before any
    parameter is touched. ``bias`` says whether the layer's ``b`` is scaled too.
    """
    plan: list[tuple[Layer, float, bool]] = []
    pending = 1.0
    last: Layer | None = None  # the last Affine or Convolution seen
    homogeneous_since_last = True
    for layer in layers:
        if isinstance(layer, BookDropout):
            continue  # it applies the factor itself
        if isinstance(layer, Dropout):
            pending *= 1.0 - layer.dropout_ratio
        elif isinstance(layer, (Affine, Convolution)):
            if pending != 1.0:
                plan.append((layer, pending, False))
                pending = 1.0
            last, homogeneous_since_last = layer, True
        elif not isinstance(layer, _HOMOGENEOUS):
            if pending != 1.0:
                raise ValueError(
                    f"cannot fold the book's dropout factor through {type(layer).__name__}: "
                    "load these weights into a network whose dropout layers are followed by "
                    "ReLU, pooling or an affine layer"
                )
            homogeneous_since_last = False
    if pending != 1.0:
        if last is None or not homogeneous_since_last:
            raise ValueError(
                "cannot fold the book's dropout factor at the end of the network: no affine "
                "or convolution layer before it with only ReLU and pooling in between"
            )
        plan.append((last, pending, True))
    return plan


def fold_test_time_dropout(layers: Iterable[Layer]) -> None:
    """Fold the book's inference-time dropout factor into the weights, in place.

    Each ``Dropout`` of ratio ``r`` multiplied its input by ``1 - r`` at inference in the book.
    That factor passes unchanged through ReLU and pooling, so it is moved into the ``W`` of the
    next ``Affine`` or ``Convolution``; a factor left at the end (the book's DeepConvNet
    drops out its scores) goes into the ``W`` and ``b`` of the last such layer. With dlzero's
    inverted dropout, which does nothing at inference, the network then computes exactly the
    book's function. The ratios are those of the network's own ``Dropout`` layers.

    Raises
    ------
    ValueError
        If a factor would have to pass through a layer that does not let it (a sigmoid, batch
        normalization), where folding cannot be exact; nothing is changed then.
    """
    for layer, factor, bias in plan_dropout_fold(layers):
        layer.W *= layer.W.dtype.type(factor)
        if bias:
            layer.b *= layer.b.dtype.type(factor)


def save_params(network: Any, file_name: str | os.PathLike[str] = "params.pkl") -> None:
    """Write ``network``'s parameters (and batch-norm statistics) to ``file_name``, atomically.

    The book's ``network.save_params``, as a function, with its default name. The file is a
    NumPy ``.npz`` archive whatever the name (dlzero writes no pickle); :func:`load_params`
    reads it back into a network built with the same arguments. :func:`dlzero.save` also
    records the architecture.

    Parameters
    ----------
    network : Sequential, or any object with a ``params`` dict of arrays
    file_name : str or PathLike, default "params.pkl"
    """
    write_params(file_name, {**network.params, **getattr(network, "state", {})})


def load_params(
    network: Any,
    file_name: str | os.PathLike[str] = "params.pkl",
    *,
    book_dropout: bool | None = None,
) -> None:
    """Read parameters saved by :func:`save_params`, or by the book's code, into ``network``.

    The file must hold exactly the network's parameter names and shapes (the book's
    ``W1 .. W8`` of ``DeepConvNet``, say, into ``DeepConvNet()``), plus, optionally, its
    state arrays. The book's ``.pkl`` files are read by a restricted unpickler that builds only
    a dict of numeric arrays. The network takes the dtype of the file's arrays (float64 for the
    book's ``params.pkl``), so it predicts as the code that saved them did.

    Parameters
    ----------
    network : Sequential, or any object with a ``params`` dict of arrays
    file_name : str or PathLike, default "params.pkl"
    book_dropout : bool, optional
        Whether the weights were trained with the book's ``Dropout``, which scales by
        ``1 - ratio`` at inference; that factor is then folded into the next layer's weights
        (:func:`fold_test_time_dropout`), using the network's dropout ratios. By default, True
        for a pickle (the book's) and False for an ``.npz`` (dlzero's).

    Raises
    ------
    ParamFileError
        The file is not a parameter file, would need anything but arrays to load, or does not
        fit the network; the network is left unchanged.
    """
    where = os.fspath(file_name)
    # The file's shapes are compared with the network's before an .npz's arrays are read.
    arrays, kind = read_params_file(file_name, _fits(network, where))
    given = {k: v for k, v in arrays.items() if "." not in k}
    state_given = {k: v for k, v in arrays.items() if "." in k}
    state = getattr(network, "state", {})
    layers = list(getattr(network, "layers", {}).values())
    fold = book_dropout if book_dropout is not None else kind == "pickle"
    if fold:
        plan_dropout_fold(layers)  # raises before anything changes
    dtypes = {a.dtype.newbyteorder("=") for a in given.values()}
    if len(dtypes) == 1 and (dtype := dtypes.pop()).kind == "f" and layers:
        if dtype != network.dtype:
            for layer in layers:
                layer.cast(dtype)
            network.collect_params()  # the layers hold new arrays: params must name them
            state = network.state
    for key, value in given.items():
        network.params[key] = value
    for key, value in state_given.items():
        state[key][...] = value
    if fold:
        fold_test_time_dropout(layers)
