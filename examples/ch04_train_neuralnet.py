"""Chapter 4's experiment on dlzero: a two-layer sigmoid network, gradients from formulas.

The notes' script, with the network from ``dlzero.networks.FormulaTwoLayerNet`` (the gradient
written out as matrix formulas, as the notes derive it on the computational graph) and the data
from ``dlzero.datasets``. The loop is the notes' loop, kept visible on purpose; two fixes:
the epoch length is an integer (``i % 600.0`` style float tests skip epochs when the division
is not exact) and every random draw comes from a seeded Generator.

    python examples/ch04_train_neuralnet.py                 # 10,000 iterations, as the notes
    python examples/ch04_train_neuralnet.py --iters 1000 --plot ch04.png
"""

import argparse

import numpy as np

from dlzero.datasets import load_mnist
from dlzero.networks import FormulaTwoLayerNet


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=10_000, help="iters_num (default: 10000)")
    parser.add_argument("--train-size", type=int, help="use the first N training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="ch04_accuracy.png", help="where to save the plot")
    args = parser.parse_args(argv)

    # Data reading
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
    if args.train_size:
        x_train, t_train = x_train[: args.train_size], t_train[: args.train_size]

    rng = np.random.default_rng(args.seed)
    network = FormulaTwoLayerNet(input_size=784, hidden_size=50, output_size=10, rng=rng)

    # Initial setting
    iters_num = args.iters
    train_size = x_train.shape[0]
    batch_size = 100
    learning_rate = 0.1
    train_loss_list, train_acc_list, test_acc_list = [], [], []
    iter_per_epoch = max(-(-train_size // batch_size), 1)  # ceil, in integers

    for i in range(iters_num):
        batch_mask = rng.choice(train_size, batch_size)  # with replacement, as the notes
        x_batch = x_train[batch_mask]
        t_batch = t_train[batch_mask]

        # Gradient calculation: the formulas of FormulaTwoLayerNet.gradient
        grad = network.gradient(x_batch, t_batch)

        # Parameter update
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]

        loss = network.loss(x_batch, t_batch)
        train_loss_list.append(loss)

        # Accuracy display
        if i % iter_per_epoch == 0:
            train_acc = network.accuracy(x_train, t_train)
            test_acc = network.accuracy(x_test, t_test)
            train_acc_list.append(train_acc)
            test_acc_list.append(test_acc)
            print(f"train acc, test acc | {train_acc:.4f}, {test_acc:.4f}")

    # Drawing a graph (to a file: the Agg backend never opens a window)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(train_acc_list))
    plt.plot(x, train_acc_list, label="train acc")
    plt.plot(x, test_acc_list, label="test acc", linestyle="--")
    plt.xlabel("epochs")
    plt.ylabel("accuracy")
    plt.ylim(0, 1.0)
    plt.legend(loc="lower right")
    plt.savefig(args.plot)
    print(f"final train acc {train_acc_list[-1]:.4f}, test acc {test_acc_list[-1]:.4f}")
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
