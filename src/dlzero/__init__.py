"""dlzero: deep learning from zero, backpropagation by hand in NumPy.

The public API, re-exported from the modules that define it (nothing is defined here)::

    from dlzero import TwoLayerNet, SGD, gradient_check
    from dlzero.datasets import load_mnist

Where to start reading, in the book's order: ``functions`` (the math), ``gradient``
(numerical differentiation), ``formula_net`` (chapter 4's network), ``layers`` (each layer's
``forward`` and ``backward`` side by side), ``sequential`` (the layers in order, and backward
through the reversed list), ``networks``, ``training`` (the loop), ``optimizers``,
``convnets``. The machinery beside them (``fast``, ``files``, ``book``, ``interop``,
``studies``) is read after. ``docs/architecture.md`` has the map.
"""

# The library's packages that define no name above are attributes after a bare ``import dlzero``
# too (``dlzero.plotting.plot_accuracy``, ``dlzero.studies.evaluation``); the command line
# (``dlzero.cli``) and the optional bridges (``dlzero.interop``) are not imported.
from dlzero import _html
from dlzero import datasets as datasets
from dlzero import plotting as plotting
from dlzero import studies as studies
from dlzero._version import __version__
from dlzero.checking import check_function, check_layer, check_optimizer
from dlzero.convnets import DeepConvNet, SimpleConvNet
from dlzero.files import ModelFileError, load, load_info, save
from dlzero.formula_net import FormulaTwoLayerNet
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
from dlzero.layers import (
    AddLayer,
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Layer,
    MulLayer,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from dlzero.layers.im2col import col2im, conv_output_size, im2col
from dlzero.networks import MultiLayerNet, TwoLayerNet
from dlzero.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, get_optimizer
from dlzero.sequential import Sequential
from dlzero.studies.backprop import BackpropTrace, trace_backprop
from dlzero.training import (
    EarlyStopping,
    History,
    RecordDiagnostics,
    Trainer,
    TrainingDiverged,
    TrainingInterrupted,
    train,
)
from dlzero.training.diagnostics import LayerDiagnostics, layer_diagnostics

__all__ = [
    "SGD",
    "AdaGrad",
    "Adam",
    "AddLayer",
    "Affine",
    "BackpropTrace",
    "BatchNormalization",
    "Convolution",
    "DeepConvNet",
    "Dropout",
    "EarlyStopping",
    "FormulaTwoLayerNet",
    "History",
    "Layer",
    "LayerDiagnostics",
    "ModelFileError",
    "Momentum",
    "MulLayer",
    "MultiLayerNet",
    "Nesterov",
    "Pooling",
    "RMSprop",
    "RecordDiagnostics",
    "Relu",
    "Sequential",
    "Sigmoid",
    "SimpleConvNet",
    "SoftmaxWithLoss",
    "Tanh",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "TwoLayerNet",
    "__version__",
    "check_function",
    "check_layer",
    "check_optimizer",
    "col2im",
    "conv_output_size",
    "cross_entropy_error",
    "directional_gradient_check",
    "get_optimizer",
    "gradient_check",
    "identity_function",
    "im2col",
    "layer_diagnostics",
    "load",
    "load_info",
    "numerical_gradient",
    "relu",
    "relu_grad",
    "save",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "step_function",
    "sum_squared_error",
    "trace_backprop",
    "train",
]

# Jupyter shows a network as a table of its layers (registered only in a running IPython).
_html.register_ipython_display()
