"""``dlzero predict`` and ``dlzero evaluate``, the commands that use a saved model; ``--save``.

::

    dlzero train --save model.npz                 # keep the trained network
    dlzero predict model.npz my7.png --show       # your own digit: top-3 and a picture
    dlzero evaluate model.npz                     # test accuracy, per-class precision/recall,
                                                  # confusion matrix, confident mistakes

Exit status: 0 success; 1 the data set or an output file could not be read or written; 2 bad
arguments, or a model or image file that is not what it should be (one line on stderr,
``dlzero predict: error: ...``). ``predict`` still predicts the good pictures when some are bad.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dlzero._io import check_writable
from dlzero.cli.options import (
    DATASETS,
    EXIT_FAILURE,
    EXIT_USAGE,
    CommandError,
    check_output,
    positive_int,
)


class _Failure(CommandError):
    """A one-line error with its exit status (a usage error unless said otherwise), reported by
    the handler that catches it."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message, status)


def _report(parser: argparse.ArgumentParser, exc: _Failure) -> int:
    print(f"{parser.prog}: error: {exc}", file=sys.stderr)
    return exc.status


def _load_model(path: str) -> Any:
    from dlzero.files.serialization import ModelFileError, load

    try:
        return load(path)
    except ModelFileError as exc:
        raise _Failure(str(exc)) from None
    except OSError as exc:
        raise _Failure(f"cannot read model {path!r}: {exc.strerror or exc}") from None


# -- train --save ------------------------------------------------------------------------------


def add_save_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--save PATH`` to a training command's parser."""
    parser.add_argument(
        "--save",
        metavar="PATH",
        help="save the trained network (architecture and parameters) to this .npz file, for "
        "'dlzero predict' and 'dlzero evaluate'",
    )


def check_save_path(parser: argparse.ArgumentParser, path: str | None) -> None:
    """Reject a ``--save`` path that cannot be written, before training (exit status 2)."""
    if path is None:
        return
    try:
        check_writable(path)
    except ValueError as exc:
        parser.error(f"argument --save: {exc}")


def save_trained(
    network: Any,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
    quiet: bool = False,
) -> None:
    """Save a network trained by ``dlzero train --save PATH`` and say where.

    ``metadata`` (plain JSON values, e.g. the data set's name and the seed) is stored with the
    model; ``dlzero evaluate`` takes the data set from it. An error writing the file is raised
    as :class:`~dlzero.cli.options.CommandError` (exit status 1), and a previous file at
    ``path`` is kept.
    """
    from dlzero.files.serialization import save

    try:
        save(network, path, metadata=metadata)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot save the model to {str(path)!r}: {exc}") from None
    if not quiet:
        print(f"saved the model to {path}")


# -- the parsers -------------------------------------------------------------------------------


def add_parsers(subparsers: Any) -> None:
    """Add ``predict`` and ``evaluate`` to the ``dlzero`` command's subparsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers()`` returned. Each new parser gets the defaults
        ``func`` (the handler, ``func(args, parser) -> exit status``) and ``parser``.
    """
    p = subparsers.add_parser(
        "predict",
        help="predict the digit in your own pictures with a saved model",
        description="Read each picture (PNG or JPEG, colour or gray, dark on light or light on "
        "dark, up to 2048x2048 pixels; a larger JPEG is read at 1/2, 1/4 or 1/8 of its size), "
        "make it MNIST-like as MNIST was made (grayscale, digit light on dark, cropped, scaled "
        "to fit 20x20, centred by its centre of mass in 28x28), and print the predicted digit "
        "with the three most likely classes. A file that is not an image, a larger picture, or "
        "a blank one is an error (exit status 2); the other pictures are still predicted.",
    )
    p.add_argument("model", metavar="MODEL", help="a model saved by 'dlzero train --save'")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="pictures of one digit each")
    p.add_argument(
        "--show",
        action="store_true",
        help="also draw each processed 28x28 input beside its probability bars",
    )
    p.add_argument(
        "--plot",
        metavar="PATH",
        default="prediction.png",
        help="where --show writes its picture (default: %(default)s)",
    )
    p.add_argument(
        "--top", type=positive_int, default=3, metavar="K", help="classes listed (default: 3)"
    )
    p.set_defaults(func=run_predict, parser=p)

    p = subparsers.add_parser(
        "evaluate",
        help="test accuracy, per-class precision and recall, and pictures of the mistakes",
        description="Run a saved model on the test set: print the accuracy and each class's "
        "precision and recall, and draw the confusion matrix, the most confidently "
        "misclassified test images with their true and predicted labels (the book's "
        "chapter-8 figure) and, for a fully connected network, the first layer's weights as "
        "28x28 images.",
    )
    p.add_argument("model", metavar="MODEL", help="a model saved by 'dlzero train --save'")
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        help="the test set (default: the one the model was trained on, else mnist)",
    )
    p.add_argument("--data-dir", metavar="DIR", help="read the IDX files from this folder")
    p.add_argument(
        "--test-size",
        type=positive_int,
        metavar="N",
        help="evaluate on the first N test images only (default: all 10,000)",
    )
    p.add_argument(
        "--confusion",
        metavar="PATH",
        default="confusion.png",
        help="confusion-matrix picture (default: %(default)s)",
    )
    p.add_argument(
        "--mistakes",
        metavar="PATH",
        default="mistakes.png",
        help="picture of the most confident mistakes (default: %(default)s)",
    )
    p.add_argument(
        "--num-mistakes",
        type=positive_int,
        default=24,
        metavar="K",
        help="how many mistakes to draw (default: %(default)s)",
    )
    p.add_argument(
        "--weights",
        metavar="PATH",
        default="weights.png",
        help="first-layer weights picture, for a network whose first layer is fully "
        "connected on 28x28 images (default: %(default)s)",
    )
    p.add_argument("--no-plot", action="store_true", help="print the numbers only")
    p.set_defaults(func=run_evaluate, parser=p)


# -- dlzero predict ----------------------------------------------------------------------------


def _digit_input_shape(network: Any, model_path: str) -> tuple[int, ...]:
    from dlzero.studies.evaluation import input_shape

    shape = input_shape(network)
    if int(np.prod(shape)) != 28 * 28:
        raise _Failure(
            f"{model_path}: the model takes inputs of shape {shape}, not 28x28 images "
            f"({28 * 28} pixels)"
        )
    return shape


def run_predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero predict MODEL IMAGE...``: print the predicted digit of each picture."""
    from dlzero.studies.digits import ImageError, load_digit
    from dlzero.studies.evaluation import predict_proba

    if args.show:
        check_output(parser, "--plot", args.plot, plot=True)
    try:
        network = _load_model(args.model)
        _digit_input_shape(network, args.model)
    except _Failure as exc:
        return _report(parser, exc)

    names, images, failures = [], [], 0
    for path in args.images:
        try:
            images.append(load_digit(path))
            names.append(path)
        except ImageError as exc:
            failures += 1
            _report(parser, _Failure(str(exc)))
        except OSError as exc:
            failures += 1
            _report(parser, _Failure(f"cannot read {path!r}: {exc.strerror or exc}"))
    if not images:
        return EXIT_USAGE

    batch = np.stack(images)
    proba = predict_proba(network, batch.reshape(len(batch), -1))
    classes = _class_names(proba.shape[1])
    top = min(args.top, proba.shape[1])
    width = max(len(n) for n in names)
    for name, p in zip(names, proba, strict=True):
        order = np.argsort(-p, kind="stable")[:top]
        ranked = ", ".join(f"{classes[k]} {p[k]:.1%}" for k in order)
        print(f"{name:<{width}}  {classes[order[0]]}  ({ranked})")

    if args.show:
        from dlzero.plotting import plot_predictions

        try:
            plot_predictions(batch, proba, args.plot, labels=names, class_names=classes)
        except OSError as exc:
            return _report(parser, _Failure(f"cannot write {args.plot}: {exc}", EXIT_FAILURE))
        print(f"wrote {args.plot}")
    return EXIT_USAGE if failures else 0


def _class_names(num_classes: int, dataset: str | None = None) -> list[str]:
    """Digits for MNIST, the garment names for Fashion-MNIST (from the model's metadata)."""
    if dataset == "fashion-mnist" and num_classes == 10:
        from dlzero.datasets import FASHION_MNIST_CLASSES

        return list(FASHION_MNIST_CLASSES)
    return [str(i) for i in range(num_classes)]


# -- dlzero evaluate ---------------------------------------------------------------------------


def run_evaluate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero evaluate MODEL``: accuracy, precision/recall per class, and three pictures."""
    from dlzero.files.serialization import ModelFileError, load_info
    from dlzero.studies.evaluation import evaluate, format_report

    outputs = [("--confusion", args.confusion), ("--mistakes", args.mistakes)]
    try:
        info = load_info(args.model)
        network = _load_model(args.model)
    except ModelFileError as exc:
        return _report(parser, _Failure(str(exc)))
    except OSError as exc:
        return _report(parser, _Failure(f"cannot read model {args.model!r}: {exc.strerror}"))
    except _Failure as exc:
        return _report(parser, exc)
    W1 = _first_layer_image_weights(network)
    if W1 is not None:
        outputs.append(("--weights", args.weights))
    if not args.no_plot:
        paths = [Path(p).resolve() for _, p in outputs]
        if len(set(paths)) != len(paths):
            parser.error("--confusion, --mistakes and --weights must be different files")
        for option, path in outputs:
            check_output(parser, option, path, plot=True)

    trained_on = info.get("metadata", {}).get("dataset")
    dataset = args.dataset or (trained_on if trained_on in DATASETS else "mnist")
    try:
        x, t = _load_test_set(dataset, args.data_dir)
    except _Failure as exc:
        return _report(parser, exc)
    if args.test_size is not None:
        if args.test_size > len(x):
            parser.error(f"argument --test-size: {args.test_size} is more than the {len(x)} images")
        x, t = x[: args.test_size], t[: args.test_size]

    from dlzero.studies.evaluation import input_shape

    shape = input_shape(network)
    if int(np.prod(shape)) != x.shape[1]:
        return _report(
            parser,
            _Failure(
                f"{args.model}: the model takes inputs of shape {shape}, the {dataset} images "
                f"have {x.shape[1]} pixels"
            ),
        )
    num_classes = int(network.config["output_size"])
    if int(t.max()) >= num_classes:
        return _report(
            parser,
            _Failure(
                f"{args.model}: the model has {num_classes} classes, the {dataset} labels go "
                f"up to {int(t.max())}"
            ),
        )
    ev = evaluate(network, x, t)
    classes = _class_names(num_classes, dataset)
    print(f"{args.model}: {info['class']} on the {dataset} test set ({len(x):,} images)")
    print(format_report(ev, classes))

    if args.no_plot:
        return 0
    from dlzero.plotting import plot_confusion_matrix, plot_first_layer_weights, plot_mistakes

    idx = ev.mistakes(args.num_mistakes)
    try:
        plot_confusion_matrix(
            ev.confusion,
            args.confusion,
            class_names=classes,
            title=f"{info['class']} on {dataset}: accuracy {ev.accuracy:.2%}",
        )
        plot_mistakes(
            x[idx],
            ev.labels[idx],
            ev.predicted[idx],
            ev.proba[idx, ev.predicted[idx]],
            args.mistakes,
            class_names=classes,
            title=f"the {len(idx)} most confident of {ev.num_mistakes:,} mistakes "
            f"({info['class']}, {dataset})",
        )
        if W1 is not None:
            plot_first_layer_weights(W1, args.weights)
    except OSError as exc:
        return _report(parser, _Failure(f"cannot write the pictures: {exc}", EXIT_FAILURE))
    print("wrote " + ", ".join(p for _, p in outputs))
    return 0


def _first_layer_image_weights(network: Any) -> np.ndarray | None:
    """The first layer's ``W``, shape (784, H), if it is fully connected on 28x28 images."""
    from dlzero.layers import Affine

    first = next(iter(network.layers.values()))
    if isinstance(first, Affine) and first.W.ndim == 2 and first.W.shape[0] == 28 * 28:
        return first.W
    return None


def _load_test_set(dataset: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    from dlzero import datasets

    loader = datasets.load_mnist if dataset == "mnist" else datasets.load_fashion_mnist
    try:
        _, (x, t) = loader(normalize=True, flatten=True, one_hot_label=False, data_dir=data_dir)
    except datasets.DatasetError as exc:
        raise _Failure(f"cannot load {dataset}: {exc}", EXIT_FAILURE) from None
    return x, t.astype(np.int64)
