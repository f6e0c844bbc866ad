"""The one place that chooses a fast path for a network.

:func:`fused_step` looks at a network's layers once and returns the fused step that covers
them (:class:`~dlzero.fast.mlp.FusedMLP` for a plain MLP,
:class:`~dlzero.fast.conv.FusedConvNet` for the convolutional networks), or None. The other
functions fall back to the network's own methods where there is none, so the caller never
has to ask.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Protocol

from numpy.typing import NDArray

from dlzero._threads import single_thread_blas
from dlzero.fast.conv import FusedConvNet
from dlzero.fast.mlp import FusedMLP
from dlzero.functions import as_labels, chunked_accuracy

__all__ = ["FusedStep", "accuracy", "fused_step", "predictor", "training_step"]


class FusedStep(Protocol):
    """What a fused path offers (:class:`~dlzero.fast.mlp.FusedMLP`,
    :class:`~dlzero.fast.conv.FusedConvNet`)."""

    #: Threads a step runs at once, each on one BLAS thread (2 for the convolutional
    #: networks on 2 cores, see :mod:`dlzero.fast.lanes`; 1 for an MLP).
    lanes: int

    def loss_and_gradient(self, x: NDArray, t: NDArray) -> tuple[float, dict[str, NDArray]]:
        """The network's ``loss_and_gradient``, in buffers the next call reuses."""
        ...

    def predict(self, x: NDArray) -> NDArray:
        """The network's ``predict`` in inference mode, keeping nothing for a backward pass."""
        ...

    def snapshot(self) -> FusedStep:
        """A copy with its own weights, to evaluate on while training changes the network."""
        ...

    def uses_every_blas_thread(self, n: int) -> bool:
        """Whether a step on ``n`` samples is big enough for every BLAS thread."""
        ...


Step = Callable[[NDArray, NDArray], tuple[float, dict[str, NDArray]]]

# Each network's fused step, with the identity of what it was built from: its buffers are
# kept between calls, and it is built again when the network's layers or arrays change (after
# ``collect_params``). Kept beside the network, not in it: copies and pickles of a network
# never carry buffers, and the learner's classes know nothing of this.
_steps: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], FusedStep | None]] = (
    weakref.WeakKeyDictionary()
)


def fused_step(network: Any) -> FusedStep | None:
    """The fused step that computes what ``network``'s layers compute, or None.

    Covered: a :class:`~dlzero.sequential.Sequential` that is a plain MLP (``Affine`` layers
    with ``Relu`` or ``Sigmoid`` between them, ``SoftmaxWithLoss`` last), or a convolutional
    network (``Convolution``, ``Relu``, max ``Pooling`` stages, then any layers) without weight
    decay; float32 or float64 throughout.
    """
    if not callable(getattr(network, "param_keys", None)):
        return None  # not a Sequential: the book's own classes, a learner's network
    signature = (
        network.weight_decay_lambda,
        id(network.last_layer),
        *map(id, network.layers.values()),
        *map(id, network.params.values()),
    )
    cached = _steps.get(network)
    if cached is None or cached[0] != signature:
        fused = FusedMLP.from_network(network) or FusedConvNet.from_network(network)
        _steps[network] = cached = (signature, fused)
    return cached[1]


def training_step(network: Any) -> Step:
    """``step(x, t) -> (loss, grads)``: one forward and backward pass of a training step.

    The fused step where one covers the network; its small products run on one BLAS thread
    (see :mod:`dlzero._threads` for why). Otherwise the network's own
    ``loss_and_gradient``. The gradients may be reused by the next call: copy them to keep
    them.
    """
    fused = fused_step(network)
    if fused is None:
        return network.loss_and_gradient
    blas = single_thread_blas()

    def step(x: NDArray, t: NDArray) -> tuple[float, dict[str, NDArray]]:
        if fused.uses_every_blas_thread(len(x)):
            return fused.loss_and_gradient(x, t)
        return blas.call(fused.loss_and_gradient, x, t)

    return step


def predictor(network: Any) -> Callable[[NDArray], NDArray]:
    """``predict(x) -> scores`` in inference mode: the fused forward pass where there is one.

    As a training step does, the fused pass runs its products on one BLAS thread unless
    they are large enough for every thread (the convolutional networks' never are: their
    two lanes keep both cores busy instead). It may return its scores in a buffer that the
    next call overwrites.
    """
    fused = fused_step(network)
    if fused is None:
        return network.predict
    blas = single_thread_blas()

    def predict(x: NDArray) -> NDArray:
        if fused.uses_every_blas_thread(len(x)):
            return fused.predict(x)
        return blas.call(fused.predict, x)

    return predict


def accuracy(network: Any, x: NDArray, t: NDArray, batch_size: int | None = None) -> float:
    """``network.accuracy(x, t, batch_size)``, by the fused forward pass where there is one."""
    fused = fused_step(network)
    labels = as_labels(t)
    if fused is None or labels.shape != (len(x),) or len(x) == 0:
        return network.accuracy(x, t, batch_size=batch_size)  # (and its errors)
    size = batch_size or network.eval_batch_size
    return chunked_accuracy(predictor(network), x, labels, size)
