"""The inference forward pass of the convolutional networks: ``predict`` for every evaluation.

A network predicts far more often than it trains a step: ``dlzero train`` measures the train
and test accuracy every epoch (70,000 images against 60,000 trained on), and ``dlzero
evaluate``, ``dlzero predict`` and the trainer's ``accuracy`` are forward passes only. Read
``Sequential.predict``, the layers one after the other, first; this is the same function,
with what a forward pass needs and nothing else:

- **No backward buffers.** The stages' arrays are those of :mod:`dlzero.fast.stages` without
  the gradients, masks and input-gradient columns of a training step, and the layers' outputs
  are not kept: an activation is applied in place.
- **The layout and chunked im2col of the training path**: channels first and the batch
  innermost, (C, H, W, N), im2col a few rows at a time, pooling over contiguous blocks.
- **Dropout is the identity** at inference (inverted dropout scales while training), so it
  is skipped.
- **The layers after the stages with the batch innermost too.** ``Affine`` computes
  ``x @ W + b`` on (N, D) rows; here its input is the stages' (C, H, W, N) output as it is,
  (D, N), and the product is ``W.T @ x + b``, (M, N): the same numbers without turning the
  stages' output around (that copy took 1 ms of 31 for 128 of DeepConvNet's images). Only
  the (N, classes) scores are turned at the end.
- **Two lanes**, each half of the batch on its own thread and one BLAS thread
  (:mod:`dlzero.fast.lanes`), each running the whole forward pass, tail included: the halves
  never wait for each other until the scores.
- **Batches sized for the cache**: the callers evaluate in chunks of the network's
  ``eval_batch_size`` (128 for DeepConvNet, 500 for SimpleConvNet), halved between the lanes.

Layers after the stages other than ``Affine``, ``Relu`` and ``Dropout`` run through their own
``forward``, on the whole batch, once both lanes are done (a layer keeps its input in an
attribute, so two threads must not call the same layer at once).
``tests/test_inference.py`` checks this pass against the layers' ``predict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from dlzero.fast.cache import BufferCache
from dlzero.fast.lanes import halves, in_lanes
from dlzero.fast.stages import Stage, StageBuffers, run_stages
from dlzero.layers import Affine, Dropout, Layer, Relu

__all__ = ["Tail", "predict"]


class Tail:
    """The layers after the stages, batch innermost: ``Affine`` as ``W.T @ h + b`` on (D, N),
    ``Relu`` in place, ``Dropout`` skipped (the identity at inference).

    Parameters
    ----------
    affines : sequence of Affine
    relu_after : sequence of bool
        Whether a ``Relu`` follows each affine (before the next one).

    Use :meth:`from_layers`, which returns None for layers it does not cover.
    """

    def __init__(self, affines: Sequence[Affine], relu_after: Sequence[bool]) -> None:
        self.affines = list(affines)
        self.relu_after = list(relu_after)
        # Keyed by the batch size; one cache for each lane.
        self._buffers: list[BufferCache[list[NDArray]]] = [BufferCache(), BufferCache()]

    @classmethod
    def from_layers(cls, layers: Sequence[Layer]) -> Tail | None:
        """The tail for ``layers``, or None unless they are ``Affine`` (a bias per output,
        each one's input the previous one's output), ``Relu`` and ``Dropout`` layers, at
        least one ``Affine`` among them."""
        affines: list[Affine] = []
        relu_after: list[bool] = []
        for layer in layers:
            kind = type(layer)
            if kind is Affine and layer.b.shape == layer.W.shape[1:]:
                affines.append(layer)
                relu_after.append(False)
            elif kind is Relu:
                # Before the first affine it repeats the stages' ReLU: relu(relu(a)) = relu(a).
                if affines:
                    relu_after[-1] = True
            elif kind is not Dropout:
                return None
        widths = [(a.W.shape[1], b.W.shape[0]) for a, b in pairwise(affines)]
        if not affines or any(m != d for m, d in widths):
            return None  # (the layers say what does not fit)
        return cls(affines, relu_after)

    def _make(self, n: int) -> list[NDArray]:
        return [np.empty((a.W.shape[1], n), dtype=a.W.dtype) for a in self.affines]

    def run(self, h: NDArray, lane: int) -> NDArray:
        """The scores for ``h`` (D, N), the stages' output after its ReLU: (classes, N), in a
        buffer the next call with N samples in this lane overwrites."""
        width = self.affines[0].W.shape[0]
        if h.shape[0] != width:  # the message of the Affine layer
            raise ValueError(
                f"Affine: expected input of shape (N, {width}) (or (N, ...) with {width} "
                f"values per sample) for W of shape {self.affines[0].W.shape}, got "
                f"{h.shape[0]} values per sample from the convolutions"
            )
        outs = self._buffers[lane].get(h.shape[1], self._make)
        for affine, relu, out in zip(self.affines, self.relu_after, outs, strict=True):
            np.matmul(affine.W.T, h, out=out)
            out += affine.b[:, None]
            if relu:
                np.maximum(out, 0, out=out)
            h = out
        return h


class Stages(Protocol):
    """What the forward pass reads of a :class:`~dlzero.fast.conv.FusedConvNet`."""

    stages: list[Stage]
    tail: list[Layer]
    inference_tail: Tail | None
    lanes: int
    dtype: np.dtype

    def buffers_for(self, x_shape: tuple[int, ...], lane: int = 0) -> list[StageBuffers]: ...

    def flat_for(self, x_shape: tuple[int, ...]) -> NDArray: ...


def predict(fused: Stages, x: NDArray) -> NDArray:
    """The scores of ``fused``'s network for images ``x``, in inference mode.

    Parameters
    ----------
    fused : FusedConvNet
        Its stages, their buffers, the layers after them, its lanes.
    x : ndarray, shape (N, C, H, W)
        Checked by the caller.

    Returns
    -------
    ndarray, shape (N, classes)
        A new array.
    """
    n = len(x)
    tail = fused.inference_tail
    split = halves(n, fused.lanes)
    if tail is None:  # the layers after the stages run as they are, on the whole batch
        flat = fused.flat_for(x.shape)
        if split is None:
            _stages_into(fused, x, 0, flat)
        else:
            first, second = split
            in_lanes(
                lambda: _stages_into(fused, x[second], 1, flat[second]),
                lambda: _stages_into(fused, x[first], 0, flat[first]),
            )
        h = flat
        for layer in fused.tail:
            h = layer.forward(h, False) if layer.takes_train_flag else layer.forward(h)
        return np.array(h)
    scores = np.empty((n, tail.affines[-1].W.shape[1]), dtype=fused.dtype)
    if split is None:
        _lane(fused, tail, x, 0, scores)
    else:
        first, second = split
        in_lanes(
            lambda: _lane(fused, tail, x[second], 1, scores[second]),
            lambda: _lane(fused, tail, x[first], 0, scores[first]),
        )
    return scores


def _lane(fused: Stages, tail: Tail, x: NDArray, lane: int, scores: NDArray) -> None:
    """The whole forward pass of images ``x`` in one lane, the scores written to ``scores``."""
    a = run_stages(fused.stages, fused.buffers_for(x.shape, lane), x)
    np.maximum(a, 0, out=a)  # the last stage's ReLU, in place: nothing needs it before
    scores[...] = tail.run(a.reshape(-1, len(x)), lane).T


def _stages_into(fused: Stages, x: NDArray, lane: int, flat: NDArray) -> None:
    """The stages on images ``x`` in one lane, their output after the ReLU written into
    ``flat`` (N, C, H, W)."""
    a = run_stages(fused.stages, fused.buffers_for(x.shape, lane), x)
    np.maximum(a, 0, out=flat.transpose(1, 2, 3, 0))
