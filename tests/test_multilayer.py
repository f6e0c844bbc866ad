"""Tests of MultiLayerNet: the book's names, backprop against numerical gradients with dropout
(fixed masks), batch norm and weight decay, initialization scales, bad arguments."""

import re

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dlzero.gradient import gradient_check
from dlzero.layers import BatchNormalization, Dropout, Relu, Sigmoid, Tanh
from dlzero.networks import MultiLayerNet, TwoLayerNet
from dlzero.optimizers import Adam


def _fix_dropout_masks(net):
    # Each Dropout draws its mask at the next training forward and then keeps it, so the loss
    # is a deterministic function of the parameters, as a numerical gradient needs.
    for layer in net.layers.values():
        if isinstance(layer, Dropout):
            layer.fixed_mask = True


def _assert_passed(report, net):
    """Every parameter passes, except that the biases feeding a batch norm are checked by
    absolute difference: the batch mean cancels them, so both gradients are zero up to
    rounding and their relative error is meaningless (gradient_check has no absolute floor)."""
    for check in report.checks:
        bias = re.fullmatch(r"b(\d+)", check.name)
        if net.use_batchnorm and bias and int(bias[1]) <= net.hidden_layer_num:
            assert check.max_abs_diff < 1e-9, str(report)  # rounding noise ~ 1e-16 / h
        else:
            assert check.passed, str(report)


def test_layer_and_parameter_names_follow_the_book():
    net = MultiLayerNet(6, [5, 4, 3], 2, use_batchnorm=True, use_dropout=True, rng=0)
    assert list(net.layers) == [
        "Affine1", "BatchNorm1", "Activation_function1", "Dropout1",
        "Affine2", "BatchNorm2", "Activation_function2", "Dropout2",
        "Affine3", "BatchNorm3", "Activation_function3", "Dropout3",
        "Affine4",
    ]  # fmt: skip
    assert list(net.params) == [
        "W1", "b1", "gamma1", "beta1",
        "W2", "b2", "gamma2", "beta2",
        "W3", "b3", "gamma3", "beta3",
        "W4", "b4",
    ]  # fmt: skip
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes["W1"] == (6, 5) and shapes["gamma1"] == (5,) and shapes["W4"] == (3, 2)
    assert net.params["gamma2"] is net.layers["BatchNorm2"].gamma
    assert net.params["W3"] is net.layers["Affine3"].W
    assert net.hidden_layer_num == 3 and net.hidden_size_list == [5, 4, 3]
    plain = MultiLayerNet(6, [5], 2, activation="tanh", rng=0)
    assert list(plain.layers) == ["Affine1", "Activation_function1", "Affine2"]
    assert isinstance(plain.layers["Activation_function1"], Tanh)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize(
    ("use_batchnorm", "use_dropout", "weight_decay_lambda"),
    [(False, False, 0.0), (True, False, 0.0), (False, True, 0.0), (True, True, 0.3)],
)
def test_backprop_equals_numerical(activation, use_batchnorm, use_dropout, weight_decay_lambda):
    rng = np.random.default_rng(1)
    net = MultiLayerNet(
        5,
        [4, 3],
        3,
        activation=activation,
        weight_init_std=0.8,
        weight_decay_lambda=weight_decay_lambda,
        use_dropout=use_dropout,
        dropout_ratio=0.3,
        use_batchnorm=use_batchnorm,
        rng=rng,
        dtype=np.float64,
    )
    _fix_dropout_masks(net)
    x, t = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    _assert_passed(gradient_check(net, x, t, include_input=True), net)


@given(
    hidden=st.lists(st.integers(2, 4), min_size=1, max_size=3),
    n=st.integers(4, 8),  # two samples make batch norm degenerate (outputs +-1)
    seed=st.integers(0, 10_000),
)
@example(hidden=[3, 2, 3], n=5, seed=129)  # truncation error 1.1e-5 at h = 1e-4 (see below)
@settings(max_examples=8, deadline=None)
def test_backprop_equals_numerical_any_depth(hidden, n, seed):
    rng = np.random.default_rng(seed)
    net = MultiLayerNet(
        3,
        hidden,
        2,
        activation="tanh",
        weight_decay_lambda=0.1,
        use_dropout=True,
        dropout_ratio=0.2,
        use_batchnorm=True,
        rng=rng,
    )
    _fix_dropout_masks(net)
    x, t = rng.standard_normal((n, 3)), rng.integers(0, 2, n)
    # Tolerance 1e-4, not 1e-6: with a few samples a batch-norm feature can have a small
    # spread, and the central difference's O(h**2) truncation error then grows. Hypothesis
    # found W1's relative error 1.12e-5 with the example above; it is 1.12e-3 with h = 1e-3
    # and 1.12e-7 with h = 1e-5, so the numerical side is off, not backprop. A wrong gradient
    # is off by far more.
    _assert_passed(gradient_check(net, x, t, tolerance=1e-4), net)


def test_biases_before_batchnorm_get_no_gradient():
    rng = np.random.default_rng(0)
    net = MultiLayerNet(4, [3, 3], 2, use_batchnorm=True, rng=0, dtype=np.float64)
    grads = net.gradient(rng.standard_normal((5, 4)), rng.integers(0, 2, 5))
    assert np.abs(grads["b1"]).max() < 1e-12 and np.abs(grads["b2"]).max() < 1e-12
    assert np.abs(grads["b3"]).max() > 1e-3  # the output layer's bias is not normalized


def test_weight_decay_enters_loss_and_gradient_for_every_W():
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    kwargs = {"use_batchnorm": True, "dtype": np.float64}
    plain = MultiLayerNet(4, [3, 3], 3, rng=7, **kwargs)
    decayed = MultiLayerNet(4, [3, 3], 3, weight_decay_lambda=0.5, rng=7, **kwargs)
    sq = sum(np.sum(plain.params[k] ** 2) for k in ("W1", "W2", "W3"))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + 0.25 * sq, rel=1e-12)
    g_plain, g_decay = plain.gradient(x, t), decayed.gradient(x, t)
    for key, p in plain.params.items():
        extra = 0.5 * p if key.startswith("W") else 0.0  # not b, gamma or beta
        np.testing.assert_allclose(g_decay[key], g_plain[key] + extra, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("init", "gain"), [("relu", 2.0), ("he", 2.0), ("sigmoid", 1.0), ("xavier", 1.0)]
)
def test_named_initializations(init, gain):
    net = MultiLayerNet(400, [300, 50], 10, weight_init_std=init, use_batchnorm=True, rng=0)
    for key, n_in in (("W1", 400), ("W2", 300), ("W3", 50)):
        assert net.params[key].std() == pytest.approx(np.sqrt(gain / n_in), rel=0.05)
    for key in ("b1", "b2", "b3", "beta1", "beta2"):
        assert not net.params[key].any()
    assert np.all(net.params["gamma1"] == 1)
    # "he" is the same draw as "relu", "xavier" as "sigmoid".
    alias = {"relu": "he", "he": "relu", "sigmoid": "xavier", "xavier": "sigmoid"}[init]
    other = MultiLayerNet(400, [300, 50], 10, weight_init_std=alias, use_batchnorm=True, rng=0)
    assert np.array_equal(other.params["W2"], net.params["W2"])


def test_numeric_initialization_draws_like_two_layer_net():
    mln = MultiLayerNet(7, [5], 3, weight_init_std=0.01, rng=4)
    tln = TwoLayerNet(7, 5, 3, weight_init_std=0.01, rng=4)
    assert list(mln.params) == list(tln.params)
    for key in tln.params:
        assert np.array_equal(mln.params[key], tln.params[key])
    x = np.random.default_rng(0).standard_normal((3, 7)).astype(np.float32)
    assert np.array_equal(mln.predict(x), tln.predict(x))


def test_dropout_layers_use_the_networks_generator():
    x = np.ones((4, 6), dtype=np.float32)
    a = MultiLayerNet(6, [20, 20], 3, use_dropout=True, rng=3)
    b = MultiLayerNet(6, [20, 20], 3, use_dropout=True, rng=3)
    assert a.layers["Dropout1"].rng is a.rng and a.layers["Dropout2"].rng is a.rng
    # Same seed: same weights and the same masks, so the same training outputs.
    assert np.array_equal(a.predict(x, train_flg=True), b.predict(x, train_flg=True))
    # Fresh masks on every training forward; none at inference.
    assert not np.array_equal(a.predict(x, train_flg=True), a.predict(x, train_flg=True))
    assert np.array_equal(a.predict(x), a.predict(x))


def test_batchnorm_net_batch_of_one():
    net = MultiLayerNet(4, [3], 2, activation="sigmoid", use_batchnorm=True, rng=0)
    x, t = np.ones((1, 4), dtype=np.float32), np.array([1])
    with pytest.warns(RuntimeWarning, match="batch of one"):
        grads = net.gradient(x, t)
    # Every batch-norm output is beta: nothing before it, nor gamma, gets a gradient.
    assert not np.any(grads["W1"]) and not np.any(grads["gamma1"]) and np.any(grads["beta1"])
    assert net.predict(x).shape == (1, 2)  # inference uses the running statistics


def test_float32_by_default_and_astype():
    net = MultiLayerNet(4, [3, 3], 2, use_batchnorm=True, rng=0)
    bn = net.layers["BatchNorm1"]
    assert {p.dtype for p in net.params.values()} == {np.dtype(np.float32)}
    assert bn.running_mean.dtype == np.float32
    assert net.config["dtype"] == "float32"
    net64 = net.astype(np.float64)
    assert net64.layers["BatchNorm1"].running_var.dtype == np.float64
    assert net64.params["gamma1"] is net64.layers["BatchNorm1"].gamma
    assert net64.config == {**net.config, "dtype": "float64"}
    assert net.params["W1"].dtype == np.float32  # the original is untouched


def test_config_records_the_architecture():
    net = MultiLayerNet(
        8, (6, 4), 3, "tanh", "Xavier", 0.01, True, 0.25, True, rng=0, dtype=np.float64
    )
    assert net.config == {
        "input_size": 8,
        "hidden_size_list": [6, 4],
        "output_size": 3,
        "activation": "tanh",
        "weight_init_std": "xavier",
        "weight_decay_lambda": 0.01,
        "use_dropout": True,
        "dropout_ratio": 0.25,
        "use_batchnorm": True,
        "dtype": "float64",
    }
    rebuilt = MultiLayerNet(**{k: v for k, v in net.config.items()}, rng=0)
    assert list(rebuilt.layers) == list(net.layers)
    assert np.array_equal(rebuilt.params["W2"], net.params["W2"])


@pytest.mark.parametrize("use_batchnorm", [False, True])
def test_loss_and_gradient_equals_gradient(use_batchnorm):
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((8, 6)), rng.integers(0, 4, 8)
    a = MultiLayerNet(6, [5, 5], 4, weight_decay_lambda=0.1, use_batchnorm=use_batchnorm, rng=1)
    b = MultiLayerNet(6, [5, 5], 4, weight_decay_lambda=0.1, use_batchnorm=use_batchnorm, rng=1)
    loss, grads = a.loss_and_gradient(x.astype(np.float32), t)
    ref = b.gradient(x.astype(np.float32), t)
    assert loss == pytest.approx(b.loss(x.astype(np.float32), t, train_flg=True), rel=1e-5)
    for key in ref:
        np.testing.assert_allclose(grads[key], ref[key], rtol=1e-4, atol=1e-6)


def test_training_with_batchnorm_dropout_and_adam_separates_blobs():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 10)) * 3
    t = rng.integers(0, 3, 300)
    x = (centers[t] + rng.standard_normal((300, 10))).astype(np.float32)
    net = MultiLayerNet(
        10, [32, 32], 3, use_batchnorm=True, use_dropout=True, dropout_ratio=0.2, rng=1
    )
    opt = Adam(lr=0.01)
    before = net.loss(x, t)
    for _ in range(60):
        idx = rng.choice(300, 32, replace=False)
        opt.update(net.params, net.gradient(x[idx], t[idx]))
    assert net.loss(x, t) < 0.5 * before
    assert net.accuracy(x, t) > 0.95


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((4, [], 2), {}, "hidden_size_list is empty"),
        ((4, 3, 2), {}, "hidden_size_list must be a list"),
        ((4, "33", 2), {}, "hidden_size_list must be a list"),
        ((4, [3, 0], 2), {}, r"hidden_size_list\[1\] must be a positive integer"),
        ((0, [3], 2), {}, "input_size must be a positive integer"),
        ((4, [3], 2), {"activation": "softplus"}, "unknown activation 'softplus'"),
        ((4, [3], 2), {"weight_init_std": "glorot"}, "unknown weight_init_std 'glorot'"),
        ((4, [3], 2), {"weight_init_std": -0.1}, "weight_init_std must be"),
        ((4, [3], 2), {"weight_init_std": float("nan")}, "weight_init_std must be"),
        ((4, [3], 2), {"weight_decay_lambda": -1.0}, "weight_decay_lambda must be"),
        ((4, [3], 2), {"weight_decay_lambda": float("nan")}, "weight_decay_lambda must be"),
        ((4, [3], 2), {"weight_decay_lambda": True}, "weight_decay_lambda must be"),
        ((4, [3], 2), {"use_dropout": True, "dropout_ratio": 1.0}, "dropout_ratio must be"),
        ((4, [3], 2), {"dropout_ratio": -0.5}, "dropout_ratio must be"),
    ],
)
def test_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiLayerNet(*args, **kwargs)


def test_activation_layers():
    for name, cls in (("relu", Relu), ("sigmoid", Sigmoid), ("tanh", Tanh)):
        net = MultiLayerNet(3, [2, 2], 2, activation=name, use_batchnorm=True, rng=0)
        assert isinstance(net.layers["Activation_function2"], cls)
        assert isinstance(net.layers["BatchNorm2"], BatchNormalization)


def test_numerical_gradient_with_dropout_and_batchnorm_matches_and_leaves_the_net_as_it_was():
    # No fixed masks set by hand: numerical_gradient itself keeps the mask of the backprop
    # pass just made, and puts batch norm's running statistics back.
    rng = np.random.default_rng(3)
    net = MultiLayerNet(5, [4, 3], 3, weight_init_std=0.8, use_dropout=True, dropout_ratio=0.3,
                        use_batchnorm=True, rng=rng, dtype=np.float64)  # fmt: skip
    x, t = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    backprop = net.gradient(x, t)
    backprop = {k: v.copy() for k, v in backprop.items()}
    states = {
        (name, s): getattr(layer, s).copy()
        for name, layer in net.layers.items()
        for s in layer.state_names
    }
    assert states
    masks = {n: layer.mask.copy() for n, layer in net.layers.items() if isinstance(layer, Dropout)}
    assert len(masks) == 2
    numerical = net.numerical_gradient(x, t)
    for key in backprop:
        np.testing.assert_allclose(numerical[key], backprop[key], rtol=1e-5, atol=1e-7)
    for (name, s), before in states.items():
        np.testing.assert_array_equal(getattr(net.layers[name], s), before)
    for name, mask in masks.items():
        assert not net.layers[name].fixed_mask
        np.testing.assert_array_equal(net.layers[name].mask, mask)
    # a mask drawn for another batch size is replaced, not an error
    x3, t3 = x[:3], t[:3]
    assert net.numerical_gradient(x3, t3)["W1"].shape == (5, 4)
