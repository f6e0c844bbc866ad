"""Networks built from layers: chapter 5's ``TwoLayerNet`` and chapter 6's ``MultiLayerNet``.

Each is a :class:`~dlzero.sequential.Sequential`: these classes only choose the layers and draw
the initial weights; prediction, loss and backpropagation are ``Sequential``'s loop.
``FormulaTwoLayerNet``, chapter 4's network with the gradient written out as formulas, lives in
:mod:`dlzero.formula_net` and is importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from dlzero._checks import check_finite_nonnegative, check_fraction, check_positive_int
from dlzero._rng import RngLike, as_rng
from dlzero.formula_net import FormulaTwoLayerNet
from dlzero.layers import (
    Affine,
    BatchNormalization,
    Dropout,
    Layer,
    Relu,
    Sigmoid,
    Tanh,
)
from dlzero.sequential import ParamDict, Sequential

__all__ = [
    "ACTIVATIONS",
    "WEIGHT_INITS",
    "FormulaTwoLayerNet",
    "MultiLayerNet",
    "ParamDict",
    "Sequential",
    "TwoLayerNet",
    "activation_layer",
]

# Activation names accepted by the network builders, and the layer each one makes.
ACTIVATIONS: dict[str, type[Layer]] = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}

# Named weight initializations (chapter 6.2): a layer with n inputs draws its weights from
# N(0, gain / n). He's gain 2 suits ReLU, which zeroes half its inputs; Xavier's 1 suits the
# sigmoid and tanh.
WEIGHT_INITS: dict[str, float] = {"relu": 2.0, "he": 2.0, "sigmoid": 1.0, "xavier": 1.0}


def activation_layer(name: str) -> Layer:
    """Return a new activation layer for ``name`` (one of ``ACTIVATIONS``)."""
    try:
        return ACTIVATIONS[name]()
    except (KeyError, TypeError):
        expected = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; expected one of {expected}") from None


class TwoLayerNet(Sequential):
    """The chapter-5 network: Affine - activation - Affine - SoftmaxWithLoss.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        784, 50 and 10 in the book's MNIST experiment.
    weight_init_std : float, default 0.01
        Weights are drawn from N(0, weight_init_std ** 2); biases start at 0.
    activation : {"relu", "sigmoid"}, default "relu"
    rng : Generator, int or None
        Source of the initial weights; the same seed gives the same network.
    dtype : dtype, default float32
        float32 trains faster and in half the memory; use float64 for exact checks.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        activation: str = "relu",
        *,
        rng: RngLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        input_size = check_positive_int("input_size", input_size)
        hidden_size = check_positive_int("hidden_size", hidden_size)
        output_size = check_positive_int("output_size", output_size)
        act = activation_layer(activation)
        gen = as_rng(rng)
        W1 = (weight_init_std * gen.standard_normal((input_size, hidden_size))).astype(dtype)
        W2 = (weight_init_std * gen.standard_normal((hidden_size, output_size))).astype(dtype)
        super().__init__(
            [
                Affine(W1, np.zeros(hidden_size, dtype=dtype)),
                act,
                Affine(W2, np.zeros(output_size, dtype=dtype)),
            ]
        )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size
        self.weight_init_std = float(weight_init_std)
        self.activation = activation

    @property
    def config(self) -> dict[str, object]:
        """The constructor arguments that rebuild this architecture (saved with a model)."""
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "output_size": self.output_size,
            "weight_init_std": self.weight_init_std,
            "activation": self.activation,
            "dtype": self.dtype.name,
        }


def _check_weight_init(weight_init_std: str | float) -> str | float:
    if isinstance(weight_init_std, str):
        name = weight_init_std.lower()
        if name not in WEIGHT_INITS:
            expected = ", ".join(repr(k) for k in WEIGHT_INITS)
            raise ValueError(
                f"unknown weight_init_std {weight_init_std!r}; expected one of {expected} "
                "or a positive number"
            )
        return name
    if (
        isinstance(weight_init_std, bool)
        or not isinstance(weight_init_std, (int, float, np.integer, np.floating))
        or not np.isfinite(weight_init_std)
        or weight_init_std <= 0
    ):
        raise ValueError(
            "weight_init_std must be one of "
            + ", ".join(repr(k) for k in WEIGHT_INITS)
            + f" or a positive number, got {weight_init_std!r}"
        )
    return float(weight_init_std)


class MultiLayerNet(Sequential):
    """A fully connected network of any depth, with the chapter-6 options (the book's
    ``MultiLayerNetExtend``).

    For each hidden size the network has ``Affine`` - [``BatchNorm``] - activation -
    [``Dropout``], then a last ``Affine`` and ``SoftmaxWithLoss``. Layers and parameters are
    named as in the book: ``Affine1``, ``BatchNorm1``, ``Activation_function1``, ``Dropout1``,
    ..., and ``W1, b1, gamma1, beta1, W2, ...``; with ``k`` hidden layers the weights run
    ``W1 .. W(k+1)`` and the batch-norm parameters ``gamma1 .. gammak``. It is a
    :class:`Sequential`, so prediction, loss and backpropagation are that class's loop.

    Parameters
    ----------
    input_size : int
        784 for flattened MNIST.
    hidden_size_list : sequence of int
        Sizes of the hidden layers, at least one, e.g. ``[100, 100, 100]``.
    output_size : int
        10 classes for MNIST.
    activation : {"relu", "sigmoid", "tanh"}, default "relu"
    weight_init_std : {"relu", "he", "sigmoid", "xavier"} or float, default "relu"
        "relu" / "he": weights drawn from N(0, 2 / n_in), with n_in the layer's input size;
        "sigmoid" / "xavier": N(0, 1 / n_in); a number: that standard deviation for every
        layer. Biases start at 0, ``gamma`` at 1 and ``beta`` at 0.
    weight_decay_lambda : float, default 0
        L2 weight decay on every ``W`` (not on biases or ``gamma``/``beta``):
        ``0.5 * lambda * sum(W ** 2)`` is added to the loss and ``lambda * W`` to the gradient.
    use_dropout : bool, default False
        Put a :class:`~dlzero.layers.Dropout` after every hidden activation.
    dropout_ratio : float, default 0.5
        In [0, 1). (The book spells this argument ``dropout_ration``, as its
        ``MultiLayerNetExtend``, :class:`dlzero.book.MultiLayerNetExtend`, does.)
    use_batchnorm : bool, default False
        Put a :class:`~dlzero.layers.BatchNormalization` between every hidden ``Affine`` and
        its activation. Train it on batches of at least two samples: on a batch of one every
        batch-norm output is ``beta`` (it warns; the ``Trainer`` refuses such batches).
    rng : Generator, int or None
        Source of the initial weights and of the dropout masks (the dropout layers share this
        Generator, kept as ``self.rng``); the same seed gives the same network and run.
    dtype : dtype, default float32

    Attributes
    ----------
    config : dict
        The constructor arguments as plain JSON-able values (and the current dtype's name), so
        the architecture can be saved with the weights and rebuilt.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: str | float = "relu",
        weight_decay_lambda: float = 0.0,
        use_dropout: bool = False,
        dropout_ratio: float = 0.5,
        use_batchnorm: bool = False,
        *,
        rng: RngLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        # Everything is checked before the first random draw.
        input_size = check_positive_int("input_size", input_size)
        output_size = check_positive_int("output_size", output_size)
        if not isinstance(hidden_size_list, (Sequence, np.ndarray)) or isinstance(
            hidden_size_list, (str, bytes)
        ):
            raise ValueError(
                f"hidden_size_list must be a list of positive integers, got {hidden_size_list!r}"
            )
        if len(hidden_size_list) == 0:
            raise ValueError(
                "hidden_size_list is empty: give at least one hidden layer size, e.g. [100]"
            )
        hidden = [
            check_positive_int(f"hidden_size_list[{i}]", h) for i, h in enumerate(hidden_size_list)
        ]
        activation_layer(activation)
        init = _check_weight_init(weight_init_std)
        weight_decay_lambda = check_finite_nonnegative("weight_decay_lambda", weight_decay_lambda)
        dropout_ratio = check_fraction("dropout_ratio", dropout_ratio)
        gen = as_rng(rng)

        sizes = [input_size, *hidden, output_size]
        layers: dict[str, Layer] = {}
        for idx in range(1, len(sizes)):
            n_in, n_out = sizes[idx - 1], sizes[idx]
            std = np.sqrt(WEIGHT_INITS[init] / n_in) if isinstance(init, str) else init
            W = (std * gen.standard_normal((n_in, n_out))).astype(dtype)
            layers[f"Affine{idx}"] = Affine(W, np.zeros(n_out, dtype=dtype))
            if idx == len(sizes) - 1:
                break
            if use_batchnorm:
                layers[f"BatchNorm{idx}"] = BatchNormalization(
                    np.ones(n_out, dtype=dtype), np.zeros(n_out, dtype=dtype)
                )
            layers[f"Activation_function{idx}"] = activation_layer(activation)
            if use_dropout:
                layers[f"Dropout{idx}"] = Dropout(dropout_ratio, rng=gen)
        super().__init__(layers, weight_decay_lambda=weight_decay_lambda)

        self.rng = gen
        self.input_size = sizes[0]
        self.hidden_size_list = sizes[1:-1]
        self.hidden_layer_num = len(self.hidden_size_list)
        self.output_size = sizes[-1]
        self.activation = activation
        self.weight_init_std = init
        self.use_dropout = bool(use_dropout)
        self.dropout_ratio = dropout_ratio
        self.use_batchnorm = bool(use_batchnorm)

    @property
    def config(self) -> dict[str, object]:
        return {
            "input_size": self.input_size,
            "hidden_size_list": list(self.hidden_size_list),
            "output_size": self.output_size,
            "activation": self.activation,
            "weight_init_std": self.weight_init_std,
            "weight_decay_lambda": self.weight_decay_lambda,
            "use_dropout": self.use_dropout,
            "dropout_ratio": self.dropout_ratio,
            "use_batchnorm": self.use_batchnorm,
            "dtype": self.dtype.name,
        }
