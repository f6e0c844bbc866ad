"""Plots of training runs: the notes' accuracy curves, the loss, comparisons of runs, a random
search and the activation histograms of chapter 6.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dlzero.plotting._canvas import finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from dlzero.studies.activations_study import ActivationStudy
    from dlzero.studies.search import SearchResult
    from dlzero.training import History

__all__ = [
    "plot_accuracy",
    "plot_activation_histograms",
    "plot_comparison",
    "plot_loss",
    "plot_loss_comparison",
    "plot_search",
    "smooth_curve",
]

# Points per curve beyond which the loss plot draws a min-max band instead of every point.
_MAX_POINTS = 2000


def _accuracy_lines(ax: Any, history: History, color: Any = None, label: str = "") -> None:
    """Train solid, test dashed, x in epochs: the notes' figure."""
    x = np.asarray(history.epochs)
    prefix = f"{label} " if label else ""
    styles = {"train": "-", "test": "--"}
    for name, acc in history.accuracy.items():
        # Other sets (a validation split) dotted. color=None: the next color of the cycle.
        style = styles.get(name, ":")
        ax.plot(x, acc, linestyle=style, color=color, label=f"{prefix}{name} acc")


def _accuracy_axes(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_xlabel("epochs")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    ax.legend(loc="lower right")
    ax.grid(True, alpha=0.3)


def plot_accuracy(
    history: History, path: str | os.PathLike[str] | None = None, *, title: str | None = None
) -> Figure:
    """Train and test accuracy per epoch, as the notes draw it.

    Train is solid, test dashed; x is the epoch (0 = before training), y runs from 0 to 1,
    the legend sits in the lower right.

    Parameters
    ----------
    history : History
    path : str or PathLike, optional
        Save the figure there.
    title : str, optional
    """
    fig = new_figure()
    ax = fig.add_subplot()
    _accuracy_lines(ax, history)
    _accuracy_axes(ax)
    if title:
        ax.set_title(title)
    return finish(fig, path)


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each run of ``window`` consecutive values (length ``len(values) - window + 1``)."""
    c = np.cumsum(np.insert(values, 0, 0.0))
    return (c[window:] - c[:-window]) / window


def smooth_curve(x: Any, window_len: int = 11, beta: float = 2.0) -> np.ndarray:
    """A noisy curve (a mini-batch loss) smoothed for plotting; the book's ``smooth_curve``.

    Each point becomes the weighted mean of the ``window_len`` points around it, weighted by a
    Kaiser window (``numpy.kaiser(window_len, beta)``, largest in the middle). Beyond the ends
    the curve is mirrored, as the book does it: about its first point (``x[2], x[1], x[0],
    x[1], ...``) and after its last (``..., x[-2], x[-1], x[-1], x[-2]``), so that the result
    is as long as the input.

    Parameters
    ----------
    x : array_like, shape (n,)
    window_len : int, default 11
        Points averaged, an odd number; shorter curves use the widest window that fits.
    beta : float, default 2.0
        The Kaiser window's shape: 0 is a flat mean, larger is narrower.

    Returns
    -------
    ndarray of float, shape (n,)

    """
    values = np.asarray(x, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"smooth_curve expects a 1-D curve, got shape {values.shape}")
    if window_len < 1 or window_len % 2 == 0:
        raise ValueError(f"window_len must be a positive odd number, got {window_len}")
    half = min(window_len // 2, len(values) - 1)  # a reflection needs that many points
    if half <= 0:
        return values.copy()
    weights = np.kaiser(2 * half + 1, beta)
    padded = np.concatenate([values[half:0:-1], values, values[: -half - 1 : -1]])
    return np.convolve(padded, weights / weights.sum(), mode="valid")


def plot_loss(
    history: History, path: str | os.PathLike[str] | None = None, *, title: str | None = None
) -> Figure:
    """The mini-batch loss of every iteration, with its moving average over one epoch.

    Up to 2,000 iterations are drawn one point each; a longer run is drawn as the band between
    the lowest and highest loss of each run of ``k`` consecutive iterations (every spike stays
    visible, and 10,000 noisy points do not cost a quarter of a second to render). Non-finite
    losses (a diverged run) are left out.
    """
    fig = new_figure()
    ax = fig.add_subplot()
    loss = history.loss
    n = len(loss)
    finite = np.isfinite(loss)
    if n > _MAX_POINTS and finite.all():
        k = -(-n // (_MAX_POINTS // 2))
        bins = -(-n // k)
        padded = np.full(bins * k, np.nan)
        padded[:n] = loss
        padded = padded.reshape(bins, k)
        x = np.minimum(np.arange(bins) * k + (k + 1) / 2, n)
        ax.fill_between(
            x,
            np.nanmin(padded, axis=1),
            np.nanmax(padded, axis=1),
            color="C0",
            alpha=0.35,
            linewidth=0,
            label=f"mini-batch loss (range over {k} iterations)",
        )
    else:
        it = np.arange(1, n + 1)
        ax.plot(
            it[finite],
            loss[finite],
            color="C0",
            linewidth=0.6,
            alpha=0.6,
            marker="." if n <= 50 else None,  # a few points must stay visible
            label="mini-batch loss",
        )
    window = min(history.iterations_per_epoch, int(finite.sum()))
    if window > 1 and finite.all():
        avg = _moving_average(loss, window)
        step = -(-len(avg) // _MAX_POINTS)  # ceil: at most _MAX_POINTS points
        # Each mean drawn at the middle of its window, so the curve does not lag the data.
        x = np.arange(window, n + 1) - (window - 1) / 2
        ax.plot(
            x[::step], avg[::step], color="C1", linewidth=1.8, label=f"mean of {window} iterations"
        )
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return finish(fig, path)


def plot_comparison(
    histories: Mapping[str, History],
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Accuracy curves of several runs on one plot: one color per run, test dashed.

    Parameters
    ----------
    histories : mapping of label to History
        E.g. ``{"sigmoid": h1, "relu": h2}``.
    """
    fig = new_figure((7.2, 5.0))
    ax = fig.add_subplot()
    for i, (label, history) in enumerate(histories.items()):
        _accuracy_lines(ax, history, color=f"C{i}", label=label)
    _accuracy_axes(ax)
    if title:
        ax.set_title(title)
    return finish(fig, path)


def plot_loss_comparison(
    histories: Mapping[str, History],
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    window: int = 20,
) -> Figure:
    """The mini-batch loss of several runs against the iteration, as the book's Figure 6-9.

    Each curve is the moving average of ``window`` consecutive iterations (the raw loss of a
    mini-batch is too noisy to compare runs by), drawn at the middle of its window. A run
    that diverged is drawn up to its last finite loss.
    """
    fig = new_figure((7.2, 5.0))
    ax = fig.add_subplot()
    for i, (label, history) in enumerate(histories.items()):
        loss = history.loss
        finite = np.isfinite(loss)
        if not finite.all():
            loss = loss[: int(np.argmin(finite))]
        w = max(1, min(window, len(loss)))
        if len(loss) == 0:
            continue
        avg = _moving_average(loss, w)
        x = np.arange(w, len(loss) + 1) - (w - 1) / 2
        step = -(-len(avg) // _MAX_POINTS)
        ax.plot(x[::step], avg[::step], color=f"C{i}", linewidth=1.4, label=label)
    ax.set_xlabel("iterations")
    ax.set_ylabel(f"loss (mean of {window} iterations)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return finish(fig, path)


def plot_search(
    result: SearchResult,
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    top: int = 20,
) -> Figure:
    """A random search (section 6.5): where the good hyperparameters are.

    Left: every trial at (learning rate, weight decay) on log axes, colored by its final
    validation accuracy, the best ``top`` ringed. Right: the validation accuracy per epoch of
    the best ``top`` trials, as the book draws them.
    """
    fig = new_figure((11.0, 4.8))
    ax, ax2 = fig.subplots(1, 2)
    trials = result.trials
    lr = np.array([t.lr for t in trials])
    wd = np.array([t.weight_decay for t in trials])
    acc = np.array([t.val_acc for t in trials])
    finite = acc[np.isfinite(acc)]  # a failed trial (on a cluster) has no accuracy
    top_acc = float(finite.max()) if finite.size else 1.0
    points = ax.scatter(lr, wd, c=acc, cmap="viridis", vmin=0, vmax=max(1e-9, top_acc), s=28)
    best = result.best(top)
    ax.scatter(
        [t.lr for t in best],
        [t.weight_decay for t in best],
        facecolors="none",
        edgecolors="red",
        s=80,
        linewidths=1.0,
        label=f"best {len(best)}",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("weight decay")
    ax.legend(loc="lower left")
    ax.grid(True, alpha=0.3, which="both")
    fig.colorbar(points, ax=ax, label="validation accuracy")
    for i, t in enumerate(best):
        ax2.plot(t.epochs, t.val_curve, color=f"C{i % 10}", linewidth=1.0, label=t.short())
    ax2.set_xlabel("epochs")
    ax2.set_ylabel("validation accuracy")
    ax2.set_ylim(0, 1.0)
    ax2.grid(True, alpha=0.3)
    if best:
        ax2.legend(loc="lower right", fontsize="xx-small", ncol=2)
    if title:
        fig.suptitle(title)
    return finish(fig, path)


def plot_activation_histograms(
    studies: Sequence[ActivationStudy],
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    bins: int = 30,
) -> Figure:
    """The book's Figures 6-10 to 6-14: one row per setting, one histogram per layer.

    Each panel is the histogram of one hidden layer's outputs over all samples and units;
    the sigmoid's range is (0, 1) as in the book, ReLU's and tanh's the range of the data.
    """
    rows = len(studies)
    cols = max(len(s.activations) for s in studies)
    fig = new_figure((2.2 * cols, 2.0 * rows + 0.6))
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for r, study in enumerate(studies):
        for c in range(cols):
            ax = axes[r, c]
            if c >= len(study.activations):
                ax.set_visible(False)
                continue
            a = study.activations[c].ravel()
            rng = study.histogram_range()
            counts, _, _ = ax.hist(a, bins=bins, range=rng, color=f"C{r}")
            if study.activation == "relu" and counts[1:].max() > 0:
                # Half of the ReLU outputs are 0: clip that bar, as the book does, so the
                # spread of the others stays visible.
                ax.set_ylim(0, 1.3 * counts[1:].max())
            ax.set_yticks([])
            ax.tick_params(labelsize=7)
            ax.set_title(f"{c + 1}-layer", fontsize=8)
            if c == 0:
                ax.set_ylabel(study.label(), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return finish(fig, path)
