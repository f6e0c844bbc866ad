"""Plots: training curves (:mod:`~dlzero.plotting.curves`), pictures of a trained model
(:mod:`~dlzero.plotting.models`), convolution filters (:mod:`~dlzero.plotting.filters`) and
computational graphs with their forward and backward numbers (:mod:`~dlzero.plotting.graphs`).

matplotlib is imported only when a plot is made (``import dlzero.plotting`` stays light), and
figures use the Agg canvas, never ``pyplot``: no window can open, nothing blocks, and the
global backend of a notebook or script is left alone. Each function returns the ``Figure`` (a
notebook displays it) and, given ``path``, also saves it atomically; the format follows the
file name's suffix (one of :data:`PLOT_FORMATS`: ``.png``, ``.pdf``, ``.svg``, ...).
"""

from dlzero.plotting._canvas import PLOT_FORMATS, new_figure, save_figure
from dlzero.plotting.curves import (
    plot_accuracy,
    plot_activation_histograms,
    plot_comparison,
    plot_loss,
    plot_loss_comparison,
    plot_search,
    smooth_curve,
)
from dlzero.plotting.filters import plot_filters, plot_filters_before_after
from dlzero.plotting.graphs import plot_backprop_graph, plot_computational_graph
from dlzero.plotting.models import (
    plot_confusion_matrix,
    plot_first_layer_weights,
    plot_mistakes,
    plot_predictions,
)

__all__ = [
    "PLOT_FORMATS",
    "new_figure",
    "plot_accuracy",
    "plot_activation_histograms",
    "plot_backprop_graph",
    "plot_comparison",
    "plot_computational_graph",
    "plot_confusion_matrix",
    "plot_filters",
    "plot_filters_before_after",
    "plot_first_layer_weights",
    "plot_loss",
    "plot_loss_comparison",
    "plot_mistakes",
    "plot_predictions",
    "plot_search",
    "save_figure",
    "smooth_curve",
]
