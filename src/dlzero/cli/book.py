"""``dlzero book SCRIPT.py [ARGS]``: run one of the book's own scripts (or notebooks) on dlzero.

::

    cd deep-learning-from-scratch
    dlzero book ch05/train_neuralnet.py
    dlzero book notebooks/ch05.ipynb --out executed.ipynb
    dlzero book --install-kernel --user

The same as ``python -m dlzero.book``; :mod:`dlzero.book.runner` does the work.
"""

from __future__ import annotations

import argparse
from typing import Any

from dlzero.book import runner as book


def add_parsers(subparsers: Any) -> None:
    """Add ``book`` to the ``dlzero`` command's subparsers."""
    p = subparsers.add_parser(
        "book",
        help="run one of the book's own scripts or notebooks with its imports answered by dlzero",
        description=book.DESCRIPTION,
        epilog=book.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    book.add_arguments(p)
    p.set_defaults(func=run_book, parser=p)


def run_book(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the script or notebook, or install the kernel; its exit status is the command's."""
    return book.dispatch(args, parser)
