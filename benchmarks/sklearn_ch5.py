"""The chapter-5 workload W with scikit-learn's ``MLPClassifier``, for the race.

relu, solver "sgd", batch 100, constant learning rate 0.1, no momentum, no L2 (alpha 0), float32
input (scikit-learn then computes in float32). ``partial_fit`` runs one pass over the data per
call, so the model is trained for the same number of epochs as W's 10,000 iterations of 100
(17 passes; scikit-learn shuffles each pass rather than drawing with replacement), with train
and test accuracy evaluated before the first pass and after each of the first 16, the same
17 evaluations W makes.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=10_000)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sklearn.neural_network import MLPClassifier

    from dlzero.datasets import load_mnist

    (x_train, t_train), (x_test, t_test) = load_mnist()
    if args.train_size:
        x_train, t_train = x_train[: args.train_size], t_train[: args.train_size]
    batch_size = 100
    epochs = math.ceil(args.iters * batch_size / x_train.shape[0])

    start = time.perf_counter()
    model = MLPClassifier(
        hidden_layer_sizes=(50,),
        activation="relu",
        solver="sgd",
        batch_size=batch_size,
        learning_rate="constant",
        learning_rate_init=0.1,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        random_state=args.seed,
    )
    classes = np.arange(10)
    train_acc = test_acc = float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(epochs):
            if epoch > 0:  # an unfitted model cannot predict; W's first evaluation is at 0
                train_acc = model.score(x_train, t_train)
                test_acc = model.score(x_test, t_test)
            model.partial_fit(x_train, t_train, classes=classes)
        train_acc = model.score(x_train, t_train)
        test_acc = model.score(x_test, t_test)
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "train_time": elapsed,
                "train_acc": float(train_acc),
                "test_acc": float(test_acc),
                "epochs": epochs,
            }
        )
    )


if __name__ == "__main__":
    main()
