"""Tests of SimpleConvNet and DeepConvNet: the book's layout, gradients, accuracy, learning."""

import numpy as np
import pytest

from dlzero.convnets import DeepConvNet, SimpleConvNet
from dlzero.gradient import directional_gradient_check, gradient_check
from dlzero.layers import Dropout
from dlzero.optimizers import Adam

# -- SimpleConvNet ---------------------------------------------------------------------------


def test_simple_convnet_has_the_books_layout_and_shares_arrays():
    net = SimpleConvNet(rng=0)
    assert list(net.layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {
        "W1": (30, 1, 5, 5),
        "b1": (30,),
        "W2": (30 * 12 * 12, 100),
        "b2": (100,),
        "W3": (100, 10),
        "b3": (10,),
    }
    assert net.params["W1"] is net.layers["Conv1"].W
    assert net.params["W2"] is net.layers["Affine1"].W
    assert net.dtype == np.float32
    assert 0.009 < float(np.std(net.params["W2"])) < 0.011  # weight_init_std 0.01
    # An in-place update through params reaches the layer (no copy slipped in).
    x = np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32)
    before = net.predict(x)
    net.params["W1"] += 1.0
    assert not np.allclose(net.predict(x), before)


@pytest.mark.parametrize(
    ("input_dim", "conv_param"),
    [
        ((1, 8, 8), {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1}),
        ((2, 7, 7), {"filter_num": 2, "filter_size": 3, "pad": 1, "stride": 2}),
    ],
)
def test_simple_convnet_gradient_check(input_dim, conv_param):
    net = SimpleConvNet(
        input_dim, conv_param, hidden_size=6, output_size=4, weight_init_std=0.3, rng=2
    )
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, *input_dim))
    t = np.array([0, 3, 1])
    report = gradient_check(net, x, t, include_input=True)
    assert report.passed, str(report)
    assert {c.name for c in report.checks} == {"W1", "b1", "W2", "b2", "W3", "b3", "x"}


def test_float32_stays_float32_through_a_step():
    net = SimpleConvNet((1, 12, 12), {"filter_size": 3, "filter_num": 4}, 8, 5, rng=0)
    x = np.random.default_rng(0).random((6, 1, 12, 12), dtype=np.float32)
    t = np.arange(6) % 5
    assert net.predict(x).dtype == np.float32
    loss, grads = net.loss_and_gradient(x, t)
    assert np.isfinite(loss)
    assert all(g.dtype == np.float32 for g in grads.values())


def test_accuracy_counts_a_final_partial_batch():
    net = SimpleConvNet(
        (1, 8, 8), {"filter_size": 3, "filter_num": 4}, 10, 3, weight_init_std=1.0, rng=4
    )
    x = np.random.default_rng(5).standard_normal((23, 1, 8, 8)).astype(np.float32)
    predicted = net.predict(x).argmax(axis=1)
    t = predicted.copy()
    t[:5] = (t[:5] + 1) % 3  # exactly 5 wrong, among the first chunk
    t[-2:] = (t[-2:] + 1) % 3  # and 2 more in the final partial chunk
    expected = 16 / 23
    assert net.accuracy(x, t) == pytest.approx(expected)
    assert net.accuracy(x, t, batch_size=4) == pytest.approx(expected)  # 23 = 5 * 4 + 3
    net.eval_batch_size = 10
    assert net.accuracy(x, t) == pytest.approx(expected)


def test_eval_batch_size_bounds_memory():
    # The default chunk must keep an MNIST evaluation's im2col matrix small (<= 100 MB).
    col_bytes = SimpleConvNet.eval_batch_size * 25 * 24 * 24 * 4
    assert col_bytes <= 100e6
    assert DeepConvNet.eval_batch_size * 16 * 9 * 28 * 28 * 4 <= 200e6


def test_same_seed_same_network():
    a, b, c = SimpleConvNet(rng=7), SimpleConvNet(rng=7), SimpleConvNet(rng=8)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    assert SimpleConvNet(rng=0, dtype=np.float64).dtype == np.float64


def test_config_rebuilds_the_network():
    net = SimpleConvNet((3, 10, 10), {"filter_num": 5, "filter_size": 3}, 7, 4, 0.05, rng=0)
    config = net.config
    assert config["conv_param"] == {"filter_num": 5, "filter_size": 3, "pad": 0, "stride": 1}
    dtype = config.pop("dtype")
    again = SimpleConvNet(**config, dtype=dtype)
    assert {k: v.shape for k, v in again.params.items()} == {
        k: v.shape for k, v in net.params.items()
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_dim": (1, 5, 5)}, r"SimpleConvNet: the 2x2 pooling on a 1x1 input: filter"),
        ({"conv_param": {"filter_nums": 3}}, r"unknown key\(s\) \['filter_nums'\]"),
        ({"conv_param": {"pad": -1}}, r"conv_param\['pad'\] must be an integer >= 0, got -1"),
        ({"conv_param": {"filter_size": 40}}, "filter of size 40 does not fit"),
        ({"input_dim": (28, 28)}, r"input_dim must be \(C, H, W\), got \(28, 28\)"),
        ({"hidden_size": 0}, "hidden_size must be a positive integer, got 0"),
        ({"weight_init_std": 0.0}, "weight_init_std must be a positive number, got 0.0"),
    ],
)
def test_simple_convnet_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SimpleConvNet(**kwargs)


def test_wrong_input_shape_gives_clear_error():
    net = SimpleConvNet(rng=0)
    with pytest.raises(
        ValueError, match=r"expected images of shape \(N, C, H, W\), got shape \(2, 784\)"
    ):
        net.predict(np.zeros((2, 784), dtype=np.float32))


def _bars(rng, n, size=8):
    """Images of one bright bar, horizontal (class 0) or vertical (class 1), plus noise."""
    x = 0.1 * rng.random((n, 1, size, size), dtype=np.float32)
    t = rng.integers(0, 2, n)
    pos = rng.integers(0, size, n)
    for i in range(n):
        if t[i] == 0:
            x[i, 0, pos[i], :] = 1.0
        else:
            x[i, 0, :, pos[i]] = 1.0
    return x, t


def test_simple_convnet_learns_with_adam():
    rng = np.random.default_rng(0)
    x, t = _bars(rng, 200)
    net = SimpleConvNet(
        (1, 8, 8), {"filter_num": 4, "filter_size": 3}, 16, 2, weight_init_std=0.1, rng=1
    )
    assert net.accuracy(x, t) < 0.8
    opt = Adam(lr=0.01)
    for _ in range(60):
        batch = rng.choice(200, 20, replace=False)
        _, grads = net.loss_and_gradient(x[batch], t[batch])
        opt.update(net.params, grads)
    x_test, t_test = _bars(rng, 100)
    assert net.accuracy(x_test, t_test) >= 0.95


# -- DeepConvNet -----------------------------------------------------------------------------


def test_deep_convnet_has_the_books_layout():
    net = DeepConvNet(rng=0)
    assert list(net.layers) == [
        "Conv1", "Relu1", "Conv2", "Relu2", "Pool1",
        "Conv3", "Relu3", "Conv4", "Relu4", "Pool2",
        "Conv5", "Relu5", "Conv6", "Relu6", "Pool3",
        "Affine1", "Relu7", "Dropout1", "Affine2", "Dropout2",
    ]  # fmt: skip
    shapes = {k: v.shape for k, v in net.params.items() if k.startswith("W")}
    assert shapes == {
        "W1": (16, 1, 3, 3),
        "W2": (16, 16, 3, 3),
        "W3": (32, 16, 3, 3),
        "W4": (32, 32, 3, 3),
        "W5": (64, 32, 3, 3),
        "W6": (64, 64, 3, 3),
        "W7": (64 * 4 * 4, 50),
        "W8": (50, 10),
    }
    # He initialization: std sqrt(2 / n_in), n_in the inputs of one unit.
    for key, n_in in (("W6", 64 * 9), ("W7", 1024)):
        assert float(np.std(net.params[key])) == pytest.approx(np.sqrt(2 / n_in), rel=0.05)
    assert net.predict(np.zeros((3, 1, 28, 28), dtype=np.float32)).shape == (3, 10)
    # Both dropout layers draw from the network's Generator.
    assert net.layers["Dropout1"].rng is net.rng is net.layers["Dropout2"].rng


def _small_deep_net(rng):
    small = {"filter_num": 2}
    return DeepConvNet(
        (1, 12, 12), small, small, small, small, small, small, hidden_size=5, output_size=3, rng=rng
    )


def _prepare_for_check(net, rng):
    """Fix the dropout masks and give the biases random values, so the loss is smooth."""
    for layer in net.layers.values():
        if isinstance(layer, Dropout):
            layer.fixed_mask = True  # the loss must be a function of the parameters alone
    # Conv4 pads by 2, so the border of its output sees only padding: its pre-activation is
    # the bias, exactly 0 at initialization, on ReLU's kink, where a central difference
    # gives 1/2 and backprop 0. Random biases move it off the kink.
    for key, p in net.params.items():
        if key.startswith("b"):
            p[...] = rng.uniform(0.05, 0.2, p.shape) * rng.choice([-1, 1], p.shape)


def test_deep_convnet_gradient_check_with_fixed_dropout_masks():
    net = _small_deep_net(rng=0)
    rng = np.random.default_rng(1)
    _prepare_for_check(net, rng)
    x = rng.standard_normal((2, 1, 12, 12))
    report = gradient_check(net, x, np.array([0, 2]), include_input=True)
    assert report.passed, str(report)
    assert len(report.checks) == 17  # W1..W8, b1..b8 and x


def test_full_deep_convnet_directional_gradient_check():
    net = DeepConvNet(rng=3)
    _prepare_for_check(net, np.random.default_rng(6))
    x = np.random.default_rng(4).random((2, 1, 28, 28))
    check = directional_gradient_check(net, x, np.array([3, 7]), rng=5)
    assert check.passed, str(check)


def test_deep_convnet_dropout_only_in_training_and_accuracy_in_chunks():
    net = _small_deep_net(rng=0)
    x = np.random.default_rng(2).standard_normal((11, 1, 12, 12)).astype(np.float32)
    np.testing.assert_array_equal(net.predict(x), net.predict(x))  # inference: no dropout
    assert not np.array_equal(net.predict(x, train_flg=True), net.predict(x, train_flg=True))
    t = net.predict(x).argmax(axis=1)
    t[-1] = (t[-1] + 1) % 3  # one wrong, in the final partial chunk
    assert net.accuracy(x, t, batch_size=4) == pytest.approx(10 / 11)


def test_deep_convnet_config_and_errors():
    net = _small_deep_net(rng=0)
    config = net.config
    assert config["conv_param_4"] == {"filter_num": 2, "filter_size": 3, "pad": 2, "stride": 1}
    config.pop("dtype")
    again = DeepConvNet(**config)
    assert {k: v.shape for k, v in again.params.items()} == {
        k: v.shape for k, v in net.params.items()
    }
    with pytest.raises(ValueError, match=r"DeepConvNet: Pool3 on a 1x1 input: filter of size 2"):
        DeepConvNet((1, 2, 2))
    with pytest.raises(ValueError, match=r"dropout_ratio must be a number in \[0, 1\), got 1.0"):
        DeepConvNet(dropout_ratio=1.0)
