"""Tests of the optimizers: two update steps against the book's rules worked out by hand.

The expected values are computed here element by element with plain Python floats, from the
formulas as the book writes them, never by calling the classes under test.
"""

import math

import numpy as np
import pytest

from dlzero.optimizers import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
    get_optimizer,
)

# Two parameters, two steps of gradients; the second step flips some signs.
START = {"W": [1.0, -2.0, 0.0], "b": [0.5]}
STEPS = [
    {"W": [0.5, -1.0, 0.0], "b": [2.0]},
    {"W": [-0.25, 3.0, 1e-3], "b": [0.0]},
]


def _run(opt: Optimizer) -> dict[str, np.ndarray]:
    params = {k: np.array(v) for k, v in START.items()}
    arrays = dict(params)
    for grads in STEPS:
        opt.update(params, {k: np.array(v) for k, v in grads.items()})
    # In place: the dict still holds the very arrays it started with.
    assert all(params[k] is arrays[k] for k in params)
    return params


def _by_hand(step_rule, **state_init) -> dict[str, list[float]]:
    """Apply ``step_rule(w, g, state, t) -> w`` to every element for the two steps."""
    out = {}
    for key, values in START.items():
        out[key] = []
        for i, w in enumerate(values):
            state = dict(state_init)
            for t, grads in enumerate(STEPS, start=1):
                w = step_rule(w, grads[key][i], state, t)
            out[key].append(w)
    return out


def _assert_matches(params, expected):
    for key in START:
        np.testing.assert_allclose(params[key], expected[key], rtol=1e-12, atol=1e-15)


def test_sgd_two_steps():
    def rule(w, g, s, t):
        return w - 0.1 * g

    _assert_matches(_run(SGD(lr=0.1)), _by_hand(rule))
    # W[0]: 1 - 0.1*0.5 = 0.95, then 0.95 - 0.1*(-0.25) = 0.975
    assert _run(SGD(lr=0.1))["W"][0] == pytest.approx(0.975, abs=1e-15)


def test_momentum_two_steps():
    def rule(w, g, s, t):
        s["v"] = 0.8 * s["v"] - 0.1 * g
        return w + s["v"]

    _assert_matches(_run(Momentum(lr=0.1, momentum=0.8)), _by_hand(rule, v=0.0))
    # W[0]: v = -0.05, w = 0.95; v = 0.8*(-0.05) + 0.025 = -0.015, w = 0.935
    assert _run(Momentum(lr=0.1, momentum=0.8))["W"][0] == pytest.approx(0.935, abs=1e-15)


def test_nesterov_two_steps():
    def rule(w, g, s, t):
        s["v"] = 0.8 * s["v"] - 0.1 * g
        return w + 0.8 * 0.8 * s["v"] - (1 + 0.8) * 0.1 * g

    _assert_matches(_run(Nesterov(lr=0.1, momentum=0.8)), _by_hand(rule, v=0.0))
    # W[0]: v = -0.05, w = 1 - 0.032 - 0.09 = 0.878;
    #       v = -0.015, w = 0.878 - 0.0096 + 0.045 = 0.9134
    assert _run(Nesterov(lr=0.1, momentum=0.8))["W"][0] == pytest.approx(0.9134, abs=1e-15)


def test_adagrad_two_steps():
    def rule(w, g, s, t):
        s["h"] += g * g
        return w - 0.1 * g / (math.sqrt(s["h"]) + 1e-7)

    _assert_matches(_run(AdaGrad(lr=0.1)), _by_hand(rule, h=0.0))
    # b: h = 4, b = 0.5 - 0.1*2/(2 + 1e-7); then g = 0 leaves b unchanged.
    assert _run(AdaGrad(lr=0.1))["b"][0] == pytest.approx(0.5 - 0.2 / (2 + 1e-7), abs=1e-15)
    # A zero gradient with no history does not divide by zero.
    assert _run(AdaGrad(lr=0.1))["W"][2] == pytest.approx(-0.1 * 1e-3 / (1e-3 + 1e-7))


def test_rmsprop_two_steps():
    def rule(w, g, s, t):
        s["h"] = 0.9 * s["h"] + (1 - 0.9) * g * g
        return w - 0.1 * g / (math.sqrt(s["h"]) + 1e-7)

    _assert_matches(_run(RMSprop(lr=0.1, decay_rate=0.9)), _by_hand(rule, h=0.0))


def test_adam_two_steps():
    lr, b1, b2 = 0.01, 0.8, 0.95

    def rule(w, g, s, t):
        lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        return w - lr_t * s["m"] / (math.sqrt(s["v"]) + 1e-7)

    _assert_matches(_run(Adam(lr=lr, beta1=b1, beta2=b2)), _by_hand(rule, m=0.0, v=0.0))
    # Bias correction makes Adam's first step about lr * sign(g).
    opt = Adam(lr=lr, beta1=b1, beta2=b2)
    w = np.array([1.0, -2.0])
    opt.update({"W": w}, {"W": np.array([0.5, -1.0])})
    np.testing.assert_allclose(w, [1.0 - lr, -2.0 + lr], rtol=1e-6)
    assert opt.iter == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_in_place_matches_the_array_formulas_bit_for_bit(dtype):
    # The update writes into scratch arrays; it must be the book's expressions, op for op.
    rng = np.random.default_rng(3)
    w = rng.standard_normal((7, 5)).astype(dtype)
    ref, m, v = w.copy(), np.zeros_like(w), np.zeros_like(w)
    opt = Adam(lr=0.01)
    for t in range(1, 5):
        g = rng.standard_normal(w.shape).astype(dtype)
        opt.update({"W": w}, {"W": g})
        lr_t = 0.01 * math.sqrt(1.0 - 0.999**t) / (1.0 - 0.9**t)
        m += (1 - 0.9) * (g - m)
        v += (1 - 0.999) * (g * g - v)
        ref -= lr_t * m / (np.sqrt(v) + 1e-7)
        np.testing.assert_array_equal(w, ref)
    assert w.dtype == dtype


@pytest.mark.parametrize(
    ("cls", "defaults"),
    [
        (SGD, {"lr": 0.01}),
        (Momentum, {"lr": 0.01, "momentum": 0.9}),
        (Nesterov, {"lr": 0.01, "momentum": 0.9}),
        (AdaGrad, {"lr": 0.01}),
        (RMSprop, {"lr": 0.01, "decay_rate": 0.99}),
        (Adam, {"lr": 0.001, "beta1": 0.9, "beta2": 0.999}),
    ],
)
def test_the_books_defaults_and_names(cls, defaults):
    opt = cls()
    assert {k: getattr(opt, k) for k in defaults} == defaults
    name = cls.__name__.lower()
    assert OPTIMIZERS[name] is cls
    assert isinstance(get_optimizer(name.upper()), cls)
    assert repr(opt).startswith(cls.__name__ + "(")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_stays_float32_and_a_quadratic_is_minimized(name):
    lr = {"sgd": 0.1, "adagrad": 0.5}.get(name, 0.05)
    opt = get_optimizer(name, lr=lr)
    w = np.array([[3.0, -2.0], [1.0, 0.5]], dtype=np.float32)
    ref = w
    for _ in range(300):
        opt.update({"W": w}, {"W": w.copy()})  # gradient of 0.5 * sum(W ** 2)
    assert w is ref and w.dtype == np.float32
    assert np.abs(w).max() < 0.1


def test_get_optimizer_passes_kwargs_and_instances_through():
    opt = get_optimizer("Momentum", lr=0.5, momentum=0.1)
    assert (opt.lr, opt.momentum) == (0.5, 0.1)
    same = Adam()
    assert get_optimizer(same) is same


def test_unknown_optimizer_name():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamw'.*'sgd'.*'adam'"):
        get_optimizer("adamw")


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (SGD, {"lr": 0}, "learning rate"),
        (SGD, {"lr": -0.1}, "learning rate"),
        (Adam, {"lr": float("nan")}, "learning rate"),
        (AdaGrad, {"lr": float("inf")}, "learning rate"),
        (SGD, {"lr": "0.1"}, "learning rate"),
        (SGD, {"lr": True}, "learning rate"),
        (Momentum, {"momentum": 1.0}, "momentum"),
        (Nesterov, {"momentum": -0.1}, "momentum"),
        (RMSprop, {"decay_rate": 1.0}, "decay_rate"),
        (Adam, {"beta1": 1.0}, "beta1"),
        (Adam, {"beta2": -0.5}, "beta2"),
    ],
)
def test_bad_hyperparameters(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_missing_or_misshapen_gradient_changes_nothing(name):
    opt = get_optimizer(name)
    params = {"W": np.ones(3), "b": np.zeros(2)}
    with pytest.raises(ValueError, match="no gradient for parameter 'b'"):
        opt.update(params, {"W": np.ones(3)})
    with pytest.raises(ValueError, match=r"gradient of 'b' has shape \(3,\)"):
        opt.update(params, {"W": np.ones(3), "b": np.ones(3)})
    assert params["W"].tolist() == [1.0, 1.0, 1.0]
    assert getattr(opt, "iter", 0) == 0
