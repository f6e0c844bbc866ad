"""The ``dlzero`` command: chapter 5's experiment, gradient check and speed test from a shell.

::

    dlzero train                                  # the notes' experiment: ReLU, 50 hidden, MNIST
    dlzero train --activation sigmoid --epochs 5  # chapter 4's activation
    dlzero gradcheck                              # backprop versus numerical gradients
    dlzero compare --activation sigmoid relu      # both, same seed and data, one plot
    dlzero bench-gradient                         # numerical versus backprop: "heaven and earth"
    dlzero train --save model.npz                 # keep the trained network
    dlzero predict model.npz my7.png --show       # your own digit, as MNIST was made
    dlzero evaluate model.npz                     # accuracy per class, confusions, mistakes

The command is thin: it checks its arguments (a bad one is a one-line error and exit status 2,
before anything slow happens), loads the data, builds a ``TwoLayerNet`` and hands the rest to
``dlzero.training`` and ``dlzero.plotting``.

Exit status: 0 success; 1 training diverged, a gradient check failed, or data/output could not
be read or written; 2 bad arguments; 130 interrupted by Ctrl-C (history and plots so far are
written first).
"""

from __future__ import annotations

import argparse
import itertools
import math
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from dlzero import __version__
from dlzero._io import check_writable
from dlzero.cli_model import add_model_commands, add_save_option, check_save_path, save_trained
from dlzero.networks import ACTIVATIONS as _ACTIVATIONS
from dlzero.plotting import PLOT_FORMATS
from dlzero.training import GRADIENT_METHODS, SAMPLING

__all__ = ["build_parser", "main"]

# The choices offered, from the modules that define them (all light to import: matplotlib,
# tqdm and the data are loaded only when a command needs them).
ACTIVATIONS = tuple(_ACTIVATIONS)
DATASETS = ("mnist", "fashion-mnist")

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process stopped by Ctrl-C


class CommandError(Exception):
    """A failure to report in one line, with an exit status (not a usage error)."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``prog: error: message``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        message = " ".join(str(message).split())
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# -- argument types: each rejects a bad value with a message naming what was expected --------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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
        help="train the two-layer network on MNIST and plot its accuracy",
        description="Train the chapter-5 two-layer network (Affine - activation - Affine - "
        "Softmax) by mini-batch SGD, print train and test accuracy each epoch, and plot them. "
        "The defaults are the notes' experiment: ReLU, 50 hidden units, batch 100, learning "
        "rate 0.1, 10,000 iterations, weight_init_std 0.01.",
    )
    _add_data_options(p)
    p.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="(default: relu)")
    p.add_argument(
        "--hidden", type=_positive_int, default=50, metavar="N", help="hidden units (default: 50)"
    )
    _add_length_options(p)
    p.add_argument(
        "--batch-size", type=_positive_int, default=100, metavar="N", help="(default: 100)"
    )
    p.add_argument(
        "--lr", type=_positive_float, default=0.1, help="SGD learning rate (default: 0.1)"
    )
    p.add_argument(
        "--weight-init-std",
        type=_positive_float,
        default=0.01,
        metavar="S",
        help="initial weights ~ N(0, S^2) (default: 0.01)",
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
    p.add_argument(
        "--activation",
        nargs="+",
        choices=ACTIVATIONS,
        default=["relu"],
        help="activations to compare (default: relu)",
    )
    p.add_argument(
        "--hidden",
        nargs="+",
        type=_positive_int,
        default=[50],
        metavar="N",
        help="hidden-layer sizes (default: 50)",
    )
    p.add_argument(
        "--lr",
        nargs="+",
        type=_positive_float,
        default=[0.1],
        metavar="LR",
        help="SGD learning rates (default: 0.1)",
    )
    p.add_argument(
        "--batch-size",
        nargs="+",
        type=_positive_int,
        default=[100],
        metavar="N",
        help="mini-batch sizes (default: 100)",
    )
    p.add_argument(
        "--weight-init-std",
        nargs="+",
        type=_positive_float,
        default=[0.01],
        metavar="S",
        help="initial weight scales (default: 0.01)",
    )
    p.add_argument(
        "--sampling",
        nargs="+",
        choices=SAMPLING,
        default=["shuffle"],
        help="mini-batch sampling schemes (default: shuffle)",
    )
    _add_length_options(p)
    _add_subset_options(p)
    _add_output_options(p, "compare.png")
    p.set_defaults(func=cmd_compare, parser=p)

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


def _check_output(parser: argparse.ArgumentParser, option: str, path: str, plot: bool) -> None:
    if plot:
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


# -- dlzero train ----------------------------------------------------------------------------


def _history_paths(path: str) -> tuple[Path, Path]:
    json_path = Path(path)
    return json_path, json_path.with_suffix(".csv")


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dlzero.networks import TwoLayerNet
    from dlzero.optimizers import get_optimizer
    from dlzero.training import Trainer, TrainingDiverged, TrainingInterrupted

    # Everything that can be checked before the data is loaded, is.
    if args.train_size is not None and args.batch_size > args.train_size:
        parser.error(
            f"argument --batch-size: {args.batch_size} is larger than --train-size "
            f"{args.train_size}"
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
    _require_matplotlib(args)
    (x_train, t_train), (x_test, t_test) = _load_data(args, parser)
    if args.batch_size > len(x_train):
        parser.error(
            f"argument --batch-size: {args.batch_size} is larger than the {len(x_train)} "
            "training images"
        )

    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    init_rng, batch_rng = _streams(seed)
    numerical = args.gradient == "numerical"
    net = TwoLayerNet(
        x_train.shape[1],
        args.hidden,
        _num_classes(t_train, t_test),
        weight_init_std=args.weight_init_std,
        activation=args.activation,
        rng=init_rng,
        # Central differences in float32 would drown the gradient in rounding error.
        dtype=np.float64 if numerical else np.float32,
    )
    optimizer = get_optimizer("sgd", lr=args.lr)
    config = {
        "command": "dlzero train",
        "dataset": args.dataset,
        "activation": args.activation,
        "hidden_size": args.hidden,
        "lr": args.lr,
        "weight_init_std": args.weight_init_std,
        "dtype": str(net.dtype),
    }
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
    )
    trainer.seed = seed
    title = (
        f"{args.dataset}: {x_train.shape[1]}-{args.hidden}-{net.params['b2'].size} "
        f"{args.activation}, SGD lr {args.lr:g}, batch {args.batch_size}, seed {seed}"
    )
    if not args.quiet:
        print(
            f"{title}; {len(x_train):,} train / {len(x_test):,} test images, "
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

    _write_train_outputs(history, args, title)
    if args.save is not None and status != EXIT_FAILURE:
        save_trained(net, args.save, metadata={**config, "seed": seed}, quiet=args.quiet)
    _print_summary(history, args)
    return status


def _write_train_outputs(history: Any, args: argparse.Namespace, title: str) -> None:
    written = []
    try:
        if args.history is not None:
            json_path, csv_path = _history_paths(args.history)
            history.save(json_path, csv_path=csv_path)
            written += [str(json_path), str(csv_path)]
        if not args.no_plot:
            from dlzero.plotting import plot_accuracy, plot_loss

            loss_plot = args.loss_plot or str(Path(args.plot).with_name("loss.png"))
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
    times = (
        f"{sum(history.train_time):.1f} s training + {sum(history.eval_time):.1f} s evaluating, "
        f"seed {history.seed}"
    )
    if history.stop_reason == "completed":
        print(f"final (epoch {epoch}, {history.iterations_done:,} iterations): {accs}; {times}")
    else:
        print(
            f"{history.stop_reason} after {history.iterations_done:,} of "
            f"{history.iterations:,} iterations; last evaluated at epoch {epoch}: {accs}; {times}"
        )


# -- dlzero gradcheck ------------------------------------------------------------------------


def cmd_gradcheck(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dlzero.gradient import gradient_check
    from dlzero.networks import TwoLayerNet

    (x_train, t_train), (_, t_test) = _load_data(args, parser)
    if args.images > len(x_train):
        parser.error(f"argument --images: only {len(x_train)} training images")
    x, t = x_train[: args.images], t_train[: args.images]
    net = TwoLayerNet(
        x_train.shape[1],
        args.hidden,
        _num_classes(t_train, t_test),
        weight_init_std=args.weight_init_std,
        activation=args.activation,
        rng=args.seed,
        dtype=np.float64,
    )
    n_params = sum(p.size for p in net.params.values())
    print(
        f"gradient check: {x_train.shape[1]}-{args.hidden}-{net.params['b2'].size} "
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

_COMPARED = ("activation", "hidden", "lr", "batch_size", "weight_init_std", "sampling")


def cmd_compare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dlzero.networks import TwoLayerNet
    from dlzero.optimizers import get_optimizer
    from dlzero.training import Trainer, TrainingDiverged, TrainingInterrupted

    largest_batch = max(args.batch_size)
    if args.train_size is not None and largest_batch > args.train_size:
        parser.error(
            f"argument --batch-size: {largest_batch} is larger than --train-size {args.train_size}"
        )
    if not args.no_plot:
        _check_output(parser, "--plot", args.plot, plot=True)
    _require_matplotlib(args)
    (x_train, t_train), (x_test, t_test) = _load_data(args, parser)
    if largest_batch > len(x_train):
        parser.error(
            f"argument --batch-size: {largest_batch} is larger than the {len(x_train)} "
            "training images"
        )

    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    values = {name: list(dict.fromkeys(getattr(args, name))) for name in _COMPARED}
    varying = [name for name in _COMPARED if len(values[name]) > 1] or ["activation"]
    configs = [
        dict(zip(_COMPARED, combo, strict=True)) for combo in itertools.product(*values.values())
    ]
    n_classes = _num_classes(t_train, t_test)

    histories: dict[str, Any] = {}
    rows = []
    status = 0
    for k, cfg in enumerate(configs, 1):
        label = ", ".join(str(cfg[n]) if len(varying) == 1 else f"{n}={cfg[n]}" for n in varying)
        init_rng, batch_rng = _streams(seed)  # the same streams for every configuration
        net = TwoLayerNet(
            x_train.shape[1],
            cfg["hidden"],
            n_classes,
            weight_init_std=cfg["weight_init_std"],
            activation=cfg["activation"],
            rng=init_rng,
        )
        trainer = Trainer(
            net,
            get_optimizer("sgd", lr=cfg["lr"]),
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
            config={"command": "dlzero compare", "dataset": args.dataset, **cfg},
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
        from dlzero.plotting import plot_comparison

        try:
            plot_comparison(histories, args.plot, title=f"{args.dataset}, seed {seed}")
        except OSError as exc:
            raise CommandError(f"cannot write {args.plot}: {exc}") from None
        if not args.quiet:
            print(f"wrote {args.plot}")
    return status


def _print_comparison(rows: list[tuple[str, Any]], varying: list[str]) -> None:
    if not rows:
        return
    width = max(len(", ".join(varying)), *(len(label) for label, _ in rows))
    print(f"{', '.join(varying):<{width}}  {'train acc':>9}  {'test acc':>9}  {'time':>8}")
    for label, h in rows:
        train_acc, test_acc = h.final("train"), h.final("test")
        seconds = sum(h.train_time) + sum(h.eval_time)
        note = "" if h.stop_reason == "completed" else f"  ({h.stop_reason})"
        print(f"{label:<{width}}  {train_acc:>9.4f}  {test_acc:>9.4f}  {seconds:>6.1f} s{note}")
    finished = [(label, h) for label, h in rows if h.stop_reason == "completed"]
    if len(finished) > 1:
        ranked = sorted(finished, key=lambda r: r[1].final("test"))
        (worst, hw), (best, hb) = ranked[0], ranked[-1]
        points = 100 * (hb.final("test") - hw.final("test"))
        print(f"test accuracy: {best} is {points:.2f} points above {worst}")


# -- dlzero bench-gradient -------------------------------------------------------------------


def cmd_bench_gradient(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dlzero.networks import TwoLayerNet

    (x_train, t_train), (_, t_test) = _load_data(args, parser)
    if args.batch_size > len(x_train):
        parser.error(f"argument --batch-size: only {len(x_train)} training images")
    x = x_train[: args.batch_size].astype(np.float64)
    t = t_train[: args.batch_size]
    net = TwoLayerNet(
        x.shape[1],
        args.hidden,
        _num_classes(t_train, t_test),
        activation=args.activation,
        rng=args.seed,
        dtype=np.float64,
    )
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
