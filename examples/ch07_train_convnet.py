"""Chapter 7's ``train_convnet.py`` on dlzero: SimpleConvNet on MNIST with Adam.

The book trains for 20 epochs with Adam (lr 0.001) on mini-batches of 100 and reaches about
98.9% test accuracy. This script does the same, prints one line per epoch, and saves the first
layer's filters before and after training (the book's Figure 7-24)::

    python examples/ch07_train_convnet.py --epochs 20 --filters ch07_filters.png

Each epoch visits every training image once, in a fresh random order. Accuracy is measured
after every epoch on the 10,000 test images and on the first 10,000 training images (a
sample, as the book's trainer takes, to keep evaluation short). NumPy's BLAS threads are set
by the environment before Python starts, e.g. ``OPENBLAS_NUM_THREADS=2``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from dlzero.convnets import SimpleConvNet
from dlzero.datasets import load_mnist
from dlzero.fast import accuracy, training_step
from dlzero.optimizers import Adam


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.001, help="Adam's learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=int, default=None, help="use the first N images")
    parser.add_argument("--filters", default=None, help="save Figure 7-24 to this file (.png)")
    parser.add_argument("--history", default=None, help="save the per-epoch numbers as JSON")
    args = parser.parse_args(argv)

    (x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
    if args.train_size is not None:
        x_train, t_train = x_train[: args.train_size], t_train[: args.train_size]
    rng = np.random.default_rng(args.seed)
    net = SimpleConvNet(rng=rng)
    optimizer = Adam(lr=args.lr)
    filters_before = net.params["W1"].copy()
    x_eval, t_eval = x_train[:10_000], t_train[:10_000]
    # The fused step and forward pass that dlzero's Trainer uses (the same numbers as the
    # layers' loss_and_gradient and accuracy, several times faster).
    step = training_step(net)
    n = len(x_train)

    history: dict[str, list[float]] = {"epoch": [], "seconds": [], "loss": [], "train_acc": []}
    history["test_acc"] = []
    print(f"SimpleConvNet, Adam(lr={args.lr}), batch {args.batch_size}, {n} training images")
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(n)
        losses = []
        for i in range(0, n, args.batch_size):
            batch = order[i : i + args.batch_size]
            loss, grads = step(x_train[batch], t_train[batch])
            optimizer.update(net.params, grads)
            losses.append(loss)
        seconds = time.perf_counter() - t0
        train_acc = accuracy(net, x_eval, t_eval)
        test_acc = accuracy(net, x_test, t_test)
        for key, value in zip(
            history,
            (epoch, seconds, float(np.mean(losses)), train_acc, test_acc),
            strict=True,
        ):
            history[key].append(value)
        print(
            f"epoch {epoch:3d}  loss {np.mean(losses):.4f}  train acc {train_acc:.4f}  "
            f"test acc {test_acc:.4f}  ({seconds:.1f} s training, "
            f"{time.perf_counter() - start:.0f} s in all)",
            flush=True,
        )
    if args.filters:
        from dlzero.plotting import plot_filters_before_after

        plot_filters_before_after(filters_before, net.params["W1"], args.filters)
        print(f"filters before and after training saved to {args.filters}")
    if args.history:
        with open(args.history, "w") as f:
            json.dump(history, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
