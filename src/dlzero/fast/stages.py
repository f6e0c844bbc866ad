"""One stage of the fused convolutional path: a convolution, its ReLU and its pooling, with
the arrays it computes in (:class:`StageBuffers`). :mod:`dlzero.fast.conv` runs the stages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from dlzero.layers import Convolution
from dlzero.layers.im2col import conv_output_hw

__all__ = ["Stage", "StageBuffers", "run_stages"]

# im2col forms the columns of a few output rows at a time, about this many bytes, and each
# chunk is multiplied while it is still in the cache: the whole matrix, 23 MB for DeepConvNet's
# second convolution on 50 images, would go out to memory and back (its forward pass took 6.1
# ms whole, 3.9 ms in chunks of 2 rows, and 7.6 against 4.0 ms with the other lane running).
_CHUNK_BYTES = 2 << 20


class Stage:
    """One ``Convolution``, the ``Relu`` after it, and the max ``Pooling`` after that if any.

    ``pool`` is the pooling window's side ``k`` (stride ``k``, no padding), or 0 for none.
    """

    def __init__(self, conv: Convolution, pool: int, keys: tuple[str, str]) -> None:
        self.conv = conv
        self.pool = pool
        self.keys = keys

    def copy(self) -> Stage:
        conv = Convolution(self.conv.W.copy(), self.conv.b.copy(), self.conv.stride, self.conv.pad)
        return Stage(conv, self.pool, self.keys)


def _chunks(total: int, row_bytes: int) -> list[tuple[int, int]]:
    """(first, stop) ranges over ``total`` rows, each at most ``_CHUNK_BYTES`` (or one row)."""
    step = max(1, _CHUNK_BYTES // row_bytes)
    return [(first, min(first + step, total)) for first in range(0, total, step)]


class StageBuffers:
    """The arrays of one stage for one batch size (shapes in the comments).

    The product's columns are ordered (a, b, i, j, n): for each offset (a, b) in the k x k
    pooling window, the convolution outputs at (k*i + a, k*j + b) for every pooled position
    (i, j) and image n. The pooling is then the maximum of k*k contiguous blocks. (Without a
    pooling k is 1: the natural order.) Output (k*i + a, k*j + b) reads padded input row
    s*k*i + (s*a + y) for filter row y: a step of P = s*k. So the padded input is kept split
    into its P x P phases, ``phases[c, r % P, q % P, r // P, q // P, n]`` holding the padded
    pixel (r, q): each copy ``im2col`` makes then reads runs of out_w*N contiguous numbers.
    """

    def __init__(
        self,
        stage: Stage,
        in_shape: tuple[int, int, int, int],
        dtype: np.dtype,
        train: bool,
        input_grad: bool = True,
    ) -> None:
        c, h, w, n = in_shape
        fn, _, fh, fw = stage.conv.W.shape
        s, p = stage.conv.stride, stage.conv.pad
        k = self.k = stage.pool or 1
        conv_h, conv_w = conv_output_hw((n, c, h, w), fh, fw, s, p, "Convolution")
        out_h, out_w = conv_h, conv_w
        if stage.pool:
            out_h, out_w = conv_output_hw((n, fn, conv_h, conv_w), k, k, k, 0, "Pooling")
        self.in_shape = in_shape
        self.out_hw = (out_h, out_w)  # after the pooling, if any
        m = k * k * out_h * out_w * n  # the convolution outputs the pooling uses
        rows = c * fh * fw
        size = np.dtype(dtype).itemsize
        # The padded input in phases: (C, P, P, ceil((H + 2p) / P), ceil((W + 2p) / P), N);
        # the border stays zero. With P = 1 (stride 1, no pooling) it is the padded input.
        step = self.step = s * k
        hp, wp = h + 2 * p, w + 2 * p
        self.phases = np.zeros((c, step, step, -(-hp // step), -(-wp // step), n), dtype=dtype)
        # Where the input goes: (phase view, rows, columns of the input) for each phase.
        self.input_parts = []
        for u in range(step):
            for v in range(step):
                r0, c0 = (u - p) % step, (v - p) % step  # the first input row in phase u
                nr, nc = len(range(r0, h, step)), len(range(c0, w, step))
                top, left = (r0 + p) // step, (c0 + p) // step
                part = self.phases[:, u, v, top : top + nr, left : left + nc]
                self.input_parts.append((part, slice(r0, h, step), slice(c0, w, step)))
        # im2col of a few pooled rows of one window offset: (C*FH*FW + 1, chunk rows *
        # out_w * N), the last row ones (the bias's input). The backward pass forms them
        # again rather than keep them all.
        row_chunks = _chunks(out_h, (rows + 1) * out_w * n * size)
        self.chunks = [(block, first, stop) for block in range(k * k) for first, stop in row_chunks]
        most = max(stop - first for first, stop in row_chunks)
        self.col = np.empty((rows + 1, most * out_w * n), dtype=dtype)
        self.col[rows] = 1
        self.out = np.empty((fn, m), dtype=dtype)  # the product: convolution outputs
        self.pooled = np.empty((fn, out_h, out_w, n), dtype=dtype) if stage.pool else None
        self.w_aug = np.empty((fn, rows + 1), dtype=dtype)  # [W | b]
        if train:
            self.dout = np.empty((fn, m), dtype=dtype)  # dL/d(convolution output)
            self.mask = np.empty((fn, out_h * out_w * n), dtype=bool)
            self.dw_aug = np.empty((fn, rows + 1), dtype=dtype)
            self.dw_part = np.empty((fn, rows + 1), dtype=dtype)  # one chunk's share
            # (The first stage forms no input gradient: the images need none.)
            if input_grad and s == 1:  # dL/dx as a convolution of the padded dL/dout
                # dL/d(convolution output), padded by FH-1 and FW-1 so that every filter
                # offset reads inside; outputs a floored pooling leaves out stay 0.
                gh, gw = hp + fh - 1, wp + fw - 1
                self.gpad = np.zeros((fn, gh, gw, n), dtype=dtype)
                # Its im2col, a few rows of dL/dx at a time: (FN*FH*FW, chunk rows * W * N)
                self.dx_chunks = _chunks(h, fn * fh * fw * w * n * size)
                most_dx = max(stop - first for first, stop in self.dx_chunks)
                self.gcol = np.empty((fn * fh * fw, most_dx * w * n), dtype=dtype)
                self.w_t = np.empty((c, fn * fh * fw), dtype=dtype)
                self.dx = np.empty((c, h, w, n), dtype=dtype)
            elif input_grad:  # dL/dcol, then col2im into the padded input's gradient
                self.dcol = np.empty((rows, most * out_w * n), dtype=dtype)
                self.dpadded = np.empty((c, hp, wp, n), dtype=dtype)
            if stage.pool:
                self.dpooled = np.empty((fn, out_h * out_w * n), dtype=dtype)
                self.equal = np.empty((fn, out_h * out_w * n), dtype=bool)

    def write_input(self, a: NDArray, relu: bool) -> None:
        """Write ``a`` (C, H, W, N), through a ReLU if ``relu``, into the padded phases."""
        for part, rows, cols in self.input_parts:
            if relu:
                np.maximum(a[:, rows, cols], 0, out=part)
            else:
                part[...] = a[:, rows, cols]

    def forward(self, stage: Stage) -> NDArray:
        """The convolution of the padded input (its bias included) and the max pooling, if
        any: the stage's output before its ReLU, (FN, H, W, N), a view of ``pooled`` or
        ``out``."""
        conv, k = stage.conv, stage.pool
        fn = conv.W.shape[0]
        rows = self.col.shape[0] - 1
        self.w_aug[:, :rows] = conv.W.reshape(fn, rows)
        self.w_aug[:, rows] = conv.b
        self.col[rows] = 1  # the bias's input (at inference the stages share ``col``)
        for chunk in self.chunks:
            col = self.columns(stage, *chunk)
            np.matmul(self.w_aug, col, out=self.out[:, self.span(*chunk)])
        if not k:
            return self.out.reshape(fn, *self.out_hw, self.in_shape[3])
        # The max over the k*k blocks: one elementwise maximum per window offset.
        blocks = self.out.reshape(fn, k * k, -1)
        pooled = self.pooled.reshape(fn, -1)
        np.maximum(blocks[:, 0], blocks[:, 1], out=pooled)
        for j in range(2, k * k):
            np.maximum(pooled, blocks[:, j], out=pooled)
        return self.pooled

    def span(self, block: int, first: int, stop: int) -> slice:
        """The product's columns for pooled rows ``first`` to ``stop`` of window offset
        ``block``."""
        out_h, out_w = self.out_hw
        per_row = out_w * self.in_shape[3]
        return slice((block * out_h + first) * per_row, (block * out_h + stop) * per_row)

    def windows(self, stage: Stage, block: int) -> list[tuple[tuple[int, int], int, int]]:
        """((y, x), u, v) for every copy im2col makes for window offset ``block`` = (a, b):
        filter offset (y, x) reads padded rows and columns u + P*i and v + P*j of pooled
        position (i, j), with u = s*a + y and v = s*b + x."""
        fh, fw = stage.conv.W.shape[2:]
        a, b = divmod(block, self.k)
        s = stage.conv.stride
        return [((y, x), s * a + y, s * b + x) for y in range(fh) for x in range(fw)]

    def columns(self, stage: Stage, block: int, first: int, stop: int) -> NDArray:
        """im2col of pooled rows ``first`` to ``stop`` of window offset ``block``:
        (C*FH*FW + 1, (stop - first)*out_w*N), a view of ``col``."""
        c, _, _, n = self.in_shape
        fh, fw = stage.conv.W.shape[2:]
        out_w, step = self.out_hw[1], self.step
        col = self.col[:, : (stop - first) * out_w * n]
        # Splitting both axes of a slice is always a view: the copies land in ``col``.
        view = col[:-1].reshape(c, fh, fw, stop - first, out_w, n)
        for (y, x), u, v in self.windows(stage, block):
            top, left = first + u // step, v // step
            phase = self.phases[:, u % step, v % step]
            view[:, y, x] = phase[:, top : top + stop - first, left : left + out_w]
        return col


def run_stages(stages: Sequence[Stage], bufs: Sequence[StageBuffers], x: NDArray) -> NDArray:
    """Run the stages on images ``x`` (N, C, H, W), each ReLU but the last written into the
    next stage's padded input; return the last stage's output before its ReLU, (FN, H, W, N),
    a view into its buffers."""
    bufs[0].write_input(x.transpose(1, 2, 3, 0), relu=False)
    for i, (stage, buf) in enumerate(zip(stages, bufs, strict=True)):
        a = buf.forward(stage)
        if i + 1 < len(bufs):  # ReLU, written into the next stage's padded input
            bufs[i + 1].write_input(a, relu=True)
    return a
