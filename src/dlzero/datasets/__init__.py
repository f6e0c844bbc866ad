"""Data sets: MNIST and Fashion-MNIST, verified, cached, and working offline.

>>> from dlzero.datasets import load_mnist
>>> (x_train, t_train), (x_test, t_test) = load_mnist()  # doctest: +SKIP

:func:`load_mnist` has the signature and meaning of the book's ``dataset/mnist.py``, so code
written for the book runs unchanged. See :mod:`dlzero.datasets.mnist` for where the files
come from and how they are verified, and :mod:`dlzero.datasets.idx` for the file format.
"""

from dlzero.datasets.idx import DatasetError
from dlzero.datasets.mnist import (
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    cache_dir,
    load_fashion_mnist,
    load_mnist,
)

__all__ = [
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "DatasetError",
    "cache_dir",
    "load_fashion_mnist",
    "load_mnist",
]
