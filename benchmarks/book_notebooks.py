"""The book's own notebooks, on the book's code and on dlzero: cells run, errors, seconds.

Two trees of the book's repository (oreilly-japan/deep-learning-from-scratch):

- ``--book DIR``: a full clone, its ``common/`` and ``dataset/mnist.py`` there, and MNIST's four
  ``.gz`` files copied into ``dataset/`` (its ``mnist.py`` would download them otherwise; run
  ``load_mnist()`` once first, so that its one-time ``mnist.pkl`` is not counted);
- ``--dlzero DIR``: a clone without ``common/`` and ``dataset/mnist.py`` (the weights and
  pictures kept), which only dlzero can run.

Each notebook of ``notebooks/`` runs on a fresh IPython kernel of this Python, in its own
folder, with the ``DLZERO_QUICK`` cuts of :mod:`dlzero.book.cuts` (the same on both sides):
on the book's tree on a plain kernel, on dlzero's tree with ``dlzero.book`` loaded (what
``DLZERO_QUICK=1 dlzero book NB.ipynb`` does). Sides alternate notebook by notebook, so that a
busy spell of a shared machine hits both. The executed copies go to ``--out-dir`` for the
printed numbers to be compared.

Run::

    python benchmarks/book_notebooks.py --book /tmp/book-own --dlzero /tmp/book-dlzero \\
        --out-dir /tmp/executed --markdown table.md
    python benchmarks/book_notebooks.py --book B --dlzero D --only ch05 ch08
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dlzero._io import atomic_write_text
from dlzero.book import notebook

NAMES = ["ch01", "ch02", "ch03", "ch04", "ch05", "ch06", "ch07", "ch08", "common"]


def run_side(tree: Path, name: str, extension: bool, out_dir: Path | None) -> dict:
    """Run ``tree/notebooks/NAME.ipynb``; its cells, the cells that ran, error and seconds."""
    import nbformat

    path = tree / "notebooks" / f"{name}.ipynb"
    start = time.perf_counter()
    result = notebook.execute(path, quick=True, extension=extension)
    wall = time.perf_counter() - start
    if out_dir is not None:
        side = "dlzero" if extension else "book"
        atomic_write_text(out_dir / f"{name}.{side}.ipynb", nbformat.writes(result.notebook))
    failed = result.failed
    return {
        "cells": result.cells,
        "ran": result.ran,
        "error": f"cell {failed['number']}: {failed['error']}" if failed else "",
        "cell_seconds": result.total_seconds,
        "wall": wall,
    }


def table(rows: list[tuple[str, dict, dict]]) -> str:
    """The markdown table of both sides: seconds of wall time, the kernel's start included."""
    lines = [
        "| notebook | code cells | book's code: ran | errors | seconds "
        "| dlzero: ran | errors | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, book, ours in rows:
        cells = []
        for side in (book, ours):
            cells += [str(side["ran"]), side["error"] or "0", f"{side['wall']:.1f}"]
        lines.append(f"| {name}.ipynb | {book['cells']} | " + " | ".join(cells) + " |")
    total_b = sum(b["wall"] for _, b, _ in rows)
    total_d = sum(d["wall"] for _, _, d in rows)
    lines.append(f"| all | | | | {total_b:.1f} | | | {total_d:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--book", type=Path, required=True, help="the book's full tree")
    parser.add_argument("--dlzero", type=Path, required=True, help="a tree without common/")
    parser.add_argument("--only", nargs="+", choices=NAMES, default=NAMES)
    parser.add_argument("--out-dir", type=Path, help="where the executed notebooks go")
    parser.add_argument("--markdown", type=Path, help="write the table here too")
    args = parser.parse_args(argv)
    if (args.dlzero / "common").exists():
        parser.error(f"{args.dlzero}/common exists: dlzero's side must run without the book's")
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.only:
        book = run_side(args.book, name, extension=False, out_dir=args.out_dir)
        print(f"{name}: book's code {book}", flush=True)
        ours = run_side(args.dlzero, name, extension=True, out_dir=args.out_dir)
        print(f"{name}: dlzero      {ours}", flush=True)
        rows.append((name, book, ours))
    text = table(rows)
    print(text)
    if args.markdown is not None:
        atomic_write_text(args.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
