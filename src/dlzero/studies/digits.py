"""Turn a picture of a handwritten digit into an MNIST-like input, as MNIST itself was made.

MNIST's digits are white on black, 28x28 pixels: each was "size normalized to fit in a 20x20
pixel box while preserving [its] aspect ratio" with anti-aliasing, then placed in the 28x28
field so that its centre of mass lies at the centre (LeCun et al.). A digit drawn in a paint
program or photographed on paper is none of that: dark on light, any size, anywhere in the
picture, in colour. :func:`to_mnist` repeats MNIST's steps on such a picture::

    grayscale -> invert if dark on light -> stretch the contrast -> crop to the digit
    -> fit in 20x20 (aspect kept, anti-aliased) -> paste into 28x28, centre of mass at (14, 14)

The centre is (14, 14) in pixel-index coordinates (rows and columns 0..27): the mean centre of
mass of MNIST's 60,000 training digits is (13.996, 14.007) there.

Pillow decodes the files (PNG, JPEG and whatever else it reads); it is imported only when a
file is read, so ``import dlzero`` does not need it.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DIGIT_BOX",
    "IMAGE_SIZE",
    "MAX_PIXELS",
    "RASTER_FORMATS",
    "ImageError",
    "decode_image",
    "load_digit",
    "read_image",
    "to_mnist",
]

IMAGE_SIZE = 28  # MNIST's field
DIGIT_BOX = 20  # the box the digit is scaled to fit
_CENTRE = 14.0  # where the centre of mass goes (pixel-index coordinates)
# Less contrast than this (a tenth of black-to-white) between the digit and the background
# is paper texture, JPEG noise or nothing at all, not a digit.
_MIN_CONTRAST = 0.1
# After stretching the contrast to [0, 1], darker pixels than this are background (specks,
# shading); they would otherwise widen the digit's bounding box.
_INK_FLOOR = 0.2
# Thin strokes are measured and widened at 4x the final scale (see _thicken_thin_strokes).
_WORK_BOX = 4 * DIGIT_BOX
_MNIST_STROKE = 2.6  # median stroke width of MNIST's digits, pixels in the 20-pixel box
#: The most pixels :func:`read_image` decodes (2048x2048): reading a picture takes about 30
#: bytes a pixel (its float64 grayscale and the steps of :func:`to_mnist`), so about 130 MB
#: here, and a PNG of a huge blank canvas is only kilobytes. A larger JPEG (a phone's photo)
#: is decoded at 1/2, 1/4 or 1/8 of its size to fit; anything else larger is refused.
MAX_PIXELS = 2048 * 2048


class ImageError(ValueError):
    """A file is not an image that can be read, or the image holds no digit.

    The message names the file (when there is one) and the fault.
    """


def _pil() -> Any:
    try:
        from PIL import Image, ImageOps
    except ImportError:  # pragma: no cover - Pillow comes with dlzero[cli]
        raise ImportError(
            "reading images needs Pillow: pip install pillow (or dlzero[cli])"
        ) from None
    return Image, ImageOps


def read_image(
    path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS
) -> NDArray[np.float64]:
    """Read a picture as grayscale brightness in [0, 1] (0 black, 1 white).

    Parameters
    ----------
    path : str or PathLike
        A PNG or JPEG file (any format Pillow reads), colour or gray. A JPEG's EXIF
        orientation is applied (phone photos). Transparent pixels are laid on white when the
        opaque ones are dark, on black when they are light, so a digit drawn on a
        transparent canvas keeps its contrast.
    max_pixels : int, default MAX_PIXELS
        The most pixels decoded (2048x2048): a larger JPEG is decoded at 1/2, 1/4 or 1/8 of
        its size, any other larger picture refused before it is decoded.

    Returns
    -------
    ndarray, shape (H, W), float64

    Raises
    ------
    ImageError
        The file is not an image, is damaged or truncated, or is too large.
    OSError
        The file cannot be opened (missing, a folder, no permission).
    """
    with open(path, "rb") as f:  # a missing file is an OSError, not an ImageError
        data = f.read()
    return decode_image(data, name=os.fspath(path), max_pixels=max_pixels)


#: The picture formats :func:`decode_image` reads (Pillow's names).
RASTER_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")


def decode_image(
    data: bytes, *, name: str = "image", max_pixels: int = MAX_PIXELS
) -> NDArray[np.float64]:
    """Decode the bytes of a picture (a PNG or JPEG file's content) as :func:`read_image` does.

    Parameters
    ----------
    data : bytes
        The encoded picture, e.g. a PNG sent by a browser's canvas.
    name : str
        Names the picture in error messages.
    max_pixels : int, default MAX_PIXELS
        Decode no more pixels than this: a small compressed file can hold a huge image. A
        larger JPEG is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's own scaling) if
        that fits; any other larger picture is refused before it is decoded.

    Returns
    -------
    ndarray, shape (H, W), float64, values in [0, 1]

    Raises
    ------
    ImageError
        The bytes are not an image, a damaged, truncated or empty one, or one larger than
        ``max_pixels``.
    """
    Image, ImageOps = _pil()
    try:
        # Raster formats only: Pillow would hand EPS and PDF to Ghostscript, when installed.
        with Image.open(io.BytesIO(data), formats=RASTER_FORMATS) as opened:
            width, height = opened.size
            if width * height > max_pixels and opened.format == "JPEG":
                scaled = [(-(-width // k), -(-height // k)) for k in (2, 4, 8)]
                size = next((s for s in scaled if s[0] * s[1] <= max_pixels), scaled[-1])
                opened.draft(opened.mode, size)  # libjpeg decodes at that scale
            if opened.width * opened.height > max_pixels:
                raise ImageError(
                    f"{name}: the image is {width}x{height} pixels; at most {max_pixels:,} "
                    "pixels are read (shrink it first)"
                )
            opened.load()
            im = ImageOps.exif_transpose(opened)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: image too large to read safely ({exc})") from None
    except Exception as exc:
        # Pillow reports an unknown format as UnidentifiedImageError and damage as
        # OSError, SyntaxError, ValueError, ... depending on the decoder.
        if isinstance(exc, Image.UnidentifiedImageError):
            raise ImageError(
                f"{name}: not an image (expected a PNG or JPEG picture of a digit)"
            ) from None
        raise ImageError(f"{name}: damaged or truncated image ({exc})") from None
    if im.width == 0 or im.height == 0:
        raise ImageError(f"{name}: the image is empty ({im.width}x{im.height} pixels)")
    try:
        return _grayscale(im, Image)
    except ImageError:
        raise
    except Exception as exc:
        # A mode Pillow decodes but cannot convert (a TIFF's rarer photometric
        # interpretations): the file's fault, not a bug, so an ImageError like any other.
        raise ImageError(
            f"{name}: a {im.mode} image, which cannot be read as grayscale ({exc})"
        ) from None


def _grayscale(im: Any, Image: Any) -> NDArray[np.float64]:
    """Brightness in [0, 1] of a decoded picture of any mode (see :func:`read_image`)."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # High bit depth gray: scale its own range to [0, 1] (contrast is normalized later).
        values = np.asarray(im, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError("NaN or infinite pixels")
        lo, hi = float(values.min()), float(values.max())
        return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    if im.mode == "LAB":
        # CIELAB's L channel is the lightness: the grayscale, with no conversion to make
        # (Pillow has none from LAB to L).
        return np.asarray(im.getchannel("L"), dtype=np.float64) / 255.0
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode == "P" and "transparency" in im.info
    )
    if not has_alpha:
        return np.asarray(im.convert("L"), dtype=np.float64) / 255.0
    rgba = im.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255.0
    gray = np.asarray(rgba.convert("RGB").convert("L"), dtype=np.float64) / 255.0
    if alpha.sum() == 0:
        return np.ones_like(gray)  # fully transparent: blank
    ink_is_dark = float(np.sum(alpha * gray) / alpha.sum()) < 0.5
    background = 1.0 if ink_is_dark else 0.0
    return alpha * gray + (1.0 - alpha) * background


def _resize(image: NDArray, height: int, width: int) -> NDArray:
    """Resample a float image, anti-aliased.

    Shrinking averages the source pixels each output pixel covers (a box filter: the grey
    edges of MNIST's anti-aliasing, and no ringing, unlike Lanczos or bicubic filters, whose
    negative lobes leave ghost lines beside a sharp stroke); enlarging interpolates linearly.
    """
    Image, _ = _pil()
    im = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32))
    shrinking = height <= image.shape[0] and width <= image.shape[1]
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    out = im.resize((width, height), resample)
    return np.clip(np.asarray(out, dtype=np.float64), 0.0, 1.0)


def _stroke_width(ink: NDArray) -> float:
    """Typical stroke width in pixels: twice the inked area over the outline's length.

    A stroke of length L and width w covers L*w pixels and has about 2L outline pixels. Strokes
    of one or two pixels both measure 2.
    """
    mask = ink > 0.5
    padded = np.pad(mask, 1)
    inner = (
        padded[1:-1, 1:-1]
        & padded[:-2, 1:-1]
        & padded[2:, 1:-1]
        & padded[1:-1, :-2]
        & padded[1:-1, 2:]
    )
    outline = int(np.count_nonzero(mask & ~inner))
    return 2.0 * np.count_nonzero(mask) / outline if outline else 0.0


def _max_filter(image: NDArray, size: int) -> NDArray:
    """Grey dilation by a size x size square (two 1-D running maxima)."""
    half = size // 2
    out = image
    for axis in (0, 1):
        padded = np.pad(out, [(half, half) if a == axis else (0, 0) for a in (0, 1)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, size, axis=axis)
        out = windows.max(axis=-1)
    return out


def _thicken_thin_strokes(digit: NDArray) -> NDArray:
    """Widen pen strokes much thinner than MNIST's, returned at a 4x20 = 80-pixel scale.

    MNIST's strokes are about 2.6 pixels wide in the 20-pixel box (median over the test set,
    by :func:`_stroke_width`); a ballpoint digit on a large photo scales to well under one
    pixel and comes out as a faint hairline the network has never seen. Strokes narrower than
    60% of MNIST's are dilated to its width; others are left as drawn.
    """
    scale = _WORK_BOX / max(digit.shape)
    work = _resize(
        digit, max(1, round(digit.shape[0] * scale)), max(1, round(digit.shape[1] * scale))
    )
    width = _stroke_width(work)
    target = _MNIST_STROKE * _WORK_BOX / DIGIT_BOX
    if width >= 0.6 * target:
        return digit  # scaled once, from the original, below
    size = max(3, round(target - width) | 1)  # odd: the square is centred on the pixel
    return _max_filter(work, size)


def to_mnist(image: NDArray, *, name: str = "image") -> NDArray[np.float32]:
    """Make a picture of one digit look like an MNIST image.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Grayscale brightness, 0 black to 1 white (as :func:`read_image` returns), or
        integers 0..255. Dark digits on a light background and light on dark both work.
    name : str
        Names the image in error messages.

    Returns
    -------
    ndarray, shape (28, 28), float32
        The digit in white (1.0) on black (0.0), its bounding box scaled to fit 20x20 with
        the aspect ratio kept, its centre of mass at row 14, column 14: the input that
        ``load_mnist(normalize=True)`` images are (flatten it for a ``TwoLayerNet``).

    Raises
    ------
    ImageError
        The image is blank (no contrast between digit and background), or not a 2-D array
        of finite values.

    Notes
    -----
    The background level is the median of the pixels along the picture's edge; the picture
    is inverted when that is light. The contrast is then stretched so the background is 0 and
    the brightest ink 1, and pixels below 0.2 are set to 0 (paper texture, shading), so they
    do not widen the digit's bounding box. After scaling, the brightest pixel is brought back
    to 1: a thin pen stroke on a large picture would otherwise come out faint.
    """
    x = np.asarray(image)
    if x.ndim != 2 or x.size == 0:
        raise ImageError(f"{name}: expected a 2-D grayscale image, got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        x = x / 255.0
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ImageError(f"{name}: the image has NaN or infinite pixels")

    # The background is what the edge of the picture mostly shows.
    frame = max(1, min(x.shape) // 20)
    edge = np.concatenate(
        [x[:frame].ravel(), x[-frame:].ravel(), x[:, :frame].ravel(), x[:, -frame:].ravel()]
    )
    background = float(np.median(edge))
    if background > 0.5:  # dark on light: MNIST is light on dark
        x = 1.0 - x
        background = 1.0 - background
    ink = x - background
    peak = float(ink.max())
    if peak < _MIN_CONTRAST:
        raise ImageError(
            f"{name}: no digit found: the image is blank (its brightest mark differs from the "
            f"background by {max(peak, 0.0):.0%}; at least {_MIN_CONTRAST:.0%} is needed)"
        )
    ink = np.clip(ink / peak, 0.0, 1.0)
    ink[ink < _INK_FLOOR] = 0.0

    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    digit = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    digit = _thicken_thin_strokes(digit)
    h, w = digit.shape
    scale = DIGIT_BOX / max(h, w)
    new_h = min(DIGIT_BOX, max(1, round(h * scale)))
    new_w = min(DIGIT_BOX, max(1, round(w * scale)))
    small = _resize(digit, new_h, new_w)
    top = small.max()
    if top <= 0:  # pragma: no cover - a nonzero crop stays nonzero after resampling
        raise ImageError(f"{name}: no digit found after scaling")
    small /= top

    # Centre of mass of the scaled digit, then the integer shift that puts it at (14, 14),
    # kept inside the field (a 20x20 box always fits in 28x28).
    mass = small.sum()
    cy = float(np.arange(new_h) @ small.sum(axis=1)) / mass
    cx = float(np.arange(new_w) @ small.sum(axis=0)) / mass
    row0 = int(np.clip(round(_CENTRE - cy), 0, IMAGE_SIZE - new_h))
    col0 = int(np.clip(round(_CENTRE - cx), 0, IMAGE_SIZE - new_w))
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    out[row0 : row0 + new_h, col0 : col0 + new_w] = small
    return out


def load_digit(path: str | os.PathLike[str]) -> NDArray[np.float32]:
    """Read a picture of a digit and make it MNIST-like: ``to_mnist(read_image(path))``.

    Returns
    -------
    ndarray, shape (28, 28), float32, values in [0, 1]

    Raises
    ------
    ImageError
        Not an image, damaged, or blank (no digit).
    OSError
        The file cannot be opened.
    """
    return to_mnist(read_image(path), name=os.fspath(path))
