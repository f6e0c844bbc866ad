"""Pictures of a trained model: confusion matrix, confident mistakes, first-layer weights, and
a prediction beside the input it was made on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from dlzero.plotting._canvas import PathLike, finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "plot_confusion_matrix",
    "plot_first_layer_weights",
    "plot_mistakes",
    "plot_predictions",
]


def _names(class_names: Sequence[str] | None, n: int) -> list[str]:
    return list(class_names) if class_names is not None else [str(i) for i in range(n)]


def _as_images(images: NDArray, image_shape: tuple[int, int]) -> NDArray:
    images = np.asarray(images)
    return images.reshape(len(images), *image_shape)


def plot_confusion_matrix(
    cm: NDArray,
    path: PathLike = None,
    *,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """The confusion matrix: rows true class, columns predicted, each cell's count written in.

    The colour is the share of the row (the class's samples) in the cell, on a square-root
    scale so that the few percent of mistakes show beside the ~98% diagonal.
    """
    from matplotlib.colors import PowerNorm

    cm = np.asarray(cm)
    n = cm.shape[0]
    names = _names(class_names, n)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)

    size = max(5.0, 0.55 * n + 1.5)
    fig = new_figure((size + 1.0, size))
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", norm=PowerNorm(0.5, vmin=0.0, vmax=1.0))
    cbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("share of the true class")
    fontsize = 8 if n <= 12 else 6
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                color = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, f"{cm[i, j]:,}", ha="center", va="center", fontsize=fontsize,
                        color=color)  # fmt: skip
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = int(cm.sum())
    right = int(np.trace(cm))
    ax.set_title(title or f"confusion matrix: {right:,} of {total:,} right ({right / total:.2%})")
    fig.tight_layout()
    return finish(fig, path)


def plot_mistakes(
    images: NDArray,
    labels: NDArray,
    predicted: NDArray,
    confidence: NDArray,
    path: PathLike = None,
    *,
    ncols: int = 8,
    class_names: Sequence[str] | None = None,
    image_shape: tuple[int, int] = (28, 28),
    title: str | None = None,
) -> Figure:
    """A grid of misclassified images, each titled with its true and predicted label.

    Parameters
    ----------
    images : ndarray, shape (K, 784) or (K, 28, 28)
        The images, most confident mistake first (as
        :func:`~dlzero.studies.evaluation.most_confident_mistakes` orders them).
    labels, predicted : ndarray of int, shape (K,)
    confidence : ndarray, shape (K,)
        The probability the network gave its (wrong) prediction.
    """
    images = _as_images(images, image_shape)
    k = len(images)
    ncols = max(1, min(ncols, k))
    nrows = max(1, -(-k // ncols))
    names = _names(class_names, int(max(np.max(labels), np.max(predicted))) + 1 if k else 0)
    fig = new_figure((1.35 * ncols, 1.55 * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for idx, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if idx >= k:
            continue
        ax.imshow(images[idx], cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(
            f"true {names[labels[idx]]}\npred {names[predicted[idx]]} ({confidence[idx]:.0%})",
            fontsize=8,
            color="firebrick",
        )
    fig.suptitle(title or f"the {k} most confident mistakes")
    fig.tight_layout()
    return finish(fig, path)


def plot_first_layer_weights(
    W: NDArray,
    path: PathLike = None,
    *,
    image_shape: tuple[int, int] = (28, 28),
    ncols: int = 10,
    title: str | None = None,
) -> Figure:
    """Each hidden unit's incoming weights ``W[:, j]`` drawn as an image.

    Parameters
    ----------
    W : ndarray, shape (784, H)
        The first ``Affine`` layer's weights: column ``j`` is the pattern hidden unit ``j``
        responds to. Red pixels push the unit up, blue push it down; each unit has its own
        symmetric colour range (white is 0).
    """
    W = np.asarray(W, dtype=np.float64)
    pixels = image_shape[0] * image_shape[1]
    if W.ndim != 2 or W.shape[0] != pixels:
        raise ValueError(
            f"plot_first_layer_weights: expected W of shape ({pixels}, H) for "
            f"{image_shape[0]}x{image_shape[1]} images, got {W.shape}"
        )
    h = W.shape[1]
    ncols = max(1, min(ncols, h))
    nrows = -(-h // ncols)
    fig = new_figure((1.1 * ncols, 1.1 * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for j, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if j >= h:
            continue
        w = W[:, j].reshape(image_shape)
        limit = float(np.max(np.abs(w))) or 1.0
        ax.imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(str(j + 1), fontsize=7)
    fig.suptitle(title or f"first-layer weights of the {h} hidden units (red +, blue -)")
    fig.tight_layout()
    return finish(fig, path)


def plot_predictions(
    images: NDArray,
    proba: NDArray,
    path: PathLike = None,
    *,
    labels: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    image_shape: tuple[int, int] = (28, 28),
) -> Figure:
    """For each input, the processed 28x28 image beside bars of the class probabilities.

    Parameters
    ----------
    images : ndarray, shape (M, 784) or (M, 28, 28)
        What the network saw (white digit on black, as MNIST).
    proba : ndarray, shape (M, C)
    labels : sequence of str, optional
        A caption per input (e.g. its file name).
    """
    images = _as_images(images, image_shape)
    proba = np.asarray(proba)
    m, c = proba.shape
    names = _names(class_names, c)
    fig = new_figure((7.0, 2.2 * m + 0.3))
    axes = fig.subplots(m, 2, squeeze=False, gridspec_kw={"width_ratios": [1, 2.2]})
    for i in range(m):
        ax_img, ax_bar = axes[i]
        ax_img.imshow(images[i], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        if labels is not None:
            ax_img.set_xlabel(_shorten(labels[i]), fontsize=8)
        best = int(proba[i].argmax())
        colors: list[Any] = ["tab:gray"] * c
        colors[best] = "tab:blue"
        ax_bar.bar(range(c), proba[i], color=colors)
        ax_bar.set_ylim(0, 1)
        ax_bar.set_xticks(range(c), names)
        ax_bar.set_ylabel("probability")
        ax_bar.set_title(f"predicted {names[best]} ({proba[i, best]:.1%})", fontsize=10)
        for spine in ("top", "right"):
            ax_bar.spines[spine].set_visible(False)
    fig.tight_layout()
    return finish(fig, path)


def _shorten(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]
