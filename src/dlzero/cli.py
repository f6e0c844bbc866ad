"""The ``dlzero`` command: chapter 5's experiment, gradient check and speed test from a shell.

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

The command is thin: it checks its arguments (a bad one is a one-line error and exit status 2,
before anything slow happens), loads the data, builds the network and hands the rest to
``dlzero.training`` and ``dlzero.plotting``.

Which network ``train`` and ``compare`` build: the chapter-5 ``TwoLayerNet`` (and its fused
training step) for one hidden layer with ``--init std`` and none of ``--weight-decay``,
``--dropout``, ``--batchnorm``; otherwise a ``MultiLayerNet`` (chapter 6). ``--model cnn`` and
``--model deep-cnn`` build the chapter-7 ``SimpleConvNet`` and chapter-8 ``DeepConvNet`` on
28x28 images, trained with Adam by default.

Exit status: 0 success; 1 training diverged, a gradient check failed, or data/output could not
be read or written; 2 bad arguments; 130 interrupted by Ctrl-C (history and plots so far are
written first).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from dlzero import __version__
from dlzero._cli_common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CommandError,
)
from dlzero._cli_common import check_output as _check_output
from dlzero._cli_common import positive_float as _positive_float
from dlzero._cli_common import positive_int as _positive_int
from dlzero._plot_process import PlotProcess
from dlzero.cli_model import add_model_commands, add_save_option, check_save_path, save_trained
from dlzero.networks import ACTIVATIONS as _ACTIVATIONS
from dlzero.optimizers import OPTIMIZERS as _OPTIMIZERS
from dlzero.training import GRADIENT_METHODS, SAMPLING

__all__ = ["build_parser", "main"]

# The choices offered, from the modules that define them (all light to import: matplotlib,
# tqdm and the data are loaded only when a command needs them).
ACTIVATIONS = tuple(_ACTIVATIONS)
OPTIMIZERS = tuple(_OPTIMIZERS)
DATASETS = ("mnist", "fashion-mnist")
MODELS = ("mlp", "cnn", "deep-cnn")
# --init: "std" draws every weight from N(0, --weight-init-std ** 2), the chapter-5 way; "he"
# and "xavier" scale each layer by its fan-in (chapter 6.2).
INITS = ("std", "he", "xavier")

# The learning rate when --lr is not given: the notes' 0.1 for SGD (the chapter-5 experiment),
# the book's defaults (common/optimizer.py) for the others.
DEFAULT_LR = {
    "sgd": 0.1,
    "momentum": 0.01,
    "nesterov": 0.01,
    "adagrad": 0.01,
    "rmsprop": 0.01,
    "adam": 0.001,
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``prog: error: message``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        message = " ".join(str(message).split())
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# -- argument types: each rejects a bad value with a message naming what was expected --------


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _ratio(text: str) -> float:
    """A dropout ratio or a validation fraction: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _layer_sizes(text: str) -> tuple[int, ...]:
    """Hidden-layer sizes: ``100``, ``100,50`` (two layers) or ``100x4`` (four of 100)."""
    message = f"expected a positive integer (or sizes such as 100,50 or 100x4), got {text!r}"
    sizes: list[int] = []
    for part in text.split(","):
        size, x, times = part.strip().partition("x")
        try:
            n, k = int(size), int(times) if x else 1  # ("100x" is an error, not 100)
        except ValueError:
            raise argparse.ArgumentTypeError(message) from None
        if n < 1 or k < 1:
            raise argparse.ArgumentTypeError(message)
        sizes += [n] * k
    return tuple(sizes)


def _on_off(text: str) -> bool:
    if text not in ("off", "on"):
        raise argparse.ArgumentTypeError(f"expected off or on, got {text!r}")
    return text == "on"


def _init_value(text: str) -> str | float:
    from dlzero.activations_study import parse_init

    try:
        return parse_init(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive weight std, xavier or he, got {text!r}"
        ) from None


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


# -- the parser ------------------------------------------------------------------------------


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default="mnist",
        help="mnist (bundled with dlzero) or fashion-mnist (default: %(default)s)",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="read the data set's IDX files from this folder instead of the usual places",
    )


def _add_subset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--train-size",
        type=_positive_int,
        metavar="N",
        help="train on the first N training images only (default: all 60,000)",
    )
    p.add_argument(
        "--test-size",
        type=_positive_int,
        metavar="N",
        help="evaluate on the first N test images only (default: all 10,000)",
    )


def _add_length_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--iters",
        type=_positive_int,
        metavar="N",
        help="number of gradient steps (default: 10000, the notes' iters_num)",
    )
    group.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help="train this many epochs instead; one epoch is ceil(train size / batch size) steps",
    )


def _add_output_options(p: argparse.ArgumentParser, default_plot: str) -> None:
    p.add_argument(
        "--plot",
        metavar="PATH",
        default=default_plot,
        help="write the accuracy plot here; .png, .pdf, .svg, ... (default: %(default)s)",
    )
    p.add_argument(
        "--no-plot", action="store_true", help="draw no plots (they take about half a second)"
    )
    p.add_argument(
        "--seed",
        type=_seed,
        help="seed for the initial weights and the mini-batches; the same seed gives the same "
        "history (default: a fresh one, printed and saved in the history)",
    )
    p.add_argument(
        "--quiet", "-q", action="store_true", help="print only the final summary and errors"
    )


def _add_network_options(p: argparse.ArgumentParser, compare: bool) -> None:
    """The network and optimizer options of ``train`` (one value each) and ``compare``
    (one or more values each: every combination is trained)."""
    many: dict[str, Any] = {"nargs": "+"} if compare else {}

    def default(value: Any) -> Any:
        return [value] if compare and value is not None else value

    p.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default=default("relu") if compare else None,
        help="activation of the hidden layers (default: relu)",
        **many,
    )
    p.add_argument(
        "--hidden",
        type=_layer_sizes,
        default=default((50,)) if compare else None,
        metavar="N",
        help=(
            "hidden-layer sizes to compare; one value is one network: 50, or 100,100,100 "
            "(three layers) or 100x4 (four layers of 100) (default: 50)"
            if compare
            else "hidden-layer sizes, e.g. --hidden 100 100 100 (or 100x3) for three layers "
            "(default: 50; with --model cnn or deep-cnn one size, the fully connected layer: "
            "100 and 50)"
        ),
        **({"nargs": "+"}),
    )
    p.add_argument(
        "--init",
        choices=INITS,
        default=default("std") if compare else None,
        help="initial weights: std, N(0, S^2) with S from --weight-init-std (chapter 5); he, "
        "N(0, 2/n) for ReLU; xavier, N(0, 1/n) for sigmoid and tanh; n is the layer's "
        "number of inputs (default: std)",
        **many,
    )
    p.add_argument(
        "--weight-init-std",
        type=_positive_float,
        default=default(0.01) if compare else None,
        metavar="S",
        help="initial weights ~ N(0, S^2) with --init std (default: 0.01)",
        **many,
    )
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=default("sgd") if compare else None,
        help="update rule (chapter 6.1) (default: sgd; adam for --model cnn and deep-cnn)",
        **many,
    )
    p.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        metavar="LR",
        help="learning rate (default: 0.1 for sgd as in the notes; the book's defaults "
        "for the others: 0.01 for momentum, nesterov, adagrad and rmsprop, 0.001 for adam)",
        **many,
    )
    p.add_argument(
        "--weight-decay",
        type=_nonnegative_float,
        default=default(0.0) if compare else None,
        metavar="LAMBDA",
        help="L2 weight decay: 0.5 * LAMBDA * sum(W^2) added to the loss (default: 0, none)",
        **many,
    )
    p.add_argument(
        "--dropout",
        type=_ratio,
        default=default(0.0) if compare else None,
        metavar="RATIO",
        help="dropout ratio in [0, 1) after every hidden activation; 0 is no dropout "
        "(default: 0; 0.5 in --model deep-cnn)",
        **many,
    )
    if compare:
        p.add_argument(
            "--batchnorm",
            type=_on_off,
            nargs="+",
            default=[False],
            metavar="{off,on}",
            help="batch normalization before every hidden activation, off or on (default: off)",
        )
    else:
        p.add_argument(
            "--batchnorm",
            action="store_true",
            help="batch normalization before every hidden activation (chapter 6.3)",
        )


def _add_validation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--validation-fraction",
        type=_ratio,
        default=0.0,
        metavar="F",
        help="hold out this share of the training images (drawn with the seed) and report "
        "their accuracy each epoch as 'val' (default: 0, none)",
    )
    p.add_argument(
        "--patience",
        type=_positive_int,
        metavar="N",
        help="early stopping: stop when the val accuracy has not improved for N epochs and "
        "keep the best epoch's weights (needs --validation-fraction)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``dlzero`` argument parser, with its four subcommands."""
    parser = _Parser(
        prog="dlzero",
        description="Deep learning from zero: train and check the chapter-5 two-layer network.",
    )
    parser.add_argument("--version", action="version", version=f"dlzero {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # train
    p = sub.add_parser(
        "train",
        help="train a network on MNIST and plot its accuracy",
        description="Train a network by mini-batch gradient descent, print train and test "
        "accuracy each epoch, and plot them. The defaults are the notes' chapter-5 experiment: "
        "the two-layer network (Affine - ReLU - Affine - Softmax), 50 hidden units, SGD, "
        "batch 100, learning rate 0.1, 10,000 iterations, weight_init_std 0.01. More hidden "
        "layers or the chapter-6 options (--init he/xavier, --weight-decay, --dropout, "
        "--batchnorm) build a MultiLayerNet; --model cnn and deep-cnn the convolutional "
        "networks of chapters 7 and 8.",
    )
    _add_data_options(p)
    p.add_argument(
        "--model",
        choices=MODELS,
        default="mlp",
        help="mlp: fully connected (chapters 5 and 6); cnn: SimpleConvNet (chapter 7); "
        "deep-cnn: DeepConvNet (chapter 8) (default: mlp)",
    )
    _add_network_options(p, compare=False)
    _add_length_options(p)
    p.add_argument(
        "--batch-size", type=_positive_int, default=100, metavar="N", help="(default: 100)"
    )
    _add_validation_options(p)
    p.add_argument(
        "--diagnostics",
        action="store_true",
        help="print per-layer diagnostics every epoch: the share of dead ReLU units or "
        "saturated sigmoid/tanh outputs and the gradient-to-weight norm ratio of each layer "
        "(without it they are measured before and after training only, and reported when a "
        "layer looks broken)",
    )
    p.add_argument(
        "--sampling",
        choices=SAMPLING,
        default="shuffle",
        help="shuffle: a new permutation each epoch, every image once; replacement: each "
        "mini-batch drawn independently, as the notes' np.random.choice (default: shuffle)",
    )
    p.add_argument(
        "--gradient",
        choices=GRADIENT_METHODS,
        default="backprop",
        help="backprop, or numerical differentiation (float64; thousands of times slower, "
        "warns how long it will take) (default: backprop)",
    )
    _add_subset_options(p)
    _add_output_options(p, "accuracy.png")
    p.add_argument(
        "--loss-plot",
        metavar="PATH",
        help="write the loss curve here (default: loss.png beside the accuracy plot)",
    )
    p.add_argument(
        "--history",
        metavar="PATH",
        help="save the history (per-iteration loss, per-epoch accuracy and times, settings, "
        "seed) as JSON here, and the per-epoch table as CSV beside it (PATH with .csv)",
    )
    add_save_option(p)
    p.set_defaults(func=cmd_train, parser=p)

    # gradcheck
    p = sub.add_parser(
        "gradcheck",
        help="compare backprop and numerical gradients on a few MNIST images",
        description="The chapter-5 gradient check: the two-layer network's gradients by "
        "backpropagation and by numerical differentiation (central differences, float64) on "
        "the first few training images; mean and max difference per parameter, pass or fail. "
        "Exit status 1 if it fails.",
    )
    _add_data_options(p)
    p.add_argument(
        "--images", type=_positive_int, default=3, metavar="N", help="(default: 3, as the book)"
    )
    p.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="(default: relu)")
    p.add_argument("--hidden", type=_positive_int, default=50, metavar="N", help="(default: 50)")
    p.add_argument(
        "--weight-init-std", type=_positive_float, default=0.01, metavar="S", help="(default: 0.01)"
    )
    p.add_argument(
        "--tolerance",
        type=_positive_float,
        default=1e-6,
        help="largest relative error that passes (default: 1e-6)",
    )
    p.add_argument("--seed", type=_seed, default=0, help="initial weights (default: 0)")
    p.set_defaults(func=cmd_gradcheck, parser=p)

    # compare
    p = sub.add_parser(
        "compare",
        help="train several configurations with the same seed and data, plot them together",
        description="Train every combination of the values given (e.g. --activation sigmoid "
        "relu) with the same seed, the same initial-weight stream and the same mini-batches, "
        "print a table of final accuracies and draw all curves on one plot.",
    )
    _add_data_options(p)
    _add_network_options(p, compare=True)
    p.add_argument(
        "--batch-size",
        nargs="+",
        type=_positive_int,
        default=[100],
        metavar="N",
        help="mini-batch sizes (default: 100)",
    )
    p.add_argument(
        "--sampling",
        nargs="+",
        choices=SAMPLING,
        default=["shuffle"],
        help="mini-batch sampling schemes (default: shuffle)",
    )
    _add_length_options(p)
    _add_validation_options(p)
    _add_subset_options(p)
    _add_output_options(p, "compare.png")
    p.add_argument(
        "--loss-plot",
        metavar="PATH",
        help="also draw the runs' loss curves (moving average per iteration) here, as the "
        "book's Figure 6-9",
    )
    p.set_defaults(func=cmd_compare, parser=p)

    # search
    p = sub.add_parser(
        "search",
        help="random search for the learning rate and weight decay on a validation split",
        description="The book's section 6.5: hold out part of the training images for "
        "validation, draw learning rates and weight decays at random on a log scale, train a "
        "network with each (in parallel across the cores), and print the trials ranked by "
        "validation accuracy; the plot shows where the good values lie and the best trials' "
        "validation curves. The defaults are the book's: 500 training images (20%% for "
        "validation), 6 hidden layers of 100 ReLU units with He init, SGD, 50 epochs of "
        "batch 100, lr in [1e-6, 1e-2], weight decay in [1e-8, 1e-4].",
    )
    _add_data_options(p)
    p.add_argument("--trials", type=_positive_int, default=100, metavar="N", help="(default: 100)")
    p.add_argument(
        "--epochs", type=_positive_int, default=50, metavar="N", help="per trial (default: 50)"
    )
    p.add_argument(
        "--train-size",
        type=_positive_int,
        default=500,
        metavar="N",
        help="use the first N training images, validation split included (default: 500)",
    )
    p.add_argument(
        "--validation-fraction",
        type=_ratio,
        default=0.2,
        metavar="F",
        help="share of those images held out for validation (default: 0.2)",
    )
    p.add_argument(
        "--hidden",
        type=_layer_sizes,
        nargs="+",
        default=[(100,) * 6],
        metavar="N",
        help="hidden-layer sizes (default: 100x6)",
    )
    p.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="(default: relu)")
    p.add_argument(
        "--init", choices=("he", "xavier"), default="he", help="initial weights (default: he)"
    )
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="(default: sgd)")
    p.add_argument(
        "--batch-size", type=_positive_int, default=100, metavar="N", help="(default: 100)"
    )
    p.add_argument(
        "--lr-range",
        type=_positive_float,
        nargs=2,
        default=[1e-6, 1e-2],
        metavar=("LOW", "HIGH"),
        help="learning rates are drawn log-uniformly from [LOW, HIGH] (default: 1e-6 1e-2)",
    )
    p.add_argument(
        "--weight-decay-range",
        type=_positive_float,
        nargs=2,
        default=[1e-8, 1e-4],
        metavar=("LOW", "HIGH"),
        help="weight decays likewise (default: 1e-8 1e-4)",
    )
    p.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="trials run at once, one process each (default: every core)",
    )
    p.add_argument(
        "--top",
        type=_positive_int,
        default=20,
        metavar="N",
        help="trials listed and drawn as curves (default: 20)",
    )
    p.add_argument(
        "--csv", metavar="PATH", help="write every trial (hyperparameters, accuracies) as CSV"
    )
    _add_output_options(p, "search.png")
    p.set_defaults(func=cmd_search, parser=p)

    # activations
    p = sub.add_parser(
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
        type=_init_value,
        default=[1.0, 0.01, "xavier"],
        metavar="INIT",
        help="weight std (a number), xavier or he; each is one row (default: 1 0.01 xavier, "
        "Figures 6-10, 6-11 and 6-13)",
    )
    p.add_argument("--layers", type=_positive_int, default=5, metavar="N", help="(default: 5)")
    p.add_argument("--units", type=_positive_int, default=100, metavar="N", help="(default: 100)")
    p.add_argument(
        "--samples", type=_positive_int, default=1000, metavar="N", help="(default: 1000)"
    )
    p.add_argument(
        "--plot",
        metavar="PATH",
        default="activations.png",
        help="write the histograms here (default: %(default)s)",
    )
    p.add_argument("--no-plot", action="store_true", help="print the table only")
    p.add_argument("--seed", type=_seed, default=0, help="inputs and weights (default: 0)")
    p.set_defaults(func=cmd_activations, parser=p)

    # bench-gradient
    p = sub.add_parser(
        "bench-gradient",
        help="time one numerical and one backprop gradient of the chapter-5 network",
        description="Time the gradient of the chapter-5 network (784-50-10, float64 as in the "
        "book) on one mini-batch of MNIST images, by numerical differentiation and by "
        "backpropagation, and print both and their ratio.",
    )
    _add_data_options(p)
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=100,
        metavar="N",
        help="images in the mini-batch (default: 100)",
    )
    p.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="(default: relu)")
    p.add_argument("--hidden", type=_positive_int, default=50, metavar="N", help="(default: 50)")
    p.add_argument(
        "--repeat",
        type=_positive_int,
        default=50,
        metavar="N",
        help="time the backprop gradient N times and keep the fastest (default: 50)",
    )
    p.add_argument("--seed", type=_seed, default=0, help="initial weights (default: 0)")
    p.set_defaults(func=cmd_bench_gradient, parser=p)
    add_model_commands(sub)
    return parser


# -- shared steps ----------------------------------------------------------------------------


def _check_distinct_outputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Two outputs of one run must not be the same file (one would silently replace the other)."""
    outputs: list[tuple[str, str]] = []
    if not args.no_plot:
        outputs.append(("--plot", args.plot))
        outputs.append(
            ("--loss-plot", args.loss_plot or str(Path(args.plot).with_name("loss.png")))
        )
    if args.history is not None:
        json_path, csv_path = _history_paths(args.history)
        outputs += [("--history", str(json_path)), ("--history", str(csv_path))]
    if args.save is not None:
        outputs.append(("--save", args.save))
    seen: dict[Path, str] = {}
    for option, path in outputs:
        resolved = Path(path).resolve()
        if resolved in seen and seen[resolved] != option:
            parser.error(f"argument {option}: {path!r} is also the file of {seen[resolved]}")
        seen[resolved] = option


def _require_matplotlib(args: argparse.Namespace) -> None:
    """Fail before training, not after, when plots are asked for and cannot be drawn."""
    import importlib.util

    if not args.no_plot and importlib.util.find_spec("matplotlib") is None:
        raise CommandError(
            "plots need matplotlib: pip install 'dlzero[cli]', or pass --no-plot", EXIT_USAGE
        )


def _load_data(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple:
    """Load the data set, cut to --train-size / --test-size, with clear errors."""
    from dlzero import datasets

    loader = datasets.load_mnist if args.dataset == "mnist" else datasets.load_fashion_mnist
    try:
        (x_train, t_train), (x_test, t_test) = loader(
            normalize=True, flatten=True, one_hot_label=False, data_dir=args.data_dir
        )
    except datasets.DatasetError as exc:
        raise CommandError(f"cannot load {args.dataset}: {exc}") from None
    for option, n, x in (
        ("--train-size", "train_size", x_train),
        ("--test-size", "test_size", x_test),
    ):
        size = getattr(args, n, None)
        if size is not None and size > len(x):
            parser.error(f"argument {option}: {size} is more than the {len(x)} images available")
    if getattr(args, "train_size", None):
        x_train, t_train = x_train[: args.train_size], t_train[: args.train_size]
    if getattr(args, "test_size", None):
        x_test, t_test = x_test[: args.test_size], t_test[: args.test_size]
    return (x_train, t_train), (x_test, t_test)


def _num_classes(*labels: np.ndarray) -> int:
    return int(max(int(t.max()) for t in labels)) + 1


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the initial weights and the mini-batches.

    Separate streams keep the mini-batches the same when the network's size changes, so
    ``compare`` runs differ only in what they compare.
    """
    init, batches = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init), np.random.default_rng(batches)


def _format_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 600:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _warn_numerical(net: Any, x: np.ndarray, t: np.ndarray, iters: int) -> None:
    """Tell how long numerical differentiation will take, from a measured forward pass."""
    n_params = sum(p.size for p in net.params.values())
    t0 = time.perf_counter()
    for _ in range(3):
        net.loss(x, t)
    per_loss = (time.perf_counter() - t0) / 3
    per_iter = 2 * n_params * per_loss
    print(
        f"warning: --gradient numerical differentiates each of the {n_params:,} parameters by "
        f"central differences (2 forward passes each): about {_format_seconds(per_iter)} per "
        f"iteration, {_format_seconds(per_iter * iters)} for {iters:,} iterations; backprop "
        "takes about a millisecond. Ctrl-C stops after the current iteration.",
        file=sys.stderr,
        flush=True,
    )


# -- the network: which one, built how -----------------------------------------------------


def _network_settings(
    parser: argparse.ArgumentParser,
    model: str,
    *,
    activation: str | None,
    hidden: Sequence[int] | None,
    init: str | None,
    weight_init_std: float | None,
    weight_decay: float | None,
    dropout: float | None,
    batchnorm: bool,
    optimizer: str | None,
    lr: float | None,
) -> dict[str, Any]:
    """Check the network and optimizer options together and fill in the defaults.

    Returns the settings of the network to build, with ``kind`` one of ``two-layer`` (the
    chapter-5 ``TwoLayerNet``), ``multi-layer``, ``cnn``, ``deep-cnn``. An option the model
    does not have is a usage error, not silently ignored.
    """
    if model == "mlp":
        hidden = tuple(hidden) if hidden else (50,)
        init = init or "std"
        std = weight_init_std if weight_init_std is not None else 0.01
        if init != "std" and weight_init_std is not None:
            parser.error(f"argument --weight-init-std: only with --init std, not --init {init}")
        settings: dict[str, Any] = {
            "activation": activation or "relu",
            "hidden": hidden,
            "init": init,
            "weight_init_std": std if init == "std" else init,
            "weight_decay": weight_decay or 0.0,
            "dropout": dropout or 0.0,
            "batchnorm": bool(batchnorm),
        }
        chapter5 = (
            len(hidden) == 1
            and init == "std"
            and not settings["weight_decay"]
            and not settings["dropout"]
            and not batchnorm
        )
        settings["kind"] = "two-layer" if chapter5 else "multi-layer"
        optimizer = optimizer or "sgd"
    else:
        # The convolutional networks are built as the book builds them: ReLU, their own
        # initialization; only the size of the fully connected layer (and DeepConvNet's
        # dropout ratio) can be chosen.
        name = "SimpleConvNet" if model == "cnn" else "DeepConvNet"
        fixed = [
            ("--activation", activation not in (None, "relu"), "uses ReLU"),
            ("--hidden", hidden is not None and len(hidden) != 1, "takes one --hidden size"),
            ("--weight-decay", bool(weight_decay), "has no weight decay option"),
            ("--batchnorm", bool(batchnorm), "has no batch normalization"),
            ("--init", init not in (None, "std" if model == "cnn" else "he"), ""),
        ]
        if model == "cnn":
            fixed.append(("--dropout", bool(dropout), "has no dropout"))
        else:
            fixed.append(("--weight-init-std", weight_init_std is not None, "uses He init"))
        for option, bad, why in fixed:
            if bad:
                why = why or (
                    "initializes with N(0, S^2), --init std"
                    if model == "cnn"
                    else "initializes with --init he"
                )
                parser.error(f"argument {option}: --model {model} ({name}) {why}")
        settings = {"kind": model, "activation": "relu"}
        if model == "cnn":
            settings["hidden"] = (hidden[0],) if hidden else (100,)
            settings["weight_init_std"] = weight_init_std if weight_init_std else 0.01
        else:
            settings["hidden"] = (hidden[0],) if hidden else (50,)
            settings["dropout"] = 0.5 if dropout is None else dropout
        optimizer = optimizer or "adam"
    settings["optimizer"] = optimizer
    settings["lr"] = lr if lr is not None else DEFAULT_LR[optimizer]
    return settings


def _build_network(
    settings: dict[str, Any], input_size: int, n_classes: int, rng: Any, dtype: Any
) -> Any:
    """The network ``settings`` describe (see :func:`_network_settings`)."""
    kind = settings["kind"]
    if kind == "two-layer":
        from dlzero.networks import TwoLayerNet

        return TwoLayerNet(
            input_size,
            settings["hidden"][0],
            n_classes,
            weight_init_std=settings["weight_init_std"],
            activation=settings["activation"],
            rng=rng,
            dtype=dtype,
        )
    if kind == "multi-layer":
        from dlzero.networks import MultiLayerNet

        # The book's names: "he" is its "relu" scale, "xavier" its "sigmoid" scale.
        return MultiLayerNet(
            input_size,
            list(settings["hidden"]),
            n_classes,
            activation=settings["activation"],
            weight_init_std=settings["weight_init_std"],
            weight_decay_lambda=settings["weight_decay"],
            use_dropout=settings["dropout"] > 0,
            dropout_ratio=settings["dropout"],
            use_batchnorm=settings["batchnorm"],
            rng=rng,
            dtype=dtype,
        )
    from dlzero.convnets import DeepConvNet, SimpleConvNet

    side = math.isqrt(input_size)
    if kind == "cnn":
        return SimpleConvNet(
            (1, side, side),
            hidden_size=settings["hidden"][0],
            output_size=n_classes,
            weight_init_std=settings["weight_init_std"],
            rng=rng,
            dtype=dtype,
        )
    return DeepConvNet(
        (1, side, side),
        hidden_size=settings["hidden"][0],
        output_size=n_classes,
        dropout_ratio=settings["dropout"],
        rng=rng,
        dtype=dtype,
    )


def _as_images(x: np.ndarray) -> np.ndarray:
    """Flattened square images (N, D) as (N, 1, H, W) for the convolutional networks: a view."""
    side = math.isqrt(x.shape[1])
    return x.reshape(len(x), 1, side, side)


def _describe(settings: dict[str, Any], input_size: int, n_classes: int) -> str:
    """``784-100-100-10 relu, he init, batch norm`` or ``SimpleConvNet (100 hidden)``."""
    kind = settings["kind"]
    if kind == "cnn":
        return f"SimpleConvNet (30 5x5 filters, {settings['hidden'][0]} hidden)"
    if kind == "deep-cnn":
        return f"DeepConvNet ({settings['hidden'][0]} hidden, dropout {settings['dropout']:g})"
    sizes = "-".join(str(n) for n in (input_size, *settings["hidden"], n_classes))
    parts = [f"{sizes} {settings['activation']}"]
    if kind == "multi-layer":
        init = settings["init"]
        parts.append(
            f"std {settings['weight_init_std']:g} init" if init == "std" else f"{init} init"
        )
        if settings["batchnorm"]:
            parts.append("batch norm")
        if settings["dropout"]:
            parts.append(f"dropout {settings['dropout']:g}")
        if settings["weight_decay"]:
            parts.append(f"weight decay {settings['weight_decay']:g}")
    return ", ".join(parts)


def _settings_config(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as recorded in a history (the chapter-5 network keeps its old keys)."""
    kind = settings["kind"]
    hidden = settings["hidden"]
    config: dict[str, Any] = {
        "model": "mlp" if kind in ("two-layer", "multi-layer") else kind,
        "activation": settings["activation"],
        "hidden_size": hidden[0] if kind != "multi-layer" else list(hidden),
        "optimizer_name": settings["optimizer"],
        "lr": settings["lr"],
    }
    if kind == "two-layer" or kind == "cnn":
        config["weight_init_std"] = settings["weight_init_std"]
    if kind == "multi-layer":
        config.update(
            init=settings["init"],
            weight_init_std=settings["weight_init_std"],
            weight_decay=settings["weight_decay"],
            dropout=settings["dropout"],
            batchnorm=settings["batchnorm"],
        )
    if kind == "deep-cnn":
        config["dropout"] = settings["dropout"]
    return config


class _DiagnosticsPrinter:
    """Prints what :class:`~dlzero.training.RecordDiagnostics` measured: with ``--diagnostics``
    one compact line per epoch; always, a warning for each layer that newly looks broken."""

    def __init__(self, every_epoch: bool, quiet: bool) -> None:
        self.every_epoch = every_epoch
        self.quiet = quiet
        self.warned: set[str] = set()

    def __call__(self, epoch: int, report: Any) -> None:
        if self.every_epoch and not self.quiet:
            print(_diagnostics_line(epoch, report), flush=True)
        for problem in report.problems():
            layer = problem.split(":", 1)[0]
            if layer not in self.warned:
                self.warned.add(layer)
                when = "before training" if epoch == 0 else f"at epoch {epoch}"
                print(f"dlzero train: warning: {when}: {problem}", file=sys.stderr, flush=True)


def _diagnostics_line(epoch: int, report: Any) -> str:
    """``  layers at epoch 3: dead 0% 2% 11% | |dW|/|W| W1 1.2e-03 W2 8.0e-04 W3 2.1e-03``."""
    shares = []
    for a in report.activations:
        if a.dead_share is not None:
            shares.append(f"{a.dead_share:.0%}")
        elif a.saturated_share is not None:
            shares.append(f"{a.saturated_share:.0%}")
    kinds = {a.kind for a in report.activations}
    label = "dead" if kinds == {"relu"} else "dead/saturated"
    ratios = [
        f"{p.name} {p.grad_to_weight:.1e}"
        for p in report.params
        if p.name.startswith("W") and p.grad_to_weight is not None
    ]
    return f"  layers at epoch {epoch}: {label} {' '.join(shares)} | |dW|/|W| {' '.join(ratios)}"


# -- dlzero train ----------------------------------------------------------------------------


def _history_paths(path: str) -> tuple[Path, Path]:
    json_path = Path(path)
    return json_path, json_path.with_suffix(".csv")


# Training images on which per-layer diagnostics are measured: enough for stable shares, cheap.
DIAGNOSTICS_SAMPLES = 200


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    # Everything that can be checked before the data is loaded, is.
    if args.train_size is not None and args.batch_size > args.train_size:
        parser.error(
            f"argument --batch-size: {args.batch_size} is larger than --train-size "
            f"{args.train_size}"
        )
    if args.patience is not None and not args.validation_fraction:
        parser.error("argument --patience: early stopping needs --validation-fraction")
    if args.gradient == "numerical" and (args.dropout or args.batchnorm):
        parser.error(
            "argument --gradient: numerical differentiation needs the same loss at every "
            "evaluation; --dropout draws a new mask and --batchnorm updates its running "
            "statistics each time"
        )
    settings = _network_settings(
        parser,
        args.model,
        activation=args.activation,
        hidden=[n for sizes in args.hidden for n in sizes] if args.hidden else None,
        init=args.init,
        weight_init_std=args.weight_init_std,
        weight_decay=args.weight_decay,
        dropout=args.dropout,
        batchnorm=args.batchnorm,
        optimizer=args.optimizer,
        lr=args.lr,
    )
    if not args.no_plot:
        loss_plot = args.loss_plot or str(Path(args.plot).with_name("loss.png"))
        _check_output(parser, "--plot", args.plot, plot=True)
        _check_output(parser, "--loss-plot", loss_plot, plot=True)
        if Path(loss_plot).resolve() == Path(args.plot).resolve():
            parser.error("argument --loss-plot: must differ from --plot")
    if args.history is not None:
        json_path, csv_path = _history_paths(args.history)
        if json_path.suffix.lower() == ".csv":
            parser.error("argument --history: give a .json path (the CSV goes beside it)")
        _check_output(parser, "--history", str(json_path), plot=False)
        _check_output(parser, "--history", str(csv_path), plot=False)

    check_save_path(parser, args.save)
    _check_distinct_outputs(parser, args)
    _require_matplotlib(args)
    # The plots' process starts now: it readies matplotlib on the other core while this one
    # loads the data and trains, and it copies no data set (see dlzero._plot_process).
    plotter = None if args.no_plot else PlotProcess()
    try:
        return _train(args, parser, settings, plotter)
    finally:
        if plotter is not None:
            plotter.close()


def _train(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    settings: dict[str, Any],
    plotter: PlotProcess | None,
) -> int:
    """``dlzero train`` from the data load on, its arguments checked."""
    from dlzero.optimizers import get_optimizer
    from dlzero.training import (
        RecordDiagnostics,
        Trainer,
        TrainingDiverged,
        TrainingInterrupted,
    )

    (x_train, t_train), (x_test, t_test) = _load_data(args, parser)
    if args.batch_size > len(x_train):
        parser.error(
            f"argument --batch-size: {args.batch_size} is larger than the {len(x_train)} "
            "training images"
        )
    input_size, n_classes = x_train.shape[1], _num_classes(t_train, t_test)
    if settings["kind"] in ("cnn", "deep-cnn"):
        if math.isqrt(input_size) ** 2 != input_size:
            parser.error(f"argument --model: {args.model} needs square images, got {input_size}")
        x_train, x_test = _as_images(x_train), _as_images(x_test)

    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    init_rng, batch_rng = _streams(seed)
    numerical = args.gradient == "numerical"
    # Central differences in float32 would drown the gradient in rounding error.
    dtype = np.float64 if numerical else np.float32
    net = _build_network(settings, input_size, n_classes, init_rng, dtype)
    optimizer = get_optimizer(settings["optimizer"], lr=settings["lr"])
    config = {
        "command": "dlzero train",
        "dataset": args.dataset,
        **_settings_config(settings),
        "dtype": str(net.dtype),
    }
    try:
        trainer = Trainer(
            net,
            optimizer,
            x_train,
            t_train,
            x_test,
            t_test,
            batch_size=args.batch_size,
            iters=args.iters,
            epochs=args.epochs,
            sampling=args.sampling,
            gradient=args.gradient,
            rng=batch_rng,
            verbose=not args.quiet,
            config=config,
            validation_fraction=args.validation_fraction,
            patience=args.patience,
        )
    except ValueError as exc:  # e.g. batch normalization and a mini-batch of one
        parser.error(str(exc))
    trainer.seed = seed
    # Per-layer diagnostics: every epoch with --diagnostics; otherwise before and after
    # training only (two measurements per run, nothing per step), to warn of a broken layer.
    n_diag = min(DIAGNOSTICS_SAMPLES, trainer.train_size)
    trainer.callbacks.insert(
        0,
        RecordDiagnostics(
            trainer.x_train[:n_diag],
            trainer.t_train[:n_diag],
            every_epoch=args.diagnostics,
            on_record=_DiagnosticsPrinter(args.diagnostics, args.quiet),
        ),
    )
    title = (
        f"{args.dataset}: {_describe(settings, input_size, n_classes)}, "
        f"{type(optimizer).__name__} lr {settings['lr']:g}, batch {args.batch_size}, seed {seed}"
    )
    if not args.quiet:
        sizes = f"{trainer.train_size:,} train / "
        if "val" in trainer.eval_sets:
            sizes += f"{len(trainer.eval_sets['val'][0]):,} validation / "
        print(
            f"{title}; {sizes}{len(x_test):,} test images, "
            f"{trainer.iters:,} iterations = {trainer.num_epochs} epochs of "
            f"{trainer.iterations_per_epoch}, {args.sampling} sampling",
            flush=True,
        )
    if numerical:
        b = args.batch_size
        _warn_numerical(net, x_train[:b], t_train[:b], trainer.iters)

    status = 0
    try:
        history = trainer.fit()
    except TrainingDiverged as exc:
        history, status = exc.history, EXIT_FAILURE
        print(f"dlzero train: error: {exc}", file=sys.stderr)
    except TrainingInterrupted as exc:
        history, status = exc.history, EXIT_INTERRUPTED
        print(f"dlzero train: {exc}; writing what was recorded", file=sys.stderr)

    _write_train_outputs(history, args, title, plotter)
    if args.save is not None and status != EXIT_FAILURE:
        save_trained(net, args.save, metadata={**config, "seed": seed}, quiet=args.quiet)
    _print_summary(history, args)
    return status


def _write_train_outputs(
    history: Any, args: argparse.Namespace, title: str, plotter: PlotProcess | None = None
) -> None:
    written = []
    try:
        if args.history is not None:
            json_path, csv_path = _history_paths(args.history)
            history.save(json_path, csv_path=csv_path)
            written += [str(json_path), str(csv_path)]
        if not args.no_plot:
            loss_plot = args.loss_plot or str(Path(args.plot).with_name("loss.png"))
            plots = [("accuracy", args.plot), ("loss", loss_plot)]
            if plotter is None or not plotter.draw(history, plots, title):
                from dlzero.plotting import plot_accuracy, plot_loss

                plot_accuracy(history, args.plot, title=title)
                plot_loss(history, loss_plot, title=title)
            written += [args.plot, loss_plot]
    except OSError as exc:
        raise CommandError(f"cannot write results: {exc}") from None
    if written and not args.quiet:
        print("wrote " + ", ".join(written))


def _print_summary(history: Any, args: argparse.Namespace) -> None:
    accs = "  ".join(f"{name} acc {values[-1]:.4f}" for name, values in history.accuracy.items())
    epoch = history.epochs[-1] if history.epochs else 0
    # With background evaluation the two overlap: say so rather than add them up.
    joiner = " + " if not history.config.get("background_eval") else ", alongside it "
    times = (
        f"{sum(history.train_time):.1f} s training{joiner}{sum(history.eval_time):.1f} s "
        f"evaluating, seed {history.seed}"
    )
    if history.stop_reason == "completed":
        print(f"final (epoch {epoch}, {history.iterations_done:,} iterations): {accs}; {times}")
    else:
        print(
            f"{history.stop_reason} after {history.iterations_done:,} of "
            f"{history.iterations:,} iterations; last evaluated at epoch {epoch}: {accs}; {times}"
        )
    best = history.best_epoch
    if best is not None and best != epoch:
        kept = "  ".join(f"{name} acc {history.at_best(name):.4f}" for name in history.accuracy)
        print(f"kept the weights of epoch {best} (best val accuracy): {kept}")


# -- dlzero gradcheck ------------------------------------------------------------------------


def _float64_net_and_batch(
    args: argparse.Namespace, parser: argparse.ArgumentParser, n: int, option: str
) -> tuple[Any, np.ndarray, np.ndarray]:
    """The chapter-5 network in float64 and the first ``n`` training images, for the commands
    that differentiate it numerically (``gradcheck``, ``bench-gradient``)."""
    from dlzero.networks import TwoLayerNet

    (x_train, t_train), (_, t_test) = _load_data(args, parser)
    if n > len(x_train):
        parser.error(f"argument {option}: only {len(x_train)} training images")
    net = TwoLayerNet(
        x_train.shape[1],
        args.hidden,
        _num_classes(t_train, t_test),
        weight_init_std=getattr(args, "weight_init_std", 0.01),
        activation=args.activation,
        rng=args.seed,
        dtype=np.float64,
    )
    return net, x_train[:n].astype(np.float64), t_train[:n]


def cmd_gradcheck(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
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


# -- dlzero compare --------------------------------------------------------------------------

# What compare can vary, in the order labels name them.
_COMPARED = (
    "activation",
    "hidden",
    "optimizer",
    "lr",
    "batch_size",
    "init",
    "weight_init_std",
    "weight_decay",
    "dropout",
    "batchnorm",
    "sampling",
)
# Values shown bare in a one-option label ("relu", "adam"); the others say what they are.
_BARE = ("activation", "hidden", "optimizer", "init", "sampling")


def _format_value(name: str, value: Any) -> str:
    if name == "hidden":
        if len(value) > 1 and len(set(value)) == 1:
            return f"{value[0]}x{len(value)}"
        return ",".join(str(n) for n in value)
    if name == "batchnorm":
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _label(cfg: dict[str, Any], varying: list[str]) -> str:
    if len(varying) == 1:
        name = varying[0]
        text = _format_value(name, cfg[name])
        return text if name in _BARE else f"{name.replace('_', ' ')} {text}"
    return ", ".join(f"{n}={_format_value(n, cfg[n])}" for n in varying)


def cmd_compare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dlzero.optimizers import get_optimizer
    from dlzero.training import (
        Trainer,
        TrainingDiverged,
        TrainingInterrupted,
        check_batch_norm_batches,
        validation_size,
    )

    largest_batch = max(args.batch_size)
    if args.train_size is not None and largest_batch > args.train_size:
        parser.error(
            f"argument --batch-size: {largest_batch} is larger than --train-size {args.train_size}"
        )
    if args.patience is not None and not args.validation_fraction:
        parser.error("argument --patience: early stopping needs --validation-fraction")
    if not args.no_plot:
        _check_output(parser, "--plot", args.plot, plot=True)
        if args.loss_plot is not None:
            _check_output(parser, "--loss-plot", args.loss_plot, plot=True)
            if Path(args.loss_plot).resolve() == Path(args.plot).resolve():
                parser.error("argument --loss-plot: must differ from --plot")
    values = {name: list(dict.fromkeys(getattr(args, name) or [None])) for name in _COMPARED}
    varying = [name for name in _COMPARED if len(values[name]) > 1] or ["activation"]
    configs, settings_of = [], []
    for combo in itertools.product(*values.values()):
        cfg = dict(zip(_COMPARED, combo, strict=True))
        if cfg["init"] != "std" and len(values["weight_init_std"]) > 1:
            if cfg["weight_init_std"] != values["weight_init_std"][0]:
                continue  # --weight-init-std means nothing with he or xavier: one run is enough
        settings = _network_settings(
            parser,
            "mlp",
            activation=cfg["activation"],
            hidden=cfg["hidden"],
            init=cfg["init"],
            weight_init_std=cfg["weight_init_std"] if cfg["init"] == "std" else None,
            weight_decay=cfg["weight_decay"],
            dropout=cfg["dropout"],
            batchnorm=cfg["batchnorm"],
            optimizer=cfg["optimizer"],
            lr=cfg["lr"],
        )
        cfg["lr"] = settings["lr"]
        configs.append(cfg)
        settings_of.append(settings)
    _require_matplotlib(args)
    (x_train, t_train), (x_test, t_test) = _load_data(args, parser)
    if largest_batch > len(x_train):
        parser.error(
            f"argument --batch-size: {largest_batch} is larger than the {len(x_train)} "
            "training images"
        )
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    n_classes = _num_classes(t_train, t_test)
    input_size = x_train.shape[1]
    n_train = len(x_train) - validation_size(len(x_train), args.validation_fraction)
    # Every configuration is checked before the first one trains.
    networks = []
    for cfg, settings in zip(configs, settings_of, strict=True):
        init_rng, _ = _streams(seed)  # the same streams for every configuration
        net = _build_network(settings, input_size, n_classes, init_rng, np.float32)
        try:
            check_batch_norm_batches(net, n_train, cfg["batch_size"], cfg["sampling"])
        except ValueError as exc:
            parser.error(str(exc))
        networks.append(net)

    histories: dict[str, Any] = {}
    rows = []
    status = 0
    for k, (cfg, net) in enumerate(zip(configs, networks, strict=True), 1):
        label = _label(cfg, varying)
        _, batch_rng = _streams(seed)
        trainer = Trainer(
            net,
            get_optimizer(cfg["optimizer"], lr=cfg["lr"]),
            x_train,
            t_train,
            x_test,
            t_test,
            batch_size=cfg["batch_size"],
            iters=args.iters,
            epochs=args.epochs,
            sampling=cfg["sampling"],
            rng=batch_rng,
            verbose=not args.quiet,
            validation_fraction=args.validation_fraction,
            patience=args.patience,
            config={
                "command": "dlzero compare",
                "dataset": args.dataset,
                **cfg,
                "hidden": cfg["hidden"][0] if len(cfg["hidden"]) == 1 else list(cfg["hidden"]),
            },
        )
        trainer.seed = seed
        if not args.quiet:
            print(f"[{k}/{len(configs)}] {label} (seed {seed})", flush=True)
        try:
            history = trainer.fit()
        except TrainingDiverged as exc:
            history, status = exc.history, EXIT_FAILURE
            print(f"dlzero compare: {label}: {exc}", file=sys.stderr)
        except TrainingInterrupted as exc:
            print(f"dlzero compare: {exc}; writing the runs finished so far", file=sys.stderr)
            status = EXIT_INTERRUPTED
            break
        histories[label] = history
        rows.append((label, history))

    _print_comparison(rows, varying)
    if histories and not args.no_plot:
        from dlzero.plotting import plot_comparison, plot_loss_comparison

        title = f"{args.dataset}, seed {seed}"
        try:
            plot_comparison(histories, args.plot, title=title)
            if args.loss_plot is not None:
                plot_loss_comparison(histories, args.loss_plot, title=title)
        except OSError as exc:
            raise CommandError(f"cannot write the plots: {exc}") from None
        if not args.quiet:
            written = [args.plot] + ([args.loss_plot] if args.loss_plot else [])
            print("wrote " + ", ".join(written))
    return status


def _print_comparison(rows: list[tuple[str, Any]], varying: list[str]) -> None:
    """One row per run: final accuracies (those of the kept epoch with early stopping)."""
    if not rows:
        return
    width = max(len(", ".join(varying)), *(len(label) for label, _ in rows))
    with_val = any("val" in h.accuracy for _, h in rows)
    head = f"{', '.join(varying):<{width}}  {'train acc':>9}"
    head += f"  {'val acc':>9}" if with_val else ""
    print(f"{head}  {'test acc':>9}  {'time':>8}")
    for label, h in rows:
        line = f"{label:<{width}}  {h.at_best('train'):>9.4f}"
        if with_val:
            val = h.at_best("val")
            line += f"  {val:>9.4f}" if val is not None else f"  {'-':>9}"
        seconds = h.wall_time if h.wall_time is not None else sum(h.train_time) + sum(h.eval_time)
        note = "" if h.stop_reason == "completed" else f"  ({h.stop_reason})"
        if h.best_epoch is not None and h.best_epoch != h.epochs[-1]:
            note += f"  (epoch {h.best_epoch} kept)"
        print(f"{line}  {h.at_best('test'):>9.4f}  {seconds:>6.1f} s{note}")
    finished = [(label, h) for label, h in rows if h.stop_reason in ("completed", "stopped")]
    if len(finished) > 1:
        ranked = sorted(finished, key=lambda r: r[1].at_best("test"))
        (worst, hw), (best, hb) = ranked[0], ranked[-1]
        points = 100 * (hb.at_best("test") - hw.at_best("test"))
        print(f"test accuracy: {best} is {points:.2f} points above {worst}")


# -- dlzero search ---------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dlzero.search import random_search
    from dlzero.training import validation_size

    if not args.no_plot:
        _check_output(parser, "--plot", args.plot, plot=True)
    if args.csv is not None:
        _check_output(parser, "--csv", args.csv, plot=False)
    for option, (low, high) in (
        ("--lr-range", args.lr_range),
        ("--weight-decay-range", args.weight_decay_range),
    ):
        if low > high:
            parser.error(f"argument {option}: LOW {low:g} is above HIGH {high:g}")
    if not args.validation_fraction:
        parser.error("argument --validation-fraction: the search needs a validation split (> 0)")
    n_train = args.train_size - validation_size(args.train_size, args.validation_fraction)
    if args.batch_size > n_train:
        parser.error(
            f"argument --batch-size: {args.batch_size} is larger than the {n_train} images "
            "left for training after the validation split"
        )
    _require_matplotlib(args)
    args.test_size = None
    (x_train, t_train), _ = _load_data(args, parser)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    hidden = [n for sizes in args.hidden for n in sizes]
    jobs = args.jobs or os.cpu_count() or 1
    if not args.quiet:
        print(
            f"random search: {args.trials} trials, {args.dataset} {args.train_size:,} images "
            f"({validation_size(args.train_size, args.validation_fraction):,} for validation), "
            f"{'-'.join(map(str, hidden))} {args.activation}, {args.init} init, "
            f"{args.optimizer}, {args.epochs} epochs of batch {args.batch_size}; lr in "
            f"[{args.lr_range[0]:g}, {args.lr_range[1]:g}], weight decay in "
            f"[{args.weight_decay_range[0]:g}, {args.weight_decay_range[1]:g}]; {jobs} "
            f"process{'es' if jobs > 1 else ''}, seed {seed}",
            flush=True,
        )
    finished = 0

    def report(trial: Any) -> None:
        nonlocal finished
        finished += 1
        if not args.quiet:
            print(
                f"[{finished:>{len(str(args.trials))}}/{args.trials}] trial {trial.index}: "
                f"val acc {trial.val_acc:.4f}  lr {trial.lr:.2e}  weight decay "
                f"{trial.weight_decay:.2e}" + ("" if trial.status == "completed" else
                f"  ({trial.status})"),
                flush=True,
            )  # fmt: skip

    try:
        result = random_search(
            x_train,
            t_train,
            n_trials=args.trials,
            lr_range=args.lr_range,
            weight_decay_range=args.weight_decay_range,
            validation_fraction=args.validation_fraction,
            epochs=args.epochs,
            batch_size=args.batch_size,
            hidden_size_list=hidden,
            activation=args.activation,
            weight_init_std=args.init,
            optimizer=args.optimizer,
            n_jobs=jobs,
            seed=seed,
            on_trial=report,
        )
    except ImportError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except KeyboardInterrupt:
        print("dlzero search: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(result.table(args.top))
    best = result.best(1)[0]
    print(
        f"best: val acc {best.val_acc:.4f} with lr {best.lr:.3g}, weight decay "
        f"{best.weight_decay:.3g} ({result.settings['seconds']:.1f} s, seed {seed})"
    )
    written = []
    try:
        if args.csv is not None:
            from dlzero._io import atomic_write_text

            atomic_write_text(args.csv, result.to_csv())
            written.append(args.csv)
        if not args.no_plot:
            from dlzero.plotting import plot_search

            title = (
                f"random search, {args.trials} trials: {args.dataset} {args.train_size} images, "
                f"{args.epochs} epochs, seed {seed}"
            )
            plot_search(result, args.plot, title=title, top=args.top)
            written.append(args.plot)
    except OSError as exc:
        raise CommandError(f"cannot write results: {exc}") from None
    if written and not args.quiet:
        print("wrote " + ", ".join(written))
    return 0


# -- dlzero activations ----------------------------------------------------------------------


def cmd_activations(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dlzero.activations_study import activation_study, format_table

    if not args.no_plot:
        _check_output(parser, "--plot", args.plot, plot=True)
    _require_matplotlib(args)
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


# -- dlzero bench-gradient -------------------------------------------------------------------


def cmd_bench_gradient(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
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
    print(f"backprop:  {_format_seconds(best):>10}  (fastest of {args.repeat})", flush=True)
    t0 = time.perf_counter()
    net.numerical_gradient(x, t)
    numerical = time.perf_counter() - t0
    print(
        f"numerical: {_format_seconds(numerical):>10}  ({2 * n_params:,} forward passes)",
        flush=True,
    )
    print(f"ratio: numerical / backprop = {numerical / best:,.0f}")
    return 0


# -- entry point -----------------------------------------------------------------------------


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
