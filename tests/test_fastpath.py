"""The fused MLP step gives the same loss and gradients as the layer-by-layer path."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlzero.fast import fused_step, training_step
from dlzero.fast.mlp import FusedMLP
from dlzero.layers import Affine, MulLayer, Relu, Sigmoid
from dlzero.networks import Sequential, TwoLayerNet


def _mlp(rng, sizes, activations, dtype, decay=0.0):
    layers = []
    for i, (d_in, d_out) in enumerate(itertools.pairwise(sizes)):
        W = (0.5 * rng.standard_normal((d_in, d_out))).astype(dtype)
        layers.append(Affine(W, (0.1 * rng.standard_normal(d_out)).astype(dtype)))
        if i < len(activations):
            layers.append(activations[i]())
    return Sequential(layers, weight_decay_lambda=decay)


@given(
    depth=st.integers(1, 3),
    act=st.sampled_from([Relu, Sigmoid]),
    one_hot=st.booleans(),
    decay=st.sampled_from([0.0, 0.3]),
    n=st.integers(1, 7),
    seed=st.integers(0, 10_000),
)
@settings(max_examples=40, deadline=None)
def test_fused_equals_layers_in_float64(depth, act, one_hot, decay, n, seed):
    rng = np.random.default_rng(seed)
    sizes = [*rng.integers(1, 6, depth + 1).tolist(), 4]
    net = _mlp(rng, sizes, [act] * depth, np.float64, decay)
    assert fused_step(net) is not None
    x = rng.standard_normal((n, sizes[0]))
    t = rng.integers(0, 4, n)
    if one_hot:
        t = np.eye(4)[t]
    loss, grads = training_step(net)(x, t)
    expected_grads = net.gradient(x, t)
    assert loss == pytest.approx(net.loss(x, t, train_flg=True), rel=1e-12, abs=1e-12)
    assert set(grads) == set(net.params)
    for key in net.params:
        np.testing.assert_allclose(grads[key], expected_grads[key], rtol=1e-9, atol=1e-12)


def test_fused_float32_matches_textbook_on_the_chapter5_shapes():
    rng = np.random.default_rng(0)
    net = TwoLayerNet(784, 50, 10, rng=1)
    x = rng.random((100, 784), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    loss, grads = training_step(net)(x, t)
    assert grads["W1"].dtype == np.float32
    assert loss == pytest.approx(net.loss(x, t), rel=1e-5)
    expected = net.gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(grads[key], expected[key], rtol=1e-4, atol=1e-7)


def test_fused_sees_in_place_updates_and_rebuilds_after_astype():
    rng = np.random.default_rng(2)
    net = TwoLayerNet(6, 5, 3, weight_init_std=0.5, rng=3)
    x, t = rng.random((4, 6), dtype=np.float32), rng.integers(0, 3, 4)
    loss_before, _ = training_step(net)(x, t)
    net.params["b2"][t[0]] += 10.0  # strongly favour the first sample's class
    loss_after, _ = training_step(net)(x, t)
    assert loss_after != loss_before
    assert loss_after == pytest.approx(net.loss(x, t), rel=1e-5)
    net64 = net.astype(np.float64)
    _, g64 = training_step(net64)(x.astype(np.float64), t)
    assert g64["W1"].dtype == np.float64


@pytest.mark.parametrize("one_hot", [False, True])
def test_fused_single_affine_equals_layers(one_hot):
    # Softmax regression: the transposed last affine is also the first, fed the input itself.
    rng = np.random.default_rng(11)
    net = _mlp(rng, [5, 4], [], np.float64)
    assert fused_step(net) is not None
    x, t = rng.standard_normal((6, 5)), rng.integers(0, 4, 6).astype(np.uint8)
    if one_hot:
        t = np.eye(4)[t]
    loss, grads = training_step(net)(x, t)
    assert loss == pytest.approx(net.loss(x, t, train_flg=True), rel=1e-12)
    expected = net.gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(grads[key], expected[key], rtol=1e-9, atol=1e-12)


def test_fused_step_uses_a_replaced_bias_array():
    # The last bias is added as a (C, 1) view kept between steps: a new array must be seen.
    rng = np.random.default_rng(12)
    net = TwoLayerNet(6, 5, 3, weight_init_std=0.5, rng=13)
    fused = fused_step(net)
    x, t = rng.random((4, 6)).astype(np.float32), rng.integers(0, 3, 4)
    fused.loss_and_gradient(x, t)
    fused.affines[-1].b = np.array([0.0, 0.0, 20.0], dtype=np.float32)  # class 2 wins
    net.layers["Affine2"].b = fused.affines[-1].b
    loss, _ = fused.loss_and_gradient(x, np.full(4, 2))
    assert loss < 1e-6
    assert loss == pytest.approx(net.loss(x, np.full(4, 2)), abs=1e-6)


def test_other_networks_fall_back_to_the_layers():
    rng = np.random.default_rng(4)
    W = rng.standard_normal((3, 2))
    assert FusedMLP.from_layers([Affine(W, np.zeros(2)), Relu()], None, []) is None
    net = Sequential(
        [Affine(W, np.zeros(2)), MulLayerFree(), Affine(rng.standard_normal((2, 2)), np.zeros(2))]
    )
    assert fused_step(net) is None
    x, t = rng.standard_normal((5, 3)), rng.integers(0, 2, 5)
    loss, grads = training_step(net)(x, t)
    assert loss == pytest.approx(net.loss(x, t))
    np.testing.assert_allclose(grads["W1"], net.gradient(x, t)["W1"])


class MulLayerFree(MulLayer):
    """Multiply by 2: a layer the fused path does not know."""

    def forward(self, x):
        return 2 * x

    def backward(self, dout):
        return 2 * dout


@pytest.mark.parametrize(
    ("x_shape", "t", "match"),
    [
        ((4, 5), np.array([0, 1, 2, 0]), r"expected input of shape \(N, 6\)"),
        ((4, 6), np.array([0, 1, 2]), r"labels of shape \(4,\)"),
        ((4, 6), np.array([0, 1, 2, 3]), r"labels must lie in \[0, 2\]"),
        ((4, 6), np.array([0, -1, 2, 0]), r"labels must lie in \[0, 2\]"),
        ((4, 6), np.array([0, 1, 3, 0], dtype=np.uint8), r"labels must lie in \[0, 2\]"),
        ((4, 6), np.array([0.0, 1.0, 2.0, 0.0]), r"integer class labels expected"),
    ],
)
def test_fused_rejects_bad_input(x_shape, t, match):
    net = TwoLayerNet(6, 5, 3, rng=0)
    with pytest.raises(ValueError, match=match):
        training_step(net)(np.zeros(x_shape, dtype=np.float32), t)


@pytest.mark.parametrize("act", ["relu", "sigmoid"])
def test_fused_predict_and_accuracy_equal_the_layers(act):
    rng = np.random.default_rng(5)
    net = TwoLayerNet(12, 9, 4, weight_init_std=0.8, activation=act, rng=6)
    x = rng.standard_normal((37, 12)).astype(np.float32)
    np.testing.assert_allclose(fused_step(net).predict(x), net.predict(x), rtol=1e-5, atol=1e-6)
    labels = net.predict(x).argmax(axis=1)
    t = labels.copy()
    t[::3] = (t[::3] + 1) % 4  # 13 of 37 wrong
    for batch_size in (5, 10, 37, 100):  # partial last chunks, several buffer sizes
        assert net.accuracy(x, t, batch_size=batch_size) == pytest.approx(24 / 37)
    assert len(fused_step(net)._buffers) <= 4
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 12\)"):
        net.accuracy(np.zeros((3, 11), dtype=np.float32), np.zeros(3, dtype=int))


def test_small_steps_run_on_one_blas_thread_and_restore_the_setting(monkeypatch):
    pytest.importorskip("threadpoolctl")
    from dlzero import _threads

    # The BLAS libraries loaded when dlzero first looked (NumPy's, which does the products);
    # another one loaded later by another test's import (scipy's) is not ours to set.
    libraries = _threads._blas_libraries()

    def blas_threads():
        return [lib.num_threads for lib in libraries]

    before = blas_threads()
    if not before or max(before) < 2:
        pytest.skip("BLAS runs one thread here: nothing to switch")
    net = TwoLayerNet(784, 50, 10, rng=0)
    fused = fused_step(net)
    seen = []
    real = fused.loss_and_gradient

    def spy(*args):
        seen.append(blas_threads())
        return real(*args)

    monkeypatch.setattr(fused, "loss_and_gradient", spy)
    step = training_step(net)
    x, t = np.zeros((100, 784), dtype=np.float32), np.zeros(100, dtype=np.int64)
    step(x, t)  # 100 x 784 x 50: small
    assert seen == [[1] * len(before)]
    assert blas_threads() == before
    big = np.zeros((_threads.SMALL_PRODUCT // (784 * 50) + 1, 784), dtype=np.float32)
    step(big, np.zeros(len(big), dtype=np.int64))
    assert seen[-1] == before


def test_fused_step_follows_a_swapped_layer():
    rng = np.random.default_rng(8)
    net = TwoLayerNet(6, 5, 3, weight_init_std=0.5, rng=9)
    x, t = rng.random((4, 6), dtype=np.float32), rng.integers(0, 3, 4)
    training_step(net)(x, t)
    net.layers["Relu1"] = Sigmoid()  # the public dict, edited after the fused step was built
    loss, _ = training_step(net)(x, t)
    assert loss == pytest.approx(net.loss(x, t), rel=1e-6)


def test_small_steps_restore_a_limit_set_after_the_first_step():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    net = TwoLayerNet(784, 50, 10, rng=0)
    x, t = np.zeros((100, 784), dtype=np.float32), np.zeros(100, dtype=np.int64)
    training_step(net)(x, t)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        training_step(net)(x, t)
        after = [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]
    assert set(after) <= {1}


def test_fused_mlp_needs_one_activation_between_each_two_affines():
    rng = np.random.default_rng(0)
    affines = [Affine(rng.random((3, 3)), np.zeros(3)) for _ in range(3)]
    with pytest.raises(ValueError, match="3 affines need 2 activations between them, got 1"):
        FusedMLP(affines, [Relu], [("W1", "b1"), ("W2", "b2"), ("W3", "b3")])


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_a_used_snapshot_is_freed_at_once_without_the_garbage_collector(kind):
    # The trainer evaluates each epoch on a snapshot; a reference cycle through its buffer
    # caches kept every snapshot's buffers (46 MB in a chapter-5 run) until a collection ran.
    import gc
    import weakref

    from dlzero.convnets import SimpleConvNet

    if kind == "mlp":
        net, x = TwoLayerNet(6, 5, 3, rng=0), np.zeros((4, 6), np.float32)
    else:
        net = SimpleConvNet((1, 8, 8), {"filter_num": 2, "filter_size": 3}, 5, 3, rng=0)
        x = np.zeros((4, 1, 8, 8), np.float32)
    snap = fused_step(net).snapshot()
    snap.predict(x)  # fills its caches
    gone = weakref.ref(snap)
    gc.disable()
    try:
        del snap
        assert gone() is None
    finally:
        gc.enable()
