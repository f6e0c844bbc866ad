"""Convolutional networks: chapter 7's ``SimpleConvNet`` and chapter 8's ``DeepConvNet``.

Both are :class:`~dlzero.sequential.Sequential` networks, built the way the book builds them: the
layers in order, the parameters in one dict shared with the layers (``W1`` is the first
convolution's filters, ``W2`` and ``W3`` the affine weights of ``SimpleConvNet``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import DTypeLike, NDArray

from dlzero._checks import check_fraction, check_int, check_positive_int
from dlzero._rng import RngLike, as_rng
from dlzero.layers import Affine, Convolution, Dropout, Layer, Pooling, Relu
from dlzero.layers.im2col import conv_output_size
from dlzero.sequential import Sequential

__all__ = ["DeepConvNet", "SimpleConvNet"]

# The keys of a ``conv_param`` dict and the book's SimpleConvNet values.
_SIMPLE_CONV_PARAM = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}

# The book's DeepConvNet (ch08/deep_convnet.py): six 3x3 convolutions, the fourth padded by 2.
_DEEP_CONV_PARAMS = (
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
)


def _conv_param(param: Mapping[str, int] | None, default: Mapping[str, int]) -> dict[str, int]:
    """The book's ``conv_param`` dict, with missing keys taken from ``default``, checked."""
    merged = dict(default)
    if param is not None:
        unknown = set(param) - set(default)
        if unknown:
            raise ValueError(
                f"conv_param: unknown key(s) {sorted(unknown)}; expected {sorted(default)}"
            )
        merged.update(param)
    for key in ("filter_num", "filter_size", "stride"):
        merged[key] = check_positive_int(f"conv_param[{key!r}]", merged[key])
    merged["pad"] = check_int("conv_param['pad']", merged["pad"], 0)
    return merged


def _check_std(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not np.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"weight_init_std must be a positive number, got {value!r}")
    return float(value)


def _input_dim(input_dim: tuple[int, int, int]) -> tuple[int, int, int]:
    if not isinstance(input_dim, (tuple, list)) or len(input_dim) != 3:
        raise ValueError(f"input_dim must be (C, H, W), got {input_dim!r}")
    c, h, w = (check_positive_int("input_dim", v) for v in input_dim)
    return c, h, w


def _stage(
    name: str, size: tuple[int, int], filter_size: int, stride: int, pad: int
) -> tuple[int, int]:
    """Output (height, width) of a convolution or pooling stage, with the stage in errors."""
    try:
        return (
            conv_output_size(size[0], filter_size, stride, pad),
            conv_output_size(size[1], filter_size, stride, pad),
        )
    except ValueError as err:
        raise ValueError(f"{name} on a {size[0]}x{size[1]} input: {err}") from None


class SimpleConvNet(Sequential):
    """The chapter-7 network: Conv - ReLU - Pool - Affine - ReLU - Affine - SoftmaxWithLoss.

    Parameters
    ----------
    input_dim : tuple of int, default (1, 28, 28)
        (C, H, W) of one input image.
    conv_param : dict, optional
        ``filter_num`` (30), ``filter_size`` (5), ``pad`` (0) and ``stride`` (1) of the
        convolution, the book's values by default; missing keys take these values.
    hidden_size : int, default 100
    output_size : int, default 10
    weight_init_std : float, default 0.01
        Every weight is drawn from N(0, weight_init_std ** 2); biases start at 0.
    rng : Generator, int or None
        Source of the initial weights; the same seed gives the same network.
    dtype : dtype, default float32

    Notes
    -----
    The pooling is 2x2 with stride 2: an odd convolution output loses its last row and
    column, as in PyTorch and Keras (the output size floors).
    ``params`` holds ``W1``/``b1`` (the filters, shape (FN, C, FS, FS)), ``W2``/``b2`` and
    ``W3``/``b3`` (the two affine layers), as in the book; the layers are named ``Conv1``,
    ``Relu1``, ``Pool1``, ``Affine1``, ``Relu2``, ``Affine2``.
    """

    # im2col makes a (C*FH*FW, N*out_h*out_w) matrix per convolution: 25 x 576 values per MNIST
    # image in the book's network; with the layers' outputs, a chunk of 500 images needs about
    # 80 MB in float32 on the fused path (10,000 at once would need 1.6 GB). Larger chunks
    # would not evaluate faster: 100 images already make products big enough.
    eval_batch_size = 500

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param: Mapping[str, int] | None = None,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: float = 0.01,
        *,
        rng: RngLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        c, h, w = _input_dim(input_dim)
        cp = _conv_param(conv_param, _SIMPLE_CONV_PARAM)
        hidden_size = check_positive_int("hidden_size", hidden_size)
        output_size = check_positive_int("output_size", output_size)
        weight_init_std = _check_std(weight_init_std)
        fn, fs, pad, stride = cp["filter_num"], cp["filter_size"], cp["pad"], cp["stride"]
        conv_hw = _stage("SimpleConvNet: the convolution", (h, w), fs, stride, pad)
        pool_hw = _stage("SimpleConvNet: the 2x2 pooling", conv_hw, 2, 2, 0)
        pool_output_size = fn * pool_hw[0] * pool_hw[1]

        gen = as_rng(rng)

        def weights(*shape: int) -> NDArray:
            return (weight_init_std * gen.standard_normal(shape)).astype(dtype)

        layers: dict[str, Layer] = {
            "Conv1": Convolution(
                weights(fn, c, fs, fs), np.zeros(fn, dtype=dtype), stride=stride, pad=pad
            ),
            "Relu1": Relu(),
            "Pool1": Pooling(2, 2, stride=2),
            "Affine1": Affine(weights(pool_output_size, hidden_size), np.zeros(hidden_size, dtype)),
            "Relu2": Relu(),
            "Affine2": Affine(weights(hidden_size, output_size), np.zeros(output_size, dtype)),
        }
        super().__init__(layers)
        self.input_dim = (c, h, w)
        self.conv_param = cp
        self.hidden_size = hidden_size
        self.output_size = output_size
        self.weight_init_std = weight_init_std

    @property
    def config(self) -> dict[str, object]:
        """The constructor arguments as JSON-able values (and the dtype), to rebuild the net."""
        return {
            "input_dim": list(self.input_dim),
            "conv_param": dict(self.conv_param),
            "hidden_size": self.hidden_size,
            "output_size": self.output_size,
            "weight_init_std": self.weight_init_std,
            "dtype": self.dtype.name,
        }


class DeepConvNet(Sequential):
    """The chapter-8 network: six 3x3 convolutions, He initialization, dropout (about 99.4%).

    The layers, as in the book's ``ch08/deep_convnet.py``::

        Conv1 - Relu1 - Conv2 - Relu2 - Pool1 -
        Conv3 - Relu3 - Conv4 - Relu4 - Pool2 -
        Conv5 - Relu5 - Conv6 - Relu6 - Pool3 -
        Affine1 - Relu7 - Dropout1 - Affine2 - Dropout2 - SoftmaxWithLoss

    Every pooling is 2x2 with stride 2. On 28x28 images the sizes run 28, 28, 14, 14, 16 (the
    fourth convolution pads by 2), 8, 8, 8, 4, so ``Affine1`` sees 64 x 4 x 4 = 1024 values.

    Parameters
    ----------
    input_dim : tuple of int, default (1, 28, 28)
    conv_param_1, ..., conv_param_6 : dict, optional
        ``filter_num``, ``filter_size``, ``pad``, ``stride`` of each convolution; the book's
        values (16, 16, 32, 32, 64, 64 filters of 3x3, pad 1 except 2 for the fourth, stride
        1) by default, and for missing keys.
    hidden_size : int, default 50
    output_size : int, default 10
    dropout_ratio : float, default 0.5
        Of both dropout layers. As in the book, the second one acts on the scores themselves.
    rng : Generator, int or None
        Source of the initial weights and of the dropout masks (kept as ``self.rng``).
    dtype : dtype, default float32

    Notes
    -----
    He initialization: every weight is drawn from N(0, 2 / n_in), where ``n_in`` is the number
    of inputs of one output unit (``C * 3 * 3`` for a convolution, the input size for an
    affine layer); biases start at 0. Parameters are ``W1 .. W6`` (filters), ``W7``, ``W8``
    (affine), with their biases, as in the book.

    The dropout layers are :class:`~dlzero.layers.Dropout`, *inverted* dropout: kept units are
    scaled by ``1 / (1 - ratio)`` in training and inference runs unscaled. The book scales at
    inference instead; the trained networks compute the same function.
    """

    # The fused path's inference buffers for 128 images of 28x28 (two lanes of 64) take about
    # 53 MB in float32 (measured with tracemalloc); chunks of 64 to 512 evaluate alike.
    eval_batch_size = 128

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param_1: Mapping[str, int] | None = None,
        conv_param_2: Mapping[str, int] | None = None,
        conv_param_3: Mapping[str, int] | None = None,
        conv_param_4: Mapping[str, int] | None = None,
        conv_param_5: Mapping[str, int] | None = None,
        conv_param_6: Mapping[str, int] | None = None,
        hidden_size: int = 50,
        output_size: int = 10,
        dropout_ratio: float = 0.5,
        *,
        rng: RngLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        c, h, w = _input_dim(input_dim)
        given = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6)
        cps = [_conv_param(p, d) for p, d in zip(given, _DEEP_CONV_PARAMS, strict=True)]
        hidden_size = check_positive_int("hidden_size", hidden_size)
        output_size = check_positive_int("output_size", output_size)
        dropout_ratio = check_fraction("dropout_ratio", dropout_ratio)

        # Check every size before the first random draw.
        size = (h, w)
        for i, cp in enumerate(cps, start=1):
            size = _stage(f"DeepConvNet: Conv{i}", size, cp["filter_size"], cp["stride"], cp["pad"])
            if i % 2 == 0:
                size = _stage(f"DeepConvNet: Pool{i // 2}", size, 2, 2, 0)
        flat_size = cps[-1]["filter_num"] * size[0] * size[1]

        gen = as_rng(rng)

        def he(shape: tuple[int, ...], n_in: int) -> NDArray:
            return (np.sqrt(2.0 / n_in) * gen.standard_normal(shape)).astype(dtype)

        layers: dict[str, Layer] = {}
        channels = c
        for i, cp in enumerate(cps, start=1):
            fn, fs = cp["filter_num"], cp["filter_size"]
            layers[f"Conv{i}"] = Convolution(
                he((fn, channels, fs, fs), channels * fs * fs),
                np.zeros(fn, dtype=dtype),
                stride=cp["stride"],
                pad=cp["pad"],
            )
            layers[f"Relu{i}"] = Relu()
            if i % 2 == 0:
                layers[f"Pool{i // 2}"] = Pooling(2, 2, stride=2)
            channels = fn
        layers["Affine1"] = Affine(
            he((flat_size, hidden_size), flat_size), np.zeros(hidden_size, dtype=dtype)
        )
        layers["Relu7"] = Relu()
        layers["Dropout1"] = Dropout(dropout_ratio, rng=gen)
        layers["Affine2"] = Affine(
            he((hidden_size, output_size), hidden_size), np.zeros(output_size, dtype=dtype)
        )
        layers["Dropout2"] = Dropout(dropout_ratio, rng=gen)
        super().__init__(layers)
        self.rng = gen
        self.input_dim = (c, h, w)
        self.conv_params = cps
        self.hidden_size = hidden_size
        self.output_size = output_size
        self.dropout_ratio = dropout_ratio

    @property
    def config(self) -> dict[str, object]:
        """The constructor arguments as JSON-able values (and the dtype), to rebuild the net."""
        return {
            "input_dim": list(self.input_dim),
            **{f"conv_param_{i}": dict(cp) for i, cp in enumerate(self.conv_params, start=1)},
            "hidden_size": self.hidden_size,
            "output_size": self.output_size,
            "dropout_ratio": self.dropout_ratio,
            "dtype": self.dtype.name,
        }
