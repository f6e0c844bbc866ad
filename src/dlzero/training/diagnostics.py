"""Per-layer diagnostics: the numbers that show why a network does or does not learn.

Chapter 6.2 of the book looks at the activations of a deep network: with a poor weight scale
the sigmoid outputs pile up at 0 and 1, where its gradient vanishes, and ReLU units can die,
giving 0 for every input and so receiving no gradient ever again. :func:`layer_diagnostics`
measures exactly that on a batch, together with the size of every parameter and of its
gradient, so that a training history can show a learner where the signal stops.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from dlzero.fast import training_step
from dlzero.layers import Relu, Sigmoid, Tanh

if TYPE_CHECKING:  # pragma: no cover
    from dlzero.networks import Sequential

__all__ = [
    "ActivationDiagnostics",
    "LayerDiagnostics",
    "ParamDiagnostics",
    "layer_diagnostics",
]

# The activation layers whose outputs are inspected, by the name used in the report.
_KINDS = {Relu: "relu", Sigmoid: "sigmoid", Tanh: "tanh"}


@dataclass(frozen=True)
class ParamDiagnostics:
    """Size of one parameter and of its gradient.

    Attributes
    ----------
    name : str
        The key in ``network.params`` (``W1``, ``gamma2``, ...).
    shape : tuple of int
    weight_norm : float
        ``||p||``, the Euclidean (Frobenius) norm.
    grad_norm : float or None
        ``||dL/dp||``, None when no gradient was given or computed.
    """

    name: str
    shape: tuple[int, ...]
    weight_norm: float
    grad_norm: float | None

    @property
    def grad_to_weight(self) -> float | None:
        """``grad_norm / weight_norm``: how far one step of size lr moves the parameter,
        relative to its size, per unit of learning rate (None without a gradient; inf for
        a zero parameter with a nonzero gradient)."""
        if self.grad_norm is None:
            return None
        if self.weight_norm == 0:
            return 0.0 if self.grad_norm == 0 else float("inf")
        return self.grad_norm / self.weight_norm


@dataclass(frozen=True)
class ActivationDiagnostics:
    """What one activation layer's outputs looked like on the batch.

    Attributes
    ----------
    layer : str
        The layer's name in ``network.layers`` (e.g. ``Activation_function1``).
    kind : {"relu", "sigmoid", "tanh"}
    units : int
        Outputs per sample.
    mean, std : float
        Of all the layer's outputs on the batch.
    dead_share : float or None
        ReLU only: the share of units whose output is 0 for every sample of the batch. Such a
        unit passes no gradient back, so its incoming weights stop learning.
    saturated_share : float or None
        Sigmoid and tanh only: the share of all outputs within ``saturation_tol`` of an
        asymptote (sigmoid: below ``tol`` or above ``1 - tol``; tanh: ``|y| > 1 - tol``),
        where the local gradient is nearly 0.
    """

    layer: str
    kind: str
    units: int
    mean: float
    std: float
    dead_share: float | None = None
    saturated_share: float | None = None


@dataclass
class LayerDiagnostics:
    """The result of :func:`layer_diagnostics`: one entry per parameter and per activation.

    ``str(diagnostics)`` gives two tables; :meth:`flat` a dict of numbers for a history.
    """

    params: list[ParamDiagnostics] = field(default_factory=list)
    activations: list[ActivationDiagnostics] = field(default_factory=list)

    def flat(self) -> dict[str, float]:
        """One level of ``"<name>.<quantity>": value``, e.g. ``"W1.grad_norm"``,
        ``"Activation_function2.dead_share"``; entries that do not apply are left out."""
        out: dict[str, float] = {}
        for p in self.params:
            out[f"{p.name}.weight_norm"] = p.weight_norm
            if p.grad_norm is not None:
                out[f"{p.name}.grad_norm"] = p.grad_norm
        for a in self.activations:
            for quantity in ("mean", "std", "dead_share", "saturated_share"):
                value = getattr(a, quantity)
                if value is not None:
                    out[f"{a.layer}.{quantity}"] = value
        return out

    def to_dict(self) -> dict[str, object]:
        """Plain nested dicts and lists (JSON-serializable)."""
        return {
            "params": [{**asdict(p), "shape": list(p.shape)} for p in self.params],
            "activations": [asdict(a) for a in self.activations],
        }

    def problems(self, dead: float = 0.5, saturated: float = 0.5) -> list[str]:
        """Plain-language warnings: layers with more than ``dead`` of their ReLU units dead or
        ``saturated`` of their outputs saturated, and parameters whose gradient is exactly 0."""
        found = []
        for a in self.activations:
            if a.dead_share is not None and a.dead_share > dead:
                found.append(
                    f"{a.layer}: {a.dead_share:.0%} of the ReLU units are dead (0 for every "
                    "sample), so they pass no gradient; try He initialization, a lower "
                    "learning rate or batch normalization"
                )
            if a.saturated_share is not None and a.saturated_share > saturated:
                found.append(
                    f"{a.layer}: {a.saturated_share:.0%} of the {a.kind} outputs are saturated, "
                    "where the gradient vanishes; try Xavier initialization or batch "
                    "normalization"
                )
        for p in self.params:
            if p.grad_norm == 0:
                found.append(f"{p.name}: the gradient is exactly 0, so it does not learn")
        return found

    def __str__(self) -> str:
        lines = [f"{'param':<10}{'shape':<14}{'||W||':>12}{'||dW||':>12}{'ratio':>12}"]
        for p in self.params:
            grad = "-" if p.grad_norm is None else f"{p.grad_norm:.3e}"
            ratio = "-" if p.grad_to_weight is None else f"{p.grad_to_weight:.3e}"
            lines.append(f"{p.name:<10}{p.shape!s:<14}{p.weight_norm:>12.3e}{grad:>12}{ratio:>12}")
        if self.activations:
            lines.append("")
            lines.append(
                f"{'layer':<24}{'kind':<9}{'mean':>9}{'std':>9}{'dead':>9}{'saturated':>11}"
            )
            for a in self.activations:
                dead = "-" if a.dead_share is None else f"{a.dead_share:.1%}"
                sat = "-" if a.saturated_share is None else f"{a.saturated_share:.1%}"
                lines.append(
                    f"{a.layer:<24}{a.kind:<9}{a.mean:>9.3f}{a.std:>9.3f}{dead:>9}{sat:>11}"
                )
        return "\n".join(lines)


def _norm(a: NDArray) -> float:
    # In float64, so a float32 network's norms do not overflow or lose digits.
    return float(np.sqrt(np.sum(np.square(a, dtype=np.float64))))


def _activation_stats(
    name: str, kind: str, out: NDArray, saturation_tol: float
) -> ActivationDiagnostics:
    y = np.asarray(out, dtype=np.float64).reshape(len(out), -1)
    dead = saturated = None
    if kind == "relu":
        dead = float(np.mean(np.all(y == 0, axis=0)))
    elif kind == "sigmoid":
        saturated = float(np.mean((y < saturation_tol) | (y > 1.0 - saturation_tol)))
    else:  # tanh
        saturated = float(np.mean(np.abs(y) > 1.0 - saturation_tol))
    return ActivationDiagnostics(
        layer=name,
        kind=kind,
        units=y.shape[1],
        mean=float(y.mean()),
        std=float(y.std()),
        dead_share=dead,
        saturated_share=saturated,
    )


def _gradient_of_a_copy(network: Sequential, x: NDArray, t: NDArray) -> dict[str, NDArray]:
    """The gradient on ``(x, t)`` of a copy of ``network``: a training pass updates batch-norm
    statistics and draws dropout masks. Computed as a training step computes it: by the fused
    step where one covers the network (the same numbers as the layers'; for DeepConvNet on
    200 images a fifth of the time, and none of the 400 MB of the layers' im2col matrices).
    The copy, and its buffers, go when the caller is done with the gradient."""
    twin = copy.deepcopy(network)
    if hasattr(twin, "loss_and_gradient"):
        return training_step(twin)(x, t)[1]
    return twin.gradient(x, t)


def layer_diagnostics(
    network: Sequential,
    x: NDArray,
    t: NDArray | None = None,
    *,
    grads: Mapping[str, NDArray] | None = None,
    train_flg: bool = False,
    saturation_tol: float = 0.01,
) -> LayerDiagnostics:
    """Weight and gradient norms per parameter, dead or saturated shares per activation layer.

    The network is left exactly as it was: its parameters, batch-norm running statistics and
    dropout Generator are untouched (whatever would change them runs on a copy).

    Parameters
    ----------
    network : Sequential
        Any dlzero network (``layers``, ``params``, ``gradient``).
    x : ndarray, shape (N, ...)
        A batch to look at, e.g. a few hundred training samples.
    t : ndarray, shape (N,) or (N, C), optional
        Labels for ``x``: if given (and ``grads`` is not), the gradient is computed on the
        batch for the gradient norms.
    grads : mapping of str to ndarray, optional
        Gradients already at hand, e.g. those of the last training step, with the keys of
        ``network.params``; nothing is recomputed. Give ``t`` or ``grads``, not both; with
        neither, the gradient norms are None.
    train_flg : bool, default False
        Run the activations pass in training mode (batch statistics in batch norm, dropout
        on) instead of inference mode.
    saturation_tol : float, default 0.01
        How close to an asymptote a sigmoid or tanh output counts as saturated, in (0, 0.5).

    Returns
    -------
    LayerDiagnostics
    """
    if grads is not None and t is not None:
        raise ValueError("layer_diagnostics: give t (to compute the gradient) or grads, not both")
    if not 0.0 < saturation_tol < 0.5:
        raise ValueError(f"saturation_tol must be in (0, 0.5), got {saturation_tol!r}")
    x = np.asarray(x)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"layer_diagnostics: x must be a non-empty batch, got shape {x.shape}")

    if grads is None and t is not None:
        grads = _gradient_of_a_copy(network, x, t)
    if grads is not None:
        missing = [k for k in network.params if k not in grads]
        if missing:
            raise ValueError(f"layer_diagnostics: grads has no entry for {missing}")

    report = LayerDiagnostics()
    for key, p in network.params.items():
        g = None if grads is None else _norm(grads[key])
        report.params.append(ParamDiagnostics(key, tuple(p.shape), _norm(p), g))

    grads = None  # (the copy's buffers go before the activations pass)
    # Sequential.predict's loop, keeping each activation layer's output. An inference pass
    # changes no state but what a layer keeps for its backward (a convolution's im2col
    # matrix: megabytes that would stay after the pass), so each layer runs as a shallow copy,
    # which shares the weights and is dropped after its step; a training pass changes more,
    # so it runs on a copy of the network.
    layers = copy.deepcopy(network).layers if train_flg else network.layers
    out = x
    for name, layer in layers.items():
        if not train_flg:
            layer = copy.copy(layer)
        out = layer.forward(out, train_flg) if layer.takes_train_flag else layer.forward(out)
        kind = _KINDS.get(type(layer))
        if kind is not None:
            report.activations.append(_activation_stats(name, kind, out, saturation_tol))
    return report
