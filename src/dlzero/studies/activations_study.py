"""The book's activation-histogram study (section 6.2.2-6.2.4, Figures 6-10 to 6-14).

A thousand random inputs (100 values each, drawn from N(0, 1)) pass through five layers of
100 units with no biases; the weights of every layer are drawn from N(0, std^2). The
histogram of each layer's outputs shows what the initial weight scale does to the signal:

- sigmoid, std 1 (Figure 6-10): the outputs pile up at 0 and 1, where the sigmoid's gradient
  vanishes (*gradient vanishing*);
- sigmoid, std 0.01 (Figure 6-11): every output is near 0.5; the units all say the same thing
  (*limited expressiveness*);
- sigmoid, Xavier, std = sqrt(1 / n) (Figure 6-13): spread over the whole range in every layer;
- ReLU with std 0.01, Xavier and He, std = sqrt(2 / n) (Figure 6-14): only He keeps the
  spread of the outputs the same from layer to layer;
- tanh with Xavier: the same bell shape, centred on 0 (the book's note on tanh).

:func:`activation_study` runs one setting; :func:`format_table` prints the numbers behind the
histograms, and :func:`dlzero.plotting.plot_activation_histograms` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_positive_int
from dlzero._rng import RngLike, as_rng
from dlzero.networks import ACTIVATIONS, WEIGHT_INITS, activation_layer

__all__ = ["ActivationStudy", "activation_study", "format_table", "parse_init"]

# How close to an asymptote an output counts as saturated (as dlzero.training.diagnostics).
SATURATION_TOL = 0.01


def parse_init(value: str | float) -> str | float:
    """``"he"``, ``"xavier"`` (or the book's ``"relu"``, ``"sigmoid"``) or a positive std."""
    if isinstance(value, str):
        name = value.strip().lower()
        if name in WEIGHT_INITS:
            return name
        try:
            value = float(name)
        except ValueError:
            raise ValueError(
                f"unknown initialization {value!r}; expected he, xavier or a positive number"
            ) from None
    if isinstance(value, bool) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"the weight std must be a positive number, got {value!r}")
    return float(value)


@dataclass
class ActivationStudy:
    """The outputs of every layer for one activation and one initialization.

    Attributes
    ----------
    activation : {"relu", "sigmoid", "tanh"}
    init : str or float
        ``"he"``, ``"xavier"`` or the weight std.
    activations : list of ndarray, shape (samples, units) each
        The outputs of layer 1, 2, ...
    """

    activation: str
    init: str | float
    activations: list[NDArray]

    def label(self) -> str:
        init = f"std {self.init:g}" if isinstance(self.init, float) else self.init
        return f"{self.activation}, {init}"

    def histogram_range(self) -> tuple[float, float]:
        """The book's histogram range, (0, 1); (-1, 1) for tanh."""
        return (-1.0, 1.0) if self.activation == "tanh" else (0.0, 1.0)

    def stats(self) -> list[dict[str, float]]:
        """Per layer: mean and std of the outputs, and the share that is saturated (sigmoid,
        tanh: within 0.01 of an asymptote) or zero (ReLU)."""
        out = []
        for a in self.activations:
            if self.activation == "relu":
                share = float(np.mean(a == 0))
            elif self.activation == "sigmoid":
                share = float(np.mean((a < SATURATION_TOL) | (a > 1 - SATURATION_TOL)))
            else:
                share = float(np.mean(np.abs(a) > 1 - SATURATION_TOL))
            out.append({"mean": float(a.mean()), "std": float(a.std()), "share": share})
        return out


def activation_study(
    activation: str = "sigmoid",
    init: str | float = 1.0,
    *,
    layers: int = 5,
    units: int = 100,
    samples: int = 1000,
    rng: RngLike = None,
) -> ActivationStudy:
    """Run the book's experiment for one activation and one weight initialization.

    Parameters
    ----------
    activation : {"relu", "sigmoid", "tanh"}
    init : {"he", "xavier"} or float
        Weights of a layer with n inputs are drawn from N(0, 2/n) (He), N(0, 1/n) (Xavier)
        or N(0, init^2).
    layers, units, samples : int
        5, 100 and 1000 in the book.
    rng : Generator, int or None
        The inputs and every weight come from it.

    Returns
    -------
    ActivationStudy
    """
    if activation not in ACTIVATIONS:
        expected = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"unknown activation {activation!r}; expected one of {expected}")
    init = parse_init(init)
    layers = check_positive_int("layers", layers)
    units = check_positive_int("units", units)
    samples = check_positive_int("samples", samples)
    gen = as_rng(rng)
    x = gen.standard_normal((samples, units))
    std = np.sqrt(WEIGHT_INITS[init] / units) if isinstance(init, str) else init
    outputs = []
    for _ in range(layers):
        w = gen.standard_normal((units, units)) * std
        x = activation_layer(activation).forward(x @ w)
        outputs.append(x)
    return ActivationStudy(activation, init, outputs)


def format_table(studies: list[ActivationStudy]) -> str:
    """One row per setting and layer: mean, std and saturated (or zero) share of the outputs."""
    lines = [f"{'setting':<22}{'layer':>6}{'mean':>9}{'std':>9}{'saturated/zero':>16}"]
    for study in studies:
        what = "zero" if study.activation == "relu" else "saturated"
        for i, s in enumerate(study.stats(), 1):
            share = f"{s['share']:.1%} {what}"
            lines.append(
                f"{study.label() if i == 1 else '':<22}{i:>6}{s['mean']:>9.3f}{s['std']:>9.3f}"
                f"{share:>16}"
            )
    return "\n".join(lines)
