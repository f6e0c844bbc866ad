"""Export a network to ONNX, for inference anywhere ONNX runs (onnxruntime, browsers, phones).

``export(network, "model.onnx")`` walks ``network.layers`` in order, as ``predict`` does, and
writes one standard ONNX node (or none) per layer::

    Affine              -> Gemm (after a Flatten when its input is a 4-D image batch)
    Convolution         -> Conv
    Pooling             -> MaxPool, or AveragePool for mode="avg"
    BatchNormalization  -> BatchNormalization, with the running mean and variance
    Relu, Sigmoid, Tanh -> Relu, Sigmoid, Tanh
    Dropout             -> nothing: dlzero's dropout is inverted, the identity at inference
    SoftmaxWithLoss     -> Softmax: the graph outputs probabilities, not scores

The graph is the network in inference mode (``predict(x, train_flg=False)`` followed by
``softmax``), with one input and one output:

``images``
    float32, shape (N, 784) for the fully connected networks, (N, C, H, W) such as
    (N, 1, 28, 28) for the convolutional ones; ``N`` (the batch size) is left free.
``probabilities``
    float32, shape (N, classes): the softmax of the scores, each row summing to 1.

The weights are stored in float32 whatever the network's dtype (float64 weights are rounded),
since float32 is what ONNX runtimes expect and run fastest. The opset (:data:`OPSET`) and IR
version (:data:`IR_VERSION`) are fixed, so the files run on onnxruntime 1.17 and later.

The ``onnx`` package is needed here only, and imported only when a model is exported:
``pip install 'dlzero[onnx]'``. ``docs/onnx.md`` shows the file used from onnxruntime.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._io import atomic_write
from dlzero._version import __version__
from dlzero.layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)

__all__ = ["INPUT_NAME", "IR_VERSION", "OPSET", "OUTPUT_NAME", "build_onnx_model", "export"]

#: The ONNX operator set the graph uses: opset 17 has every operator needed here in its
#: current form (Softmax on one axis, BatchNormalization with ``training_mode``).
OPSET = 17
#: The ONNX file-format version matching opset 17 (what onnx 1.12 to 1.14 wrote); newer
#: runtimes read older files, so it is fixed rather than taken from the installed onnx.
IR_VERSION = 8
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"

_MISSING_ONNX = "ONNX export needs the onnx package: pip install 'dlzero[onnx]'"


@dataclass
class _Graph:
    """The graph as it is built, in plain Python: ``build_onnx_model`` turns it into ONNX.

    ``tensor`` is the name of the tensor the next node reads (the input, then each node's
    output) and ``rank`` its number of dimensions: 2 for (N, D), 4 for (N, C, H, W).
    """

    tensor: str
    rank: int
    # (operator, node name = output name, input names, attributes), in order
    nodes: list[tuple[str, str, list[str], dict[str, Any]]] = field(default_factory=list)
    weights: dict[str, NDArray] = field(default_factory=dict)

    def add(
        self, op: str, name: str, weights: dict[str, NDArray] | None = None, **attributes: Any
    ) -> None:
        """Append node ``name`` reading the current tensor, then ``weights`` in their order."""
        inputs = [self.tensor]
        for key, array in (weights or {}).items():
            self.weights[f"{name}.{key}"] = np.asarray(array, dtype=np.float32)
            inputs.append(f"{name}.{key}")
        self.nodes.append((op, name, inputs, attributes))
        self.tensor = name


# -- one function per layer type ---------------------------------------------------------------


def _affine(graph: _Graph, name: str, layer: Affine) -> None:
    if graph.rank != 2:
        # dlzero's Affine reshapes (N, C, H, W) to (N, C*H*W) in C order, as Flatten(axis=1).
        graph.add("Flatten", f"{name}.flatten", axis=1)
        graph.rank = 2
    # Gemm computes A @ B + C, with B of shape (D, M): dlzero's W as it is.
    graph.add("Gemm", name, {"W": layer.W, "b": layer.b})


def _convolution(graph: _Graph, name: str, layer: Convolution) -> None:
    # ONNX filters are (FN, C, FH, FW), as dlzero's; pads are [top, left, bottom, right].
    graph.add(
        "Conv",
        name,
        {"W": layer.W, "b": layer.b},
        kernel_shape=list(layer.W.shape[2:]),
        strides=[layer.stride, layer.stride],
        pads=[layer.pad] * 4,
    )


def _pooling(graph: _Graph, name: str, layer: Pooling) -> None:
    window = {
        "kernel_shape": [layer.pool_h, layer.pool_w],
        "strides": [layer.stride, layer.stride],
        "pads": [layer.pad] * 4,
    }
    if layer.mode == "max":
        # ONNX's MaxPool never picks padding, as dlzero's -inf padding never wins.
        graph.add("MaxPool", name, **window)
    else:
        # dlzero divides by the whole window, padding included.
        graph.add("AveragePool", name, count_include_pad=1, **window)


def _batch_normalization(graph: _Graph, name: str, layer: BatchNormalization) -> None:
    # Inference form: (x - running_mean) / sqrt(running_var + eps) * gamma + beta, along axis
    # 1: per feature of (N, D) and per channel of (N, C, H, W), which is what dlzero does.
    statistics = {
        "gamma": layer.gamma,
        "beta": layer.beta,
        "running_mean": layer.running_mean,
        "running_var": layer.running_var,
    }
    graph.add("BatchNormalization", name, statistics, epsilon=layer.eps)


# The exact class picks the function: a subclass may compute something else (a leaky ReLU
# derived from Relu, say), so it is refused rather than exported as its parent.
_CONVERTERS = {
    Affine: _affine,
    Convolution: _convolution,
    Pooling: _pooling,
    BatchNormalization: _batch_normalization,
}
_ACTIVATIONS = {Relu: "Relu", Sigmoid: "Sigmoid", Tanh: "Tanh"}
_EXPORTABLE = [*_CONVERTERS, *_ACTIVATIONS, Dropout]


def _check_layers(network: Any) -> None:
    """Raise ValueError naming the first layer that has no ONNX counterpart here."""
    for name, layer in network.layers.items():
        if type(layer) not in _EXPORTABLE:
            known = ", ".join(cls.__name__ for cls in _EXPORTABLE)
            raise ValueError(
                f"export: cannot export layer {name!r} ({type(layer).__name__}); "
                f"the layers that can be exported are {known}"
            )
    if type(network.last_layer) is not SoftmaxWithLoss:
        raise ValueError(
            "export: the last layer must be SoftmaxWithLoss, got "
            f"{type(network.last_layer).__name__}"
        )


def _sample_shape(network: Any, input_shape: tuple[int, ...] | None) -> tuple[int, ...]:
    """The shape of one input sample: given, the config's ``input_dim``, or the first W's rows."""
    if input_shape is not None:
        return tuple(int(v) for v in input_shape)
    config = getattr(network, "config", None) or {}
    if "input_dim" in config:
        return tuple(int(v) for v in config["input_dim"])
    first = next(iter(network.layers.values()))
    if type(first) is Affine:
        return (first.W.shape[0],)
    raise ValueError(
        f"export: cannot tell the input shape of this {type(network).__name__}; pass "
        "input_shape, e.g. (1, 28, 28)"
    )


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError(_MISSING_ONNX) from None
    return onnx


# -- the public functions ----------------------------------------------------------------------


def build_onnx_model(network: Any, *, input_shape: tuple[int, ...] | None = None) -> Any:
    """The ONNX model of ``network`` in inference mode, checked by ``onnx.checker``.

    Parameters
    ----------
    network : Sequential
        Any dlzero network (``TwoLayerNet``, ``MultiLayerNet``, ``SimpleConvNet``,
        ``DeepConvNet``, or a ``Sequential`` of the layers listed in the module's docstring)
        whose last layer is ``SoftmaxWithLoss``.
    input_shape : tuple of int, optional
        The shape of one sample, without the batch: (784,) or (1, 28, 28). By default the
        network's ``config["input_dim"]`` for a convolutional network, else the number of rows
        of the first Affine's ``W``. ``(1, 28, 28)`` for a fully connected network makes a
        graph that takes image batches and flattens them.

    Returns
    -------
    onnx.ModelProto
        Input ``images``, float32 of shape (N, *input_shape); output ``probabilities``,
        float32 of shape (N, classes).

    Raises
    ------
    ImportError
        The ``onnx`` package is not installed (the message says how to install it).
    ValueError
        A layer has no ONNX counterpart here (the message names it), or the network does not
        take inputs of ``input_shape``.
    """
    onnx = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper

    _check_layers(network)
    sample_shape = _sample_shape(network, input_shape)
    # One sample through dlzero itself: a shape that does not fit fails here with the layer's
    # own message, and the number of classes is read from the result.
    try:
        num_classes = network.predict(np.zeros((1, *sample_shape), np.float32)).shape[1]
    except ValueError as exc:
        raise ValueError(
            f"export: the network does not take samples of shape {sample_shape}: {exc}"
        ) from None

    graph = _Graph(tensor=INPUT_NAME, rank=1 + len(sample_shape))
    for name, layer in network.layers.items():
        if type(layer) is Dropout:
            continue  # inverted dropout: the identity at inference
        if type(layer) in _ACTIVATIONS:
            graph.add(_ACTIVATIONS[type(layer)], name)
        else:
            _CONVERTERS[type(layer)](graph, name, layer)
    graph.add("Softmax", OUTPUT_NAME, axis=1)

    layout = "(N, " + ", ".join(map(str, sample_shape)) + ")"
    onnx_graph = helper.make_graph(
        [
            helper.make_node(op, inputs, [name], name=name, **attributes)
            for op, name, inputs, attributes in graph.nodes
        ],
        type(network).__name__,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", *sample_shape])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", num_classes])],
        [numpy_helper.from_array(array, key) for key, array in graph.weights.items()],
        doc_string=f"{type(network).__name__} exported by dlzero {__version__}: input "
        f"{INPUT_NAME!r}, float32 {layout}; output {OUTPUT_NAME!r}, float32 (N, {num_classes}), "
        "the softmax of the scores.",
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="dlzero",
        producer_version=__version__,
    )
    model.ir_version = IR_VERSION
    config = getattr(network, "config", None)
    helper.set_model_props(
        model,
        {
            "dlzero.class": type(network).__name__,
            "dlzero.config": json.dumps(config) if config is not None else "",
            "dlzero.input_layout": layout,
        },
    )
    # full_check also infers every tensor's shape, so a wrong attribute fails here.
    onnx.checker.check_model(model, full_check=True)
    return model


def export(
    network: Any, path: str | os.PathLike[str], *, input_shape: tuple[int, ...] | None = None
) -> Any:
    """Write ``network`` to ``path`` as an ONNX model, atomically, and return the model.

    Parameters
    ----------
    network : Sequential
        Any dlzero network; see :func:`build_onnx_model`.
    path : str or PathLike
        The file to write, exactly as given; ``.onnx`` by convention. A previous file there is
        replaced only once the new one is complete.
    input_shape : tuple of int, optional
        The shape of one sample; see :func:`build_onnx_model`.

    Returns
    -------
    onnx.ModelProto
        The model written.

    Raises
    ------
    ImportError
        The ``onnx`` package is not installed. Nothing is written.
    ValueError
        The network cannot be exported (see :func:`build_onnx_model`). Nothing is written.
    OSError
        The file cannot be written; a previous file at ``path`` is left intact.
    """
    model = build_onnx_model(network, input_shape=input_shape)
    with atomic_write(path, "wb") as f:
        f.write(model.SerializeToString())
    return model
