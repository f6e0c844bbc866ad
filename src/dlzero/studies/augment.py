"""Data augmentation: small random shifts and rotations of the training images, on the fly.

A digit moved by a pixel or two, or turned by a few degrees, is still the same digit. Training
on such variations of the training images, drawn anew for every mini-batch, is the data
augmentation the book mentions in chapter 8 (section 8.1.2) for going past 99.3%: the network
sees images it has never seen and cannot memorize the exact pixels.

:func:`shift_rotate` moves and turns each image by given amounts (bilinear interpolation,
zeros coming in from outside); :class:`Augmentation` draws the amounts at random from a
seeded generator and is what the trainer takes (``Trainer(steps=Steps(augment=...))``,
``dlzero train --augment``). Everything is NumPy, vectorized over the batch.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_int

__all__ = ["Augmentation", "shift_rotate"]


def _as_square_images(x: NDArray) -> tuple[NDArray, tuple[int, ...]]:
    """``x`` as (N, C, H, W): image batches pass as they are, flat square images (N, H*W) are
    viewed as (N, 1, H, H). Returns the view and the original shape."""
    x = np.asarray(x)
    if x.ndim == 4:
        return x, x.shape
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side == x.shape[1]:
            return x.reshape(len(x), 1, side, side), x.shape
    raise ValueError(
        f"augmentation: expected images of shape (N, C, H, W) or flat square images (N, H*W), "
        f"got shape {x.shape}"
    )


def shift_rotate(
    images: NDArray, shifts: NDArray, degrees: NDArray, out: NDArray | None = None
) -> NDArray:
    """Move each image by ``shifts[n]`` pixels and turn it by ``degrees[n]`` about its centre.

    Each output pixel takes the bilinear interpolation of the input at the point that the
    motion brings onto it; points outside the image count as 0 (MNIST's background).

    Parameters
    ----------
    images : ndarray, shape (N, C, H, W), or (N, H*W) for square one-channel images
    shifts : ndarray, shape (N, 2)
        (down, right) in pixels, any real values.
    degrees : ndarray, shape (N,)
        Counter-clockwise as the image is displayed (row 0 at the top).
    out : ndarray, optional
        Where to write the result, shape and dtype of ``images`` (not ``images`` itself).

    Returns
    -------
    ndarray, the shape and dtype of ``images`` (floating)
    """
    x, shape = _as_square_images(images)
    n, c, h, w = x.shape
    shifts = np.asarray(shifts, dtype=np.float64)
    degrees = np.asarray(degrees, dtype=np.float64)
    if shifts.shape != (n, 2) or degrees.shape != (n,):
        raise ValueError(
            f"shift_rotate: {n} images need shifts of shape ({n}, 2) and degrees of shape "
            f"({n},); got {shifts.shape} and {degrees.shape}"
        )
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)
    # Output pixel p comes from the input point q = R^-1 (p - centre - shift) + centre, where
    # R turns by the angle. Rows point down, so a counter-clockwise turn on screen takes
    # (y, x) to (cos y - sin x, sin y + cos x); its inverse is below.
    cy, cx = (h - 1) / 2, (w - 1) / 2
    rows, cols = np.mgrid[0:h, 0:w]
    py = rows[None] - cy - shifts[:, 0, None, None]  # (N, H, W)
    px = cols[None] - cx - shifts[:, 1, None, None]
    theta = np.deg2rad(degrees)[:, None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    sy = cos * py + sin * px + cy
    sx = cos * px - sin * py + cx
    y0, x0 = np.floor(sy), np.floor(sx)
    fy, fx = (sy - y0).astype(dtype), (sx - x0).astype(dtype)
    y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
    flat = x.reshape(n, c, h * w)
    result = np.zeros((n, c, h, w), dtype=dtype)
    for dy, dx, weight in (
        (0, 0, (1 - fy) * (1 - fx)),
        (0, 1, (1 - fy) * fx),
        (1, 0, fy * (1 - fx)),
        (1, 1, fy * fx),
    ):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        index = np.where(inside, yy * w + xx, 0).reshape(n, 1, h * w)
        values = np.take_along_axis(flat, np.broadcast_to(index, (n, c, h * w)), axis=2)
        result += values.reshape(n, c, h, w) * (weight * inside)[:, None].astype(dtype)
    result = result.reshape(shape)
    if out is None:
        return result
    out[...] = result
    return out


class Augmentation:
    """Random shifts and rotations of each mini-batch, for the trainer.

    Every image of a batch gets its own shift, drawn uniformly from
    [-max_shift, max_shift] pixels on each axis, and its own rotation, uniform in
    [-max_degrees, max_degrees]; the test images are never augmented.

    Parameters
    ----------
    max_shift : float, default 2
        In pixels (MNIST's digits are centred in a 28x28 frame with a 4-pixel margin).
    max_degrees : float, default 10

    Call it as ``augmentation(x, rng)`` to get an augmented copy of the batch ``x``; the same
    generator state gives the same images.
    """

    def __init__(self, max_shift: float = 2.0, max_degrees: float = 10.0) -> None:
        for name, value in (("max_shift", max_shift), ("max_degrees", max_degrees)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not np.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"Augmentation: {name} must be a number >= 0, got {value!r}")
        if max_degrees > 180:
            raise ValueError(f"Augmentation: max_degrees must be at most 180, got {max_degrees}")
        self.max_shift = float(max_shift)
        self.max_degrees = float(max_degrees)

    def __call__(self, x: NDArray, rng: np.random.Generator, out: NDArray | None = None) -> NDArray:
        """An augmented copy of the batch ``x`` (see :func:`shift_rotate` for the shapes)."""
        n = check_int("batch size", len(x), 1)
        shifts = rng.uniform(-self.max_shift, self.max_shift, size=(n, 2))
        degrees = rng.uniform(-self.max_degrees, self.max_degrees, size=n)
        return shift_rotate(x, shifts, degrees, out=out)

    @property
    def config(self) -> dict[str, float]:
        """The settings, as JSON-able values (recorded in a training history)."""
        return {"max_shift": self.max_shift, "max_degrees": self.max_degrees}

    def __repr__(self) -> str:
        return f"Augmentation(max_shift={self.max_shift:g}, max_degrees={self.max_degrees:g})"
