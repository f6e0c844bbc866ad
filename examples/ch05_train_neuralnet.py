"""Chapter 5's experiment on dlzero: layers, backpropagation and ReLU.

The notes build ``TwoLayerNet`` from ``Affine``, ``Relu`` and ``SoftmaxWithLoss`` layers in an
``OrderedDict`` and train it with the same loop as chapter 4. Here the network is
``dlzero.networks.TwoLayerNet`` (a ``Sequential`` of those layers), the loop is
``dlzero.training.Trainer`` (mini-batches, an evaluation per epoch, the loss of each step)
and the figure is ``dlzero.plotting.plot_accuracy``. ``dlzero train`` does the same from a shell.

    python examples/ch05_train_neuralnet.py                 # 10,000 iterations, as the notes
    python examples/ch05_train_neuralnet.py --iters 1000 --plot ch05.png
"""

import argparse

import numpy as np

from dlzero.datasets import load_mnist
from dlzero.networks import TwoLayerNet
from dlzero.optimizers import SGD
from dlzero.plotting import plot_accuracy
from dlzero.training import Steps, Trainer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=10_000, help="iters_num (default: 10000)")
    parser.add_argument("--train-size", type=int, help="use the first N training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="ch05_accuracy.png", help="where to save the plot")
    args = parser.parse_args(argv)

    # Data reading: labels as one-hot vectors, as the notes (integer labels work too)
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
    if args.train_size:
        x_train, t_train = x_train[: args.train_size], t_train[: args.train_size]

    rng = np.random.default_rng(args.seed)
    # Affine - Relu - Affine - SoftmaxWithLoss
    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, rng=rng)
    print(network)

    trainer = Trainer(
        network,
        SGD(lr=0.1),
        x_train,
        t_train,
        x_test,
        t_test,
        steps=Steps(
            batch_size=100,
            iters=args.iters,
            sampling="replacement",  # the notes' np.random.choice
        ),
        rng=rng,
    )
    history = trainer.fit()

    plot_accuracy(history, args.plot)
    print(f"final train acc {history.final('train'):.4f}, test acc {history.final('test'):.4f}")
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
