"""A fused training step for the convolutional networks: the same math as the layers, faster.

The layers in :mod:`dlzero.layers` are the ones to read: ``Convolution`` unfolds its input with
``im2col`` and multiplies, ``Relu`` and ``Pooling`` each make a new array, and every layer
hands the next one images in the book's (N, C, H, W) layout. For chapter 7's
``SimpleConvNet`` and chapter 8's ``DeepConvNet`` this module computes the same loss and
gradients with far fewer passes over memory, which is where those layers spend their time:

- **Channels first, the batch last, between convolutions.** A convolution's product gives its
  output as (FN, out_h*out_w*N), that is (C, H, W, N). The layers transpose it to (N, C, H, W),
  and the next ``im2col`` transposes it back; here it stays in (C, H, W, N) until the first
  affine layer, which takes the (smaller) pooled output once, transposed. With the images
  innermost, every copy ``im2col`` makes moves runs of out_w*N contiguous numbers, not rows of
  out_w numbers as it would in (C, N, H, W).
- **im2col a few rows at a time.** The columns of a few output rows (about 2 MB) are formed
  and multiplied while they are still in the cache, and formed again for the weight
  gradient, rather than written out whole (23 MB for DeepConvNet's second convolution on 50
  images) and read back from memory twice.
- **Pooling without strides.** When a 2x2 (or k x k) max pooling with stride 2 (k) follows the
  convolution, ``im2col`` orders the output positions by their offset in the pooling window:
  the product then gives four (k*k) contiguous blocks, and the pooling is the elementwise
  maximum of the blocks. Its backward sends each gradient to the first block that holds the
  maximum (ties go to the first offset, as ``Pooling``'s ``argmax`` does). So that these
  columns too are copied in contiguous runs, the padded input is kept split into phases (every
  other row and column, see ``StageBuffers``).
- **ReLU after pooling.** ``max(relu(a), relu(b)) = relu(max(a, b))``: the ReLU of a pooled
  stage runs on the pooled output, k*k times smaller; otherwise it writes the convolution's
  output straight into the next convolution's padded input, one pass doing both.
- **Bias in the product.** Each column matrix has a last row of ones and the filters a last
  column holding the bias: the product adds the bias, and the weight-gradient product gives
  its gradient, with no pass of their own.
- **Buffers per batch size,** as :mod:`dlzero.fast.mlp` does for the MLP: a step allocates
  almost nothing (on a small machine a fresh multi-megabyte array costs page faults at every
  step), and no gradient is formed for the input images.
- **The input gradient as a convolution.** For a stride-1 convolution, dL/dx is the
  convolution of the zero-padded dL/dout with the filters turned around: an ``im2col`` of
  dL/dout and a product (a few rows at a time), instead of a product and a ``col2im`` that
  adds into the whole input gradient once per window offset.
- **Two lanes.** A training batch is split in halves whose stages run at once, one in a worker
  thread, each on one BLAS thread (where BLAS may use two; :mod:`dlzero.fast.lanes`).

Tried and left out (figures in BENCHMARKS.md): pooling over strided views of the convolution's
output in natural order (its pooling passes take twice as long as over blocks: SimpleConvNet's
step 11-14% slower); ``sliding_window_view``, and the other product order for the weight
gradient, each under 5% of a step.

In a training step, everything after the last pooling (``Affine``, ``Relu``, ``Dropout``,
``SoftmaxWithLoss``) runs through the layers themselves (or :class:`~dlzero.fast.mlp.FusedMLP`
when they are a plain MLP), on the whole batch, so dropout draws the same masks from the same
generator. ``predict`` is :mod:`dlzero.fast.infer`'s forward pass.
``tests/test_convpath.py`` checks this path against the layers (loss, every gradient, the
scores), on odd sizes, strides, padding, sizes that floor, ties in pooling, one and two lanes and
a batch of one; the layers are checked against numerical gradients in ``tests/test_conv.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from dlzero._threads import available_cpus, blas_thread_count
from dlzero.fast import infer
from dlzero.fast.cache import BufferCache
from dlzero.fast.lanes import halves, in_lanes
from dlzero.fast.mlp import FusedMLP
from dlzero.fast.stages import Stage, StageBuffers, run_stages
from dlzero.layers import Affine, Convolution, Layer, Pooling, Relu
from dlzero.layers.im2col import conv_output_hw

__all__ = ["FusedConvNet"]


class FusedConvNet:
    """Loss, gradients and scores of a ``(Convolution Relu [Pooling])+ ...`` network, fused.

    Parameters
    ----------
    stages : sequence of _Stage
        The convolutions, each with the size of the max pooling after it (0 for none).
    tail : sequence of Layer
        The layers after the last stage, run as they are (``Affine``, ``Relu``, ``Dropout``...).
    last_layer : Layer
        The loss layer.
    tail_keys : sequence of (Layer, str, str)
        The params-dict key of every tail parameter: (layer, attribute name, key).

    Use :meth:`from_network` to build one, which returns None for a network it does not cover.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        tail: Sequence[Layer],
        last_layer: Layer,
        tail_keys: Sequence[tuple[Layer, str, str]],
    ) -> None:
        self.stages = list(stages)
        self.tail = list(tail)
        self.last_layer = last_layer
        self.tail_keys = list(tail_keys)
        self.dtype = self.stages[0].conv.W.dtype
        # A tail that is a plain MLP (SimpleConvNet's Affine - Relu - Affine) runs fused too.
        self.mlp = None
        affines = self.tail[0::2]
        if all(type(a) is Affine and a.b.shape == a.W.shape[1:] for a in affines):

            def param_keys(layer: Layer) -> dict[str, str]:
                return {p: k for owner, p, k in self.tail_keys if owner is layer}

            self.mlp = FusedMLP.from_layers(self.tail, last_layer, param_keys)
        # What runs after the stages at inference, batch innermost (None: the layers).
        self.inference_tail = infer.Tail.from_layers(self.tail)
        # Two lanes: a batch of training images is split in two halves, whose convolution
        # stages run at once, one in a worker thread (NumPy and BLAS release the GIL), each
        # on one BLAS thread. Threads that block, unlike BLAS threads that spin, cost nothing
        # when the other core is busy. The layers after the stages see the whole batch. Two
        # lanes only where BLAS may use two threads (OPENBLAS_NUM_THREADS=1 means one lane),
        # as it may when this object is made (the trainer's background evaluation later sets
        # BLAS to one thread, as it sets it for the steps anyway).
        self.lanes = 2 if available_cpus() >= 2 and blas_thread_count() >= 2 else 1
        # Keyed by (input shape, training or not); one cache for each lane.
        self._buffers = [BufferCache(), BufferCache()]
        self._flat = BufferCache()
        self._grads: list[dict[str, NDArray]] = [{}, {}]
        for grads in self._grads:
            for stage in self.stages:
                kw, kb = stage.keys
                grads[kw] = np.empty_like(stage.conv.W)
                grads[kb] = np.empty_like(stage.conv.b)

    @classmethod
    def from_network(cls, network: object) -> FusedConvNet | None:
        """The fused path for a :class:`~dlzero.sequential.Sequential`, or None if not covered.

        Covered: one or more convolutions with a bias per filter, each followed by a ``Relu``
        and optionally by a max ``Pooling`` with a square window, its side as stride and no
        padding; then layers that are neither (run as they are); no weight decay; float32 or
        float64 throughout. Sizes the strides do not divide floor, as in the layers.
        """
        if getattr(network, "weight_decay_lambda", 0):
            return None
        layers = list(network.layers.values())  # type: ignore[attr-defined]
        keys_of = network.param_keys  # type: ignore[attr-defined]
        stages: list[Stage] = []
        i = 0
        while i < len(layers) and type(layers[i]) is Convolution:
            conv = layers[i]
            if i + 1 >= len(layers) or type(layers[i + 1]) is not Relu:
                return None
            if conv.b.shape != conv.W.shape[:1]:  # a scalar bias (the book allows one)
                return None
            i += 2
            pool = 0
            if i < len(layers) and type(layers[i]) is Pooling:
                p = layers[i]
                square = p.pool_h == p.pool_w == p.stride
                if not (square and p.pad == 0 and p.mode == "max"):
                    return None
                pool = p.pool_h if p.pool_h > 1 else 0  # a 1x1 pooling passes all through
                i += 1
            stages.append(Stage(conv, pool, (keys_of(conv)["W"], keys_of(conv)["b"])))
        tail = layers[i:]
        if not stages or any(type(layer) in (Convolution, Pooling) for layer in tail):
            return None
        arrays = [a for s in stages for a in (s.conv.W, s.conv.b)]
        arrays += [getattr(layer, p) for layer in tail for p in layer.param_names]
        dtypes = {a.dtype for a in arrays}
        if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32, np.float64):
            return None
        tail_keys = [(layer, p, key) for layer in tail for p, key in keys_of(layer).items()]
        return cls(stages, tail, network.last_layer, tail_keys)  # type: ignore[attr-defined]

    def snapshot(self) -> FusedConvNet:
        """A copy with its own weights and buffers, for evaluating while training goes on."""
        tail = []
        for layer in self.tail:
            new = copy.copy(layer)
            for name in layer.param_names + layer.state_names:
                setattr(new, name, getattr(layer, name).copy())
            tail.append(new)
        keys = [(tail[self.tail.index(layer)], p, key) for layer, p, key in self.tail_keys]
        stages = [s.copy() for s in self.stages]
        snap = FusedConvNet(stages, tail, copy.copy(self.last_layer), keys)
        # One lane: a snapshot evaluates beside the training steps, which have the two.
        snap.lanes = 1
        return snap

    def uses_every_blas_thread(self, n: int) -> bool:
        """Whether a training step runs its products on every BLAS thread: never.

        The step is many medium-sized products between passes over memory; on one BLAS
        thread it is immune to the spinning threads that make a shared 2-core machine 7
        times slower (28 ms against 197 ms a SimpleConvNet step, measured here while other
        processes were running), and the trainer can evaluate on the other core meanwhile.
        """
        return False

    # -- buffers ---------------------------------------------------------------------------

    def _make_buffers(self, key: tuple[tuple[int, ...], bool]) -> list[StageBuffers]:
        """Each stage's arrays for input of shape ``key[0]``, in training or not (``key[1]``)."""
        (n, c, h, w), train = key
        shape = (c, h, w, n)
        bufs = []
        for i, stage in enumerate(self.stages):
            buf = StageBuffers(stage, shape, self.dtype, train, input_grad=i > 0)
            bufs.append(buf)
            shape = (stage.conv.W.shape[0], *buf.out_hw, n)
        if not train:  # the stages run one after another: one column array serves them all
            shared = np.empty(max(buf.col.size for buf in bufs), dtype=self.dtype)
            for buf in bufs:
                buf.col = shared[: buf.col.size].reshape(buf.col.shape)
        return bufs

    def _buffers_for(
        self, x_shape: tuple[int, ...], train: bool, lane: int = 0
    ) -> list[StageBuffers]:
        """Each stage's arrays for input of ``x_shape``, made on first use and kept."""
        return self._buffers[lane].get((tuple(x_shape), train), self._make_buffers)

    def buffers_for(self, x_shape: tuple[int, ...], lane: int = 0) -> list[StageBuffers]:
        """Each stage's inference arrays (no gradients) for input of ``x_shape`` in ``lane``."""
        return self._buffers_for(x_shape, False, lane)

    def flat_for(self, x_shape: tuple[int, ...]) -> NDArray:
        """The last stage's output after its ReLU as (N, C, H, W), at inference."""
        return self._flat_for(x_shape, False)[0]

    def _make_flat(self, key: tuple[tuple[int, ...], bool]) -> tuple[NDArray, NDArray | None]:
        """The last stage's output after its ReLU, (N, C, H, W), for the layers after the
        stages, and (in training) its gradient as (N, C*H*W), for input of shape ``key[0]``."""
        (n, c, h, w), train = key
        for stage in self.stages:  # the sizes, stage by stage
            fn, _, fh, fw = stage.conv.W.shape
            conv, k = stage.conv, stage.pool
            h, w = conv_output_hw((n, c, h, w), fh, fw, conv.stride, conv.pad, "Convolution")
            if k:
                h, w = conv_output_hw((n, fn, h, w), k, k, k, 0, "Pooling")
            c = fn
        flat = np.empty((n, c, h, w), dtype=self.dtype)
        dflat = np.empty((n, flat[0].size), dtype=self.dtype) if train else None
        return flat, dflat

    def _flat_for(self, x_shape: tuple[int, ...], train: bool) -> tuple[NDArray, NDArray | None]:
        return self._flat.get((tuple(x_shape), train), self._make_flat)

    # -- forward ---------------------------------------------------------------------------

    def _check_input(self, x: NDArray) -> NDArray:
        x = np.asarray(x)
        c = self.stages[0].conv.W.shape[1]
        if x.ndim != 4 or x.shape[1] != c:
            raise ValueError(
                f"Convolution: filters of shape {self.stages[0].conv.W.shape} expect images of "
                f"shape (N, {c}, H, W), got shape {x.shape}"
            )
        if x.shape[0] == 0:
            raise ValueError("Convolution: an empty batch (0 images)")
        return x

    def _forward_stages(
        self, x: NDArray, train: bool, lane: int = 0, flat: NDArray | None = None
    ) -> tuple[list[StageBuffers], NDArray]:
        """Run the stages; return their buffers and the last one's output after its ReLU as
        (N, C, H, W), written into ``flat`` if given."""
        bufs = self._buffers_for(x.shape, train, lane)
        if flat is None:
            flat = self._flat_for(x.shape, train)[0]
        a = run_stages(self.stages, bufs, x)
        np.maximum(a, 0, out=flat.transpose(1, 2, 3, 0))  # ReLU, as (N, C, H, W)
        return bufs, flat

    def predict(self, x: NDArray) -> NDArray:
        """Scores for images ``x``, as ``Sequential.predict`` gives them (inference mode),
        by :func:`dlzero.fast.infer.predict`: no backward buffers, dropout the identity.

        Its two lanes want one BLAS thread each: :func:`dlzero.fast.predictor` and
        :func:`dlzero.fast.accuracy` call it so.

        Parameters
        ----------
        x : ndarray, shape (N, C, H, W)

        Returns
        -------
        ndarray, shape (N, classes)
            A new array.
        """
        return infer.predict(self, self._check_input(x))

    # -- the training step ------------------------------------------------------------------

    def loss_and_gradient(self, x: NDArray, t: NDArray) -> tuple[float, dict[str, NDArray]]:
        """One forward and backward pass, in training mode.

        Parameters
        ----------
        x : ndarray, shape (N, C, H, W)
        t : ndarray, shape (N,) integer labels or (N, classes) one-hot

        Returns
        -------
        loss : float
        grads : dict of str to ndarray
            Gradients by parameter key. The arrays may be reused: the next call overwrites
            them.
        """
        x = self._check_input(x)
        n = x.shape[0]
        split = halves(n, self.lanes)
        if split is None:
            bufs, h = self._forward_stages(x, train=True)
            lanes = [(bufs, slice(0, n))]
        else:
            flat = self._flat_for(x.shape, True)[0]
            first, second = split
            bufs0, bufs1 = in_lanes(
                lambda: self._forward_stages(x[second], True, 1, flat[second])[0],
                lambda: self._forward_stages(x[first], True, 0, flat[first])[0],
            )
            h = flat
            lanes = [(bufs0, first), (bufs1, second)]
        grads = dict(self._grads[0])
        if self.mlp is not None:
            d = self._flat_for(x.shape, True)[1]
            loss, mlp_grads = self.mlp.loss_and_gradient(h, t, input_grad=d)
            grads.update(mlp_grads)
            d = d.reshape(h.shape)
        else:
            for layer in self.tail:
                h = layer.forward(h, True) if layer.takes_train_flag else layer.forward(h)
            loss = float(self.last_layer.forward(h, t))
            d = self.last_layer.backward(1.0)
            for layer in reversed(self.tail):
                d = layer.backward(d)
            for layer, p, key in self.tail_keys:
                grads[key] = getattr(layer, "d" + p)
        # d: dL/d(the last stage's ReLU output), (N, C, H, W); the stages want (C, H, W, N).
        g = np.asarray(d).transpose(1, 2, 3, 0)
        if len(lanes) == 1:
            self._backward_stages(lanes[0][0], g, self._grads[0])
        else:
            (bufs0, first), (bufs1, second) = lanes
            in_lanes(
                lambda: self._backward_stages(bufs1, g[..., second], self._grads[1]),
                lambda: self._backward_stages(bufs0, g[..., first], self._grads[0]),
            )
            for key, value in self._grads[1].items():  # the two halves' sums make the whole
                self._grads[0][key] += value
        return loss, grads

    def _backward_stages(
        self, bufs: list[StageBuffers], g: NDArray, grads: dict[str, NDArray]
    ) -> None:
        """Backward through every stage, from g = dL/d(the last ReLU output), (C, H, W, N)."""
        for i in range(len(self.stages) - 1, -1, -1):
            g = self._backward_stage(self.stages[i], bufs[i], g, grads, first=i == 0)

    def _backward_stage(
        self, stage: Stage, buf: StageBuffers, g: NDArray, grads: dict[str, NDArray], first: bool
    ) -> NDArray:
        """Backward through one stage, from ``g`` = dL/d(its ReLU output), (FN, H, W, N).

        Returns dL/d(its input), (C, H, W, N), a view into a buffer; when ``first``, ``g``
        itself (the input images need no gradient).
        """
        conv, k = stage.conv, stage.pool
        fn = conv.W.shape[0]
        shape = (fn, *buf.out_hw, buf.in_shape[3])  # (FN, H, W, N): g's shape
        mask = buf.mask.reshape(shape)
        if k:
            # ReLU: the gradient passes where the pooled maximum was positive.
            pooled = buf.pooled.reshape(fn, -1)
            np.greater(buf.pooled, 0, out=mask)
            np.multiply(g, mask, out=buf.dpooled.reshape(shape))
            # Pooling: each gradient goes to the first block holding the maximum. dpooled
            # keeps what is still to be sent; sending it leaves zeros there.
            blocks = buf.out.reshape(fn, k * k, -1)
            dblocks = buf.dout.reshape(fn, k * k, -1)
            for j in range(k * k):
                np.equal(blocks[:, j], pooled, out=buf.equal)
                np.multiply(buf.dpooled, buf.equal, out=dblocks[:, j])
                if j < k * k - 1:
                    buf.dpooled -= dblocks[:, j]
        else:  # ReLU only
            np.greater(buf.out, 0, out=buf.mask)
            np.multiply(g, mask, out=buf.dout.reshape(shape))
        # dW and db from products with the columns (their last row is the bias's input), a
        # chunk at a time, the last first: the forward pass left its columns in ``col``.
        rows = buf.col.shape[0] - 1
        for j, chunk in enumerate(reversed(buf.chunks)):
            span = buf.span(*chunk)
            col = buf.columns(stage, *chunk) if j else buf.col[:, : span.stop - span.start]
            np.matmul(buf.dout[:, span], col.T, out=buf.dw_part if j else buf.dw_aug)
            if j:
                buf.dw_aug += buf.dw_part
        kw, kb = stage.keys
        grads[kw][...] = buf.dw_aug[:, :rows].reshape(conv.W.shape)
        grads[kb][...] = buf.dw_aug[:, rows]
        if first:  # the input images need no gradient
            return g
        if conv.stride == 1:
            return self._input_gradient(stage, buf)
        # dL/dcol, then col2im: each column's gradient added back to the pixels it came from.
        c, h, w, n = buf.in_shape
        out_w, step = buf.out_hw[1], buf.step
        buf.dpadded.fill(0)
        for block, start, stop in buf.chunks:
            span = buf.span(block, start, stop)
            dcol = buf.dcol[:, : span.stop - span.start]
            np.matmul(buf.w_aug[:, :rows].T, buf.dout[:, span], out=dcol)
            view = dcol.reshape(c, *conv.W.shape[2:], stop - start, out_w, n)
            for (y, x), u, v in buf.windows(stage, block):
                r = slice(u + step * start, u + step * stop, step)
                buf.dpadded[:, r, v : v + step * out_w : step] += view[:, y, x]
        p = conv.pad
        return buf.dpadded[:, p : p + h, p : p + w]

    def _input_gradient(self, stage: Stage, buf: StageBuffers) -> NDArray:
        """dL/d(input) of a stride-1 stage, as a convolution of the zero-padded dL/dout.

        ``dx[c, i, j, n] = sum over f, y, x of W[f, c, y, x] * dout[f, i + p - y, j + p - x, n]``
        (zero outside dout): an ``im2col`` of dL/dout, shifted the other way, and a product
        with the filters as (C, FN*FH*FW), a few rows of dx at a time. It replaces ``col2im``,
        whose every window offset adds into the whole input gradient, by copies that only
        write: on DeepConvNet the col2im passes took a third of the step.
        """
        conv = stage.conv
        fn, c, fh, fw = conv.W.shape
        _, w, n = buf.in_shape[1:]
        p, k = conv.pad, buf.k
        oh, ow = buf.out_hw
        # The blocks back to their places: offset (a, b) of each pooling window.
        inner = buf.gpad[:, fh - 1 : fh - 1 + k * oh, fw - 1 : fw - 1 + k * ow]
        dblocks = buf.dout.reshape(fn, k, k, oh, ow, n)
        for a in range(k):
            for b in range(k):
                inner[:, a::k, b::k] = dblocks[:, a, b]
        buf.w_t[...] = conv.W.transpose(1, 0, 2, 3).reshape(c, -1)
        dx = buf.dx.reshape(c, -1)
        for first, stop in buf.dx_chunks:  # a few rows of dL/dx at a time, as im2col does
            gcol = buf.gcol[:, : (stop - first) * w * n]
            view = gcol.reshape(fn, fh, fw, stop - first, w, n)
            for y in range(fh):
                for x in range(fw):
                    top, left = p + fh - 1 - y + first, p + fw - 1 - x
                    view[:, y, x] = buf.gpad[:, top : top + stop - first, left : left + w]
            np.matmul(buf.w_t, gcol, out=dx[:, first * w * n : stop * w * n])
        return buf.dx
