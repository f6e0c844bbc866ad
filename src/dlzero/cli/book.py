"""``dlzero book SCRIPT.py [ARGS]``: run one of the book's own scripts on dlzero.

::

    cd deep-learning-from-scratch
    dlzero book ch05/train_neuralnet.py

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
        help="run one of the book's own scripts (ch03-ch08) with its imports answered by dlzero",
        description=book.DESCRIPTION,
        epilog=book.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    book.add_arguments(p)
    p.set_defaults(func=run_book, parser=p)


def run_book(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the script; its exit status is the command's."""
    return book.run(args.script, args.args, parser.prog)
