"""The idea of chapter 5: a network is its layers kept in order.

``predict`` runs the layers forward; ``gradient`` computes the loss and then runs ``backward``
through the loss layer and the reversed list. Nothing else is needed for a network of any
depth: ``TwoLayerNet`` and ``MultiLayerNet`` (:mod:`dlzero.networks`) and the convolutional
networks (:mod:`dlzero.convnets`) only build a ``Sequential``.

The parameters live in one dict, ``params``, that holds the layers' own arrays, so an optimizer
that updates ``params["W1"]`` in place updates the layer (:class:`ParamDict`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import DTypeLike, NDArray

from dlzero import gradient as _gradient
from dlzero._checks import check_finite_nonnegative
from dlzero.functions import as_labels, chunked_accuracy
from dlzero.layers import Layer, SoftmaxWithLoss
from dlzero.layers.regularization import held_still

__all__ = ["ParamDict", "Sequential"]


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
        Every parameter, named by parameter and count (``W1``, ``b1``, ``W2``, ...): the
        layers' own arrays, not copies, so ``params["W1"] -= lr * grads["W1"]`` (what an
        optimizer does) changes the layer (see :class:`ParamDict`).
    eval_batch_size : int
        ``accuracy`` predicts at most this many samples at a time, so memory stays bounded.
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
        self.collect_params()

    def collect_params(self) -> None:
        """Build ``params`` from the layers: ``W1`` is the first layer's ``W``, and so on.

        Called again after a layer's arrays were replaced (``layer.cast``), so that ``params``
        holds the layers' arrays again.
        """
        self._keys: list[tuple[str, Layer, str]] = []  # (params key, layer, attribute)
        counts: dict[str, int] = {}
        for layer in self.layers.values():
            for name in layer.param_names:
                counts[name] = counts.get(name, 0) + 1
                self._keys.append((f"{name}{counts[name]}", layer, name))
        self.params = ParamDict((key, getattr(layer, name)) for key, layer, name in self._keys)

    def param_keys(self, layer: Layer) -> dict[str, str]:
        """The ``params`` key of each of ``layer``'s parameters: ``{"W": "W2", "b": "b2"}``."""
        return {name: key for key, owner, name in self._keys if owner is layer}

    @property
    def state(self) -> dict[str, NDArray]:
        """The layers' state arrays, not trained but part of the model (the arrays themselves):
        ``{"BatchNorm1.running_mean": array, ...}`` for each name in a layer's ``state_names``."""
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
        """Backpropagate from the last ``loss``: the loss layer, then the layers in reverse.

        Returns dL/dx for the network's input; each layer keeps its parameter gradients.
        """
        dout = self.last_layer.backward(dout)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        return dout

    def gradient(self, x: NDArray, t: NDArray) -> dict[str, NDArray]:
        """Gradients of the loss by backpropagation, with the keys and shapes of ``params``.

        x : ndarray, shape (N, ...); t : ndarray, shape (N,) labels or (N, C) one-hot.
        """
        return self.loss_and_gradient(x, t)[1]

    def loss_and_gradient(self, x: NDArray, t: NDArray) -> tuple[float, dict[str, NDArray]]:
        """The loss of the batch and its gradients, from one forward and one backward pass
        (what a training step records: the loss its gradient came from)."""
        loss = self.loss(x, t, train_flg=True)
        self.backward()
        grads = {key: getattr(layer, "d" + name) for key, layer, name in self._keys}
        if self.weight_decay_lambda:
            for key, _, name in self._keys:
                if name == "W":
                    grads[key] = grads[key] + self.weight_decay_lambda * self.params[key]
        return loss, grads

    def weight_decay_loss(self) -> float:
        """The weight-decay term of the loss: ``0.5 * lambda * sum(W ** 2)`` over every ``W``."""
        if not self.weight_decay_lambda:
            return 0.0
        total = sum(
            float(np.sum(np.square(self.params[key], dtype=np.float64)))
            for key, _, name in self._keys
            if name == "W"
        )
        return 0.5 * self.weight_decay_lambda * total

    def numerical_gradient(self, x: NDArray, t: NDArray) -> dict[str, NDArray]:
        """Gradients by central differences (slow: two loss evaluations per parameter element).

        The loss must be a function of the parameters alone, so dropout keeps one mask and
        batch normalization's running statistics are put back afterwards
        (:func:`~dlzero.layers.regularization.held_still`). A network of another dtype than
        float64 (float32, dlzero's default) is differentiated through a float64 copy: in
        float32 a step of ``h = 1e-4`` against a rounding error of about ``1e-7 * loss`` leaves
        the differences only three or four good digits.
        """
        if self.dtype != np.float64:
            return self.astype(np.float64).numerical_gradient(x, t)

        def loss_of_params(_: NDArray) -> float:
            return self.loss(x, t, train_flg=True)

        with held_still(self.layers.values(), len(x)):
            return {
                key: _gradient.numerical_gradient(loss_of_params, p)
                for key, p in self.params.items()
            }

    def accuracy(self, x: NDArray, t: NDArray, batch_size: int | None = None) -> float:
        """Share of samples whose highest score is the correct class, predicted ``batch_size``
        (default ``eval_batch_size``) at a time. x : (N, ...); t : (N,) labels or (N, C)."""
        labels = as_labels(t)
        if labels.shape != (len(x),):
            raise ValueError(
                f"accuracy: expected {len(x)} labels (or one-hot rows) for {len(x)} samples, "
                f"got t of shape {np.shape(t)}"
            )
        if len(x) == 0:
            raise ValueError("accuracy: no samples given")
        return chunked_accuracy(self.predict, x, labels, batch_size or self.eval_batch_size)

    def astype(self, dtype: DTypeLike) -> Sequential:
        """Return an independent copy of the network whose arrays have dtype ``dtype``."""
        new = copy.deepcopy(self)
        for layer in new.layers.values():
            layer.cast(dtype)
        new.collect_params()
        return new

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={layer!r}" for name, layer in self.layers.items())
        return f"{type(self).__name__}({inner}; last={type(self.last_layer).__name__})"
