"""A small HTML table for the rich display of dlzero objects in Jupyter (``_repr_html_``).

Jupyter shows an object's ``_repr_html_()`` instead of its ``repr`` when it has one; a history
or a report reads better as a table there. A network, whose class a learner reads, has no such
method: :func:`register_ipython_display` tells IPython to show it with :func:`network_html`.
Everything is escaped: layer names and settings are shown as text, never interpreted as HTML.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

__all__ = ["html_table", "network_html", "register_ipython_display"]


def html_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    caption: str | None = None,
    footer: str | None = None,
) -> str:
    """An HTML ``<table>``: a header row, one row per item, an optional caption and footer line.

    Parameters
    ----------
    headers : sequence of str
        Column titles.
    rows : iterable of sequences
        One sequence of cells per row, each shown as ``str(cell)``; numbers are right-aligned.
    caption : str, optional
        A line above the table.
    footer : str, optional
        A line below it (a verdict, a total).

    Returns
    -------
    str
    """
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            # Numbers right-aligned, so that their digits line up as in the text tables.
            align = "right" if isinstance(cell, (int, float)) or _looks_numeric(cell) else "left"
            cells.append(f'<td style="text-align:{align}">{escape(str(cell))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    parts = ["<table>"]
    if caption:
        parts.append(f'<caption style="text-align:left">{escape(caption)}</caption>')
    parts += [f"<thead><tr>{head}</tr></thead>", "<tbody>", *body, "</tbody>", "</table>"]
    if footer:
        parts.append(f"<p>{escape(footer)}</p>")
    return "\n".join(parts)


def _looks_numeric(cell: object) -> bool:
    """A formatted number such as ``"97.26%"``, ``"1.2e-10"`` or ``"-"`` (a missing one)."""
    text = str(cell).strip().rstrip("%").replace(",", "")
    if text == "-":
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def network_html(network: Any) -> str:
    """Jupyter's display of a network: one row per layer with its parameters' shapes and sizes.

    A free function, registered with IPython by :func:`register_ipython_display`, so that the
    network classes carry no display code.
    """
    rows = []
    for name, layer in network.layers.items():
        keys = list(network.param_keys(layer).values())
        shapes = ", ".join(f"{k} {network.params[k].shape}" for k in keys)
        rows.append(
            [name, type(layer).__name__, shapes or "-", sum(network.params[k].size for k in keys)]
        )
    rows.append(["(loss)", type(network.last_layer).__name__, "-", 0])
    total = sum(p.size for p in network.params.values())
    return html_table(
        ["layer", "type", "parameters", "values"],
        rows,
        caption=f"{type(network).__name__}: {len(network.layers)} layers, {network.dtype}",
        footer=f"{total:,} trainable values",
    )


def register_ipython_display() -> None:
    """Show every :class:`~dlzero.sequential.Sequential` as :func:`network_html` in Jupyter.

    Does nothing outside a running IPython (IPython is never imported here): a notebook has
    imported it before it imports dlzero.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["text/html"]
    formatter.for_type_by_name("dlzero.sequential", "Sequential", network_html)
