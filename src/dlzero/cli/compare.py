"""``dlzero compare``: train several configurations on the same data, print a table, one plot.

::

    dlzero compare --activation sigmoid relu      # both, same seed and data, one plot
    dlzero compare --optimizer sgd momentum adagrad adam --hidden 100x4 --init he

Every option takes one or more values and every combination is trained, each with the same
initial-weight stream and the same mini-batches, so the runs differ only in what they compare.
"""

from __future__ import annotations

import argparse
import itertools
import secrets
import sys
from pathlib import Path
from typing import Any

import numpy as np

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
    load_data,
    num_classes,
    positive_int,
    require_matplotlib,
)
from dlzero.training import SAMPLING

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
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero compare``: check every configuration, train each in turn; the exit status."""
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
        check_output(parser, "--plot", args.plot, plot=True)
        if args.loss_plot is not None:
            check_output(parser, "--loss-plot", args.loss_plot, plot=True)
            if Path(args.loss_plot).resolve() == Path(args.plot).resolve():
                parser.error("argument --loss-plot: must differ from --plot")
    configs, settings_of, varying = _configurations(args, parser)
    require_matplotlib(args)
    (x_train, t_train), (x_test, t_test) = load_data(args, parser)
    if largest_batch > len(x_train):
        parser.error(
            f"argument --batch-size: {largest_batch} is larger than the {len(x_train)} "
            "training images"
        )
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    n_classes = num_classes(t_train, t_test)
    input_size = x_train.shape[1]
    n_train = len(x_train) - validation_size(len(x_train), args.validation_fraction)
    # Every configuration is checked before the first one trains.
    networks = []
    for cfg, settings in zip(configs, settings_of, strict=True):
        init_rng, _ = streams(seed)  # the same streams for every configuration
        net = build_network(settings, input_size, n_classes, init_rng, np.float32)
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
        _, batch_rng = streams(seed)
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
            seed=seed,
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
