"""``dlzero train``: train one network, print its accuracy each epoch, plot it, keep it.

::

    dlzero train                                  # the notes' experiment: ReLU, 50 hidden, MNIST
    dlzero train --hidden 100 100 --init he --optimizer adam --epochs 5   # chapter 6
    dlzero train --model cnn --epochs 3           # chapter 7's SimpleConvNet (Adam)
    dlzero train --save model.npz --history run.json

Every argument is checked before the data are loaded; :mod:`dlzero.cli.network` decides which
network the options describe, and :class:`dlzero.training.Trainer` trains it.
"""

from __future__ import annotations

import argparse
import math
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from dlzero.cli.model import add_save_option, check_save_path, save_trained
from dlzero.cli.network import (
    as_images,
    build_network,
    describe,
    network_settings,
    settings_config,
    streams,
)
from dlzero.cli.options import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    CommandError,
    add_data_options,
    add_length_options,
    add_network_options,
    add_output_options,
    add_subset_options,
    add_validation_options,
    check_output,
    format_seconds,
    load_data,
    num_classes,
    positive_int,
    require_matplotlib,
)
from dlzero.cli.plot_worker import PlotWorker, draw_plots
from dlzero.training import GRADIENT_METHODS, SAMPLING

MODELS = ("mlp", "cnn", "deep-cnn")

# Training images on which per-layer diagnostics are measured: enough for stable shares, cheap.
DIAGNOSTICS_SAMPLES = 200

# Training images the convolutional networks' train accuracy is measured on each epoch (a
# fixed random sample; the MLP's on all): the accuracy within about 0.2 points (its standard
# error at 97%), where the whole 60,000 would add a third to each epoch's time (a forward pass
# costs a third of a training step per image: 0.13 against 0.39 ms for DeepConvNet,
# BENCHMARKS.md).
CNN_TRAIN_EVAL_SIZE = 10_000


def train_eval_size(text: str) -> int | str:
    """argparse type of ``--train-eval-size``: a positive integer, or ``all``."""
    return "all" if text == "all" else positive_int(text)


def add_parsers(subparsers: Any) -> None:
    """Add ``train`` to the ``dlzero`` command's subparsers."""
    p = subparsers.add_parser(
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
    add_data_options(p)
    p.add_argument(
        "--model",
        choices=MODELS,
        default="mlp",
        help="mlp: fully connected (chapters 5 and 6); cnn: SimpleConvNet (chapter 7); "
        "deep-cnn: DeepConvNet (chapter 8) (default: mlp)",
    )
    add_network_options(p)
    add_length_options(p)
    p.add_argument(
        "--batch-size", type=positive_int, default=100, metavar="N", help="(default: 100)"
    )
    add_validation_options(p)
    p.add_argument(
        "--train-eval-size",
        type=train_eval_size,
        metavar="N",
        help="measure the train accuracy each epoch on a random sample of N training images, "
        f"the same every epoch and run, or 'all' (default: {CNN_TRAIN_EVAL_SIZE:,} for cnn and "
        "deep-cnn, whose evaluation of all 60,000 would add a third to each epoch; all for "
        "mlp)",
    )
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
    p.add_argument(
        "--augment",
        action="store_true",
        help="data augmentation: each training image of each mini-batch shifted by up to 2 "
        "pixels and turned by up to 10 degrees at random (seeded), computed on the fly; the "
        "test images are left as they are",
    )
    add_subset_options(p)
    add_output_options(p, "accuracy.png")
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
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero train``: check every argument, then train; return the exit status."""
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
    settings = network_settings(
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
    _check_outputs(parser, args)
    require_matplotlib(args)
    # Started before the data is loaded: it readies matplotlib on the other core meanwhile.
    plots = None if args.no_plot else PlotWorker()
    try:
        return _train(args, parser, settings, plots)
    finally:
        if plots is not None:
            plots.close()


def _loss_plot(args: argparse.Namespace) -> str:
    return args.loss_plot or str(Path(args.plot).with_name("loss.png"))


def _history_paths(path: str) -> tuple[Path, Path]:
    json_path = Path(path)
    return json_path, json_path.with_suffix(".csv")


def _check_outputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every file the run will write must be writable, and no two of them the same file (one
    would silently replace the other)."""
    outputs: list[tuple[str, str]] = []
    if not args.no_plot:
        check_output(parser, "--plot", args.plot, plot=True)
        check_output(parser, "--loss-plot", _loss_plot(args), plot=True)
        if Path(_loss_plot(args)).resolve() == Path(args.plot).resolve():
            parser.error("argument --loss-plot: must differ from --plot")
        outputs += [("--plot", args.plot), ("--loss-plot", _loss_plot(args))]
    if args.history is not None:
        json_path, csv_path = _history_paths(args.history)
        if json_path.suffix.lower() == ".csv":
            parser.error("argument --history: give a .json path (the CSV goes beside it)")
        check_output(parser, "--history", str(json_path), plot=False)
        check_output(parser, "--history", str(csv_path), plot=False)
        outputs += [("--history", str(json_path)), ("--history", str(csv_path))]
    check_save_path(parser, args.save)
    if args.save is not None:
        outputs.append(("--save", args.save))
    seen: dict[Path, str] = {}
    for option, path in outputs:
        resolved = Path(path).resolve()
        if resolved in seen and seen[resolved] != option:
            parser.error(f"argument {option}: {path!r} is also the file of {seen[resolved]}")
        seen[resolved] = option


def _train(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    settings: dict[str, Any],
    plots: PlotWorker | None,
) -> int:
    """``dlzero train`` from the data load on, its arguments checked."""
    from dlzero.optimizers import get_optimizer
    from dlzero.training import (
        Evaluation,
        Output,
        RecordDiagnostics,
        Steps,
        Stopping,
        Trainer,
        TrainingDiverged,
        TrainingInterrupted,
    )

    (x_train, t_train), (x_test, t_test) = load_data(args, parser)
    if args.batch_size > len(x_train):
        parser.error(
            f"argument --batch-size: {args.batch_size} is larger than the {len(x_train)} "
            "training images"
        )
    input_size, n_classes = x_train.shape[1], num_classes(t_train, t_test)
    if settings["kind"] in ("cnn", "deep-cnn"):
        if math.isqrt(input_size) ** 2 != input_size:
            parser.error(f"argument --model: {args.model} needs square images, got {input_size}")
        x_train, x_test = as_images(x_train), as_images(x_test)
    augment = None
    if args.augment:
        if math.isqrt(input_size) ** 2 != input_size:
            parser.error(f"argument --augment: needs square images, got {input_size} values")
        from dlzero.studies.augment import Augmentation

        augment = Augmentation()

    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    init_rng, batch_rng = streams(seed)
    numerical = args.gradient == "numerical"
    # Central differences in float32 would drown the gradient in rounding error.
    dtype = np.float64 if numerical else np.float32
    net = build_network(settings, input_size, n_classes, init_rng, dtype)
    optimizer = get_optimizer(settings["optimizer"], lr=settings["lr"])
    config = {
        "command": "dlzero train",
        "dataset": args.dataset,
        **settings_config(settings),
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
            steps=Steps(
                batch_size=args.batch_size,
                iters=args.iters,
                epochs=args.epochs,
                sampling=args.sampling,
                gradient=args.gradient,
                augment=augment,
            ),
            rng=batch_rng,
            evaluation=Evaluation(
                validation_fraction=args.validation_fraction,
                train_eval_size=_train_eval_size(args.train_eval_size, settings["kind"]),
            ),
            stopping=Stopping(patience=args.patience),
            output=Output(verbose=not args.quiet, config=config, seed=seed),
            # Per-layer diagnostics: every epoch with --diagnostics; otherwise before and after
            # training only (two measurements per run, nothing per step), to warn of a broken
            # layer.
            callbacks=[
                RecordDiagnostics(
                    samples=DIAGNOSTICS_SAMPLES,
                    every_epoch=args.diagnostics,
                    on_record=_DiagnosticsPrinter(args.diagnostics, args.quiet),
                )
            ],
        )
    except ValueError as exc:  # e.g. batch normalization and a mini-batch of one
        parser.error(str(exc))
    title = (
        f"{args.dataset}: {describe(settings, input_size, n_classes)}, "
        f"{type(optimizer).__name__} lr {settings['lr']:g}, batch {args.batch_size}, seed {seed}"
    )
    if not args.quiet:
        sizes = f"{trainer.train_size:,} train / "
        subset = trainer.config.get("train_eval_size")
        if subset is not None:
            sizes = f"{trainer.train_size:,} train (accuracy on {subset:,}) / "
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

    _write_outputs(history, args, title, plots)
    if args.save is not None and status != EXIT_FAILURE:
        save_trained(net, args.save, metadata={**config, "seed": seed}, quiet=args.quiet)
    _print_summary(history, args)
    return status


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
        f"central differences (2 forward passes each): about {format_seconds(per_iter)} per "
        f"iteration, {format_seconds(per_iter * iters)} for {iters:,} iterations; backprop "
        "takes about a millisecond. Ctrl-C stops after the current iteration.",
        file=sys.stderr,
        flush=True,
    )


def _write_outputs(
    history: Any, args: argparse.Namespace, title: str, plots: PlotWorker | None = None
) -> None:
    """Save the history and draw the plots asked for, even of a run that diverged or was
    interrupted: they show what went wrong."""
    written = []
    try:
        if args.history is not None:
            json_path, csv_path = _history_paths(args.history)
            history.save(json_path, csv_path=csv_path)
            written += [str(json_path), str(csv_path)]
        if not args.no_plot:
            # Only when plots are asked for: drawing them needs matplotlib (dlzero[cli]).
            if plots is None:
                draw_plots(history, args.plot, _loss_plot(args), title)
            else:
                plots.draw(history, args.plot, _loss_plot(args), title)
            written += [args.plot, _loss_plot(args)]
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


def _train_eval_size(given: int | str | None, kind: str) -> int | None:
    """``Evaluation.train_eval_size`` for ``--train-eval-size`` (None: the whole set)."""
    if given is None:
        return CNN_TRAIN_EVAL_SIZE if kind in ("cnn", "deep-cnn") else None
    return None if given == "all" else int(given)


class _DiagnosticsPrinter:
    """Prints what the trainer's per-layer diagnostics measured: with ``--diagnostics`` one
    compact line per epoch; always, a warning for each layer that newly looks broken."""

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
