"""``dlzero gradcheck`` and ``dlzero bench-gradient``: backprop against numerical gradients.

::

    dlzero gradcheck                              # backprop versus numerical gradients
    dlzero bench-gradient                         # numerical versus backprop: "heaven and earth"

Both differentiate the chapter-5 two-layer network in float64, as the book does: ``gradcheck``
compares the two gradients (exit status 1 if they differ), ``bench-gradient`` times them.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from dlzero.cli.options import (
    ACTIVATIONS,
    EXIT_FAILURE,
    add_data_options,
    format_seconds,
    load_data,
    num_classes,
    positive_float,
    positive_int,
    random_seed,
)


def add_gradcheck_parser(subparsers: Any) -> None:
    """Add ``gradcheck`` to the ``dlzero`` command's subparsers."""
    p = subparsers.add_parser(
        "gradcheck",
        help="compare backprop and numerical gradients on a few MNIST images",
        description="The chapter-5 gradient check: the two-layer network's gradients by "
        "backpropagation and by numerical differentiation (central differences, float64) on "
        "the first few training images; mean and max difference per parameter, pass or fail. "
        "Exit status 1 if it fails.",
    )
    add_data_options(p)
    p.add_argument(
        "--images", type=positive_int, default=3, metavar="N", help="(default: 3, as the book)"
    )
    p.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="(default: relu)")
    p.add_argument("--hidden", type=positive_int, default=50, metavar="N", help="(default: 50)")
    p.add_argument(
        "--weight-init-std", type=positive_float, default=0.01, metavar="S", help="(default: 0.01)"
    )
    p.add_argument(
        "--tolerance",
        type=positive_float,
        default=1e-6,
        help="largest relative error that passes (default: 1e-6)",
    )
    p.add_argument("--seed", type=random_seed, default=0, help="initial weights (default: 0)")
    p.set_defaults(func=run_gradcheck, parser=p)


def add_bench_gradient_parser(subparsers: Any) -> None:
    """Add ``bench-gradient`` to the ``dlzero`` command's subparsers."""
    p = subparsers.add_parser(
        "bench-gradient",
        help="time one numerical and one backprop gradient of the chapter-5 network",
        description="Time the gradient of the chapter-5 network (784-50-10, float64 as in the "
        "book) on one mini-batch of MNIST images, by numerical differentiation and by "
        "backpropagation, and print both and their ratio.",
    )
    add_data_options(p)
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=100,
        metavar="N",
        help="images in the mini-batch (default: 100)",
    )
    p.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="(default: relu)")
    p.add_argument("--hidden", type=positive_int, default=50, metavar="N", help="(default: 50)")
    p.add_argument(
        "--repeat",
        type=positive_int,
        default=50,
        metavar="N",
        help="time the backprop gradient N times and keep the fastest (default: 50)",
    )
    p.add_argument("--seed", type=random_seed, default=0, help="initial weights (default: 0)")
    p.set_defaults(func=run_bench_gradient, parser=p)


def _float64_net_and_batch(
    args: argparse.Namespace, parser: argparse.ArgumentParser, n: int, option: str
) -> tuple[Any, np.ndarray, np.ndarray]:
    """The chapter-5 network in float64 and the first ``n`` training images: in float32 the
    central differences would drown in rounding error."""
    from dlzero.networks import TwoLayerNet

    (x_train, t_train), (_, t_test) = load_data(args, parser)
    if n > len(x_train):
        parser.error(f"argument {option}: only {len(x_train)} training images")
    net = TwoLayerNet(
        x_train.shape[1],
        args.hidden,
        num_classes(t_train, t_test),
        weight_init_std=getattr(args, "weight_init_std", 0.01),  # (bench-gradient: the default)
        activation=args.activation,
        rng=args.seed,
        dtype=np.float64,
    )
    return net, x_train[:n].astype(np.float64), t_train[:n]


def run_gradcheck(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero gradcheck``: 0 if backprop and numerical gradients agree, else 1."""
    from dlzero.gradient import gradient_check

    net, x, t = _float64_net_and_batch(args, parser, args.images, "--images")
    n_params = sum(p.size for p in net.params.values())
    print(
        f"gradient check: {x.shape[1]}-{args.hidden}-{net.params['b2'].size} "
        f"{args.activation} network (seed {args.seed}), first {args.images} {args.dataset} "
        f"training images, {n_params:,} parameters, float64",
        flush=True,
    )
    t0 = time.perf_counter()
    report = gradient_check(net, x, t, tolerance=args.tolerance)
    print(str(report))
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0 if report.passed else EXIT_FAILURE


def run_bench_gradient(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero bench-gradient``: print both gradients' times and their ratio."""
    net, x, t = _float64_net_and_batch(args, parser, args.batch_size, "--batch-size")
    n_params = sum(p.size for p in net.params.values())
    print(
        f"gradient of the {x.shape[1]}-{args.hidden}-{net.params['b2'].size} {args.activation} "
        f"network ({n_params:,} parameters, float64) on a mini-batch of {len(x)} "
        f"{args.dataset} images",
        flush=True,
    )
    best = math.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        net.gradient(x, t)
        best = min(best, time.perf_counter() - t0)
    print(f"backprop:  {format_seconds(best):>10}  (fastest of {args.repeat})", flush=True)
    t0 = time.perf_counter()
    net.numerical_gradient(x, t)
    numerical = time.perf_counter() - t0
    print(
        f"numerical: {format_seconds(numerical):>10}  ({2 * n_params:,} forward passes)",
        flush=True,
    )
    print(f"ratio: numerical / backprop = {numerical / best:,.0f}")
    return 0
