"""Networks: an ordered list of layers, run forward to predict and in reverse to backpropagate.

``Sequential`` is the whole idea of chapter 5 in a few short methods: ``predict`` runs the
layers in order, ``gradient`` computes the loss and then runs ``backward`` through the loss layer
and the reversed list. ``TwoLayerNet`` just builds one, ``MultiLayerNet`` (chapter 6) one of any
depth. ``FormulaTwoLayerNet``, chapter 4's network with the gradient written out as formulas,
lives in :mod:`dlzero.formula_net` and is importable from here too.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from dlzero import gradient as _gradient
from dlzero._checks import check_finite_nonnegative, check_fraction, check_positive_int
from dlzero._rng import RngLike, as_rng
from dlzero.book_params import (
    ParamFileError,
    check_params,
    fold_test_time_dropout,
    plan_dropout_fold,
    read_params_file,
    write_params,
)
from dlzero.fastpath import FusedMLP
from dlzero.formula_net import FormulaTwoLayerNet
from dlzero.functions import as_labels
from dlzero.layers import (
    Affine,
    BatchNormalization,
    Dropout,
    Layer,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from dlzero.model_file import write as write_model_file

__all__ = [
    "ACTIVATIONS",
    "WEIGHT_INITS",
    "FormulaTwoLayerNet",
    "MultiLayerNet",
    "MultiLayerNetExtend",
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


def chunked_accuracy(
    predict: Callable[[NDArray], NDArray], x: NDArray, labels: NDArray, batch_size: int
) -> float:
    """Share of ``x`` whose highest score under ``predict`` is the label, ``batch_size`` at a time.

    Parameters
    ----------
    predict : callable, ``predict(x) -> scores`` of shape (n, C)
    x : ndarray, shape (N, ...)
    labels : ndarray of int, shape (N,)
    batch_size : int
        Every sample counts, including those of a final partial chunk.
    """
    correct = 0
    for start in range(0, len(x), batch_size):
        scores = predict(x[start : start + batch_size])
        hits = scores.argmax(axis=1) == labels[start : start + batch_size]
        correct += int(np.count_nonzero(hits))
    return correct / len(x)


class ParamDict(dict):
    """A network's ``params``: a dict of the layers' own arrays, where assignment copies in.

    Reading gives the very arrays the layers compute with, so an in-place update
    (``params["W1"] -= lr * grad``, what every optimizer does) changes the network. Assigning
    (``params["W1"] = new_array``, as the book's ``load_params`` does) copies the new values
    into that array, cast to its dtype, after checking the shape: the layers see them at once,
    where a plain dict would silently leave the layers computing with the old array. A key
    the network does not have, and removing a key, raise instead.
    """

    __slots__ = ()

    def __setitem__(self, key: str, value: NDArray) -> None:
        try:
            current = dict.__getitem__(self, key)
        except KeyError:
            raise KeyError(
                f"the network has no parameter {key!r} (it has {', '.join(self)}); assigning "
                "to params copies into an existing parameter"
            ) from None
        if value is current:  # ``params[k] -= step`` assigns the array to itself
            return
        value = np.asarray(value)
        if value.shape != current.shape:
            raise ValueError(
                f"params[{key!r}]: cannot copy an array of shape {value.shape} into the "
                f"parameter of shape {current.shape} (assigning to params copies into the "
                "layer's array)"
            )
        current[...] = value

    def update(self, *args: object, **kwargs: NDArray) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: object) -> ParamDict:  # type: ignore[override,misc]
        self.update(other)
        return self

    def setdefault(self, key: str, default: NDArray | None = None) -> NDArray:  # type: ignore[override]
        if key not in self:
            self[key] = default  # raises: the network has no such parameter
        return self[key]

    def _no_removal(self, *args: object) -> None:
        raise TypeError("a network's parameters cannot be removed from its params")

    __delitem__ = pop = popitem = clear = _no_removal  # type: ignore[assignment]

    def __reduce_ex__(self, protocol: object) -> tuple[type, tuple[dict[str, NDArray]]]:
        # Rebuilt from a plain dict (copy.deepcopy, pickle): __setitem__ would refuse new keys.
        return (type(self), (dict(self),))


class Sequential:
    """A network made of layers kept in order, plus a last (loss) layer.

    Parameters
    ----------
    layers : sequence of Layer, or mapping of name to Layer
        The layers in forward order. A sequence is named as the book names its layers: the
        class name and a count per class (``Affine1``, ``Relu1``, ``Affine2``).
    last_layer : Layer, optional
        The loss layer, ``SoftmaxWithLoss()`` by default.
    weight_decay_lambda : float, default 0
        L2 weight decay: ``0.5 * lambda * sum(W ** 2)`` over every parameter named ``W`` is
        added to the loss, and ``lambda * W`` to its gradient.

    Attributes
    ----------
    layers : dict of str to Layer
        Ordered, as the book's ``OrderedDict``.
    params : ParamDict of str to ndarray
        Every parameter, named by parameter and count (``W1``, ``b1``, ``W2``, ...). These are
        the layers' own arrays, not copies: an in-place update such as
        ``params["W1"] -= lr * grads["W1"]`` changes the layer, which is how optimizers train
        the network. Assigning ``params["W1"] = new_array`` copies the values into the
        layer's array (see :class:`ParamDict`).
    eval_batch_size : int
        ``accuracy`` runs ``predict`` on chunks of at most this many samples, so evaluating on
        a whole data set keeps memory bounded.
    """

    eval_batch_size: int = 10_000

    def __init__(
        self,
        layers: Sequence[Layer] | Mapping[str, Layer],
        last_layer: Layer | None = None,
        *,
        weight_decay_lambda: float = 0.0,
    ) -> None:
        if isinstance(layers, Mapping):
            self.layers: dict[str, Layer] = dict(layers)
        else:
            self.layers = {}
            counts: dict[str, int] = {}
            for layer in layers:
                cls = type(layer).__name__
                counts[cls] = counts.get(cls, 0) + 1
                self.layers[f"{cls}{counts[cls]}"] = layer
        if not self.layers:
            raise ValueError("Sequential: at least one layer is needed")
        self.last_layer = last_layer if last_layer is not None else SoftmaxWithLoss()
        self.weight_decay_lambda = check_finite_nonnegative(
            "weight_decay_lambda", weight_decay_lambda
        )
        self._collect_params()

    # The book calls it ``lastLayer``; keep that name working for code written for the book.
    @property
    def lastLayer(self) -> Layer:
        return self.last_layer

    def _collect_params(self) -> None:
        """Build ``params`` from the layers, remembering which layer attribute each key is."""
        self._param_refs: dict[str, tuple[Layer, str]] = {}
        counts: dict[str, int] = {}
        for layer in self.layers.values():
            for pname in layer.param_names:
                counts[pname] = counts.get(pname, 0) + 1
                self._param_refs[f"{pname}{counts[pname]}"] = (layer, pname)
        self.params = ParamDict(
            (key, getattr(layer, pname)) for key, (layer, pname) in self._param_refs.items()
        )

    @property
    def state(self) -> dict[str, NDArray]:
        """The layers' state arrays: not trained, but part of the model (saved with it).

        ``{"BatchNorm1.running_mean": array, ...}`` for every name in a layer's
        ``state_names``; the layers' own arrays, not copies.
        """
        return {
            f"{layer_name}.{name}": getattr(layer, name)
            for layer_name, layer in self.layers.items()
            for name in layer.state_names
        }

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the parameters (float32 for training, float64 for checks)."""
        return next(iter(self.params.values())).dtype

    # -- the chapter-5 loop ------------------------------------------------------------------

    def predict(self, x: NDArray, train_flg: bool = False) -> NDArray:
        """Run the layers in order. x : ndarray, shape (N, ...) -> scores, shape (N, C)."""
        for layer in self.layers.values():
            x = layer.forward(x, train_flg) if layer.takes_train_flag else layer.forward(x)
        return x

    def loss(self, x: NDArray, t: NDArray, train_flg: bool = False) -> float:
        """Mean loss of the batch (plus the weight-decay term, if any)."""
        y = self.predict(x, train_flg)
        return self.last_layer.forward(y, t) + self.weight_decay_loss()

    def backward(self, dout: float = 1.0) -> NDArray:
        """Backpropagate from the last ``loss``: loss layer, then the layers in reverse.

        Returns dL/dx for the network's input; each layer keeps its parameter gradients.
        """
        dout = self.last_layer.backward(dout)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        return dout

    def gradient(self, x: NDArray, t: NDArray) -> dict[str, NDArray]:
        """Gradients of the loss for every parameter, by backpropagation.

        Parameters
        ----------
        x : ndarray, shape (N, ...)
        t : ndarray, shape (N,) labels or (N, C) one-hot

        Returns
        -------
        dict of str to ndarray
            Same keys and shapes as ``params``.
        """
        self.loss(x, t, train_flg=True)
        self.backward()
        return self._collect_grads()

    def loss_and_gradient(self, x: NDArray, t: NDArray) -> tuple[float, dict[str, NDArray]]:
        """The loss of the batch and its gradients from one forward and one backward pass.

        This is what a training step needs. For a plain MLP (``Affine`` layers with ``Relu`` or
        ``Sigmoid`` between them, ``SoftmaxWithLoss`` last) it runs the fused step of
        :mod:`dlzero.fastpath`, which computes the same numbers with preallocated buffers and
        no input gradient; any other network runs the layers as :meth:`gradient` does. The
        returned arrays may be reused by the next call: copy them to keep them.
        """
        fused = self.fused_step()
        if fused is not None:
            return fused.loss_and_gradient(x, t)
        loss = self.loss(x, t, train_flg=True)
        self.backward()
        return loss, self._collect_grads()

    def fused_step(self) -> FusedMLP | None:
        """The fused training step of a plain MLP (:class:`~dlzero.fastpath.FusedMLP`), or None
        when this network has layers it does not cover (dropout, batch norm, tanh, ...)."""
        # Rebuilt whenever the parameter arrays or the decay change (e.g. after astype).
        signature = (
            self.weight_decay_lambda,
            id(self.last_layer),
            *map(id, self.layers.values()),
            *map(id, self.params.values()),
        )
        if getattr(self, "_fused_signature", None) != signature:
            self._fused = self._make_fused_step()
            self._fused_signature = signature
        return self._fused

    def _make_fused_step(self) -> FusedMLP | None:
        layers = list(self.layers.values())
        keys = [(f"W{i + 1}", f"b{i + 1}") for i in range(len(self.params) // 2)]
        return FusedMLP.from_layers(layers, self.last_layer, keys, self.weight_decay_lambda)

    def _collect_grads(self) -> dict[str, NDArray]:
        grads = {
            key: getattr(layer, "d" + pname) for key, (layer, pname) in self._param_refs.items()
        }
        if self.weight_decay_lambda:
            for key, (_, pname) in self._param_refs.items():
                if pname == "W":
                    grads[key] = grads[key] + self.weight_decay_lambda * self.params[key]
        return grads

    def weight_decay_loss(self) -> float:
        """The weight-decay term of the loss: ``0.5 * lambda * sum(W ** 2)`` over every ``W``."""
        if not self.weight_decay_lambda:
            return 0.0
        total = sum(
            float(np.sum(np.square(self.params[key], dtype=np.float64)))
            for key, (_, pname) in self._param_refs.items()
            if pname == "W"
        )
        return 0.5 * self.weight_decay_lambda * total

    def numerical_gradient(self, x: NDArray, t: NDArray) -> dict[str, NDArray]:
        """Gradients by central differences (slow: two loss evaluations per parameter element).

        The loss must be a function of the parameters alone, and the network must come out as
        it went in: ``Dropout`` layers keep one mask throughout (the last one drawn, if it fits
        ``x``, so the result compares with the ``gradient`` just computed; else a new one), and
        batch-normalization running statistics, which every training forward moves, are put
        back afterwards.

        A network of another dtype than float64 (float32, dlzero's default) is differentiated
        through a float64 copy of itself: in float32 a step of ``h = 1e-4`` against a rounding
        error of about ``1e-7 * loss`` leaves the differences only three or four good digits,
        and a gradient check of the book's kind (``network.numerical_gradient`` beside
        ``network.gradient``) would show errors of 1e-4 where the backpropagation is right.
        """
        if self.dtype != np.float64:
            return self.astype(np.float64).numerical_gradient(x, t)
        dropouts = [layer for layer in self.layers.values() if isinstance(layer, Dropout)]
        saved_flags = [d.fixed_mask for d in dropouts]
        saved_states = [
            (layer, name, getattr(layer, name).copy())
            for layer in self.layers.values()
            for name in getattr(layer, "state_names", ())  # (a user's own layer may not say)
        ]
        for d in dropouts:
            if not d.fixed_mask and d.mask is not None and d.mask.shape[0] != len(x):
                d.mask = None  # drawn for another batch: the first loss below draws one
            d.fixed_mask = True

        def loss_of_params(_: NDArray) -> float:
            return self.loss(x, t, train_flg=True)

        try:
            return {
                key: _gradient.numerical_gradient(loss_of_params, p)
                for key, p in self.params.items()
            }
        finally:
            for d, flag in zip(dropouts, saved_flags, strict=True):
                d.fixed_mask = flag
            for layer, name, value in saved_states:
                getattr(layer, name)[...] = value

    def accuracy(self, x: NDArray, t: NDArray, batch_size: int | None = None) -> float:
        """Share of samples whose highest score is the correct class.

        Parameters
        ----------
        x : ndarray, shape (N, ...)
        t : ndarray, shape (N,) labels or (N, C) one-hot
        batch_size : int, optional
            Predict in chunks of this many samples (default ``eval_batch_size``); every
            sample counts, including those of a final partial chunk.
        """
        labels = as_labels(t)
        if labels.shape != (len(x),):
            raise ValueError(
                f"accuracy: expected {len(x)} labels (or one-hot rows) for {len(x)} samples, "
                f"got t of shape {np.shape(t)}"
            )
        if len(x) == 0:
            raise ValueError("accuracy: no samples given")
        # A plain MLP predicts through the fused path: in place, nothing kept for backward.
        fused = self.fused_step()
        predict = fused.predict if fused is not None else self.predict
        return chunked_accuracy(predict, x, labels, batch_size or self.eval_batch_size)

    # -- copies ------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """What ``copy.deepcopy`` and ``pickle`` keep: everything but the fused step.

        Its buffers (tens of megabytes for a convolutional network) are rebuilt on first use,
        as they would be anyway: the copy's arrays are new ones.
        """
        state = self.__dict__.copy()
        state.pop("_fused", None)
        state.pop("_fused_signature", None)
        return state

    def astype(self, dtype: DTypeLike) -> Sequential:
        """Return an independent copy of the network whose arrays have dtype ``dtype``."""
        new = copy.deepcopy(self)
        for layer in new.layers.values():
            layer.cast(dtype)
        new._collect_params()
        return new

    def save(
        self, path: str | os.PathLike[str], *, metadata: Mapping[str, object] | None = None
    ) -> None:
        """Save the architecture and parameters to ``path`` (an ``.npz`` file), atomically.

        ``dlzero.load(path)`` rebuilds a network that predicts exactly as this one. Only the
        classes in :data:`dlzero.model_file.NETWORK_NAMES` can be saved (a plain
        ``Sequential`` has no ``config`` to rebuild it from); ``metadata`` is kept with the
        model as plain JSON values. See :mod:`dlzero.model_file` for the format.
        """
        config = getattr(self, "config", None)
        write_model_file(path, type(self).__name__, config, self.params, self.state, metadata)

    def save_params(self, file_name: str | os.PathLike[str] = "params.pkl") -> None:
        """Write the parameters (and batch-norm statistics) to ``file_name``, atomically.

        The book's method, with its default name. The file is a NumPy ``.npz`` archive whatever
        the name (dlzero writes no pickle); :meth:`load_params` reads it back into a network
        built with the same arguments. :meth:`save` also records the architecture.
        """
        write_params(file_name, {**self.params, **self.state})

    def load_params(
        self, file_name: str | os.PathLike[str] = "params.pkl", *, book_dropout: bool | None = None
    ) -> None:
        """Read parameters saved by :meth:`save_params`, or by the book's code, into the layers.

        The file must hold exactly this network's parameter names and shapes (the book's
        ``W1 .. W8`` of ``DeepConvNet``, say, into ``DeepConvNet()``), plus, optionally, its
        state arrays. The book's ``.pkl`` files are read by a restricted unpickler that builds
        only a dict of numeric arrays (:func:`dlzero.book_params.read_params`). The network
        takes the dtype of the file's arrays (float64 for the book's ``params.pkl``), so it
        predicts as the code that saved them did.

        Parameters
        ----------
        file_name : str or PathLike, default "params.pkl"
        book_dropout : bool, optional
            Whether the weights were trained with the book's ``Dropout``, which scales by
            ``1 - ratio`` at inference; that factor is then folded into the next layer's
            weights (:func:`dlzero.book_params.fold_test_time_dropout`), using this network's
            dropout ratios. By default, True for a pickle (the book's) and False for an
            ``.npz`` (dlzero's).

        Raises
        ------
        dlzero.book_params.ParamFileError
            The file is not a parameter file, would need anything but arrays to load, or does
            not fit this network; the network is left unchanged.
        """
        arrays, kind = read_params_file(file_name)
        given = {k: v for k, v in arrays.items() if "." not in k}
        state_given = {k: v for k, v in arrays.items() if "." in k}
        check_params(self.params, given, os.fspath(file_name))
        state = self.state
        unknown = [k for k in state_given if k not in state]
        if unknown:
            raise ParamFileError(f"{os.fspath(file_name)}: state {unknown} not in the network")
        check_params({k: state[k] for k in state_given}, state_given, os.fspath(file_name))
        fold = book_dropout if book_dropout is not None else kind == "pickle"
        if fold:
            plan_dropout_fold(self.layers.values())  # raises before anything changes
        dtypes = {a.dtype.newbyteorder("=") for a in given.values()}
        if len(dtypes) == 1 and (dtype := dtypes.pop()).kind == "f" and dtype != self.dtype:
            for layer in self.layers.values():
                layer.cast(dtype)
            self._collect_params()
            state = self.state
        for key, value in given.items():
            self.params[key] = value
        for key, value in state_given.items():
            state[key][...] = value
        if fold:
            fold_test_time_dropout(self.layers.values())

    def to_onnx(
        self, path: str | os.PathLike[str], *, input_shape: tuple[int, ...] | None = None
    ) -> None:
        """Write the network in inference mode to ``path`` as an ONNX model, atomically.

        Input ``images`` (float32, (N, 784) or (N, C, H, W)), output ``probabilities``
        (float32, (N, classes)); needs ``pip install 'dlzero[onnx]'``. See
        :func:`dlzero.onnx_export.to_onnx` for ``input_shape`` and the errors.
        """
        # Imported here: the export module, and the onnx package it needs, stay out of training.
        from dlzero.onnx_export import to_onnx

        to_onnx(self, path, input_shape=input_shape)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={layer!r}" for name, layer in self.layers.items())
        return f"{type(self).__name__}({inner}; last={type(self.last_layer).__name__})"

    def _repr_html_(self) -> str:
        """Jupyter's display: one row per layer with its parameters' shapes and sizes."""
        from dlzero._html import html_table  # only a notebook needs it

        owner = {id(layer): [] for layer in self.layers.values()}
        for key, (layer, _) in self._param_refs.items():
            owner[id(layer)].append(key)
        rows = []
        for name, layer in self.layers.items():
            keys = owner[id(layer)]
            shapes = ", ".join(f"{k} {self.params[k].shape}" for k in keys)
            rows.append(
                [name, type(layer).__name__, shapes or "-", sum(self.params[k].size for k in keys)]
            )
        rows.append(["(loss)", type(self.last_layer).__name__, "-", 0])
        total = sum(p.size for p in self.params.values())
        return html_table(
            ["layer", "type", "parameters", "values"],
            rows,
            caption=f"{type(self).__name__}: {len(self.layers)} layers, {self.dtype}",
            footer=f"{total:,} trainable values",
        )


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
        In [0, 1). (The book spells this argument ``dropout_ration``, as
        :class:`MultiLayerNetExtend` does.)
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


class MultiLayerNetExtend(MultiLayerNet):
    """The book's ``MultiLayerNetExtend`` (``common/multi_layer_net_extend.py``), by its name and
    keywords: a :class:`MultiLayerNet`, which already has the book's dropout and batch-norm
    options.

    The only difference is the keyword the book spells ``dropout_ration``; everything else
    (``predict(x, train_flg)``, ``loss(x, t, train_flg)``, ``gradient``,
    ``numerical_gradient``, ``accuracy``, ``params``, ``layers`` named ``Affine1``,
    ``BatchNorm1``, ``Activation_function1``, ``Dropout1``, ...) is ``MultiLayerNet``'s. As
    everywhere in dlzero, the network is float32 unless ``dtype`` says otherwise, and its
    dropout is inverted dropout.
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
        dropout_ration: float = 0.5,
        use_batchnorm: bool = False,
        *,
        rng: RngLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size_list,
            output_size,
            activation=activation,
            weight_init_std=weight_init_std,
            weight_decay_lambda=weight_decay_lambda,
            use_dropout=use_dropout,
            dropout_ratio=dropout_ration,
            use_batchnorm=use_batchnorm,
            rng=rng,
            dtype=dtype,
        )

    @property
    def dropout_ration(self) -> float:
        """The book's name for ``dropout_ratio``."""
        return self.dropout_ratio

    def save(
        self, path: str | os.PathLike[str], *, metadata: Mapping[str, object] | None = None
    ) -> None:
        """Save as the :class:`MultiLayerNet` it is: ``dlzero.load`` gives one back."""
        write_model_file(path, "MultiLayerNet", self.config, self.params, self.state, metadata)
