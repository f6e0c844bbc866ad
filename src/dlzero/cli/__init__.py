"""The ``dlzero`` command: the book's experiments, gradient check and speed test from a shell.

::

    dlzero train                                  # the notes' experiment: ReLU, 50 hidden, MNIST
    dlzero train --activation sigmoid --epochs 5  # chapter 4's activation
    dlzero train --hidden 100 100 --init he --optimizer adam --epochs 5   # chapter 6
    dlzero train --model cnn --epochs 3           # chapter 7's SimpleConvNet (Adam)
    dlzero gradcheck                              # backprop versus numerical gradients
    dlzero compare --activation sigmoid relu      # both, same seed and data, one plot
    dlzero compare --optimizer sgd momentum adagrad adam --hidden 100x4 --init he
    dlzero search                                 # random search for lr and weight decay (6.5)
    dlzero activations --activation sigmoid --init 1 0.01 xavier   # Figures 6-10 to 6-14
    dlzero bench-gradient                         # numerical versus backprop: "heaven and earth"
    dlzero train --save model.npz                 # keep the trained network
    dlzero predict model.npz my7.png --show       # your own digit, as MNIST was made
    dlzero evaluate model.npz                     # accuracy per class, confusions, mistakes
    dlzero serve model.npz                        # draw a digit in the browser, watch it think
    dlzero backprop model.npz my7.png --label 7   # chapter 5's graph for your digit, node by node
    dlzero book ch05/train_neuralnet.py           # the book's own script, on dlzero
    dlzero exercises 5                            # write the layers yourself, each one checked

The command is thin: it checks its arguments (a bad one is a one-line error and exit status 2,
before anything slow happens), loads the data, builds the network and hands the rest to
``dlzero.training`` and ``dlzero.plotting``. Each module of this package is one command (or
two close ones), its options defined beside its handler; :mod:`dlzero.cli.options` holds what
they share.

Exit status: 0 success; 1 training diverged, a gradient check failed, or data/output could not
be read or written; 2 bad arguments; 130 interrupted by Ctrl-C (history and plots so far are
written first). ``dlzero book`` exits with the script's status (1 if it raised).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from dlzero._version import __version__
from dlzero.cli import (
    activations,
    backprop,
    book,
    compare,
    exercises,
    export,
    gradcheck,
    model,
    search,
    serve,
    train,
)
from dlzero.cli.options import EXIT_FAILURE, CommandError, OneLineErrorParser

__all__ = ["build_parser", "main"]

# What adds each command's parser, in the order ``dlzero --help`` lists them. Each gives every
# parser it adds the defaults ``func`` (the handler, ``func(args, parser) -> exit status``) and
# ``parser`` (that parser, for errors). Importing the modules is cheap: each imports what it
# needs for the work inside its handlers.
COMMANDS = (
    train.add_parsers,
    gradcheck.add_gradcheck_parser,
    compare.add_parsers,
    search.add_parsers,
    activations.add_parsers,
    gradcheck.add_bench_gradient_parser,
    model.add_parsers,
    export.add_parsers,
    serve.add_parsers,
    backprop.add_parsers,
    book.add_parsers,
    exercises.add_parsers,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``dlzero`` argument parser, with every subcommand."""
    parser = OneLineErrorParser(
        prog="dlzero",
        description="Deep learning from zero: train and check the chapter-5 two-layer network.",
    )
    parser.add_argument("--version", action="version", version=f"dlzero {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parsers in COMMANDS:
        add_parsers(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dlzero`` command with ``argv`` (default ``sys.argv[1:]``); return the status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # The subcommand's own parser, so its errors name it ("dlzero train: error: ...").
    sub_parser = args.parser
    if extra:
        sub_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args, sub_parser))
    except CommandError as exc:
        print(f"{sub_parser.prog}: error: {exc}", file=sys.stderr)
        return exc.status
    except MemoryError as exc:  # e.g. --hidden 100000000: NumPy says what it could not allocate
        detail = f": {exc}" if str(exc) else ""
        print(
            f"{sub_parser.prog}: error: not enough memory{detail}; try smaller sizes",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    except BrokenPipeError:
        # The reader went away (``dlzero ... | head``): stop quietly, as Unix tools do.
        # Point stdout at devnull so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
