"""Chapter 4's two-layer network, its gradient written out as matrix formulas.

Before chapter 5 builds networks from layers, chapter 4 trains a two-layer network whose
gradient is derived by hand. :class:`FormulaTwoLayerNet` is that network; the tests check that
the layered :class:`~dlzero.networks.TwoLayerNet` (sigmoid) gives the same gradients.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike, NDArray

from dlzero._checks import check_positive_int
from dlzero._rng import RngLike, as_rng
from dlzero.functions import (
    as_batch,
    as_labels,
    cross_entropy_error,
    sigmoid,
    sigmoid_grad,
    softmax,
)
from dlzero.gradient import numerical_gradient

__all__ = ["FormulaTwoLayerNet"]


class FormulaTwoLayerNet:
    """Chapter 4's two-layer network, with the gradient written out as matrix formulas.

    A reference, not a tool: it shows what backpropagation through ``Affine``, ``Sigmoid`` and
    ``SoftmaxWithLoss`` layers amounts to, and the tests check that ``TwoLayerNet`` with
    ``activation="sigmoid"`` and the same parameters gives the same gradients. ``predict``
    returns probabilities (softmax applied), as in the book's chapter 4.

    Parameters are as for :class:`TwoLayerNet`; the activation is always the sigmoid.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        rng: RngLike = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        input_size = check_positive_int("input_size", input_size)
        hidden_size = check_positive_int("hidden_size", hidden_size)
        output_size = check_positive_int("output_size", output_size)
        gen = as_rng(rng)
        self.params = {
            "W1": (weight_init_std * gen.standard_normal((input_size, hidden_size))).astype(dtype),
            "b1": np.zeros(hidden_size, dtype=dtype),
            "W2": (weight_init_std * gen.standard_normal((hidden_size, output_size))).astype(dtype),
            "b2": np.zeros(output_size, dtype=dtype),
        }

    def _one_hot(self, y: NDArray, t: NDArray) -> NDArray:
        y, t = as_batch(y, np.asarray(t), "FormulaTwoLayerNet")
        if t.shape == y.shape:
            return t
        return np.eye(y.shape[1], dtype=y.dtype)[t]

    def predict(self, x: NDArray) -> NDArray:
        """x : ndarray, shape (N, D) -> probabilities, shape (N, C)."""
        p = self.params
        a1 = x @ p["W1"] + p["b1"]
        z1 = sigmoid(a1)
        a2 = z1 @ p["W2"] + p["b2"]
        return softmax(a2)

    def loss(self, x: NDArray, t: NDArray) -> float:
        return cross_entropy_error(self.predict(x), t)

    def accuracy(self, x: NDArray, t: NDArray) -> float:
        return float(np.mean(self.predict(x).argmax(axis=1) == as_labels(t)))

    def gradient(self, x: NDArray, t: NDArray) -> dict[str, NDArray]:
        """The gradient as the notes derive it on the computational graph.

        With ``a1 = x W1 + b1``, ``z1 = sigmoid(a1)``, ``y = softmax(z1 W2 + b2)``::

            dy  = (y - t) / batch_num       # softmax + cross entropy, per sample
            dW2 = z1.T @ dy                 # dL/dW2
            db2 = sum(dy, axis=0)           # the bias is broadcast over the batch
            dz1 = dy @ W2.T                 # back through the second product
            da1 = sigmoid_grad(a1) * dz1    # back through the sigmoid
            dW1 = x.T @ da1
            db1 = sum(da1, axis=0)
        """
        p = self.params
        batch_num = x.shape[0]
        a1 = x @ p["W1"] + p["b1"]
        z1 = sigmoid(a1)
        a2 = z1 @ p["W2"] + p["b2"]
        y = softmax(a2)
        t = self._one_hot(y, t)

        dy = (y - t) / batch_num
        grads = {"W2": z1.T @ dy, "b2": np.sum(dy, axis=0)}
        dz1 = dy @ p["W2"].T
        da1 = sigmoid_grad(a1) * dz1
        grads["W1"] = x.T @ da1
        grads["b1"] = np.sum(da1, axis=0)
        return grads

    def numerical_gradient(self, x: NDArray, t: NDArray) -> dict[str, NDArray]:
        def loss_of_params(_: NDArray) -> float:
            return self.loss(x, t)

        return {key: numerical_gradient(loss_of_params, p) for key, p in self.params.items()}
