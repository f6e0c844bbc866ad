"""Chapter 7's layers: ``Convolution`` and ``Pooling``, both on ``im2col``.

``im2col`` (:mod:`dlzero.layers.im2col`) copies every window of the input into one row of a
matrix. A convolution is then one matrix product with the filters, and a pooling the maximum
(or mean) of each row; ``col2im`` takes each backward pass back to the image.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_int
from dlzero.layers.basic import Layer, _as_bias, _sum_to
from dlzero.layers.im2col import as_image_batch, col2im, conv_output_hw, im2col

__all__ = ["Convolution", "Pooling"]


class Convolution(Layer):
    """Convolution layer: each of ``FN`` filters slides over the input, one dot product a place.

    Parameters
    ----------
    W : ndarray, shape (FN, C, FH, FW)
        Filters; kept as is (no copy), so the network's ``params`` dict shares them.
    b : ndarray, shape (FN,), or a scalar
        One bias per filter, shared the same way; a scalar (the book's ``Convolution(W, b=0)``)
        is one bias for all filters, and ``db`` is then a scalar too.
    stride : int, default 1
    pad : int, default 0
        Zero padding on each side of the input.

    Notes
    -----
    ``forward`` computes ``im2col(x)`` once and one matrix product with the filters;
    ``backward`` reuses that matrix for ``dW`` and folds ``dout @ W`` back with ``col2im`` for
    ``dx``. After ``backward``, ``dW`` (shape (FN, C, FH, FW)) and ``db`` (the shape of ``b``)
    hold the gradients. ``out_h`` and ``out_w`` are
    :func:`~dlzero.layers.im2col.conv_output_size`'s: when the stride does not divide the padded
    size less the filter's, they floor, and the pixels past the last whole window get ``dx = 0``.
    """

    param_names = ("W", "b")

    def __init__(self, W: NDArray, b: NDArray, stride: int = 1, pad: int = 0) -> None:
        W = np.asarray(W)
        b = _as_bias(b, W)
        if W.ndim != 4 or b.shape not in ((W.shape[0],), ()):
            raise ValueError(
                "Convolution: W must be 4-D (FN, C, FH, FW) and b of shape (FN,) or a scalar; "
                f"got W {W.shape}, b {b.shape}"
            )
        self.W = W
        self.b = b
        self.stride = check_int("stride", stride, 1)
        self.pad = check_int("pad", pad, 0)
        self.x_shape: tuple[int, ...] | None = None
        self.col: NDArray | None = None
        self.dW: NDArray | None = None
        self.db: NDArray | None = None

    def forward(self, x: NDArray) -> NDArray:
        """x : ndarray, shape (N, C, H, W) -> ndarray, shape (N, FN, out_h, out_w)."""
        x = as_image_batch(x, "Convolution")
        fn, c, fh, fw = self.W.shape
        if x.shape[1] != c:
            raise ValueError(
                f"Convolution: filters of shape {self.W.shape} expect {c} input channels, "
                f"got input of shape {x.shape}"
            )
        out_h, out_w = conv_output_hw(x.shape, fh, fw, self.stride, self.pad, "Convolution")
        n = x.shape[0]
        col = im2col(x, fh, fw, self.stride, self.pad)  # (N*out_h*out_w, C*FH*FW)
        # One product for the whole batch: (FN, C*FH*FW) @ col.T -> (FN, N*out_h*out_w).
        out = self.W.reshape(fn, -1) @ col.T
        out += self.b.reshape(-1, 1)  # (FN, 1), or (1, 1) for a scalar bias
        self.x_shape = x.shape
        self.col = col
        return np.ascontiguousarray(out.reshape(fn, n, out_h, out_w).transpose(1, 0, 2, 3))

    def backward(self, dout: NDArray) -> NDArray:
        """dout : ndarray, shape (N, FN, out_h, out_w) -> dx, shape (N, C, H, W)."""
        dout = np.asarray(dout)
        fn, c, fh, fw = self.W.shape
        # (FN, N*out_h*out_w): the layout of the forward product's result.
        dout_t = dout.transpose(1, 0, 2, 3).reshape(fn, -1)
        self.db = dout_t.sum(axis=1)
        if self.db.shape != self.b.shape:  # a scalar bias
            self.db = _sum_to(self.db, self.b.shape)
        self.dW = (dout_t @ self.col).reshape(fn, c, fh, fw)
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
    The book's algorithm: ``im2col`` lays each window of each channel out as one row of
    ``pool_h * pool_w`` values; ``forward`` takes each row's maximum and remembers where it
    was (``arg_max``, the first on ties); ``backward`` puts each output gradient back at that
    one place in its row and folds the rows back into an image with ``col2im``. As for
    ``Convolution``, the output size floors when the stride does not divide the input: a 5x5
    input pooled 2x2 with stride 2 gives 2x2, its last row and column unused.
    """

    def __init__(
        self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0, *, mode: str = "max"
    ) -> None:
        self.pool_h = check_int("pool_h", pool_h, 1)
        self.pool_w = check_int("pool_w", pool_w, 1)
        self.stride = check_int("stride", stride, 1)
        self.pad = check_int("pad", pad, 0)
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

    def forward(self, x: NDArray) -> NDArray:
        """x : ndarray, shape (N, C, H, W) -> ndarray, shape (N, C, out_h, out_w)."""
        x = as_image_batch(x, "Pooling")
        ph, pw, p = self.pool_h, self.pool_w, self.pad
        n, c = x.shape[:2]
        out_h, out_w = conv_output_hw(x.shape, ph, pw, self.stride, p, "Pooling")
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        self.x_shape = x.shape
        if p:  # padded here, with -inf for max pooling: padding is never a window's maximum
            pad_value = -np.inf if self.mode == "max" else 0
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=pad_value)
        # One row per window and channel: (N*out_h*out_w*C, pool_h*pool_w).
        col = im2col(x, ph, pw, self.stride, 0).reshape(-1, ph * pw)
        if self.mode == "max":
            self.arg_max = np.argmax(col, axis=1)
            out = np.max(col, axis=1)
        else:
            out = np.mean(col, axis=1)
        return out.reshape(n, out_h, out_w, c).transpose(0, 3, 1, 2)

    def backward(self, dout: NDArray) -> NDArray:
        """dout : ndarray, shape (N, C, out_h, out_w) -> dx, shape (N, C, H, W)."""
        dout = np.asarray(dout).transpose(0, 2, 3, 1)  # rows in the order of forward's col
        n, c, h, w = self.x_shape
        p, size = self.pad, self.pool_h * self.pool_w
        if self.mode == "max":
            # Each output's gradient goes to the one input that was the window's maximum.
            dcol = np.zeros((dout.size, size), dtype=dout.dtype)
            dcol[np.arange(dout.size), self.arg_max] = dout.reshape(-1)
        else:
            # The mean: every input of the window gets an equal share.
            share = dout.reshape(-1, 1) / dout.dtype.type(size)
            dcol = np.broadcast_to(share, (dout.size, size))
        dcol = dcol.reshape(-1, c * size)  # (N*out_h*out_w, C*pool_h*pool_w), as im2col's
        padded = (n, c, h + 2 * p, w + 2 * p)
        dx = col2im(dcol, padded, self.pool_h, self.pool_w, self.stride, 0)
        return dx[:, :, p : p + h, p : p + w] if p else dx

    def __repr__(self) -> str:
        return (
            f"Pooling({self.pool_h}, {self.pool_w}, stride={self.stride}, pad={self.pad}, "
            f"mode={self.mode!r})"
        )
