"""What the page shows of one drawing: the prediction, the hidden layers, and the saliency map.

:func:`look_inside` runs the network's layers forward on one 28x28 image, keeping what each
activation layer puts out, then runs the layers' own ``backward`` in reverse from the top
class's score: chapter 5's backpropagation, carried one step further than training does, down
to the input pixels. The result, dscore/dpixel, is the saliency map: where more ink would raise
the score of the predicted digit (positive) or lower it (negative).

Threads
-------
Every layer keeps what its ``backward`` needs in attributes set by ``forward`` (``Affine.x``,
``Relu.mask``, ...), so two requests running the same layers at once would overwrite each
other's state between forward and backward. :func:`look_inside` therefore runs a shallow copy
of each layer: the copy has its own attributes for that state but the *same* weight arrays
(nothing is trained here, so they are only read). Copying a layer costs a microsecond and no
weights, and needs no lock, so requests run in parallel (NumPy releases the GIL in its matrix
products). A lock around one shared network would be as correct but would serve one drawing
at a time.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero.functions import softmax
from dlzero.layers import Layer, Relu, Sigmoid, Tanh
from dlzero.networks import Sequential
from dlzero.studies.evaluation import input_shape

__all__ = [
    "ServedModel",
    "check_digit_model",
    "describe_hidden",
    "describe_network",
    "look_inside",
]

_ACTIVATIONS = (Relu, Sigmoid, Tanh)


def check_digit_model(network: Sequential) -> tuple[int, ...]:
    """The network's input shape, if it reads 28x28 images and has ten classes.

    Raises
    ------
    ValueError
        It takes inputs of another size, or has another number of classes.
    """
    shape = input_shape(network)
    if int(np.prod(shape)) != 28 * 28:
        raise ValueError(f"the model takes inputs of shape {shape}, not 28x28 images")
    classes = int(network.config.get("output_size", 10))
    if classes != 10:
        raise ValueError(f"the model has {classes} classes; the page draws digits 0-9")
    return shape


def _forward(
    network: Sequential, x: NDArray
) -> tuple[list[Layer], NDArray, list[tuple[str, str, NDArray]]]:
    """Run shallow copies of the layers forward (inference mode) on ``x``.

    Returns the copies (ready for ``backward``), the scores, and the activations the page
    shows: ``(name, kind, output)`` for every fully connected activation layer (``"units"``,
    output (N, M)) and the first convolutional one (``"maps"``, output (N, FN, H, W), the
    feature maps); deeper convolutional layers are left out (many maps, each too small to
    read).
    """
    # Shallow copies: private per-call state, shared (read-only) weights; see the module notes.
    layers = [copy.copy(layer) for layer in network.layers.values()]
    shown: list[tuple[str, str, NDArray]] = []
    maps = False
    for name, layer in zip(network.layers, layers, strict=True):
        x = layer.forward(x, False) if layer.takes_train_flag else layer.forward(x)
        if isinstance(layer, _ACTIVATIONS):
            if x.ndim == 2:
                shown.append((name, "units", x))
            elif not maps:
                shown.append((name, "maps", x))
                maps = True
    return layers, x, shown


def look_inside(network: Sequential, image: NDArray) -> dict[str, Any]:
    """Predict one image and show how: probabilities, hidden activations, saliency.

    Parameters
    ----------
    network : Sequential
        A network of 28x28 images (flattened or (1, 28, 28)) and ten classes; only read.
    image : ndarray, shape (28, 28)
        The digit as the network receives it: white (1) on black (0).

    Returns
    -------
    dict
        ``prediction`` (int), ``probabilities`` (10 floats), ``scores`` (the 10 scores
        before the softmax), ``hidden`` (per layer shown: ``name``, ``kind`` ``"units"`` or
        ``"maps"``, ``shape`` and ``values``, nested lists) and ``saliency`` (28x28 floats:
        d score of the predicted class / d pixel). Plain Python values, ready for JSON.
    """
    x = np.asarray(image, dtype=network.dtype).reshape(1, *input_shape(network))
    layers, x, shown = _forward(network, x)
    hidden = [
        {
            "name": name,
            "kind": kind,
            "shape": list(out.shape[1:]),
            "values": np.round(out[0].astype(np.float64), 4).tolist(),
        }
        for name, kind, out in shown
    ]
    scores = np.asarray(x[0], dtype=np.float64)
    probabilities = softmax(scores)
    top = int(np.argmax(scores))

    # Backward from the top class's score (not the loss): dout is 1 for that score, 0 else.
    dout = np.zeros_like(x)
    dout[0, top] = 1
    for layer in reversed(layers):
        dout = layer.backward(dout)
    saliency = np.asarray(dout, dtype=np.float64).reshape(28, 28)
    return {
        "prediction": top,
        "probabilities": probabilities.tolist(),
        "scores": scores.tolist(),
        "hidden": hidden,
        "saliency": saliency.tolist(),
    }


def describe_hidden(network: Sequential, x: NDArray) -> list[dict[str, Any]]:
    """The hidden layers the page shows, and which of their units are dead.

    Parameters
    ----------
    x : ndarray, shape (N, 784)
        Reference images (a few hundred test images are plenty).

    Returns
    -------
    list of dict
        Per layer shown by :func:`look_inside`: ``name``, ``kind`` (``"units"`` or ``"maps"``),
        ``shape`` and ``dead``: for a fully connected ReLU layer, the indices of the units
        that output 0 for every reference image (dead ReLUs: no gradient reaches their
        weights, so they never learn again); otherwise empty.
    """
    x = np.asarray(x).reshape(len(x), *input_shape(network)).astype(network.dtype)
    fired: list[NDArray] = []
    for start in range(0, len(x), 100):  # in chunks: a CNN's im2col matrices grow with N
        _, _, shown = _forward(network, x[start : start + 100])
        now = [np.any(out > 0, axis=0) for _, _, out in shown]
        fired = now if not fired else [a | b for a, b in zip(fired, now, strict=True)]
    return [
        {
            "name": name,
            "kind": kind,
            "shape": list(out.shape[1:]),
            "dead": (
                np.flatnonzero(~alive).tolist()
                if kind == "units" and isinstance(network.layers[name], Relu)
                else []
            ),
        }
        for (name, kind, out), alive in zip(shown, fired, strict=True)
    ]


class ServedModel:
    """A network the page draws on, with what ``GET /api/model`` says of it.

    Replaced as a whole when a run from the page ends (one attribute assignment, atomic in
    Python): a request in flight finishes on the network it started with.
    """

    def __init__(
        self,
        network: Sequential,
        source: str,
        reference: NDArray,
        test_accuracy: float | None = None,
    ) -> None:
        check_digit_model(network)
        self.network = network
        self.info: dict[str, Any] = {
            "class": type(network).__name__,
            "description": describe_network(network),
            "source": source,
            "config": network.config,
            "parameters": int(sum(p.size for p in network.params.values())),
            "test_accuracy": test_accuracy,
            "hidden": describe_hidden(network, reference),
            "reference_images": len(reference),
        }


def describe_network(network: Sequential) -> str:
    """``784-50-10 relu`` for a fully connected network; ``conv 30x5x5, 100 hidden`` for
    ``SimpleConvNet``; ``6 conv layers, 50 hidden`` for ``DeepConvNet``."""
    config = network.config
    if "input_size" in config:  # TwoLayerNet, MultiLayerNet
        hidden = config.get("hidden_size_list") or [config["hidden_size"]]
        sizes = [config["input_size"], *hidden, config["output_size"]]
        return f"{'-'.join(str(n) for n in sizes)} {config.get('activation', 'relu')}"
    convs = [v for k, v in sorted(config.items()) if k.startswith("conv_param")]
    if len(convs) == 1:
        c = convs[0]
        first = f"conv {c['filter_num']}x{c['filter_size']}x{c['filter_size']}"
    else:
        first = f"{len(convs)} conv layers"
    return f"{first}, {config.get('hidden_size')} hidden"
