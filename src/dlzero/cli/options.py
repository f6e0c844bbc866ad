"""What the ``dlzero`` commands share: exit statuses, one-line errors, argument types, options.

Each command module defines its own options beside its handler; the options that several
commands take are added by the ``add_*_options`` functions here, so they read the same in every
command. An argument type rejects a bad value with a message that names what was expected, and
:class:`OneLineErrorParser` prints it as one line with exit status 2, before anything slow runs.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, NoReturn

from dlzero._io import check_writable
from dlzero.networks import ACTIVATIONS as _ACTIVATIONS
from dlzero.optimizers import OPTIMIZERS as _OPTIMIZERS

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process stopped by Ctrl-C

# The choices offered, from the modules that define them (both light to import: matplotlib,
# tqdm and the data are loaded only when a command needs them).
ACTIVATIONS = tuple(_ACTIVATIONS)
OPTIMIZERS = tuple(_OPTIMIZERS)
DATASETS = ("mnist", "fashion-mnist")
# --init: "std" draws every weight from N(0, --weight-init-std ** 2), the chapter-5 way; "he"
# and "xavier" scale each layer by its fan-in (chapter 6.2).
INITS = ("std", "he", "xavier")


class CommandError(Exception):
    """A failure to report in one line, with an exit status (not a usage error by default)."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``prog: error: message``, exit status 2.

    The subcommands' parsers are of the same class (``add_subparsers`` makes them so).
    """

    def error(self, message: str) -> NoReturn:
        message = " ".join(str(message).split())
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# -- argument types: each rejects a bad value with a message naming what was expected --------


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a positive finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number of at least 0 (a weight decay)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def ratio(text: str) -> float:
    """argparse type: a dropout ratio or a validation fraction, a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def layer_sizes(text: str) -> tuple[int, ...]:
    """argparse type: hidden-layer sizes, ``100``, ``100,50`` (two layers) or ``100x4`` (four
    layers of 100)."""
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


def on_off(text: str) -> bool:
    """argparse type: ``off`` or ``on``, as False or True."""
    if text not in ("off", "on"):
        raise argparse.ArgumentTypeError(f"expected off or on, got {text!r}")
    return text == "on"


def random_seed(text: str) -> int:
    """argparse type: a random seed, an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


# -- options that several commands take ------------------------------------------------------


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--dataset`` and ``--data-dir``, read by :func:`load_data`."""
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="mnist",
        help="mnist (bundled with dlzero) or fashion-mnist (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="read the data set's IDX files from this folder instead of the usual places",
    )


def add_subset_options(parser: argparse.ArgumentParser) -> None:
    """``--train-size`` and ``--test-size``: train and evaluate on the first images only."""
    parser.add_argument(
        "--train-size",
        type=positive_int,
        metavar="N",
        help="train on the first N training images only (default: all 60,000)",
    )
    parser.add_argument(
        "--test-size",
        type=positive_int,
        metavar="N",
        help="evaluate on the first N test images only (default: all 10,000)",
    )


def add_length_options(parser: argparse.ArgumentParser) -> None:
    """``--iters`` or ``--epochs``: how long to train."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--iters",
        type=positive_int,
        metavar="N",
        help="number of gradient steps (default: 10000, the notes' iters_num)",
    )
    group.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help="train this many epochs instead; one epoch is ceil(train size / batch size) steps",
    )


def add_output_options(parser: argparse.ArgumentParser, default_plot: str) -> None:
    """``--plot``, ``--no-plot``, ``--seed`` and ``--quiet``."""
    parser.add_argument(
        "--plot",
        metavar="PATH",
        default=default_plot,
        help="write the accuracy plot here; .png, .pdf, .svg, ... (default: %(default)s)",
    )
    parser.add_argument(
        "--no-plot", action="store_true", help="draw no plots (they take about half a second)"
    )
    parser.add_argument(
        "--seed",
        type=random_seed,
        help="seed for the initial weights and the mini-batches; the same seed gives the same "
        "history (default: a fresh one, printed and saved in the history)",
    )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="print only the final summary and errors"
    )


def add_validation_options(parser: argparse.ArgumentParser) -> None:
    """``--validation-fraction`` and ``--patience`` (early stopping)."""
    parser.add_argument(
        "--validation-fraction",
        type=ratio,
        default=0.0,
        metavar="F",
        help="hold out this share of the training images (drawn with the seed) and report "
        "their accuracy each epoch as 'val' (default: 0, none)",
    )
    parser.add_argument(
        "--patience",
        type=positive_int,
        metavar="N",
        help="early stopping: stop when the val accuracy has not improved for N epochs and "
        "keep the best epoch's weights (needs --validation-fraction)",
    )


def add_network_options(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """The network and optimizer options of ``train`` and ``compare``.

    ``train`` takes one value of each; an option not given stays None, and
    :func:`dlzero.cli.network.network_settings` fills in the default of the model chosen.
    ``compare`` (``several=True``) takes one or more values of each and trains every
    combination; it always builds fully connected networks, so an option not given is the list
    ``[mlp_default]``.
    """

    def add(option: str, *, mlp_default: Any, **kwargs: Any) -> None:
        if several:
            default = None if mlp_default is None else [mlp_default]
            kwargs.update(nargs="+", default=default)
        parser.add_argument(option, **kwargs)

    add(
        "--activation",
        mlp_default="relu",
        choices=ACTIVATIONS,
        help="activation of the hidden layers (default: relu)",
    )
    # Several values in both: train joins them into the layers of one network, while each of
    # compare's values is a whole network.
    add(
        "--hidden",
        mlp_default=(50,),
        type=layer_sizes,
        nargs="+",
        metavar="N",
        help="hidden-layer sizes to compare; one value is one network: 50, or 100,100,100 "
        "(three layers) or 100x4 (four layers of 100) (default: 50)"
        if several
        else "hidden-layer sizes, e.g. --hidden 100 100 100 (or 100x3) for three layers "
        "(default: 50; with --model cnn or deep-cnn one size, the fully connected layer: "
        "100 and 50)",
    )
    add(
        "--init",
        mlp_default="std",
        choices=INITS,
        help="initial weights: std, N(0, S^2) with S from --weight-init-std (chapter 5); he, "
        "N(0, 2/n) for ReLU; xavier, N(0, 1/n) for sigmoid and tanh; n is the layer's "
        "number of inputs (default: std)",
    )
    add(
        "--weight-init-std",
        mlp_default=0.01,
        type=positive_float,
        metavar="S",
        help="initial weights ~ N(0, S^2) with --init std (default: 0.01)",
    )
    add(
        "--optimizer",
        mlp_default="sgd",
        choices=OPTIMIZERS,
        help="update rule (chapter 6.1) (default: sgd; adam for --model cnn and deep-cnn)",
    )
    add(
        "--lr",
        mlp_default=None,  # each optimizer has its own: dlzero.cli.network.DEFAULT_LR
        type=positive_float,
        metavar="LR",
        help="learning rate (default: 0.1 for sgd as in the notes; the book's defaults "
        "for the others: 0.01 for momentum, nesterov, adagrad and rmsprop, 0.001 for adam)",
    )
    add(
        "--weight-decay",
        mlp_default=0.0,
        type=nonnegative_float,
        metavar="LAMBDA",
        help="L2 weight decay: 0.5 * LAMBDA * sum(W^2) added to the loss (default: 0, none)",
    )
    add(
        "--dropout",
        mlp_default=0.0,
        type=ratio,
        metavar="RATIO",
        help="dropout ratio in [0, 1) after every hidden activation; 0 is no dropout "
        "(default: 0; 0.5 in --model deep-cnn)",
    )
    # A flag for one network; compare needs values to list, so it takes off and on.
    if several:
        parser.add_argument(
            "--batchnorm",
            type=on_off,
            nargs="+",
            default=[False],
            metavar="{off,on}",
            help="batch normalization before every hidden activation, off or on (default: off)",
        )
    else:
        parser.add_argument(
            "--batchnorm",
            action="store_true",
            help="batch normalization before every hidden activation (chapter 6.3)",
        )


# -- checks and steps several commands take --------------------------------------------------


def check_output(parser: argparse.ArgumentParser, option: str, path: str, plot: bool) -> None:
    """Reject an output path before any work: a plot needs a known suffix; any path must be
    writable (a usage error, exit status 2)."""
    if plot:
        from dlzero.plotting import PLOT_FORMATS

        suffix = Path(path).suffix.lstrip(".").lower()
        if suffix not in PLOT_FORMATS:
            parser.error(
                f"argument {option}: {path!r} needs a plot file suffix, one of "
                + " ".join("." + f for f in PLOT_FORMATS)
            )
    try:
        check_writable(path)
    except ValueError as exc:
        parser.error(f"argument {option}: {exc}")


def require_matplotlib(args: argparse.Namespace) -> None:
    """Fail before training, not after, when plots are asked for and cannot be drawn."""
    import importlib.util

    if not args.no_plot and importlib.util.find_spec("matplotlib") is None:
        raise CommandError(
            "plots need matplotlib: pip install 'dlzero[cli]', or pass --no-plot", EXIT_USAGE
        )


def load_data(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple:
    """Load the data set of ``--dataset``, cut to ``--train-size`` / ``--test-size``.

    Returns ``(x_train, t_train), (x_test, t_test)``: flattened images in [0, 1], labels as
    integers. A data set that cannot be read is a :class:`CommandError` (exit status 1); a size
    larger than the data set, a usage error.
    """
    from dlzero import datasets

    loader = datasets.load_mnist if args.dataset == "mnist" else datasets.load_fashion_mnist
    try:
        (x_train, t_train), (x_test, t_test) = loader(
            normalize=True, flatten=True, one_hot_label=False, data_dir=args.data_dir
        )
    except datasets.DatasetError as exc:
        raise CommandError(f"cannot load {args.dataset}: {exc}") from None
    # (not every command has both size options)
    train_size = getattr(args, "train_size", None)
    test_size = getattr(args, "test_size", None)
    for option, size, x in (
        ("--train-size", train_size, x_train),
        ("--test-size", test_size, x_test),
    ):
        if size is not None and size > len(x):
            parser.error(f"argument {option}: {size} is more than the {len(x)} images available")
    if train_size:
        x_train, t_train = x_train[:train_size], t_train[:train_size]
    if test_size:
        x_test, t_test = x_test[:test_size], t_test[:test_size]
    return (x_train, t_train), (x_test, t_test)


def connect_scheduler(address: str, parser: argparse.ArgumentParser) -> Any:
    """A client of the Dask scheduler of ``--scheduler address`` (``search`` and ``compare``).

    Missing ``distributed`` is exit status 2 with what to install, a malformed address a usage
    error, a scheduler that does not answer (or has no worker) exit status 1: one line each.
    """
    from dlzero.interop.dask import connect

    try:
        return connect(address)
    except ImportError:
        raise CommandError(
            "--scheduler needs distributed: pip install 'dlzero[dask]'", EXIT_USAGE
        ) from None
    except ValueError as exc:
        parser.error(f"argument --scheduler: {exc}")
    except ConnectionError as exc:
        raise CommandError(str(exc)) from None


def num_classes(*labels: Any) -> int:
    """The number of classes: one more than the largest label in any of ``labels``."""
    return int(max(int(t.max()) for t in labels)) + 1


def format_seconds(seconds: float) -> str:
    """A duration in the unit that reads best: ``490 µs``, ``13.6 ms``, ``4.2 s``, ``12 min``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 600:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
