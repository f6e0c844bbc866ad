"""The chapter-5 workload W in PyTorch on the CPU, for the race (needs ``torch==2.13.0``).

The same network (784-50-10, ReLU, weights N(0, 0.01^2), zero biases), float32, mini-batches of
100 drawn with replacement, plain SGD with lr 0.1 through ``torch.optim.SGD``, the mini-batch
loss kept every iteration, and train/test accuracy on the full sets (in chunks of 10,000 under
``torch.no_grad()``) at iteration 0 and every 600 iterations. Threads: ``torch.set_num_threads``
to the core count (or ``--threads``).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=10_000)
    parser.add_argument("--hidden", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--no-eval", action="store_true", help="skip accuracy evaluations")
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from dlzero.datasets import load_mnist

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    (x_train, t_train), (x_test, t_test) = load_mnist()
    if args.train_size:
        x_train, t_train = x_train[: args.train_size], t_train[: args.train_size]
    xtr, ttr = torch.from_numpy(x_train), torch.from_numpy(t_train.astype(np.int64))
    xte, tte = torch.from_numpy(x_test), torch.from_numpy(t_test.astype(np.int64))

    start = time.perf_counter()
    model = torch.nn.Sequential(
        torch.nn.Linear(784, args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, 10)
    )
    with torch.no_grad():
        for layer in (model[0], model[2]):
            layer.weight.normal_(0.0, 0.01)
            layer.bias.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    train_size = xtr.shape[0]
    iter_per_epoch = max(train_size // args.batch_size, 1)
    losses = np.empty(args.iters, dtype=np.float32)
    train_acc = test_acc = float("nan")

    def accuracy(x, t):
        correct = 0
        with torch.no_grad():
            for s in range(0, x.shape[0], 10_000):
                correct += int((model(x[s : s + 10_000]).argmax(1) == t[s : s + 10_000]).sum())
        return correct / x.shape[0]

    for i in range(args.iters):
        if not args.no_eval and i % iter_per_epoch == 0:
            train_acc, test_acc = accuracy(xtr, ttr), accuracy(xte, tte)
        idx = torch.randint(0, train_size, (args.batch_size,))
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xtr[idx]), ttr[idx])
        loss.backward()
        optimizer.step()
        losses[i] = loss.item()
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "train_time": elapsed,
                "train_acc": train_acc,
                "test_acc": test_acc,
                "iterations": args.iters,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
