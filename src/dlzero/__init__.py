"""dlzero: deep learning from zero, backpropagation by hand in NumPy.

The public API, re-exported from the modules that define it::

    from dlzero import TwoLayerNet, SGD, gradient_check
    from dlzero.datasets import load_mnist
"""

from dlzero.functions import (
    cross_entropy_error,
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    step_function,
    sum_squared_error,
)
from dlzero.gradient import directional_gradient_check, gradient_check, numerical_gradient
from dlzero.layers import AddLayer, Affine, Layer, MulLayer, Relu, Sigmoid, SoftmaxWithLoss
from dlzero.networks import FormulaTwoLayerNet, Sequential, TwoLayerNet
from dlzero.optimizers import SGD, get_optimizer

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "AddLayer",
    "Affine",
    "FormulaTwoLayerNet",
    "Layer",
    "MulLayer",
    "Relu",
    "Sequential",
    "Sigmoid",
    "SoftmaxWithLoss",
    "TwoLayerNet",
    "__version__",
    "cross_entropy_error",
    "directional_gradient_check",
    "get_optimizer",
    "gradient_check",
    "identity_function",
    "numerical_gradient",
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "step_function",
    "sum_squared_error",
]
