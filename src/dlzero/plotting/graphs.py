"""Computational graphs with their numbers: chapter 5's pictures of backpropagation.

- :func:`plot_computational_graph`: a small graph of scalars (the book's apple examples, from
  :mod:`dlzero.studies.apples`), each edge with its value going forward written above the
  arrow and its gradient coming back below, in red, as the book draws them.
- :func:`plot_backprop_graph`: a network's graph for one input (a trace from
  :func:`dlzero.studies.backprop.trace_backprop`): a box per layer, and on each edge the
  values passing forward (a small heat map, the shape written beside it) above the arrow and
  the gradient passing back below; each parameter's gradient under its layer.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from dlzero.plotting._canvas import PathLike, finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from dlzero.studies.apples import ComputationalGraph
    from dlzero.studies.backprop import BackpropTrace

__all__ = ["plot_backprop_graph", "plot_computational_graph"]

FORWARD = "#1d2430"  # values going forward: black, as the book prints them
BACKWARD = "#c0392b"  # gradients coming back: red, as the book prints them


def _number(v: float) -> str:
    return f"{v:.6g}"


def plot_computational_graph(
    graph: ComputationalGraph, path: PathLike = None, *, title: str | None = None
) -> Figure:
    """Draw a small computational graph with both passes' numbers on its edges.

    Parameters
    ----------
    graph : ComputationalGraph
        Nodes with positions and edges with ``forward`` and ``backward`` values, e.g.
        ``dlzero.studies.apples.buy_apples()``.
    path : str or PathLike, optional
        Also save the figure there.
    title : str, optional
        Default: the graph's own title.
    """
    xs = [n.x for n in graph.nodes]
    ys = [n.y for n in graph.nodes]
    width, height = max(xs) - min(xs) + 2.4, max(ys) - min(ys) + 1.8
    fig = new_figure((width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.4)
    ax.set_ylim(min(ys) - 0.9, max(ys) + 0.9)
    ax.set_axis_off()
    where = {n.name: n for n in graph.nodes}
    radius = 0.32
    for node in graph.nodes:
        if node.op:
            ax.add_patch(
                _circle((node.x, node.y), radius, facecolor="white", edgecolor=FORWARD, lw=1.5)
            )
            symbol = "\u00d7" if node.op == "x" else node.op
            ax.text(node.x, node.y, symbol, ha="center", va="center", fontsize=18)
        else:
            ax.text(node.x, node.y, node.name, ha="center", va="center", fontsize=11)
    for edge in graph.edges:
        a, b = where[edge.source], where[edge.target]
        start, end = np.array([a.x, a.y]), np.array([b.x, b.y])
        d = (end - start) / np.hypot(*(end - start))
        # Leave room for the circle or the name at either end.
        start = start + d * (radius if a.op else 0.55)
        end = end - d * (radius if b.op else 0.45)
        ax.annotate(
            "", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "color": FORWARD, "lw": 1.4}
        )
        mid = (start + end) / 2
        normal = np.array([-d[1], d[0]])  # to the left of the arrow: above for a level edge
        if normal[1] < 0:
            normal = -normal
        ax.text(
            *(mid + 0.22 * normal),
            _number(edge.forward),
            ha="center",
            va="center",
            color=FORWARD,
            fontsize=11,
        )
        ax.text(
            *(mid - 0.24 * normal),
            _number(edge.backward),
            ha="center",
            va="center",
            color=BACKWARD,
            fontsize=11,
        )
    ax.text(
        min(xs) - 0.9,
        max(ys) + 0.75,
        (title or graph.title) + ": forward above the arrows, backward (red) below",
        fontsize=10,
        va="top",
    )
    return finish(fig, path)


def _circle(centre: tuple[float, float], radius: float, **kwargs: Any) -> Any:
    from matplotlib.patches import Circle

    return Circle(centre, radius, **kwargs)


# -- a network's graph ------------------------------------------------------------------------


def _picture(a: NDArray) -> NDArray:
    """One sample's values as a 2-D picture: 784 values as 28x28, a short vector as a strip,
    a longer one as a block, feature maps (C, H, W) as a grid of the first 16 (NaN between)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim >= 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        n = a.size
        if n == 784:
            return a.reshape(28, 28)
        if n <= 64:
            return a.reshape(1, n)
        cols = math.ceil(math.sqrt(n * 2))
        out = np.full(math.ceil(n / cols) * cols, np.nan)
        out[:n] = a
        return out.reshape(-1, cols)
    if a.ndim == 3:  # feature maps (C, H, W)
        c, h, w = a.shape
        k = min(c, 16)
        cols = math.ceil(math.sqrt(k))
        rows = math.ceil(k / cols)
        grid = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
        for i in range(k):
            r, q = divmod(i, cols)
            grid[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = a[i]
        return grid
    return a.reshape(a.shape[0], -1)


def _heat(
    ax: Any,
    bounds: tuple[float, float, float, float],
    a: NDArray,
    cmap: str,
    *,
    square: bool = True,
) -> None:
    """A small heat map of ``a`` in ``bounds`` (data coordinates of ``ax``, in inches).

    ``cmap`` ``"gray"``: grey levels from 0 (the input image); ``"prob"``: 0 to 1 (the
    probabilities); else a diverging map with 0 white in the middle. A picture of more than
    one row keeps its pixels square when ``square`` (narrowed, centred in ``bounds``).
    """
    picture = _picture(a)
    x, y, w, h = bounds
    if square and picture.shape[0] > 1:
        fit = min(w, h * picture.shape[1] / picture.shape[0])
        x, w = x + (w - fit) / 2, fit
    inset = ax.inset_axes((x, y, w, h), transform=ax.transData)
    finite = picture[np.isfinite(picture)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    scale = scale or 1.0
    if cmap == "gray":
        limits = {"cmap": "gray", "vmin": 0.0, "vmax": max(1.0, scale)}
    elif cmap == "prob":
        limits = {"cmap": "Purples", "vmin": 0.0, "vmax": 1.0}
    else:
        limits = {"cmap": cmap, "vmin": -scale, "vmax": scale}
    inset.imshow(picture, aspect="auto", interpolation="nearest", **limits)
    inset.set_xticks([])
    inset.set_yticks([])
    for spine in inset.spines.values():
        spine.set_color("#bbbbbb")


def _param_picture(g: NDArray) -> tuple[NDArray, str]:
    """What to draw of a parameter's gradient, and how to name it: a first layer's weights on
    784 pixels as the 28x28 picture of the hidden unit with the largest gradient; else all."""
    g = np.asarray(g)
    if g.ndim == 2 and g.shape[0] == 784:
        j = int(np.argmax(np.sum(g * g, axis=0)))
        return g[:, j], f"[:, {j}], largest of {_shape(g)}"
    return g, _shape(g)


def _shape(a: NDArray) -> str:
    shape = np.shape(a)
    return "x".join(str(n) for n in shape) if shape else "scalar"


def _span(a: NDArray) -> str:
    a = np.asarray(a)
    if a.size == 1:
        return _number(float(a.reshape(-1)[0]))
    return f"{float(a.min()):.2g} .. {float(a.max()):.2g}"


def plot_backprop_graph(
    trace: BackpropTrace,
    path: PathLike = None,
    *,
    per_row: int = 6,
    title: str | None = None,
) -> Figure:
    """Draw a network's computational graph for one input, with both passes' values.

    Parameters
    ----------
    trace : BackpropTrace
        From :func:`dlzero.studies.backprop.trace_backprop` (``dlzero.trace_backprop``).
    path : str or PathLike, optional
        Also save the figure there.
    per_row : int, default 6
        Boxes per row (the input, each layer, and the loss ``L``); a deeper network wraps
        onto more rows.
    title : str, optional

    Notes
    -----
    Above each edge, left to right: the values the forward pass sends along it, as a heat map
    (784 values as 28x28, feature maps as a grid of the first 16, a short vector as a strip;
    0 is white, positive purple, negative orange), with the shape and the range. Below it,
    right to left: the gradient of the loss with respect to those values (red positive, blue
    negative). Under a layer with parameters: each parameter's gradient.
    """
    names = ["x", *(n.name for n in trace.nodes), "L"]
    forward = [trace.x, *(n.out for n in trace.nodes)]  # what leaves item i
    backward = [n.dx for n in trace.nodes] + [trace.nodes[-1].dout]  # what comes back to it
    per_row = max(2, int(per_row))
    rows = math.ceil(len(names) / per_row)
    box_w, edge_w, row_h = 1.35, 1.9, 3.7
    lead = edge_w if rows > 1 else 0.1  # a wrapped row starts with the edge coming in
    columns = min(per_row, len(names))
    width = lead + columns * box_w + (columns - 1) * edge_w + 0.1
    fig = new_figure((width, rows * row_h + 0.5))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(-rows * row_h, 0.5)
    ax.set_axis_off()
    heading = title or (
        f"label t = {trace.label}, prediction {trace.prediction} "
        f"({trace.probabilities[trace.prediction]:.1%}), loss L = {trace.loss:.4g}.  Forward: "
        "values above the arrows; backward: gradients dL/d(value) below (red +, blue -)"
    )
    ax.text(0.15, 0.3, heading, fontsize=10, va="center")

    def place(i: int) -> tuple[float, float]:
        """The centre of item i's box."""
        r, q = divmod(i, per_row)
        return lead + q * (box_w + edge_w) + box_w / 2, -r * row_h - 1.55

    for i, name in enumerate(names):
        cx, cy = place(i)
        if name in ("x", "L"):
            label = "input x" if name == "x" else "loss L"
            ax.text(cx, cy, label, ha="center", va="center", fontsize=11, fontweight="bold")
        else:
            _layer_box(ax, trace, trace.nodes[i - 1], (cx, cy), box_w)
        if i == len(names) - 1:
            break
        # The edge from item i to item i + 1: after item i, or at the next row's start.
        nx, ny = place(i + 1)
        left = cx + box_w / 2 if ny == cy else nx - box_w / 2 - edge_w
        _edge(ax, (left + 0.1, left + edge_w - 0.1), ny, forward[i], backward[i], first=i == 0)
        if ny != cy:
            ax.text(left + 0.1, ny + 0.12, f"from {names[i]}", fontsize=7, color="#5f6b7a")
    return finish(fig, path)


def _layer_box(
    ax: Any, trace: BackpropTrace, node: Any, centre: tuple[float, float], box_w: float
) -> None:
    """A layer's box, its class when its name does not say it, and its parameters' gradients."""
    cx, cy = centre
    ax.add_patch(_box(cx, cy, box_w, 0.62))
    size = 9 if len(node.name) <= 12 else 7.5
    plain = node.name.rstrip("0123456789") == node.layer
    ax.text(
        cx,
        cy + (0 if plain else 0.08),
        node.name,
        ha="center",
        va="center",
        fontsize=size,
        fontweight="bold",
    )
    if not plain:
        ax.text(cx, cy - 0.16, node.layer, ha="center", va="center", fontsize=7, color="#5f6b7a")
    if node.layer == "SoftmaxWithLoss":
        ax.text(cx, cy - 0.55, f"t = {trace.label}", ha="center", fontsize=9)
        _heat(ax, (cx - box_w / 2, cy + 0.42, box_w, 0.16), trace.probabilities, "prob")
        ax.text(cx, cy + 0.65, "y = softmax(scores)", ha="center", fontsize=7)
    for k, (pname, g) in enumerate(node.grads.items()):
        top = cy - 0.45 - k * 0.75
        picture, what = _param_picture(g)
        column = what.startswith("[")  # one unit's weights on the pixels: a square picture
        h = 0.46 if _picture(picture).shape[0] > 1 else 0.16
        bounds = (cx - box_w / 2 + 0.05, top - h - 0.04, box_w - 0.1, h)
        _heat(ax, bounds, picture, "RdBu_r", square=column)
        ax.text(
            cx,
            top - h - 0.18,
            f"d{node.param_keys[pname]}{'' if what.startswith('[') else ' '}{what}",
            ha="center",
            fontsize=6.5,
            color=BACKWARD,
        )


def _edge(
    ax: Any, span: tuple[float, float], y: float, value: NDArray, grad: NDArray, *, first: bool
) -> None:
    """Two arrows (forward right, backward left), the value above and the gradient below."""
    x0, x1 = span
    mid = (x0 + x1) / 2
    ax.annotate(
        "",
        xy=(x1, y + 0.06),
        xytext=(x0, y + 0.06),
        arrowprops={"arrowstyle": "->", "color": FORWARD, "lw": 1.3},
    )
    ax.annotate(
        "",
        xy=(x0, y - 0.06),
        xytext=(x1, y - 0.06),
        arrowprops={"arrowstyle": "->", "color": BACKWARD, "lw": 1.3},
    )
    if np.size(value) == 1:
        ax.text(
            mid,
            y + 0.3,
            _number(float(np.reshape(value, -1)[0])),
            ha="center",
            fontsize=10,
            color=FORWARD,
        )
        ax.text(
            mid,
            y - 0.4,
            _number(float(np.reshape(grad, -1)[0])),
            ha="center",
            fontsize=10,
            color=BACKWARD,
        )
        return
    h = 0.62 if _picture(value).shape[0] > 1 else 0.16
    _heat(ax, (x0 + 0.1, y + 0.22, x1 - x0 - 0.2, h), value, "gray" if first else "PuOr_r")
    _heat(ax, (x0 + 0.1, y - 0.22 - h, x1 - x0 - 0.2, h), grad, "RdBu_r")
    ax.text(
        mid,
        y + 0.3 + h,
        f"{_shape(value)}  [{_span(value)}]",
        ha="center",
        fontsize=7,
        color=FORWARD,
    )
    ax.text(mid, y - 0.42 - h, f"grad [{_span(grad)}]", ha="center", fontsize=7, color=BACKWARD)


def _box(cx: float, cy: float, w: float, h: float) -> Any:
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch(
        (cx - w / 2, cy - h / 2),
        w,
        h,
        boxstyle="round,pad=0.02,rounding_size=0.08",
        facecolor="#eef3fb",
        edgecolor="#2f6fd6",
        lw=1.2,
    )
