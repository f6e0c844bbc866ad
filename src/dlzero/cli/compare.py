"""``dlzero compare``: train several configurations on the same data, print a table, one plot.

::

    dlzero compare --activation sigmoid relu      # both, same seed and data, one plot
    dlzero compare --optimizer sgd momentum adagrad adam --hidden 100x4 --init he
    dlzero compare --optimizer sgd adam --scheduler tcp://HOST:8786   # on a Dask cluster

Every option takes one or more values and every combination is trained, each with the same
initial-weight stream and the same mini-batches, so the runs differ only in what they compare:
one after the other here, or all at once on a Dask cluster (one task per configuration,
:func:`train_configuration`; see docs/dask.md).
"""

from __future__ import annotations

import argparse
import itertools
import secrets
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero.cli.network import build_network, network_settings, streams
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
    connect_scheduler,
    load_data,
    num_classes,
    positive_int,
    require_matplotlib,
)
from dlzero.training import SAMPLING, History

# What compare can vary, in the order labels name them.
COMPARED = (
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


def add_parsers(subparsers: Any) -> None:
    """Add ``compare`` to the ``dlzero`` command's subparsers."""
    p = subparsers.add_parser(
        "compare",
        help="train several configurations with the same seed and data, plot them together",
        description="Train every combination of the values given (e.g. --activation sigmoid "
        "relu) with the same seed, the same initial-weight stream and the same mini-batches, "
        "print a table of final accuracies and draw all curves on one plot.",
    )
    add_data_options(p)
    add_network_options(p, several=True)
    p.add_argument(
        "--batch-size",
        nargs="+",
        type=positive_int,
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
    add_length_options(p)
    add_validation_options(p)
    add_subset_options(p)
    add_output_options(p, "compare.png")
    p.add_argument(
        "--loss-plot",
        metavar="PATH",
        help="also draw the runs' loss curves (moving average per iteration) here, as the "
        "book's Figure 6-9",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="train the configurations on the Dask cluster of this scheduler, e.g. "
        "tcp://HOST:8786, all at once if it has the workers; the epoch lines are not shown, "
        "each configuration's line is printed as it finishes (needs pip install "
        "'dlzero[dask]'; see docs/dask.md)",
    )
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero compare``: check every configuration, train them all; the exit status."""
    from dlzero.training import check_batch_norm_batches, validation_size

    largest_batch = max(args.batch_size)
    if args.train_size is not None and largest_batch > args.train_size:
        parser.error(
            f"argument --batch-size: {largest_batch} is larger than --train-size {args.train_size}"
        )
    if args.patience is not None and not args.validation_fraction:
        parser.error("argument --patience: early stopping needs --validation-fraction")
    if not args.no_plot:
        check_output(parser, "--plot", args.plot, plot=True)
        if args.loss_plot is not None:
            check_output(parser, "--loss-plot", args.loss_plot, plot=True)
            if Path(args.loss_plot).resolve() == Path(args.plot).resolve():
                parser.error("argument --loss-plot: must differ from --plot")
    configs, settings_of, varying = _configurations(args, parser)
    require_matplotlib(args)
    # Connected before the data loads, so a wrong address fails fast.
    client = connect_scheduler(args.scheduler, parser) if args.scheduler is not None else None
    try:
        (x_train, t_train), (x_test, t_test) = load_data(args, parser)
        if largest_batch > len(x_train):
            parser.error(
                f"argument --batch-size: {largest_batch} is larger than the {len(x_train)} "
                "training images"
            )
        seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
        n_classes = num_classes(t_train, t_test)
        n_train = len(x_train) - validation_size(len(x_train), args.validation_fraction)
        # Every configuration is checked before the first one trains.
        for cfg, settings in zip(configs, settings_of, strict=True):
            init_rng, _ = streams(seed)
            net = build_network(settings, x_train.shape[1], n_classes, init_rng, np.float32)
            try:
                check_batch_norm_batches(net, n_train, cfg["batch_size"], cfg["sampling"])
            except ValueError as exc:
                parser.error(str(exc))
        data = (x_train, t_train, x_test, t_test)
        plan = {
            "seed": seed,
            "iters": args.iters,
            "epochs": args.epochs,
            "validation_fraction": args.validation_fraction,
            "patience": args.patience,
            "dataset": args.dataset,
        }
        labels = [_label(cfg, varying) for cfg in configs]
        if client is None:
            histories, failed, status = _train_here(args, configs, settings_of, labels, data, plan)
        else:
            histories, failed, status = _train_on_cluster(
                client, args, configs, settings_of, labels, data, plan
            )
    finally:
        if client is not None:
            client.close()

    _print_comparison(list(histories.items()), varying)
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
    # The table and plots are out either way; a configuration that never finished on the
    # cluster still makes the exit status say that the comparison is not whole.
    for label, reason in failed.items():
        print(f"dlzero compare: {label} failed: {reason}", file=sys.stderr)
    return status


def train_configuration(
    cfg: dict[str, Any],
    settings: dict[str, Any],
    x_train: NDArray,
    t_train: NDArray,
    x_test: NDArray,
    t_test: NDArray,
    plan: dict[str, Any],
    *,
    verbose: bool = False,
    on_worker: bool = False,
) -> History:
    """Train one configuration of ``dlzero compare`` and return its history.

    Runs in the command's process, or on a Dask worker (``--scheduler``): everything it needs
    comes in its arguments. The network's initial weights and the mini-batches come from
    :func:`~dlzero.cli.network.streams` of the seed, the same for every configuration.

    Parameters
    ----------
    cfg : dict
        One value of each option in :data:`COMPARED`.
    settings : dict
        Its network settings (:func:`~dlzero.cli.network.network_settings`).
    x_train, t_train, x_test, t_test : ndarray
    plan : dict
        What every configuration shares: ``seed``, ``iters``, ``epochs``,
        ``validation_fraction``, ``patience``, ``dataset``.
    verbose : bool
        Print the epoch lines.
    on_worker : bool
        Running on a Dask worker: no progress bar, no Ctrl-C handler (a worker runs tasks
        outside its main thread), and no evaluation in a second thread (the worker's other
        tasks already keep the cores busy).

    Returns
    -------
    History
        A diverged run's too (``stop_reason`` "diverged", ``message`` says why).

    Raises
    ------
    TrainingInterrupted
        Ctrl-C, when not ``on_worker``.
    """
    from dlzero.optimizers import get_optimizer
    from dlzero.training import Evaluation, Output, Steps, Stopping, Trainer, TrainingDiverged

    seed = plan["seed"]
    init_rng, batch_rng = streams(seed)  # the same streams for every configuration
    n_classes = num_classes(t_train, t_test)
    net = build_network(settings, x_train.shape[1], n_classes, init_rng, np.float32)
    trainer = Trainer(
        net,
        get_optimizer(cfg["optimizer"], lr=cfg["lr"]),
        x_train,
        t_train,
        x_test,
        t_test,
        steps=Steps(
            batch_size=cfg["batch_size"],
            iters=plan["iters"],
            epochs=plan["epochs"],
            sampling=cfg["sampling"],
        ),
        rng=batch_rng,
        evaluation=Evaluation(
            validation_fraction=plan["validation_fraction"],
            background_eval=False if on_worker else "auto",
        ),
        stopping=Stopping(patience=plan["patience"], handle_sigint=not on_worker),
        output=Output(
            verbose=verbose,
            progress=False if on_worker else "auto",
            seed=seed,
            config={
                "command": "dlzero compare",
                "dataset": plan["dataset"],
                **cfg,
                "hidden": cfg["hidden"][0] if len(cfg["hidden"]) == 1 else list(cfg["hidden"]),
            },
        ),
    )
    try:
        return trainer.fit()
    except TrainingDiverged as exc:
        return exc.history


# What the two ways of training return: the histories by label, in the configurations' order;
# the configurations that failed, with why; the exit status.
Outcome = tuple[dict[str, History], dict[str, str], int]


def _train_here(
    args: argparse.Namespace,
    configs: list[dict[str, Any]],
    settings_of: list[dict[str, Any]],
    labels: list[str],
    data: tuple[NDArray, ...],
    plan: dict[str, Any],
) -> Outcome:
    """Train the configurations one after the other in this process, epoch lines and all."""
    from dlzero.training import TrainingInterrupted

    histories: dict[str, History] = {}
    status = 0
    for k, (cfg, settings, label) in enumerate(zip(configs, settings_of, labels, strict=True), 1):
        if not args.quiet:
            print(f"[{k}/{len(configs)}] {label} (seed {plan['seed']})", flush=True)
        try:
            history = train_configuration(cfg, settings, *data, plan, verbose=not args.quiet)
        except TrainingInterrupted as exc:
            print(f"dlzero compare: {exc}; writing the runs finished so far", file=sys.stderr)
            status = EXIT_INTERRUPTED
            break
        if history.stop_reason == "diverged":
            status = EXIT_FAILURE
            print(f"dlzero compare: {label}: {history.message}", file=sys.stderr)
        histories[label] = history
    return histories, {}, status


def _train_on_cluster(
    client: Any,
    args: argparse.Namespace,
    configs: list[dict[str, Any]],
    settings_of: list[dict[str, Any]],
    labels: list[str],
    data: tuple[NDArray, ...],
    plan: dict[str, Any],
) -> Outcome:
    """Train the configurations as Dask tasks, one each, on ``client``'s workers at once.

    As :func:`dlzero.studies.search.random_search` does with its trials, with the same helpers:
    the data travels once, and a configuration whose workers all die fails alone.
    """
    from dlzero.interop.dask import as_they_finish, send_to_cluster

    if not args.quiet:
        threads = client.nthreads()  # {worker: its threads}
        print(
            f"{len(configs)} configurations on the Dask cluster {args.scheduler} "
            f"({len(threads)} worker{'s' if len(threads) > 1 else ''}, "
            f"{sum(threads.values())} at once), seed {plan['seed']}",
            flush=True,
        )
    remote_data = send_to_cluster(client, data)
    pending = {
        client.submit(
            train_configuration, cfg, settings, *remote_data, plan, on_worker=True, pure=False
        ): k
        for k, (cfg, settings) in enumerate(zip(configs, settings_of, strict=True))
    }
    done: dict[int, History] = {}
    failed: dict[str, str] = {}
    status = 0
    try:
        for finished, (k, history, error) in enumerate(as_they_finish(client, pending), 1):
            if error is not None:  # its workers all died (KilledWorker), or it raised
                failed[labels[k]], status = f"{type(error).__name__}: {error}", EXIT_FAILURE
                note = "failed"
            else:
                done[k] = history
                note = f"test acc {history.at_best('test'):.4f}  {history.wall_time:.1f} s"
                if history.stop_reason == "diverged":
                    status = EXIT_FAILURE
                    print(f"dlzero compare: {labels[k]}: {history.message}", file=sys.stderr)
                    note += "  (diverged)"
            if not args.quiet:
                print(f"[{finished}/{len(configs)}] {labels[k]}: {note}", flush=True)
    except KeyboardInterrupt:
        client.cancel(list(pending))  # the configurations still queued or running
        print("dlzero compare: interrupted; writing the runs finished so far", file=sys.stderr)
        status = EXIT_INTERRUPTED
    histories = {labels[k]: done[k] for k in sorted(done)}
    return histories, failed, status


def _configurations(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Every combination of the values given, checked.

    Returns the configurations (one value of each of :data:`COMPARED`), the network settings
    of each (:func:`~dlzero.cli.network.network_settings`) and the options that vary, which
    name the runs.
    """
    values = {name: list(dict.fromkeys(getattr(args, name) or [None])) for name in COMPARED}
    varying = [name for name in COMPARED if len(values[name]) > 1] or ["activation"]
    configs, settings_of = [], []
    for combo in itertools.product(*values.values()):
        cfg = dict(zip(COMPARED, combo, strict=True))
        if cfg["init"] != "std" and len(values["weight_init_std"]) > 1:
            if cfg["weight_init_std"] != values["weight_init_std"][0]:
                continue  # --weight-init-std means nothing with he or xavier: one run is enough
        settings = network_settings(
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
    return configs, settings_of, varying


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
    """``relu`` when one option varies, ``dropout=0.2, batchnorm=on`` when several do."""
    if len(varying) == 1:
        name = varying[0]
        text = _format_value(name, cfg[name])
        return text if name in _BARE else f"{name.replace('_', ' ')} {text}"
    return ", ".join(f"{n}={_format_value(n, cfg[n])}" for n in varying)


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
