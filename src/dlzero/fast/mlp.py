"""A fused training step for plain multilayer perceptrons: the same math as the layers, faster.

The layer-by-layer path in :mod:`dlzero.layers` is the one to read: each layer's ``forward``
and ``backward`` side by side, allocating fresh arrays as it goes. For the networks most
learners train (``Affine`` layers with ``Relu`` or ``Sigmoid`` between them and
``SoftmaxWithLoss`` at the end), this module computes the same loss and gradients with less
work, which matters when the matrix products are small (784x50 on batches of 100) and NumPy's
per-call overhead and memory traffic are a large share of each step:

- every intermediate array lives in a buffer allocated once per batch size and reused;
- activations are applied in place, and their derivatives are taken from the saved outputs
  (``relu'(a) = [z > 0]``, ``sigmoid'(a) = z (1 - z)``), as scikit-learn's MLP does;
- the softmax and the loss come from one shifted exponential, and the loss of a step is the one
  the step computed (the book's loop runs a second forward pass just to record it);
- the gradient with respect to the input images, which no one uses, is never formed.

``tests/test_fastpath.py`` checks that this path and the layers give the same loss and
gradients. The network's parameter arrays are used directly, so both paths always see the same
weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from dlzero._threads import SMALL_PRODUCT
from dlzero.fast.cache import BufferCache
from dlzero.layers import Affine, Layer, Relu, Sigmoid, SoftmaxWithLoss

__all__ = ["FusedMLP"]

_ACTIVATIONS = (Relu, Sigmoid)


class FusedMLP:
    """Loss and gradients of an ``Affine (act Affine)* + SoftmaxWithLoss`` network, fused.

    Parameters
    ----------
    affines : sequence of Affine
        The network's ``Affine`` layers, in order (their ``W`` and ``b`` are used, not copied).
    activations : sequence of type
        ``Relu`` or ``Sigmoid`` for each gap between two affines.
    keys : sequence of (str, str)
        The params-dict keys of each affine's ``W`` and ``b``, so ``loss_and_gradient`` returns
        grads under the network's names.
    weight_decay_lambda : float
        As in :class:`~dlzero.sequential.Sequential`.

    Use :meth:`from_layers` to build one from a network's layers, which returns None when the
    network has any other kind of layer.
    """

    lanes = 1  # a step runs in the caller's thread alone

    def __init__(
        self,
        affines: Sequence[Affine],
        activations: Sequence[type[Layer]],
        keys: Sequence[tuple[str, str]],
        weight_decay_lambda: float = 0.0,
    ) -> None:
        self.affines = list(affines)
        self.activations = list(activations)
        if len(self.activations) != len(self.affines) - 1:
            raise ValueError(
                f"{len(self.affines)} affines need {len(self.affines) - 1} activations between "
                f"them, got {len(self.activations)}"
            )
        self.keys = list(keys)
        self.weight_decay_lambda = weight_decay_lambda
        self._buffers: BufferCache[_Buffers] = BufferCache()
        # Weights of the largest affine: N times this is a step's largest product.
        self._largest_weight = max(a.W.size for a in self.affines)
        self._grads: dict[str, NDArray] = {}
        dtype = self.affines[0].W.dtype
        for (kw, kb), layer in zip(self.keys, self.affines, strict=True):
            self._grads[kw] = np.empty_like(layer.W)
            self._grads[kb] = np.empty_like(layer.b)
        self.dtype = dtype

    @classmethod
    def from_network(cls, network: object) -> FusedMLP | None:
        """The fused step of a :class:`~dlzero.sequential.Sequential`, or None if it is not a
        plain MLP (``Affine`` layers with ``Relu`` or ``Sigmoid`` between them,
        ``SoftmaxWithLoss`` last, one float dtype)."""
        return cls.from_layers(
            list(network.layers.values()),  # type: ignore[attr-defined]
            network.last_layer,  # type: ignore[attr-defined]
            network.param_keys,  # type: ignore[attr-defined]
            network.weight_decay_lambda,  # type: ignore[attr-defined]
        )

    @classmethod
    def from_layers(
        cls,
        layers: Sequence[Layer],
        last_layer: Layer,
        param_keys: Callable[[Layer], dict[str, str]],
        weight_decay_lambda: float = 0.0,
    ) -> FusedMLP | None:
        """Build the fused step for ``layers``, or return None if they are not a plain MLP.

        ``param_keys(layer)`` gives the params keys of a layer's parameters,
        ``{"W": "W1", "b": "b1"}`` (:meth:`Sequential.param_keys`).
        """
        if type(last_layer) is not SoftmaxWithLoss or len(layers) % 2 == 0:
            return None
        affines, activations = list(layers[0::2]), list(layers[1::2])
        if any(type(a) is not Affine for a in affines):
            return None
        if any(a.b.shape != a.W.shape[1:] for a in affines):  # a broadcast (1, M) bias
            return None
        if any(type(a) not in _ACTIVATIONS for a in activations):
            return None
        dtypes = {a.W.dtype for a in affines} | {a.b.dtype for a in affines}
        if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32, np.float64):
            return None
        keys = [(k["W"], k["b"]) for k in map(param_keys, affines)]
        return cls(affines, [type(a) for a in activations], keys, weight_decay_lambda)

    def snapshot(self) -> FusedMLP:
        """A copy with its own weights and buffers, for evaluating while training goes on.

        The copy's ``predict`` gives what this one's gives now, whatever later steps do to the
        network, and can run in another thread alongside this one's steps.
        """
        affines = [Affine(a.W.copy(), a.b.copy()) for a in self.affines]
        return FusedMLP(affines, self.activations, self.keys, self.weight_decay_lambda)

    def _make_buffers(self, n: int) -> _Buffers:
        return _Buffers(n, [a.W.shape[1] for a in self.affines], self.dtype)

    def _hidden(self, x: NDArray, z: list[NDArray]) -> NDArray:
        """Run every affine but the last, activating in place; return the last activation."""
        h = x
        for layer, act, zi in zip(self.affines, self.activations, z, strict=False):
            np.matmul(h, layer.W, out=zi)
            zi += layer.b
            if act is Relu:
                np.maximum(zi, 0, out=zi)
            else:
                _sigmoid_inplace(zi)
            h = zi
        return h

    def _as_rows(self, x: NDArray) -> NDArray:
        n = x.shape[0]
        x = x.reshape(n, -1)
        d = self.affines[0].W.shape[0]
        if x.shape[1] != d:
            raise ValueError(f"expected input of shape (N, {d}), got shape {x.shape}")
        return x

    def predict(self, x: NDArray) -> NDArray:
        """Scores for ``x``, as ``Sequential.predict`` gives them, in reused buffers.

        For evaluation on whole data sets: activations are applied in place and nothing is kept
        for a backward pass. The returned array is overwritten by the next call.

        Parameters
        ----------
        x : ndarray, shape (N, D) or (N, ...) with D values per sample

        Returns
        -------
        ndarray, shape (N, C)
        """
        x = self._as_rows(x)
        z = self._buffers.get(x.shape[0], self._make_buffers).z
        out = self.affines[-1]
        np.matmul(self._hidden(x, z), out.W, out=z[-1])
        z[-1] += out.b
        return z[-1]

    def uses_every_blas_thread(self, n: int) -> bool:
        """Whether a step on ``n`` samples runs its products on every BLAS thread."""
        return n * self._largest_weight >= SMALL_PRODUCT

    def loss_and_gradient(
        self, x: NDArray, t: NDArray, input_grad: NDArray | None = None
    ) -> tuple[float, dict[str, NDArray]]:
        """One forward and backward pass.

        Parameters
        ----------
        x : ndarray, shape (N, D) or (N, ...) with D values per sample
        t : ndarray, shape (N,) integer labels or (N, C) one-hot
        input_grad : ndarray, shape (N, D), optional
            Where to write dL/dx; by default it is not computed (no one needs it for the
            input images; :mod:`dlzero.fast.conv` needs it for the layers before the MLP).

        Returns
        -------
        loss : float
            The mean cross-entropy of the batch (plus weight decay), from this very pass.
        grads : dict of str to ndarray
            Gradients by parameter key. The arrays are reused: the next call overwrites them.
        """
        x = self._as_rows(x)
        n = x.shape[0]
        buf = self._buffers.get(n, self._make_buffers)
        z, delta, rows = buf.z, buf.delta, buf.rows
        out = self.affines[-1]
        n_classes = out.W.shape[1]
        one_hot = t.ndim == 2
        if (one_hot and t.shape != (n, n_classes)) or (not one_hot and t.shape != (n,)):
            if t.shape != (n, 1) or t.dtype.kind not in "iu":
                raise ValueError(
                    f"t must be labels of shape ({n},) or one-hot of shape ({n}, {n_classes}), "
                    f"got shape {t.shape}"
                )
            # Labels in a column, shape (N, 1), as the book's chapter-7 gradient check has them.
            t, one_hot = t.reshape(n), False
        if not one_hot:
            if t.dtype.kind not in "iu":  # float labels would fail as indices, deep in NumPy
                raise ValueError(
                    f"integer class labels expected for t of shape {t.shape}, got dtype {t.dtype}"
                )
            below = t.dtype.kind != "u" and np.minimum.reduce(t) < 0
            if below or np.maximum.reduce(t) >= n_classes:
                raise ValueError(f"labels must lie in [0, {n_classes - 1}]")

        # Forward: z[i] = act(h[i-1] @ W + b), computed in place in the step's buffers.
        h = self._hidden(x, z)
        # The last affine is computed transposed, scores as (C, N): the softmax's reductions
        # over a sample's C classes then run along the batch axis, one vectorized pass per
        # class, where NumPy reduces short rows of C = 10 values slowly (about 10 us per step
        # of 300 on the chapter-5 network). Same math as the layers; last bits may differ.
        scores, dy = buf.scores_t, buf.delta_t
        np.matmul(out.W.T, h.T, out=scores)
        scores += buf.column(out.b)

        # Softmax and loss from one shifted exponential:
        # loss_n = log(sum_c exp(s_cn)) - s_t_n,n with s = scores - max over classes.
        # (ufunc.reduce directly: the ndarray methods add microseconds of Python per call)
        scores -= np.maximum.reduce(scores, axis=0)
        if one_hot:
            picked = np.einsum("cn,nc->n", scores, t.astype(self.dtype, copy=False))
        else:
            picked = scores[t, rows]
        np.exp(scores, out=dy)
        norm = np.add.reduce(dy, axis=0)
        loss = float(np.add.reduce(np.log(norm)) - np.add.reduce(picked)) / n
        # dL/dscores = (softmax - t) / N
        dy /= norm
        if one_hot:
            dy -= t.T
        else:
            dy[t, rows] -= 1
        dy *= 1.0 / n

        # Backward: dW = h.T @ delta, db = sum(delta), delta_prev = (delta @ W.T) * act'.
        last = len(self.affines) - 1
        kw, kb = self.keys[last]
        np.matmul(h.T, dy.T, out=self._grads[kw])
        np.add.reduce(dy, axis=1, out=self._grads[kb])
        if last > 0:
            np.matmul(dy.T, out.W.T, out=delta[last - 1])
        for i in range(last - 1, -1, -1):
            back = delta[i]
            if self.activations[i] is Relu:
                back *= z[i] > 0
            else:
                back *= z[i] * (1 - z[i])
            kw, kb = self.keys[i]
            np.matmul(z[i - 1].T if i > 0 else x.T, back, out=self._grads[kw])
            np.add.reduce(back, axis=0, out=self._grads[kb])
            if i > 0:  # the input images need no gradient
                np.matmul(back, self.affines[i].W.T, out=delta[i - 1])
        if input_grad is not None:
            first = dy.T if last == 0 else delta[0]
            np.matmul(first, self.affines[0].W.T, out=input_grad)

        if self.weight_decay_lambda:
            lam = self.weight_decay_lambda
            for (kw, _), layer in zip(self.keys, self.affines, strict=True):
                self._grads[kw] += lam * layer.W
                loss += 0.5 * lam * float(np.sum(np.square(layer.W, dtype=np.float64)))
        return loss, self._grads


class _Buffers:
    """The arrays of one batch size: each affine's output and the gradient flowing into it.

    ``z[i]`` holds affine ``i``'s activated output, shape (N, width); ``delta[i]`` the gradient
    at a hidden affine's output. The last affine's scores and their gradient are kept
    transposed, shape (C, N), for the training step (``predict`` uses ``z[-1]``, (N, C)).
    """

    def __init__(self, n: int, widths: list[int], dtype: np.dtype) -> None:
        self.z = [np.empty((n, w), dtype=dtype) for w in widths]
        self.delta = [np.empty((n, w), dtype=dtype) for w in widths[:-1]]
        self.scores_t = np.empty((widths[-1], n), dtype=dtype)
        self.delta_t = np.empty((widths[-1], n), dtype=dtype)
        self.rows = np.arange(n)
        self._column: tuple[NDArray, NDArray] | None = None

    def column(self, b: NDArray) -> NDArray:
        """``b`` as a (C, 1) view, made once per bias array (a reshape costs a microsecond)."""
        if self._column is None or self._column[0] is not b:
            self._column = (b, b.reshape(-1, 1))
        return self._column[1]


def _sigmoid_inplace(a: NDArray) -> None:
    """``a <- sigmoid(a)`` without overflow: exp only ever sees ``-|a|``."""
    positive = a >= 0
    e = np.exp(-np.abs(a))
    np.divide(1.0, 1.0 + e, out=a, where=positive)
    np.divide(e, 1.0 + e, out=a, where=~positive)
