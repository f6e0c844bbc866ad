"""dlzero: deep learning from zero, backpropagation by hand in NumPy.

The public API, re-exported from the modules that define it::

    from dlzero import TwoLayerNet, SGD, gradient_check
    from dlzero.datasets import load_mnist

Names are imported on first use (PEP 562), so ``import dlzero`` and the command line load
only the modules they need: ``dlzero train`` never imports the convolution code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from dlzero.conv import Convolution, Pooling, col2im, conv_output_size, im2col
    from dlzero.convnets import DeepConvNet, SimpleConvNet
    from dlzero.diagnostics import LayerDiagnostics, layer_diagnostics
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
        Dropout,
        Layer,
        MulLayer,
        Relu,
        Sigmoid,
        SoftmaxWithLoss,
        Tanh,
    )
    from dlzero.networks import FormulaTwoLayerNet, MultiLayerNet, Sequential, TwoLayerNet
    from dlzero.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, get_optimizer
    from dlzero.serialization import ModelFileError, load, save
    from dlzero.training import (
        EarlyStopping,
        History,
        RecordDiagnostics,
        Trainer,
        TrainingDiverged,
        TrainingInterrupted,
        train,
    )

__version__ = "0.1.0"

# Each public name and the module that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ["Convolution", "Pooling", "col2im", "conv_output_size", "im2col"], "dlzero.conv"
    ),
    **dict.fromkeys(["DeepConvNet", "SimpleConvNet"], "dlzero.convnets"),
    **dict.fromkeys(["LayerDiagnostics", "layer_diagnostics"], "dlzero.diagnostics"),
    **dict.fromkeys(
        [
            "cross_entropy_error",
            "identity_function",
            "relu",
            "relu_grad",
            "sigmoid",
            "sigmoid_grad",
            "softmax",
            "step_function",
            "sum_squared_error",
        ],
        "dlzero.functions",
    ),
    **dict.fromkeys(
        ["directional_gradient_check", "gradient_check", "numerical_gradient"], "dlzero.gradient"
    ),
    **dict.fromkeys(
        [
            "AddLayer",
            "Affine",
            "BatchNormalization",
            "Dropout",
            "Layer",
            "MulLayer",
            "Relu",
            "Sigmoid",
            "SoftmaxWithLoss",
            "Tanh",
        ],
        "dlzero.layers",
    ),
    **dict.fromkeys(
        ["FormulaTwoLayerNet", "MultiLayerNet", "Sequential", "TwoLayerNet"], "dlzero.networks"
    ),
    **dict.fromkeys(
        ["AdaGrad", "Adam", "Momentum", "Nesterov", "RMSprop", "SGD", "get_optimizer"],
        "dlzero.optimizers",
    ),
    **dict.fromkeys(["ModelFileError", "load", "save"], "dlzero.serialization"),
    **dict.fromkeys(
        [
            "EarlyStopping",
            "History",
            "RecordDiagnostics",
            "Trainer",
            "TrainingDiverged",
            "TrainingInterrupted",
            "train",
        ],
        "dlzero.training",
    ),
}

__all__ = [
    "SGD",
    "AdaGrad",
    "Adam",
    "AddLayer",
    "Affine",
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
    "numerical_gradient",
    "relu",
    "relu_grad",
    "save",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "step_function",
    "sum_squared_error",
    "train",
]


# The package's modules, reachable as attributes after a bare ``import dlzero`` (as they were
# when this file imported them all): ``dlzero.optimizers.get_optimizer``.
_MODULES = frozenset(
    "activations_study cli cli_model conv convnets datasets diagnostics digits evaluation "
    "fastpath filters_plot functions gradient layers model_plots networks optimizers plotting "
    "search serialization training".split()
)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"dlzero.{name}")  # (the import sets the attribute)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dlzero' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
