"""``dlzero search``: random search for the learning rate and weight decay (the book's 6.5).

::

    dlzero search                                 # the book's: 100 trials on 500 images
    dlzero search --trials 30 --epochs 20 --csv trials.csv
    dlzero search --scheduler tcp://HOST:8786          # on a Dask cluster (docs/dask.md)

The trials run in parallel, one process each, or on a Dask cluster
(:func:`dlzero.studies.search.random_search`); this module checks the arguments, prints the
trials as they finish and writes the table and the plot.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from typing import Any

from dlzero.cli.options import (
    ACTIVATIONS,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    OPTIMIZERS,
    CommandError,
    add_data_options,
    add_output_options,
    check_output,
    connect_scheduler,
    layer_sizes,
    load_data,
    positive_float,
    positive_int,
    ratio,
    require_matplotlib,
)


def add_parsers(subparsers: Any) -> None:
    """Add ``search`` to the ``dlzero`` command's subparsers."""
    p = subparsers.add_parser(
        "search",
        help="random search for the learning rate and weight decay on a validation split",
        # (a description is printed as it is; only help strings are %-formatted)
        description="The book's section 6.5: hold out part of the training images for "
        "validation, draw learning rates and weight decays at random on a log scale, train a "
        "network with each (in parallel across the cores), and print the trials ranked by "
        "validation accuracy; the plot shows where the good values lie and the best trials' "
        "validation curves. The defaults are the book's: 500 training images (20% for "
        "validation), 6 hidden layers of 100 ReLU units with He init, SGD, 50 epochs of "
        "batch 100, lr in [1e-6, 1e-2], weight decay in [1e-8, 1e-4].",
    )
    add_data_options(p)
    p.add_argument("--trials", type=positive_int, default=100, metavar="N", help="(default: 100)")
    p.add_argument(
        "--epochs", type=positive_int, default=50, metavar="N", help="per trial (default: 50)"
    )
    p.add_argument(
        "--train-size",
        type=positive_int,
        default=500,
        metavar="N",
        help="use the first N training images, validation split included (default: 500)",
    )
    p.add_argument(
        "--validation-fraction",
        type=ratio,
        default=0.2,
        metavar="F",
        help="share of those images held out for validation (default: 0.2)",
    )
    p.add_argument(
        "--hidden",
        type=layer_sizes,
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
        "--batch-size", type=positive_int, default=100, metavar="N", help="(default: 100)"
    )
    p.add_argument(
        "--lr-range",
        type=positive_float,
        nargs=2,
        default=[1e-6, 1e-2],
        metavar=("LOW", "HIGH"),
        help="learning rates are drawn log-uniformly from [LOW, HIGH] (default: 1e-6 1e-2)",
    )
    p.add_argument(
        "--weight-decay-range",
        type=positive_float,
        nargs=2,
        default=[1e-8, 1e-4],
        metavar=("LOW", "HIGH"),
        help="weight decays likewise (default: 1e-8 1e-4)",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="trials run at once, one process each (default: every core)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the trials on the Dask cluster of this scheduler, e.g. tcp://HOST:8786 "
        "(needs pip install 'dlzero[dask]'; see docs/dask.md)",
    )
    p.add_argument(
        "--top",
        type=positive_int,
        default=20,
        metavar="N",
        help="trials listed and drawn as curves (default: 20)",
    )
    p.add_argument(
        "--csv", metavar="PATH", help="write every trial (hyperparameters, accuracies) as CSV"
    )
    add_output_options(p, "search.png")
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero search``: run the trials, print them ranked; the exit status."""
    from dlzero.training import validation_size

    if not args.no_plot:
        check_output(parser, "--plot", args.plot, plot=True)
    if args.csv is not None:
        check_output(parser, "--csv", args.csv, plot=False)
    for option, (low, high) in (
        ("--lr-range", args.lr_range),
        ("--weight-decay-range", args.weight_decay_range),
    ):
        if low > high:
            parser.error(f"argument {option}: LOW {low:g} is above HIGH {high:g}")
    if not args.validation_fraction:
        parser.error("argument --validation-fraction: the search needs a validation split (> 0)")
    if args.scheduler is not None and args.jobs is not None:
        parser.error(
            "argument --jobs: not with --scheduler (the cluster's workers set how many trials "
            "run at once)"
        )
    n_train = args.train_size - validation_size(args.train_size, args.validation_fraction)
    if args.batch_size > n_train:
        parser.error(
            f"argument --batch-size: {args.batch_size} is larger than the {n_train} images "
            "left for training after the validation split"
        )
    require_matplotlib(args)
    # Connected before the data loads, so a wrong address fails fast.
    client = connect_scheduler(args.scheduler, parser) if args.scheduler is not None else None
    try:
        return _search(args, parser, client)
    finally:
        if client is not None:
            client.close()


def _search(args: argparse.Namespace, parser: argparse.ArgumentParser, client: Any) -> int:
    """Load the data, run the trials (here or on ``client``'s cluster), print and write them."""
    from dlzero.studies.search import random_search
    from dlzero.training import validation_size

    args.test_size = None  # (the search uses no test images)
    (x_train, t_train), _ = load_data(args, parser)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    hidden = [n for sizes in args.hidden for n in sizes]
    if client is None:
        jobs = args.jobs or os.cpu_count() or 1
        where = f"{jobs} process{'es' if jobs > 1 else ''}"
    else:
        jobs, threads = None, client.nthreads()  # {worker: its threads}
        workers = f"{len(threads)} worker{'s' if len(threads) > 1 else ''}"
        n_threads = sum(threads.values())
        where = f"Dask cluster {args.scheduler} ({workers}, {n_threads} at once)"
    if not args.quiet:
        print(
            f"random search: {args.trials} trials, {args.dataset} {args.train_size:,} images "
            f"({validation_size(args.train_size, args.validation_fraction):,} for validation), "
            f"{'-'.join(map(str, hidden))} {args.activation}, {args.init} init, "
            f"{args.optimizer}, {args.epochs} epochs of batch {args.batch_size}; lr in "
            f"[{args.lr_range[0]:g}, {args.lr_range[1]:g}], weight decay in "
            f"[{args.weight_decay_range[0]:g}, {args.weight_decay_range[1]:g}]; {where}, "
            f"seed {seed}",
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
            client=client,
        )
    except ImportError as exc:  # joblib missing (dlzero[cli]) with more than one job
        raise CommandError(str(exc), EXIT_USAGE) from None
    except KeyboardInterrupt:
        print("dlzero search: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(result.table(args.top))
    best = result.best(1)[0]
    if best.status != "failed":
        print(
            f"best: val acc {best.val_acc:.4f} with lr {best.lr:.3g}, weight decay "
            f"{best.weight_decay:.3g} ({result.settings['seconds']:.1f} s, seed {seed})"
        )
    _write_outputs(result, args, seed)
    # The table is out either way; a failed trial (its worker died each time it ran) still
    # makes the exit status say that the search is not whole.
    failed = [t for t in result.trials if t.status == "failed"]
    for trial in failed:
        print(f"dlzero search: trial {trial.index} failed: {trial.error}", file=sys.stderr)
    return EXIT_FAILURE if failed else 0


def _write_outputs(result: Any, args: argparse.Namespace, seed: int) -> None:
    written = []
    try:
        if args.csv is not None:
            from dlzero._io import atomic_write_text

            atomic_write_text(args.csv, result.to_csv())
            written.append(args.csv)
        if not args.no_plot:
            from dlzero.plotting import plot_search
            from dlzero.studies.search import SearchResult

            title = (
                f"random search, {args.trials} trials: {args.dataset} {args.train_size} images, "
                f"{args.epochs} epochs, seed {seed}"
            )
            # A failed trial has no accuracy to draw (and a NaN would spoil the color scale).
            ran = [t for t in result.trials if t.status != "failed"]
            plot_search(SearchResult(ran, result.settings), args.plot, title=title, top=args.top)
            written.append(args.plot)
    except OSError as exc:
        raise CommandError(f"cannot write results: {exc}") from None
    if written and not args.quiet:
        print("wrote " + ", ".join(written))
