"""The one way dlzero makes a figure and the one way it saves it.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never ``pyplot``: no
window can open, nothing blocks, and the global backend of a notebook or script is left alone.
matplotlib is imported inside the functions, so importing :mod:`dlzero.plotting` stays light.

In IPython or Jupyter a figure returned by a plot function displays inline as a PNG, as
``%matplotlib inline`` shows pyplot's: :func:`new_figure` registers that display with the
running shell (nothing happens outside IPython, and pyplot is never imported).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dlzero._io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["PLOT_FORMATS", "finish", "new_figure", "save_figure"]

# File suffixes matplotlib's Agg canvas writes (checked before training, without matplotlib).
PLOT_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")

PathLike = str | os.PathLike[str] | None


def new_figure(
    figsize: tuple[float, float] = (6.4, 4.8), *, layout: Literal["constrained"] | None = None
) -> Figure:
    """An empty figure of ``figsize`` inches on the Agg canvas.

    ``layout=None`` (matplotlib's default layout) fits most plots and saves about 0.1 s per
    figure over ``"constrained"``, which only grids of sub-figures need.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)  # attaches itself to fig: savefig renders with Agg
    show_figures_inline()
    return fig


def show_figures_inline() -> None:
    """In IPython or Jupyter, display a ``Figure`` that is a cell's value as a PNG.

    Jupyter shows an object through the shell's display formatters. pyplot registers one for
    figures when ``%matplotlib inline`` runs, but dlzero never uses pyplot, so its figures would
    show as ``<Figure size 640x480 with 1 Axes>``. This registers the same PNG printer IPython's
    inline backend uses, unless the shell already has a printer for figures (the user's choice,
    e.g. ``%config InlineBackend.figure_formats = ["svg"]``, wins). Outside IPython, as in the
    ``dlzero`` command, it does nothing and imports nothing.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    formatters = getattr(getattr(shell, "display_formatter", None), "formatters", None)
    if not formatters or "image/png" not in formatters:
        return
    from matplotlib.figure import Figure

    if any(Figure in f.type_printers for f in formatters.values()):
        return  # figures already have a printer
    from IPython.core.pylabtools import print_figure

    formatters["image/png"].for_type(Figure, lambda fig: print_figure(fig, "png"))


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> None:
    """Save ``fig`` to ``path`` atomically, in the format of the path's suffix."""
    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in PLOT_FORMATS:
        raise ValueError(
            f"cannot save a plot as {str(path)!r}: expected a file name ending in one of "
            + ", ".join("." + f for f in PLOT_FORMATS)
        )
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format=fmt, dpi=dpi)


def finish(fig: Figure, path: PathLike, dpi: int = 100) -> Figure:
    """Save ``fig`` to ``path`` unless it is None; return ``fig`` (a notebook displays it)."""
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig
