"""Pictures of convolution filters: the first layer before and after training (Figure 7-24).

Before training the filters are noise; after it, many have become edge and blob detectors
(dark on one side, light on the other). Each filter is one small grayscale image, drawn as the
book's ``filter_show`` draws it (``gray_r``, no smoothing, each filter scaled to its own range).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_positive_int
from dlzero.plotting._canvas import PathLike, finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure, SubFigure

__all__ = ["plot_filters", "plot_filters_before_after"]


def _check_filters(W: NDArray, name: str, channel: int) -> NDArray:
    W = np.asarray(W)
    if W.ndim != 4 or W.shape[0] == 0:
        raise ValueError(
            f"{name}: expected filters of shape (FN, C, FH, FW), e.g. params['W1'], "
            f"got shape {W.shape}"
        )
    if not 0 <= channel < W.shape[1]:
        raise ValueError(f"{name}: channel must be in [0, {W.shape[1] - 1}], got {channel}")
    return W


def _draw(fig: Figure | SubFigure, W: NDArray, ncols: int, channel: int, title: str | None):
    n = W.shape[0]
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(W[i, channel], cmap="gray_r", interpolation="nearest")
    if title:
        fig.suptitle(title)


def plot_filters(
    W: NDArray,
    path: PathLike = None,
    *,
    ncols: int = 8,
    channel: int = 0,
    title: str | None = None,
) -> Figure:
    """Draw every filter of a convolution layer as a small grayscale image.

    Parameters
    ----------
    W : ndarray, shape (FN, C, FH, FW)
        The filters, e.g. ``network.params["W1"]``.
    path : str or path-like, optional
        Also save the picture there (the suffix picks the format: .png, .svg, .pdf).
    ncols : int, default 8
        Filters per row (the book's ``filter_show`` uses 8).
    channel : int, default 0
        Which input channel of each filter to draw (MNIST has only one).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    W = _check_filters(W, "plot_filters", channel)
    ncols = check_positive_int("ncols", ncols)
    cols = min(ncols, W.shape[0])
    nrows = -(-W.shape[0] // cols)
    height = 0.8 * nrows + (0.5 if title else 0.2)
    fig = new_figure((0.8 * cols + 0.2, height), layout="constrained")
    _draw(fig, W, ncols, channel, title)
    return finish(fig, path)


def plot_filters_before_after(
    W_before: NDArray,
    W_after: NDArray,
    path: PathLike = None,
    *,
    ncols: int = 8,
    channel: int = 0,
) -> Figure:
    """The first layer's filters before and after training, side by side (Figure 7-24).

    Parameters
    ----------
    W_before, W_after : ndarray, shape (FN, C, FH, FW)
        The filters at initialization (keep a copy: training updates them in place) and
        after training.
    path : str or path-like, optional
        Also save the picture there.
    ncols, channel : int
        As for :func:`plot_filters`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    W_before = _check_filters(W_before, "plot_filters_before_after", channel)
    W_after = _check_filters(W_after, "plot_filters_before_after", channel)
    if W_before.shape != W_after.shape:
        raise ValueError(
            "plot_filters_before_after: the two sets of filters must have the same shape, got "
            f"{W_before.shape} and {W_after.shape}"
        )
    ncols = check_positive_int("ncols", ncols)
    cols = min(ncols, W_before.shape[0])
    nrows = -(-W_before.shape[0] // cols)
    fig = new_figure((2 * (0.8 * cols + 0.2) + 0.4, 0.8 * nrows + 0.6), layout="constrained")
    left, right = fig.subfigures(1, 2, wspace=0.05)
    _draw(left, W_before, ncols, channel, "before training")
    _draw(right, W_after, ncols, channel, "after training")
    return finish(fig, path)
