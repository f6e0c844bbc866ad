"""Backpropagation you can see: one input through a network, forward and backward, node by node.

Chapter 5 draws a network as a computational graph: values flow forward through the nodes left
to right, gradients flow backward right to left, and each node multiplies what arrives by its
local derivative. :func:`trace_backprop` runs exactly that on a real network and keeps what
passes every edge::

    x -> Affine1 -> Relu1 -> Affine2 -> SoftmaxWithLoss -> L
         out        out      out       (the loss)
    dx <- dx     <- dx    <- dx      <- dout = 1

It calls the layers' own ``forward`` and ``backward`` (on shallow copies, so the network's
layers keep whatever state they had), in inference mode: dropout lets everything through and
batch normalization uses its running statistics, so the trace is a function of the weights and
the input alone. Nothing is re-derived here; :func:`check_some_weights` compares a few of the
gradients it finds with the numerical gradient of chapter 4, and times both.

``dlzero backprop`` prints :meth:`BackpropTrace.lines`; ``dlzero.plotting.plot_backprop_graph``
draws a trace; the "backprop" tab of ``dlzero serve`` shows one for a digit you draw.
"""

from __future__ import annotations

import copy
import operator
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from dlzero.layers import Layer
from dlzero.sequential import Sequential
from dlzero.studies.evaluation import input_shape

__all__ = [
    "BackpropTrace",
    "GradientCheck",
    "NodeTrace",
    "WeightCheck",
    "check_some_weights",
    "trace_backprop",
]


@dataclass(frozen=True)
class NodeTrace:
    """What passed one node of the graph, for one input.

    Attributes
    ----------
    name : str
        The layer's name in the network (``"Affine1"``), or ``"SoftmaxWithLoss"``.
    layer : str
        The layer's class (``"Affine"``).
    out : ndarray, shape (1, ...)
        The node's output (for the loss node, the loss, shape ()).
    dout : ndarray, shape of ``out``
        The gradient of the loss with respect to ``out``, arriving from above (1 for the loss).
    dx : ndarray, shape of the node's input
        The gradient the node's ``backward`` passes down: ``dout`` times its local derivative.
    grads : dict of str to ndarray
        Each parameter's gradient by attribute name (``{"W": dW, "b": db}``); empty for a layer
        without parameters. Weight decay is not in them (see :meth:`BackpropTrace.gradients`).
    param_keys : dict of str to str
        Each parameter's key in the network's ``params`` (``{"W": "W1", "b": "b1"}``).
    """

    name: str
    layer: str
    out: NDArray
    dout: NDArray
    dx: NDArray
    grads: dict[str, NDArray] = field(default_factory=dict)
    param_keys: dict[str, str] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the node's output (the shape written on its outgoing edge)."""
        return tuple(self.out.shape)


@dataclass(frozen=True)
class BackpropTrace:
    """One forward and one backward pass of one input with its correct label.

    Attributes
    ----------
    x : ndarray, shape (1, ...)
        The input as the first layer received it (``(1, 784)`` or ``(1, 1, 28, 28)``).
    label : int
        The correct class ``t``.
    nodes : list of NodeTrace
        In forward order, ending with the loss layer.
    probabilities : ndarray, shape (C,)
        The softmax of the scores.
    loss : float
        The cross-entropy loss of this input (the loss node's output).
    weight_decay_loss : float
        The network's weight-decay term, added to ``loss`` by ``network.loss`` (0 without).
    weight_decay_lambda : float
    """

    x: NDArray
    label: int
    nodes: list[NodeTrace]
    probabilities: NDArray
    loss: float
    weight_decay_loss: float = 0.0
    weight_decay_lambda: float = 0.0

    @property
    def prediction(self) -> int:
        """The class with the highest probability."""
        return int(np.argmax(self.probabilities))

    @property
    def dx(self) -> NDArray:
        """dL/dx, the gradient with respect to the input (what the first node passes down)."""
        return self.nodes[0].dx

    def node(self, name: str) -> NodeTrace:
        """The node called ``name`` (``"Relu1"``)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r}; the nodes are {', '.join(n.name for n in self.nodes)}")

    def gradients(self) -> dict[str, NDArray]:
        """Every parameter's gradient keyed as the network's ``params`` (``W1``, ``b1``, ...),
        weight decay included: what ``network.gradient`` returns for this input when no layer
        acts differently in training (no dropout, no batch normalization)."""
        grads = {}
        for node in self.nodes:
            for name, g in node.grads.items():
                key = node.param_keys[name]
                if name == "W" and self.weight_decay_lambda:  # as Sequential.loss_and_gradient
                    g = g + self.weight_decay_lambda * self._weights[key]
                grads[key] = g
        return grads

    # Copies of the weights, for the weight-decay term of gradients() (only with weight decay).
    _weights: dict[str, NDArray] = field(default_factory=dict, repr=False, compare=False)

    def lines(self) -> list[str]:
        """One line per node: name, output shape, the range and mean of its output, the range
        of the gradient arriving at it, of the gradient it passes down, and the largest
        gradient of each of its parameters. What ``dlzero backprop`` prints."""
        p = self.probabilities
        head = (
            f"prediction {self.prediction} ({p[self.prediction]:.1%}), label {self.label} "
            f"({p[self.label]:.1%}), loss {self.loss:.4g}"
        )
        if self.weight_decay_loss:
            head += f" + weight decay {self.weight_decay_loss:.4g}"
        width = max(len(n.name) for n in self.nodes)
        shapes = [_shape_text(self.x.shape)] + [_shape_text(n.shape) for n in self.nodes]
        sw = max(len(s) for s in shapes)
        out = [head, f"{'input x':<{width}}  {shapes[0]:>{sw}}  out {_range(self.x)}"]
        for node, shape in zip(self.nodes, shapes[1:], strict=True):
            if node.out.ndim == 0:
                what = f"out {float(node.out):.4g} (the loss)"
            else:
                what = f"out {_range(node.out)} mean {float(np.mean(node.out)):.3g}"
            line = (
                f"{node.name:<{width}}  {shape:>{sw}}  {what}  dout {_range(node.dout)}  "
                f"dx {_range(node.dx)}"
            )
            for name, g in node.grads.items():
                line += f"  d{node.param_keys[name]} max|.| {float(np.max(np.abs(g))):.3g}"
            out.append(line)
        return out


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape) if shape else "()"


def _range(a: NDArray) -> str:
    a = np.asarray(a)
    if a.ndim == 0 or a.size == 1:
        return f"{float(a.reshape(-1)[0]):.3g}"
    return f"[{float(a.min()):.3g}, {float(a.max()):.3g}]"


def _as_one_input(network: Sequential, x: NDArray) -> NDArray:
    shape = input_shape(network)
    x = np.asarray(x)
    if x.dtype.kind not in "iuf":
        raise ValueError(f"trace_backprop: x must be numbers, got dtype {x.dtype}")
    if x.size != int(np.prod(shape)):
        raise ValueError(
            f"trace_backprop: expected one input of {int(np.prod(shape))} values (shape "
            f"{shape}), got shape {x.shape}"
        )
    return x.astype(network.dtype).reshape(1, *shape)


def _as_label(label: object, classes: int) -> int:
    try:
        if isinstance(label, bool):
            raise TypeError
        t = operator.index(label)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"trace_backprop: label must be an integer class, got {label!r}") from None
    if not 0 <= t < classes:
        raise ValueError(f"trace_backprop: label must be in 0-{classes - 1}, got {t}")
    return t


def trace_backprop(network: Sequential, x: NDArray, label: int) -> BackpropTrace:
    """Run one input forward and backward through ``network``, keeping every node's values.

    Parameters
    ----------
    network : Sequential
        ``TwoLayerNet``, ``MultiLayerNet`` (dropout and batch normalization run in inference
        mode), ``SimpleConvNet`` or any ``Sequential`` ending in ``SoftmaxWithLoss``. Only
        read: shallow copies of its layers run the pass.
    x : ndarray
        One input, any shape with the network's number of values (``(784,)``, ``(28, 28)``,
        ``(1, 28, 28)``, ...), cast to the network's dtype.
    label : int
        The correct class, 0 to C-1.

    Returns
    -------
    BackpropTrace

    Raises
    ------
    ValueError
        ``x`` has the wrong number of values, or ``label`` is not a class of the network.
    """
    x = _as_one_input(network, x)
    # Shallow copies: their own forward state (Affine.x, Relu.mask, ...), the network's very
    # weight arrays, only read. The network's layers are left as they were.
    layers = [copy.copy(layer) for layer in network.layers.values()]
    last: Layer = copy.copy(network.last_layer)
    outs = []
    h = x
    for layer in layers:
        h = layer.forward(h, False) if layer.takes_train_flag else layer.forward(h)
        outs.append(np.array(h, copy=True))
    t = _as_label(label, h.shape[-1])
    loss = float(last.forward(h, np.array([t])))
    probabilities = np.asarray(last.y[0], dtype=np.float64).copy()

    one = np.asarray(1.0, dtype=np.float64)
    dscores = last.backward(1.0)
    nodes = [NodeTrace("SoftmaxWithLoss", type(last).__name__, np.asarray(loss), one, dscores)]
    dout = dscores
    for name, layer, out in zip(
        reversed(list(network.layers)), reversed(layers), reversed(outs), strict=True
    ):
        dx = layer.backward(dout)
        grads = {p: np.array(getattr(layer, "d" + p), copy=True) for p in layer.param_names}
        original = network.layers[name]
        nodes.append(
            NodeTrace(
                name, type(layer).__name__, out, dout, dx, grads, network.param_keys(original)
            )
        )
        dout = dx
    nodes.reverse()
    return BackpropTrace(
        x=x,
        label=t,
        nodes=nodes,
        probabilities=probabilities,
        loss=loss,
        weight_decay_loss=float(network.weight_decay_loss()),
        weight_decay_lambda=float(network.weight_decay_lambda),
        _weights=(
            {k: p.copy() for k, p in network.params.items()} if network.weight_decay_lambda else {}
        ),
    )


# -- backprop against the numerical gradient: "heaven and earth" ------------------------------


@dataclass(frozen=True)
class WeightCheck:
    """One weight's gradient both ways: ``params[key][index]``."""

    key: str
    index: tuple[int, ...]
    backprop: float
    numerical: float

    @property
    def difference(self) -> float:
        """``|backprop - numerical|``, the disagreement of the two gradients."""
        return abs(self.backprop - self.numerical)


@dataclass(frozen=True)
class GradientCheck:
    """A few weights' gradients by backprop and numerically, and what each way costs.

    Attributes
    ----------
    weights : list of WeightCheck
    backprop_seconds : float
        One forward and backward pass, which gives the gradient of *every* parameter.
    numerical_seconds : float
        The central differences of the weights checked (two loss evaluations each).
    parameters : int
        How many parameters the network has: what a full numerical gradient would have to
        differentiate, at ``numerical_seconds / len(weights)`` each.
    """

    weights: list[WeightCheck]
    backprop_seconds: float
    numerical_seconds: float
    parameters: int

    @property
    def numerical_seconds_all(self) -> float:
        """Estimated time of the numerical gradient of every parameter."""
        return self.numerical_seconds / len(self.weights) * self.parameters


def check_some_weights(
    network: Sequential, x: NDArray, label: int, *, h: float = 1e-4
) -> GradientCheck:
    """Compare backprop with the numerical gradient on a few weights, in float64.

    For each parameter, the element with the largest backpropagated gradient for this input
    is checked (most elements of ``dW1`` are 0 for one digit: its dark pixels contribute
    nothing). Both are taken on a float64 copy of the network, in inference mode, of the loss
    ``network.loss`` computes (weight decay included).

    Returns
    -------
    GradientCheck
    """
    net = network.astype(np.float64)
    x64 = _as_one_input(net, x)
    backprop_seconds = float("inf")
    for _ in range(3):  # the best of three: a pass takes well under a millisecond
        start = time.perf_counter()
        trace = trace_backprop(net, x64, label)
        backprop_seconds = min(backprop_seconds, time.perf_counter() - start)
    grads = trace.gradients()
    t = np.array([trace.label])

    picked = [
        (key, np.unravel_index(int(np.argmax(np.abs(g))), g.shape)) for key, g in grads.items()
    ]
    weights = []
    start = time.perf_counter()
    for key, index in picked:
        p = net.params[key]
        kept = p[index]
        p[index] = kept + h
        up = net.loss(x64, t)
        p[index] = kept - h
        down = net.loss(x64, t)
        p[index] = kept
        weights.append(
            WeightCheck(
                key,
                tuple(int(i) for i in index),
                float(grads[key][index]),
                (up - down) / (2 * h),
            )
        )
    numerical_seconds = time.perf_counter() - start
    parameters = int(sum(p.size for p in net.params.values()))
    return GradientCheck(weights, backprop_seconds, numerical_seconds, parameters)
