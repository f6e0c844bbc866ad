"""``dlzero backprop``: one picture of a digit forward and backward through a network, node by node.

::

    dlzero backprop my7.png --label 7                  # the chapter-5 network, trained first
    dlzero backprop model.npz my7.png --label 7 --out graph.png

Prints one line per node of the computational graph (its output's shape and range, the range of
the gradient arriving at it and of the one it passes down, its parameters' largest gradients)
and draws the graph with the values on its edges (:func:`dlzero.plotting.plot_backprop_graph`).

Exit status: 0 success; 1 MNIST or the picture's output file could not be read or written; 2 bad
arguments, a picture that cannot be read or holds no digit, or a model that is not a
28x28-image, ten-class network (one line on stderr, ``dlzero backprop: error: ...``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dlzero.cli.chapter5 import add_training_arguments, load_mnist, train_chapter5
from dlzero.cli.options import EXIT_FAILURE, EXIT_INTERRUPTED, check_output, require_matplotlib


def digit(text: str) -> int:
    """argparse type: a digit 0-9 (the correct label)."""
    if text.strip().isdigit() and 0 <= int(text) <= 9:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected the correct digit 0-9, got {text!r}")


def add_parsers(subparsers: Any) -> None:
    """Add ``backprop`` to the ``dlzero`` command's subparsers."""
    p = subparsers.add_parser(
        "backprop",
        help="one digit forward and backward through the network, node by node",
        usage="%(prog)s [-h] --label N [--out PATH] [--no-plot] [--iters N] [--seed S] "
        "[MODEL] IMAGE",
        description="Chapter 5's computational graph for your own digit: read the picture (made "
        "MNIST-like as 'dlzero predict' makes it), run the network's layers forward and, from "
        "the loss for the correct label, backward (their own forward and backward, in "
        "inference mode), and print one line per node: its output's shape and range, the "
        "range of the gradient arriving at it (dout) and of the gradient it passes down (dx), "
        "and each parameter's largest gradient. Then draw the graph, the values on the "
        "forward arrows and the gradients on the backward ones. Without MODEL, the chapter-5 "
        "network is trained first, as 'dlzero serve' does (a few seconds).",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        nargs="?",
        help="a model saved by 'dlzero train --save'; default: train the chapter-5 network first",
    )
    p.add_argument("image", metavar="IMAGE", help="a picture of one digit (PNG, JPEG, ...)")
    p.add_argument("--label", type=digit, required=True, metavar="N", help="the correct digit, 0-9")
    p.add_argument(
        "--out",
        metavar="PATH",
        default="backprop.png",
        help="where to draw the graph (default: %(default)s)",
    )
    p.add_argument("--no-plot", action="store_true", help="print the numbers only")
    add_training_arguments(p)
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero backprop [MODEL] IMAGE --label N``: print the trace, draw the graph."""
    from dlzero.cli.model import _digit_input_shape, _Failure, _load_model, _report
    from dlzero.studies.backprop import trace_backprop
    from dlzero.studies.digits import ImageError, load_digit

    if not args.no_plot:
        check_output(parser, "--out", args.out, plot=True)
        require_matplotlib(args)  # before training, not after
    try:  # the picture first: a bad one fails before any training
        try:
            image = load_digit(args.image)
        except ImageError as exc:
            raise _Failure(str(exc)) from None
        except OSError as exc:
            raise _Failure(f"cannot read {args.image!r}: {exc.strerror or exc}") from None
        if args.model is not None:
            network = _load_model(args.model)
            _digit_input_shape(network, args.model)
        else:  # on stderr: stdout is the trace's lines, for a reader or a file
            network = train_chapter5(args, load_mnist(), sys.stderr)[0]
        try:
            trace = trace_backprop(network, image, args.label)
        except ValueError as exc:  # a model of fewer classes than the label
            raise _Failure(f"{args.model}: {exc}") from None
    except _Failure as exc:
        return _report(parser, exc)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED

    for line in trace.lines():
        print(line)
    if not args.no_plot:
        from dlzero.plotting import plot_backprop_graph

        try:
            plot_backprop_graph(trace, args.out)
        except OSError as exc:
            return _report(parser, _Failure(f"cannot write {args.out}: {exc}", EXIT_FAILURE))
        print(f"wrote {args.out}")
    return 0
