"""Tests of Sequential and TwoLayerNet: backprop equals numerical gradients, shared params."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dlzero.gradient import gradient_check
from dlzero.layers import Affine, Relu, Sigmoid
from dlzero.networks import FormulaTwoLayerNet, Sequential, TwoLayerNet


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("one_hot", [False, True])
@given(
    n=st.integers(1, 5),
    d=st.integers(1, 8),
    h=st.integers(1, 6),
    c=st.integers(2, 5),
    seed=st.integers(0, 10_000),
)
@settings(max_examples=10, deadline=None)
def test_two_layer_net_backprop_equals_numerical(activation, one_hot, n, d, h, c, seed):
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(d, h, c, weight_init_std=0.7, activation=activation, rng=rng)
    x = rng.standard_normal((n, d))
    t = rng.integers(0, c, n)
    if one_hot:
        t = np.eye(c)[t]
    # A hidden pre-activation within h = 1e-4 of ReLU's kink makes the central difference,
    # not backprop, wrong there: such draws say nothing about the code.
    pre = x @ net.params["W1"].astype(np.float64) + net.params["b1"]
    assume(activation != "relu" or np.min(np.abs(pre)) > 1e-3)
    # atol: a gradient that is exactly 0 in truth (a stationary point, e.g. dead hidden units
    # and balanced targets) comes out of the central difference as ~1e-10 of noise, whose
    # relative error against backprop's 0 is 1; a wrong gradient is off by far more than 1e-8.
    report = gradient_check(net, x, t, include_input=True, atol=1e-8)
    assert report.passed, str(report)


def test_deeper_sequential_backprop_equals_numerical():
    rng = np.random.default_rng(0)
    layers = [
        Affine(rng.standard_normal((6, 5)), rng.standard_normal(5)),
        Relu(),
        Affine(rng.standard_normal((5, 4)), rng.standard_normal(4)),
        Sigmoid(),
        Affine(rng.standard_normal((4, 3)), rng.standard_normal(3)),
    ]
    net = Sequential(layers, weight_decay_lambda=0.1)
    assert list(net.layers) == ["Affine1", "Relu1", "Affine2", "Sigmoid1", "Affine3"]
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    x, t = rng.standard_normal((4, 6)), rng.integers(0, 3, 4)
    assert gradient_check(net, x, t, include_input=True).passed
    # Weight decay is in the loss: lambda/2 * sum of squared weights.
    plain = Sequential(layers)
    decay = 0.05 * sum(np.sum(net.params[k] ** 2) for k in ("W1", "W2", "W3"))
    assert net.loss(x, t) == pytest.approx(plain.loss(x, t) + decay)


def test_params_are_the_layers_arrays_so_in_place_updates_reach_the_layers():
    net = TwoLayerNet(4, 3, 2, rng=0)
    assert net.params["W1"] is net.layers["Affine1"].W
    assert net.params["b2"] is net.layers["Affine2"].b
    x = np.ones((1, 4), dtype=np.float32)
    before = net.predict(x).copy()
    net.params["b2"] += np.array([5.0, -5.0], dtype=np.float32)
    assert net.layers["Affine2"].b.tolist() == [5.0, -5.0]
    np.testing.assert_allclose(net.predict(x), before + np.array([5.0, -5.0]), rtol=1e-6)


def test_sgd_step_through_params_lowers_the_loss():
    rng = np.random.default_rng(1)
    net = TwoLayerNet(10, 8, 3, weight_init_std=0.5, rng=2)
    x, t = rng.standard_normal((20, 10)).astype(np.float32), rng.integers(0, 3, 20)
    before = net.loss(x, t)
    for _ in range(5):
        grads = net.gradient(x, t)
        for key in net.params:
            net.params[key] -= 0.1 * grads[key]
    assert net.loss(x, t) < before


def test_formula_network_agrees_with_layered_network():
    rng = np.random.default_rng(3)
    formula = FormulaTwoLayerNet(12, 7, 4, weight_init_std=0.5, rng=4)
    layered = TwoLayerNet(12, 7, 4, activation="sigmoid", rng=5, dtype=np.float64)
    for key in formula.params:
        layered.params[key][...] = formula.params[key]
    x = rng.standard_normal((6, 12))
    t = rng.integers(0, 4, 6)
    g_formula = formula.gradient(x, t)
    g_layered = layered.gradient(x, t)
    for key in formula.params:
        np.testing.assert_allclose(g_formula[key], g_layered[key], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(formula.gradient(x, np.eye(4)[t])["W1"], g_layered["W1"], rtol=1e-10)
    np.testing.assert_allclose(formula.predict(x).argmax(1), layered.predict(x).argmax(1))
    assert formula.accuracy(x, t) == layered.accuracy(x, t)
    # The formula network's gradient is also right by itself.
    num = formula.numerical_gradient(x, t)
    for key in formula.params:
        np.testing.assert_allclose(g_formula[key], num[key], rtol=1e-4, atol=1e-8)


def test_same_seed_same_network_and_dtype():
    a, b = TwoLayerNet(5, 4, 3, rng=7), TwoLayerNet(5, 4, 3, rng=7)
    c = TwoLayerNet(5, 4, 3, rng=8)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    assert a.dtype == np.float32
    assert TwoLayerNet(5, 4, 3, dtype=np.float64).dtype == np.float64
    gen = np.random.default_rng(9)
    d = TwoLayerNet(5, 4, 3, rng=gen)
    e = TwoLayerNet(5, 4, 3, rng=gen)  # the same generator moves on
    assert not np.array_equal(d.params["W1"], e.params["W1"])


def test_astype_copies_and_keeps_sharing():
    net = TwoLayerNet(5, 4, 3, rng=0)
    net64 = net.astype(np.float64)
    assert net64.dtype == np.float64 and net.dtype == np.float32
    assert net64.params["W1"] is net64.layers["Affine1"].W
    net64.params["W1"][...] = 0
    assert np.any(net.params["W1"] != 0)


def test_accuracy_counts_every_sample_in_chunks_and_takes_one_hot():
    rng = np.random.default_rng(2)
    net = TwoLayerNet(6, 5, 3, weight_init_std=1.0, rng=3)
    x = rng.standard_normal((23, 6)).astype(np.float32)
    predicted = net.predict(x).argmax(1)
    t = predicted.copy()
    t[:5] = (t[:5] + 1) % 3  # exactly 5 wrong
    assert net.accuracy(x, t) == pytest.approx(18 / 23)
    assert net.accuracy(x, t, batch_size=4) == pytest.approx(18 / 23)  # 23 = 5*4 + 3
    assert net.accuracy(x, np.eye(3)[t], batch_size=10) == pytest.approx(18 / 23)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"activation": "tanhh"}, "unknown activation 'tanhh'; expected one of 'relu', 'sigmoid'"),
        ({"hidden_size": 0}, "hidden_size must be a positive integer, got 0"),
    ],
)
def test_bad_network_arguments(kwargs, match):
    args = {"input_size": 4, "hidden_size": 3, "output_size": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        TwoLayerNet(**args)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "0.1", None])
def test_sequential_refuses_a_weight_decay_that_is_not_a_finite_number_at_least_zero(bad):
    layers = [Affine(np.ones((3, 2)), np.zeros(2))]
    with pytest.raises(ValueError, match="weight_decay_lambda must be a finite number >= 0"):
        Sequential(layers, weight_decay_lambda=bad)
    assert Sequential(layers, weight_decay_lambda=np.float32(0.5)).weight_decay_lambda == 0.5


def test_wrong_shapes_give_clear_errors():
    net = TwoLayerNet(784, 50, 10, rng=0)
    with pytest.raises(ValueError, match=r"\(N, 784\)"):
        net.predict(np.zeros((2, 28, 27)))
    with pytest.raises(ValueError, match=r"labels of shape \(3,\)"):
        net.loss(np.zeros((3, 784)), np.array([1, 2]))
    with pytest.raises(ValueError, match="expected 3 labels"):
        net.accuracy(np.zeros((3, 784)), np.array([1, 2]))


def test_book_style_layer_names():
    net = TwoLayerNet(4, 3, 2, rng=0)
    assert list(net.layers) == ["Affine1", "Relu1", "Affine2"]
