"""The array functions under convolution and pooling (chapter 7): ``im2col``, ``col2im`` and
``conv_output_size``; the layers themselves, ``Convolution`` and ``Pooling``, are in
:mod:`dlzero.layers.conv`.

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

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_int

__all__ = [
    "as_image_batch",
    "col2im",
    "conv_output_hw",
    "conv_output_size",
    "im2col",
    "window_slices",
]


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """Number of filter positions on one axis of the output: ``(H + 2*pad - FH) // stride + 1``.

    ``H`` is ``input_size`` and ``FH`` is ``filter_size``. The same formula serves convolution
    and pooling (the book's pooling layer forgets ``pad``). When the stride does not divide
    ``H + 2*pad - FH``, the division floors, as the book's layers, PyTorch and Keras do: the
    last rows (or columns) that no whole window reaches are left out. (The book's
    ``common/util.py`` version returns the unfloored float.)

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
        If the filter does not fit in the padded input.
    """
    input_size = check_int("input_size", input_size, 1)
    filter_size = check_int("filter_size", filter_size, 1)
    stride = check_int("stride", stride, 1)
    pad = check_int("pad", pad, 0)
    span = input_size + 2 * pad - filter_size
    if span < 0:
        raise ValueError(
            f"filter of size {filter_size} does not fit in an input of size {input_size} "
            f"with pad {pad} (padded size {input_size + 2 * pad})"
        )
    return span // stride + 1


def as_image_batch(x: NDArray, name: str) -> NDArray:
    """``x`` as an array of shape (N, C, H, W), or a ValueError that names ``name``."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected images of shape (N, C, H, W), got shape {x.shape}")
    return x


def conv_output_hw(
    shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int, pad: int, name: str
) -> tuple[int, int]:
    """(out_h, out_w) for images of ``shape`` (N, C, H, W), with ``name`` (a layer's) in errors."""
    try:
        out_h = conv_output_size(shape[2], filter_h, stride, pad)
        out_w = conv_output_size(shape[3], filter_w, stride, pad)
    except ValueError as err:
        raise ValueError(f"{name}: input of shape {tuple(shape)}: {err}") from None
    return out_h, out_w


def window_slices(
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
        ``out_h`` and ``out_w`` are :func:`conv_output_size`'s, floored: pixels past the last
        whole window are in no row.
        Row ``(n, i, j)`` (in C order) holds the window whose top-left corner is at
        ``(i*stride, j*stride)`` in padded image ``n``; column ``(c, y, x)`` is channel ``c``
        at offset ``(y, x)`` in the window, as in the book. The array is the transpose of a
        C-ordered buffer (see the module notes); ``col.T`` is that buffer, without a copy.
    """
    x = as_image_batch(input_data, "im2col")
    n, c = x.shape[:2]
    out_h, out_w = conv_output_hw(x.shape, filter_h, filter_w, stride, pad, "im2col")
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=pad_value)
    buf = np.empty((c, filter_h, filter_w, n, out_h, out_w), dtype=x.dtype)
    # Channels first in the buffer: the slice for one window offset is (N, C, out_h, out_w);
    # swapping its first two axes writes contiguous rows of out_w pixels.
    xt = x.transpose(1, 0, 2, 3)
    for y, x_, sy, sx in window_slices(filter_h, filter_w, stride, out_h, out_w):
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
        Pixels that no window reached (past the last whole window) receive 0.
    """
    if len(input_shape) != 4:
        raise ValueError(f"col2im: input_shape must be (N, C, H, W), got {input_shape!r}")
    n, c, h, w = (int(s) for s in input_shape)
    out_h, out_w = conv_output_hw((n, c, h, w), filter_h, filter_w, stride, pad, "col2im")
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
    for y, x_, sy, sx in window_slices(filter_h, filter_w, stride, out_h, out_w):
        img[:, :, sy, sx] += buf[:, y, x_]
    return img[:, :, pad : pad + h, pad : pad + w].transpose(1, 0, 2, 3)
