"""``dlzero activations``: histograms of a deep network's activations (Figures 6-10 to 6-14).

::

    dlzero activations --activation sigmoid --init 1 0.01 xavier
    dlzero activations --activation relu --init 0.01 xavier he

Random inputs pass through a stack of untrained layers
(:mod:`dlzero.studies.activations_study`): how the initial weights' scale decides whether the
outputs vanish, saturate or stay spread out.
"""

from __future__ import annotations

import argparse
from typing import Any

from dlzero.cli.options import (
    ACTIVATIONS,
    CommandError,
    check_output,
    positive_int,
    random_seed,
    require_matplotlib,
)


def initial_weights(text: str) -> str | float:
    """argparse type: a weight std (a positive number), ``xavier`` or ``he``."""
    from dlzero.studies.activations_study import parse_init

    try:
        return parse_init(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive weight std, xavier or he, got {text!r}"
        ) from None


def add_parsers(subparsers: Any) -> None:
    """Add ``activations`` to the ``dlzero`` command's subparsers."""
    p = subparsers.add_parser(
        "activations",
        help="histograms of a deep network's activations for each weight initialization",
        description="The book's Figures 6-10 to 6-14: 1,000 random inputs through 5 layers "
        "of 100 units; one histogram per layer of its outputs, one row per activation and "
        "initial weight scale; the table gives the mean, spread and saturated (sigmoid, tanh) "
        "or zero (ReLU) share of each layer. Try --activation relu --init 0.01 xavier he.",
    )
    p.add_argument(
        "--activation",
        nargs="+",
        choices=ACTIVATIONS,
        default=["sigmoid"],
        help="activations (default: sigmoid)",
    )
    p.add_argument(
        "--init",
        nargs="+",
        type=initial_weights,
        default=[1.0, 0.01, "xavier"],
        metavar="INIT",
        help="weight std (a number), xavier or he; each is one row (default: 1 0.01 xavier, "
        "Figures 6-10, 6-11 and 6-13)",
    )
    p.add_argument("--layers", type=positive_int, default=5, metavar="N", help="(default: 5)")
    p.add_argument("--units", type=positive_int, default=100, metavar="N", help="(default: 100)")
    p.add_argument(
        "--samples", type=positive_int, default=1000, metavar="N", help="(default: 1000)"
    )
    p.add_argument(
        "--plot",
        metavar="PATH",
        default="activations.png",
        help="write the histograms here (default: %(default)s)",
    )
    p.add_argument("--no-plot", action="store_true", help="print the table only")
    p.add_argument("--seed", type=random_seed, default=0, help="inputs and weights (default: 0)")
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero activations``: print the table and draw the histograms; the exit status."""
    from dlzero.studies.activations_study import activation_study, format_table

    if not args.no_plot:
        check_output(parser, "--plot", args.plot, plot=True)
    require_matplotlib(args)
    studies = [
        activation_study(
            activation,
            init,
            layers=args.layers,
            units=args.units,
            samples=args.samples,
            rng=args.seed,
        )
        for activation in dict.fromkeys(args.activation)
        for init in dict.fromkeys(args.init)
    ]
    print(format_table(studies))
    if not args.no_plot:
        from dlzero.plotting import plot_activation_histograms

        title = (
            f"outputs of {args.layers} layers of {args.units} units, {args.samples} random "
            f"inputs, seed {args.seed}"
        )
        try:
            plot_activation_histograms(studies, args.plot, title=title)
        except OSError as exc:
            raise CommandError(f"cannot write {args.plot}: {exc}") from None
        print(f"wrote {args.plot}")
    return 0
