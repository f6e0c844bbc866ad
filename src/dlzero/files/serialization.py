"""Save a trained network and load it back: parameters and architecture in one ``.npz`` file.

The file format is :mod:`dlzero.files.model_file`'s: a NumPy ``.npz`` archive with a JSON header,
written atomically and never unpickled. Loading rebuilds the architecture as ``cls(**config)``,
where ``cls`` is looked up by name in :data:`NETWORK_CLASSES` (a fixed dict: a file can never
choose which code runs), and then copies the stored arrays in, each checked against the rebuilt
network before it is read. Anything that is not exactly the model the header describes is
refused with a :class:`ModelFileError`.

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

import inspect
import itertools
import os
from collections.abc import Mapping
from typing import Any

from dlzero._checks import check_positive_int
from dlzero.convnets import (
    _DEEP_CONV_PARAMS,
    _SIMPLE_CONV_PARAM,
    DeepConvNet,
    SimpleConvNet,
    _conv_param,
    _input_dim,
    _stage,
)
from dlzero.files.model_file import (
    FORMAT,
    FORMAT_VERSION,
    ModelArchive,
    ModelFileError,
    read_header,
)
from dlzero.files.model_file import write as write_model_file
from dlzero.networks import MultiLayerNet, TwoLayerNet
from dlzero.sequential import Sequential

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "NETWORK_CLASSES",
    "ModelFileError",
    "expected_shapes",
    "load",
    "load_info",
    "save",
]

#: Name -> class of every network a model file may contain. Loading looks the header's class
#: name up here and nowhere else.
NETWORK_CLASSES: dict[str, type[Sequential]] = {
    "TwoLayerNet": TwoLayerNet,
    "MultiLayerNet": MultiLayerNet,
    "SimpleConvNet": SimpleConvNet,
    "DeepConvNet": DeepConvNet,
}


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
    name = type(network).__name__
    if NETWORK_CLASSES.get(name) is not type(network):  # e.g. a subclass, or a namesake
        raise ValueError(
            f"save: cannot save a {name}: only the networks dlzero builds can be rebuilt from a "
            f"file ({', '.join(NETWORK_CLASSES)})"
        )
    write_model_file(path, name, network.config, network.params, network.state, metadata)


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
    return read_header(path)


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
    with ModelArchive(path) as archive:
        header = archive.header()  # checked: its class is one of NETWORK_CLASSES
        name, config = header["class"], header["config"]

        def cannot_rebuild(exc: Exception) -> ModelFileError:
            return archive.error(f"cannot rebuild {name} from the stored config {config}: {exc}")

        # What the config will cost is decided before anything is built: its shapes must be
        # those the archive's .npy headers declare, and those are bounded by the file's size
        # (ModelArchive.check_arrays). A small file cannot make the constructor allocate more.
        try:
            params, state = expected_shapes(name, config)
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise cannot_rebuild(exc) from None
        archive.check_arrays(header, params, state)
        try:
            # The initial weights are overwritten below; a fixed seed keeps loading
            # deterministic. (A config holding "rng" is a TypeError here: refused.)
            network = NETWORK_CLASSES[name](**config, rng=0)
        except (TypeError, ValueError, OverflowError, MemoryError) as exc:
            raise cannot_rebuild(exc) from None
        archive.read_into(header, network.params, network.state)
    return network


Shapes = dict[str, tuple[int, ...]]


def expected_shapes(class_name: str, config: Mapping[str, Any]) -> tuple[Shapes, Shapes]:
    """The shapes of the parameters and state that ``cls(**config)`` would build, unbuilt.

    The arithmetic of each constructor, with its own checks and defaults, but no arrays: a
    config that names a huge network costs nothing here, so :func:`load` can compare it with
    what the file holds before allocating anything. ``tests/test_serialization.py`` checks it
    against the networks themselves.

    Parameters
    ----------
    class_name : str
        One of :data:`NETWORK_CLASSES`.
    config : mapping
        Its constructor arguments, as a model file's header stores them.

    Returns
    -------
    params, state : dict of str to tuple of int
        ``network.params``' and ``network.state``'s keys and shapes.

    Raises
    ------
    ValueError, TypeError, KeyError
        The config would not build the network (a size that is not a positive integer, a
        required argument missing, a convolution larger than its input, ...).
    """
    cls = NETWORK_CLASSES[class_name]
    defaults = inspect.signature(cls).parameters

    def arg(key: str) -> Any:
        if key in config:
            return config[key]
        default = defaults[key].default
        if default is inspect.Parameter.empty:
            raise KeyError(f"missing argument {key!r}")
        return default

    params: Shapes = {}
    state: Shapes = {}
    if class_name in ("TwoLayerNet", "MultiLayerNet"):
        if class_name == "TwoLayerNet":
            hidden = [check_positive_int("hidden_size", arg("hidden_size"))]
            batchnorm = False
        else:
            given = arg("hidden_size_list")
            if not isinstance(given, list) or not given:
                raise ValueError(f"hidden_size_list must be a non-empty list, got {given!r}")
            hidden = [check_positive_int("hidden_size_list", h) for h in given]
            batchnorm = bool(arg("use_batchnorm"))
        sizes = [check_positive_int("input_size", arg("input_size")), *hidden]
        sizes.append(check_positive_int("output_size", arg("output_size")))
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
            params[f"W{i}"], params[f"b{i}"] = (n_in, n_out), (n_out,)
            if batchnorm and i < len(sizes) - 1:
                params[f"gamma{i}"] = params[f"beta{i}"] = (n_out,)
                state[f"BatchNorm{i}.running_mean"] = (n_out,)
                state[f"BatchNorm{i}.running_var"] = (n_out,)
        return params, state

    c, h, w = _input_dim(arg("input_dim"))
    hidden_size = check_positive_int("hidden_size", arg("hidden_size"))
    output_size = check_positive_int("output_size", arg("output_size"))
    if class_name == "SimpleConvNet":
        cp = _conv_param(arg("conv_param"), _SIMPLE_CONV_PARAM)
        size = _stage("the convolution", (h, w), cp["filter_size"], cp["stride"], cp["pad"])
        size = _stage("the 2x2 pooling", size, 2, 2, 0)
        convs = [cp]
    else:  # DeepConvNet: a 2x2 pooling after every second convolution
        convs = [_conv_param(arg(f"conv_param_{i}"), d) for i, d in enumerate(_DEEP_CONV_PARAMS, 1)]
        size = (h, w)
        for i, cp in enumerate(convs, start=1):
            size = _stage(f"Conv{i}", size, cp["filter_size"], cp["stride"], cp["pad"])
            if i % 2 == 0:
                size = _stage(f"Pool{i // 2}", size, 2, 2, 0)
    channels = c
    for i, cp in enumerate(convs, start=1):
        fn, fs = cp["filter_num"], cp["filter_size"]
        params[f"W{i}"], params[f"b{i}"] = (fn, channels, fs, fs), (fn,)
        channels = fn
    n = len(convs)
    flat = channels * size[0] * size[1]
    params[f"W{n + 1}"], params[f"b{n + 1}"] = (flat, hidden_size), (hidden_size,)
    params[f"W{n + 2}"], params[f"b{n + 2}"] = (hidden_size, output_size), (output_size,)
    return params, state
