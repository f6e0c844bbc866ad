"""Convolution and pooling (chapter 7), built on ``im2col`` and ``col2im``.

A convolution slides each filter over the image and takes a dot product at every position.
``im2col`` ("image to columns") copies every filter-sized window of the input into one row of
a matrix, so that the whole convolution of a batch becomes a single matrix product with the
filters laid out as columns; ``col2im`` goes back, adding each row's values to the pixels the
window came from, which is exactly the backward pass of ``im2col``. The two are adjoint linear
maps: ``<im2col(x), y> == <x, col2im(y)>`` (a test checks it).

Both loop over the positions *inside* the filter window (``filter_h * filter_w`` iterations,
25 for a 5x5 filter), each iteration copying one strided slice of the whole batch at once;
nothing loops over samples or pixels.

Memory layout. The book's ``im2col`` returns a C-ordered matrix of shape
(N*out_h*out_w, C*filter_h*filter_w). Here the same matrix, with the same values at the same
indices, is the transpose of a C-ordered (C*filter_h*filter_w, N*out_h*out_w) buffer. Filling
that buffer copies whole rows of output pixels at a time, and BLAS multiplies a transposed
matrix as fast as a plain one, so the convolution's products need no extra copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero.layers import Layer

__all__ = ["Convolution", "Pooling", "col2im", "conv_output_size", "im2col"]


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """Number of filter positions on one axis of the output: ``(H + 2*pad - FH) / stride + 1``.

    ``H`` is ``input_size`` and ``FH`` is ``filter_size``. The same formula serves convolution
    and pooling (the book's pooling layer forgets ``pad``).

    Parameters
    ----------
    input_size : int
        Height or width of the input.
    filter_size : int
        Height or width of the filter (or pooling window).
    stride : int, default 1
    pad : int, default 0
        Zeros added on each side.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If the filter does not fit in the padded input, or the stride does not divide
        ``input_size + 2*pad - filter_size`` (the last window would hang over the edge and
        the book's code would silently drop a row of pixels).
    """
    input_size = _check_int("input_size", input_size, 1)
    filter_size = _check_int("filter_size", filter_size, 1)
    stride = _check_int("stride", stride, 1)
    pad = _check_int("pad", pad, 0)
    span = input_size + 2 * pad - filter_size
    if span < 0:
        raise ValueError(
            f"filter of size {filter_size} does not fit in an input of size {input_size} "
            f"with pad {pad} (padded size {input_size + 2 * pad})"
        )
    if span % stride:
        raise ValueError(
            f"stride {stride} does not divide (input {input_size} + 2*pad {pad} - filter "
            f"{filter_size}) = {span}: the windows would give {span / stride + 1:g} positions; "
            "change the pad, stride or input size"
        )
    return span // stride + 1


def _check_image_batch(x: NDArray, name: str) -> NDArray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected images of shape (N, C, H, W), got shape {x.shape}")
    return x


def _output_hw(
    shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int, pad: int, name: str
) -> tuple[int, int]:
    """(out_h, out_w) for images of ``shape`` (N, C, H, W), with the layer's name in errors."""
    try:
        out_h = conv_output_size(shape[2], filter_h, stride, pad)
        out_w = conv_output_size(shape[3], filter_w, stride, pad)
    except ValueError as err:
        raise ValueError(f"{name}: input of shape {tuple(shape)}: {err}") from None
    return out_h, out_w


def _window_slices(
    filter_h: int, filter_w: int, stride: int, out_h: int, out_w: int
) -> list[tuple[int, int, slice, slice]]:
    """The offsets ``(y, x)`` inside a window, each with the slices ``(sy, sx)`` that pick it.

    ``img[..., sy, sx]`` (a strided view of the padded image, shape (..., out_h, out_w)) holds
    the pixel at offset ``(y, x)`` of every window at once. The one loop of im2col, col2im and
    pooling runs over this list.
    """
    return [
        (y, x, slice(y, y + stride * out_h, stride), slice(x, x + stride * out_w, stride))
        for y in range(filter_h)
        for x in range(filter_w)
    ]


def im2col(
    input_data: NDArray,
    filter_h: int,
    filter_w: int,
    stride: int = 1,
    pad: int = 0,
    *,
    pad_value: float = 0,
) -> NDArray:
    """Unfold every filter window of a batch of images into one row of a matrix.

    Parameters
    ----------
    input_data : ndarray, shape (N, C, H, W)
    filter_h, filter_w : int
        Window size.
    stride : int, default 1
    pad : int, default 0
        Each image is padded with ``pad`` values on every side first.
    pad_value : float, default 0
        The padding value (max pooling pads with ``-inf``, so padding never wins).

    Returns
    -------
    col : ndarray, shape (N*out_h*out_w, C*filter_h*filter_w), dtype of ``input_data``
        Row ``(n, i, j)`` (in C order) holds the window whose top-left corner is at
        ``(i*stride, j*stride)`` in padded image ``n``; column ``(c, y, x)`` is channel ``c``
        at offset ``(y, x)`` in the window, as in the book. The array is the transpose of a
        C-ordered buffer (see the module notes); ``col.T`` is that buffer, without a copy.
    """
    x = _check_image_batch(input_data, "im2col")
    n, c = x.shape[:2]
    out_h, out_w = _output_hw(x.shape, filter_h, filter_w, stride, pad, "im2col")
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=pad_value)
    buf = np.empty((c, filter_h, filter_w, n, out_h, out_w), dtype=x.dtype)
    # Channels first in the buffer: the slice for one window offset is (N, C, out_h, out_w);
    # swapping its first two axes writes contiguous rows of out_w pixels.
    xt = x.transpose(1, 0, 2, 3)
    for y, x_, sy, sx in _window_slices(filter_h, filter_w, stride, out_h, out_w):
        buf[:, y, x_] = xt[:, :, sy, sx]
    return buf.reshape(c * filter_h * filter_w, n * out_h * out_w).T


def col2im(
    col: NDArray,
    input_shape: tuple[int, int, int, int],
    filter_h: int,
    filter_w: int,
    stride: int = 1,
    pad: int = 0,
) -> NDArray:
    """Fold a column matrix back into images, adding the values of overlapping windows.

    The adjoint (transpose) of :func:`im2col`: where windows overlap, a pixel receives the sum
    of every window value copied from it. This is the backward pass of ``im2col``.

    Parameters
    ----------
    col : ndarray, shape (N*out_h*out_w, C*filter_h*filter_w)
        Laid out as :func:`im2col` returns it (either memory order works; the transpose of a
        C-ordered array, as ``im2col`` returns, needs no copy).
    input_shape : tuple of int
        (N, C, H, W), the shape of the images ``col`` came from.
    filter_h, filter_w, stride, pad : int
        As given to ``im2col``.

    Returns
    -------
    ndarray, shape (N, C, H, W), dtype of ``col``
    """
    if len(input_shape) != 4:
        raise ValueError(f"col2im: input_shape must be (N, C, H, W), got {input_shape!r}")
    n, c, h, w = (int(s) for s in input_shape)
    out_h, out_w = _output_hw((n, c, h, w), filter_h, filter_w, stride, pad, "col2im")
    col = np.asarray(col)
    expected = (n * out_h * out_w, c * filter_h * filter_w)
    if col.shape != expected:
        raise ValueError(
            f"col2im: for input shape {(n, c, h, w)}, filter {filter_h}x{filter_w}, stride "
            f"{stride}, pad {pad}, col must have shape {expected}, got {col.shape}"
        )
    buf = np.ascontiguousarray(col.T).reshape(c, filter_h, filter_w, n, out_h, out_w)
    # The result has the dtype of col: float32 gradients stay float32.
    img = np.zeros((c, n, h + 2 * pad, w + 2 * pad), dtype=col.dtype)
    for y, x_, sy, sx in _window_slices(filter_h, filter_w, stride, out_h, out_w):
        img[:, :, sy, sx] += buf[:, y, x_]
    return img[:, :, pad : pad + h, pad : pad + w].transpose(1, 0, 2, 3)


class Convolution(Layer):
    """Convolution layer: each of ``FN`` filters slides over the input, one dot product a place.

    Parameters
    ----------
    W : ndarray, shape (FN, C, FH, FW)
        Filters; kept as is (no copy), so the network's ``params`` dict shares them.
    b : ndarray, shape (FN,)
        One bias per filter, shared the same way.
    stride : int, default 1
    pad : int, default 0
        Zero padding on each side of the input.

    Notes
    -----
    ``forward`` computes ``im2col(x)`` once and one matrix product with the filters;
    ``backward`` reuses that matrix for ``dW`` and folds ``dout @ W`` back with ``col2im`` for
    ``dx``. After ``backward``, ``dW`` (shape (FN, C, FH, FW)) and ``db`` (shape (FN,)) hold
    the gradients.

    Attributes
    ----------
    compute_dx : bool, default True
        When False, ``backward`` computes ``dW`` and ``db`` only and returns None. A network
        sets it on its first layer for a training step, where the gradient with respect to the
        input images would be thrown away.
    """

    compute_dx: bool = True

    param_names = ("W", "b")

    def __init__(self, W: NDArray, b: NDArray, stride: int = 1, pad: int = 0) -> None:
        W = np.asarray(W)
        b = np.asarray(b)
        if W.ndim != 4 or b.shape != (W.shape[0],):
            raise ValueError(
                "Convolution: W must be 4-D (FN, C, FH, FW) and b of shape (FN,); "
                f"got W {W.shape}, b {b.shape}"
            )
        self.W = W
        self.b = b
        self.stride = _check_int("stride", stride, 1)
        self.pad = _check_int("pad", pad, 0)
        self.x_shape: tuple[int, ...] | None = None
        self.col: NDArray | None = None
        self.dW: NDArray | None = None
        self.db: NDArray | None = None

    def forward(self, x: NDArray) -> NDArray:
        """x : ndarray, shape (N, C, H, W) -> ndarray, shape (N, FN, out_h, out_w)."""
        x = _check_image_batch(x, "Convolution")
        fn, c, fh, fw = self.W.shape
        if x.shape[1] != c:
            raise ValueError(
                f"Convolution: filters of shape {self.W.shape} expect {c} input channels, "
                f"got input of shape {x.shape}"
            )
        out_h, out_w = _output_hw(x.shape, fh, fw, self.stride, self.pad, "Convolution")
        n = x.shape[0]
        col = im2col(x, fh, fw, self.stride, self.pad)  # (N*out_h*out_w, C*FH*FW)
        # One product for the whole batch: (FN, C*FH*FW) @ col.T -> (FN, N*out_h*out_w).
        out = self.W.reshape(fn, -1) @ col.T
        out += self.b.reshape(fn, 1)
        self.x_shape = x.shape
        self.col = col
        return np.ascontiguousarray(out.reshape(fn, n, out_h, out_w).transpose(1, 0, 2, 3))

    def backward(self, dout: NDArray) -> NDArray | None:
        """dout : ndarray, shape (N, FN, out_h, out_w) -> dx, shape (N, C, H, W)."""
        dout = np.asarray(dout)
        fn, c, fh, fw = self.W.shape
        # (FN, N*out_h*out_w): the layout of the forward product's result.
        dout_t = dout.transpose(1, 0, 2, 3).reshape(fn, -1)
        self.db = dout_t.sum(axis=1)
        self.dW = (dout_t @ self.col).reshape(fn, c, fh, fw)
        if not self.compute_dx:
            return None
        dcol_t = self.W.reshape(fn, -1).T @ dout_t  # (C*FH*FW, N*out_h*out_w)
        return col2im(dcol_t.T, self.x_shape, fh, fw, self.stride, self.pad)

    def __repr__(self) -> str:
        return (
            f"Convolution(W={self.W.shape}, b={self.b.shape}, stride={self.stride}, pad={self.pad})"
        )


class Pooling(Layer):
    """Pooling layer: the maximum (or the mean) of each ``pool_h x pool_w`` window, per channel.

    Parameters
    ----------
    pool_h, pool_w : int
        Window size.
    stride : int, default 2
        The usual 2x2 pooling with stride 2 halves the height and width. (The book's default
        is 1; its networks always pass 2.)
    pad : int, default 0
        Padding on each side. Max pooling pads with ``-inf`` so that padding is never the
        maximum, and needs ``pad < pool_h`` and ``pad < pool_w`` so that every window holds at
        least one real pixel; average pooling pads with zeros and always divides by
        ``pool_h * pool_w`` (PyTorch's ``count_include_pad=True``).
    mode : {"max", "avg"}, default "max"

    Notes
    -----
    Pooling works on the same windows as :func:`im2col`, with the same loop over the
    ``pool_h * pool_w`` offsets inside the window, but reduces each strided slice as it goes
    instead of first copying them all into a column matrix: for max pooling, ``out`` keeps the
    running maximum and ``arg_max`` the offset that gave it (the first one, on ties, as the
    book's ``argmax``). ``backward`` then sends each output gradient to that one input with a
    comparison per offset, instead of the book's scatter into a zero matrix and ``col2im``;
    where windows do not overlap (stride >= window, the usual case) each slice of ``dx`` is
    written once rather than accumulated. ``tests/test_conv.py`` checks both against the
    book's im2col formulation.
    """

    def __init__(
        self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0, *, mode: str = "max"
    ) -> None:
        self.pool_h = _check_int("pool_h", pool_h, 1)
        self.pool_w = _check_int("pool_w", pool_w, 1)
        self.stride = _check_int("stride", stride, 1)
        self.pad = _check_int("pad", pad, 0)
        if mode not in ("max", "avg"):
            raise ValueError(f"Pooling: mode must be 'max' or 'avg', got {mode!r}")
        if mode == "max" and (self.pad >= self.pool_h or self.pad >= self.pool_w):
            raise ValueError(
                f"Pooling: max pooling needs pad < pool size, so that no window is all "
                f"padding; got pad {pad} for a {pool_h}x{pool_w} window"
            )
        self.mode = mode
        self.x_shape: tuple[int, ...] | None = None
        self.arg_max: NDArray | None = None

    def _slices(self, out_h: int, out_w: int) -> list[tuple[slice, slice]]:
        return [
            sl for _, _, *sl in _window_slices(self.pool_h, self.pool_w, self.stride, out_h, out_w)
        ]

    def forward(self, x: NDArray) -> NDArray:
        """x : ndarray, shape (N, C, H, W) -> ndarray, shape (N, C, out_h, out_w)."""
        x = _check_image_batch(x, "Pooling")
        out_h, out_w = _output_hw(
            x.shape, self.pool_h, self.pool_w, self.stride, self.pad, "Pooling"
        )
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        self.x_shape = x.shape
        if self.pad:
            p = self.pad
            x = np.pad(
                x,
                ((0, 0), (0, 0), (p, p), (p, p)),
                constant_values=-np.inf if self.mode == "max" else 0,
            )
        views = [x[:, :, sy, sx] for sy, sx in self._slices(out_h, out_w)]
        out = views[0].copy()
        if self.mode == "max":
            k = len(views)
            arg_dtype = np.int8 if k <= 127 else np.intp
            arg = np.zeros(out.shape, dtype=arg_dtype)
            greater = np.empty(out.shape, dtype=bool)
            candidate = np.empty(out.shape, dtype=arg_dtype)
            for offset, view in enumerate(views[1:], start=1):
                # Strictly greater: on ties the first offset keeps the maximum.
                np.greater(view, out, out=greater)
                # ``arg[greater] = offset``, without a masked write (4x slower here): offsets
                # only grow, so the last offset that beat the running maximum is the largest.
                np.multiply(greater, arg_dtype(offset), out=candidate)
                np.maximum(arg, candidate, out=arg)
                np.maximum(out, view, out=out)
            self.arg_max = arg
        else:
            for view in views[1:]:
                out += view
            out /= out.dtype.type(len(views))
        return out

    def backward(self, dout: NDArray) -> NDArray:
        """dout : ndarray, shape (N, C, out_h, out_w) -> dx, shape (N, C, H, W)."""
        dout = np.asarray(dout)
        n, c, h, w = self.x_shape
        p = self.pad
        slices = self._slices(dout.shape[2], dout.shape[3])
        dx = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=dout.dtype)
        if self.mode == "avg":
            dout = dout / dout.dtype.type(len(slices))
        # Windows that do not overlap write disjoint slices of dx: no accumulation needed.
        overlap = self.stride < self.pool_h or self.stride < self.pool_w
        for offset, (sy, sx) in enumerate(slices):
            part = dout * (self.arg_max == offset) if self.mode == "max" else dout
            if overlap:
                dx[:, :, sy, sx] += part
            else:
                dx[:, :, sy, sx] = part
        return dx[:, :, p : p + h, p : p + w] if p else dx

    def __repr__(self) -> str:
        return (
            f"Pooling({self.pool_h}, {self.pool_w}, stride={self.stride}, pad={self.pad}, "
            f"mode={self.mode!r})"
        )
