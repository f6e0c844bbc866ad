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

import os
from collections.abc import Mapping
from typing import Any

from dlzero.convnets import DeepConvNet, SimpleConvNet
from dlzero.files.model_file import (
    FORMAT,
    FORMAT_VERSION,
    ModelArchive,
    ModelFileError,
    read_header,
)
from dlzero.files.model_file import (
    write as write_model_file,
)
from dlzero.networks import MultiLayerNet, TwoLayerNet
from dlzero.sequential import Sequential

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "NETWORK_CLASSES",
    "ModelFileError",
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
        config = header["config"]
        try:
            # The initial weights are overwritten below; a fixed seed keeps loading
            # deterministic. (A config holding "rng" is a TypeError here: refused.)
            network = NETWORK_CLASSES[header["class"]](**config, rng=0)
        except (TypeError, ValueError, OverflowError, MemoryError) as exc:
            raise archive.error(
                f"cannot rebuild {header['class']} from the stored config {config}: {exc}"
            ) from None
        archive.read_into(header, network.params, network.state)
    return network
