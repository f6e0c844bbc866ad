"""A small HTML table for the rich display of dlzero objects in Jupyter (``_repr_html_``).

Jupyter shows an object's ``_repr_html_()`` instead of its ``repr`` when it has one; a history,
a network or a report reads better as a table there. Everything is escaped: layer names and
settings are shown as text, never interpreted as HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

__all__ = ["html_table"]


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
