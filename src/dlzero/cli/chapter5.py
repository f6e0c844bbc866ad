"""The chapter-5 network that ``dlzero serve`` and ``dlzero backprop`` train when given no model.

Both commands take an optional model file; without one they train the notes' network
(784-50-10 ReLU, SGD lr 0.1, batches of 100) for a few thousand steps first, with the same
``--iters``/``--seed`` options and the same messages.
"""

from __future__ import annotations

import argparse
import time
from typing import IO, Any

from dlzero.cli.options import CommandError, positive_int, random_seed

DEFAULT_ITERS = 3000  # 5 epochs of 600 steps: about 96% on the test set in a few seconds


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """``--iters`` and ``--seed``: how the network trained when no MODEL is given is trained."""
    p.add_argument(
        "--iters",
        type=positive_int,
        default=DEFAULT_ITERS,
        metavar="N",
        help="training steps of the network trained when no MODEL is given "
        "(default: %(default)s, 5 epochs)",
    )
    p.add_argument("--seed", type=random_seed, default=0, metavar="S", help="its seed (default: 0)")


def load_mnist() -> Any:
    """MNIST as the page and the trace take it: ``((x_train, t_train), (x_test, t_test))``.

    Raises
    ------
    CommandError
        If the data set cannot be read (exit status 1).
    """
    from dlzero import datasets

    try:
        return datasets.load_mnist(normalize=True, flatten=True, one_hot_label=False)
    except datasets.DatasetError as exc:
        raise CommandError(f"cannot load mnist: {exc}") from None


def train_chapter5(args: argparse.Namespace, data: Any, out: IO[str]) -> tuple[Any, str, float]:
    """Train the chapter-5 network with ``args.iters`` and ``args.seed``, saying so on ``out``.

    Returns
    -------
    network, description, test_accuracy : Sequential, str, float
        The trained network, its settings in words, its accuracy on the test set.
    """
    from dlzero.serve import TrainingSettings
    from dlzero.serve.training_job import train

    settings = TrainingSettings(iters=args.iters, seed=args.seed)
    print(
        f"no model given: training the chapter-5 network first ({settings.describe()}, seed "
        f"{args.seed}); give a model saved by 'dlzero train --save' to skip this",
        file=out,
        flush=True,
    )
    start = time.perf_counter()
    network, _, test_accuracy = train(settings, data)
    if test_accuracy is None:  # pragma: no cover - the chapter-5 settings converge
        raise CommandError("training diverged")
    print(
        f"trained in {time.perf_counter() - start:.1f} s: test accuracy {test_accuracy:.2%}",
        file=out,
        flush=True,
    )
    return network, settings.describe(), test_accuracy
