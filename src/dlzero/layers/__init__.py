"""Layers with ``forward`` and ``backward``: the computational graph, one node a class.

Read by chapter:

- :mod:`dlzero.layers.basic` (chapter 5): ``MulLayer``, ``AddLayer``, ``Relu``, ``Sigmoid``,
  ``Tanh``, ``Affine``, ``SoftmaxWithLoss``, and ``Layer``, the protocol a network relies on.
- :mod:`dlzero.layers.regularization` (chapter 6): ``Dropout``, ``BatchNormalization``.
- :mod:`dlzero.layers.im2col` and :mod:`dlzero.layers.conv` (chapter 7): ``im2col``,
  ``col2im``, then ``Convolution`` and ``Pooling``.

Every name is here too, so code written for the book runs with ``from dlzero.layers import *``.
"""

from dlzero.layers.basic import (
    AddLayer,
    Affine,
    Layer,
    MulLayer,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from dlzero.layers.conv import Convolution, Pooling
from dlzero.layers.regularization import BatchNormalization, Dropout

__all__ = [
    "AddLayer",
    "Affine",
    "BatchNormalization",
    "Convolution",
    "Dropout",
    "Layer",
    "MulLayer",
    "Pooling",
    "Relu",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Tanh",
]
