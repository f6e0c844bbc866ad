"""The fused convolutional step (dlzero.fast.conv) against the layers it replaces."""

import numpy as np
import pytest

from dlzero.convnets import DeepConvNet, SimpleConvNet
from dlzero.fast import fused_step, training_step
from dlzero.fast.conv import FusedConvNet
from dlzero.layers import Affine, Convolution, Pooling, Relu
from dlzero.networks import Sequential


def _images(rng, shape, blank=0.4):
    """Random images with a share of exact zeros, as MNIST's background: ties in pooling."""
    x = rng.random(shape)
    x[x < blank] = 0
    return x


def _compare(net, x, t, rtol=1e-10, fused=None):
    fused = fused_step(net) if fused is None else fused
    assert isinstance(fused, FusedConvNet)
    loss, grads = fused.loss_and_gradient(x, t)
    grads = {k: g.copy() for k, g in grads.items()}
    ref_grads = net.gradient(x, t)  # the layers, one by one
    ref_loss = net.last_layer.loss
    assert loss == pytest.approx(ref_loss, rel=rtol)
    assert set(grads) == set(ref_grads) == set(net.params)
    for key, g in ref_grads.items():
        assert grads[key].shape == g.shape
        np.testing.assert_allclose(
            grads[key], g, rtol=rtol, atol=rtol * np.abs(g).max(), err_msg=key
        )
    np.testing.assert_allclose(fused.predict(x), net.predict(x), rtol=rtol, atol=rtol)


@pytest.mark.parametrize(
    ("input_dim", "conv_param", "n"),
    [
        ((1, 28, 28), None, 3),  # the book's network
        ((1, 12, 12), {"filter_num": 4, "filter_size": 5}, 1),  # a batch of one
        ((2, 10, 10), {"filter_num": 3, "filter_size": 3, "pad": 1}, 2),  # padding, 2 channels
        ((3, 9, 9), {"filter_num": 2, "filter_size": 3, "pad": 2, "stride": 2}, 4),  # stride
        ((1, 7, 11), {"filter_num": 3, "filter_size": 2, "pad": 0}, 2),  # not square
        ((1, 9, 8), {"filter_num": 2, "filter_size": 3, "stride": 2}, 2),  # sizes that floor
    ],
)
def test_simple_convnet_fused_equals_layers(input_dim, conv_param, n):
    net = SimpleConvNet(input_dim, conv_param, 6, 4, weight_init_std=0.3, rng=1, dtype=np.float64)
    rng = np.random.default_rng(2)
    x = _images(rng, (n, *input_dim))
    _compare(net, x, rng.integers(0, 4, n))


def test_deep_convnet_fused_equals_layers_with_the_same_dropout_masks():
    kwargs = {"input_dim": (1, 12, 12), "hidden_size": 8, "output_size": 3, "dtype": np.float64}
    net, twin = DeepConvNet(rng=5, **kwargs), DeepConvNet(rng=5, **kwargs)
    rng = np.random.default_rng(6)
    for key in net.params:  # biases that are not zero, so a wrong bias input would show
        if key.startswith("b"):
            net.params[key][...] = twin.params[key][...] = rng.uniform(
                -0.1, 0.1, net.params[key].shape
            )
    x = _images(rng, (3, 1, 12, 12))
    t = np.eye(3)[[0, 2, 1]]  # one-hot targets too
    # Both draw their dropout masks from generators in the same state: the same masks.
    loss, grads = fused_step(net).loss_and_gradient(x, t)
    ref = twin.gradient(x, t)
    assert loss == pytest.approx(twin.last_layer.loss, rel=1e-10)
    for key, g in ref.items():
        np.testing.assert_allclose(grads[key], g, rtol=1e-9, atol=1e-12, err_msg=key)
    # Inference shares one column array between the stages: every chunk is right, not the
    # first only.
    for chunk in (x, x[::-1], _images(rng, (3, 1, 12, 12))):
        np.testing.assert_allclose(fused_step(net).predict(chunk), twin.predict(chunk), rtol=1e-10)


@pytest.mark.parametrize(
    ("input_hw", "conv"),
    [
        ((14, 14), {"conv_param_2": {"filter_num": 4, "filter_size": 4, "pad": 0, "stride": 1}}),
        ((17, 17), {"conv_param_4": {"filter_num": 4, "filter_size": 4, "pad": 0, "stride": 1}}),
        ((12, 13), {"conv_param_6": {"filter_num": 4, "filter_size": 2, "pad": 0, "stride": 1}}),
    ],
)
def test_a_later_pooled_stage_whose_output_floors_gets_its_input_gradient(input_hw, conv):
    # A stride-1 convolution after the first (so its input gradient is computed) whose odd
    # output the 2x2 pooling floors: the rows and columns left out get a zero gradient.
    kwargs = {"input_dim": (1, *input_hw), "hidden_size": 8, "output_size": 3, **conv}
    net = DeepConvNet(rng=5, dtype=np.float64, **kwargs)
    twin = DeepConvNet(rng=5, dtype=np.float64, **kwargs)
    rng = np.random.default_rng(6)
    x, t = _images(rng, (3, 1, *input_hw)), np.array([0, 2, 1])
    loss, grads = fused_step(net).loss_and_gradient(x, t)
    ref = twin.gradient(x, t)  # the layers, with the same dropout masks
    assert loss == pytest.approx(twin.last_layer.loss, rel=1e-10)
    for key, g in ref.items():
        np.testing.assert_allclose(grads[key], g, rtol=1e-9, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("k", [1, 3])
def test_pooling_windows_other_than_two(k):
    # A 1x1 pooling passes everything through; a 3x3 one on a 10x10 output floors to 3x3.
    rng = np.random.default_rng(3)
    conv1 = Convolution(rng.standard_normal((3, 2, 3, 3)), rng.uniform(-0.1, 0.1, 3), pad=1)
    conv2 = Convolution(rng.standard_normal((2, 3, 3, 3)), rng.uniform(-0.1, 0.1, 2), pad=1)
    side = {1: 10, 3: 3}[k]
    affine = Affine(rng.standard_normal((2 * side * side, 3)), np.zeros(3))
    net = Sequential([conv1, Relu(), conv2, Relu(), Pooling(k, k, stride=k), affine])
    x = _images(rng, (4, 2, 10, 10))
    _compare(net, x, rng.integers(0, 3, 4), fused=FusedConvNet.from_network(net))


@pytest.mark.parametrize("chunk_bytes", [1, 22_000, 100_000])
def test_columns_formed_a_few_rows_at_a_time_give_the_same_results(monkeypatch, chunk_bytes):
    # One row a chunk, and chunks of several rows where the last one is shorter, for the
    # stride-1 path (DeepConvNet) and the strided one with col2im (SimpleConvNet, stride 2).
    from dlzero.fast import stages

    monkeypatch.setattr(stages, "_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(7)
    deep = DeepConvNet((1, 12, 12), hidden_size=6, output_size=3, dropout_ratio=0.0, rng=1)
    strided = SimpleConvNet(
        (3, 9, 9),
        {"filter_num": 2, "filter_size": 3, "pad": 2, "stride": 2},
        6,
        3,
        weight_init_std=0.3,
        rng=1,
    )
    uneven = several_dx = False
    # Batches of 3 and 4 run in one lane, 17 in two (of 9 and 8 images).
    for net, n in ((deep.astype(np.float64), 3), (strided.astype(np.float64), 4)):
        fused_step(net).lanes = 2  # two lanes, whatever this machine's BLAS allows
        for batch in (n, 17):
            x = _images(rng, (batch, *net.input_dim))
            _compare(net, x, rng.integers(0, 3, batch))
        for bufs in fused_step(net)._buffers[0]._items.values():
            for buf in bufs:
                sizes = {stop - first for _, first, stop in buf.chunks}
                uneven |= len(sizes) > 1
                several_dx |= len(getattr(buf, "dx_chunks", ())) > 1
    assert uneven or chunk_bytes == 1  # a shorter last chunk was exercised
    assert several_dx or chunk_bytes == 100_000  # and the input gradient in several chunks


def test_the_first_stage_keeps_no_buffers_for_an_input_gradient():
    net = DeepConvNet((1, 12, 12), hidden_size=6, output_size=3, rng=1)
    fused = fused_step(net)
    fused.lanes = 1
    fused.loss_and_gradient(np.zeros((2, 1, 12, 12), np.float32), np.array([0, 1]))
    (bufs,) = fused._buffers[0]._items.values()
    assert not hasattr(bufs[0], "gcol") and not hasattr(bufs[0], "dx")
    assert all(hasattr(buf, "gcol") and hasattr(buf, "dx") for buf in bufs[1:])


def test_pooling_ties_go_to_the_first_window_offset():
    # Filters that see only the top-left pixel of their 3x3 window, on images made of 2x2
    # blocks of one value: the four outputs of every pooling window tie, while the windows
    # (the columns dW is computed from) differ. Sending the gradient to any other offset, or
    # to all four, changes dW.
    net = SimpleConvNet((1, 10, 10), {"filter_num": 2, "filter_size": 3}, 3, 2, 0.5, rng=0)
    net = net.astype(np.float64)
    net.params["W1"][...] = 0
    net.params["W1"][:, 0, 0, 0] = [1.0, -1.0]
    net.params["b1"][:] = [0.1, 0.2]
    rng = np.random.default_rng(1)
    blocks = rng.random((2, 1, 4, 4))
    x = rng.random((2, 1, 10, 10))
    x[:, :, :8, :8] = np.kron(blocks, np.ones((2, 2)))
    _compare(net, x, np.array([0, 1]))


def test_float32_step_matches_the_layers_and_stays_float32():
    net = SimpleConvNet(rng=0)
    rng = np.random.default_rng(1)
    x = _images(rng, (5, 1, 28, 28)).astype(np.float32)
    t = rng.integers(0, 10, 5)
    loss, grads = training_step(net)(x, t)
    assert all(g.dtype == np.float32 for g in grads.values())
    grads = {k: g.copy() for k, g in grads.items()}
    ref = net.gradient(x, t)
    assert loss == pytest.approx(net.last_layer.loss, rel=1e-5)
    for key, g in ref.items():
        np.testing.assert_allclose(grads[key], g, rtol=1e-4, atol=1e-6 * np.abs(g).max())


@pytest.mark.parametrize("n", [16, 33])
def test_two_lanes_equal_one_lane_and_the_layers(n):
    # Batches of 16 and more are split between two threads; an odd size splits unevenly.
    net = SimpleConvNet((1, 10, 10), {"filter_num": 3, "filter_size": 3}, 5, 3, 0.3, rng=0)
    deep = DeepConvNet((1, 8, 8), hidden_size=6, output_size=3, dropout_ratio=0.0, rng=1)
    rng = np.random.default_rng(4)
    for model in (net.astype(np.float64), deep.astype(np.float64)):
        x = _images(rng, (n, *model.input_dim))
        t = rng.integers(0, 3, n)
        fused = fused_step(model)
        results = []
        for lanes in (1, 2):
            fused.lanes = lanes
            loss, grads = fused.loss_and_gradient(x, t)
            results.append((loss, {k: g.copy() for k, g in grads.items()}))
        (l1, g1), (l2, g2) = results
        assert l1 == pytest.approx(l2, rel=1e-12)
        for key in g1:
            np.testing.assert_allclose(g2[key], g1[key], rtol=1e-10, atol=1e-13, err_msg=key)
        _compare(model, x, t)  # and the two lanes against the layers


def test_weights_are_shared_and_batch_sizes_can_change():
    net = SimpleConvNet((1, 8, 8), {"filter_num": 3, "filter_size": 3}, 5, 3, 0.3, rng=0)
    net = net.astype(np.float64)
    rng = np.random.default_rng(0)
    for n in (4, 1, 4, 2):  # buffers for each size, reused
        x = _images(rng, (n, 1, 8, 8))
        _compare(net, x, rng.integers(0, 3, n))
        net.params["W1"] -= 0.1  # an in-place update reaches the fused path
        net.params["b2"] += 0.1


def test_networks_it_does_not_cover_fall_back_to_the_layers():
    rng = np.random.default_rng(0)
    conv = Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2))
    affine = Affine(rng.standard_normal((2 * 3 * 3, 2)), np.zeros(2))
    covered = Sequential([conv, Relu(), Pooling(2, 2), affine])
    assert FusedConvNet.from_network(covered) is not None
    for layers in (
        [conv, Pooling(2, 2), affine],  # no ReLU after the convolution
        [conv, Relu(), Pooling(2, 2, stride=1), Pooling(2, 2), affine],  # overlapping windows
        [conv, Relu(), Pooling(2, 2, mode="avg"), affine],  # average pooling
        [affine],  # no convolution at all
    ):
        assert FusedConvNet.from_network(Sequential(layers)) is None
    decayed = Sequential([conv, Relu(), Pooling(2, 2), affine], weight_decay_lambda=0.1)
    assert FusedConvNet.from_network(decayed) is None
    scalar_bias = Convolution(conv.W, 0.0)
    assert FusedConvNet.from_network(Sequential([scalar_bias, Relu(), affine])) is None


def test_snapshot_keeps_the_weights_of_its_time():
    net = SimpleConvNet((1, 8, 8), {"filter_num": 3, "filter_size": 3}, 5, 3, 0.3, rng=0)
    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    snap = fused_step(net).snapshot()
    before = net.predict(x)
    for p in net.params.values():
        p += 0.5
    np.testing.assert_allclose(snap.predict(x), before, rtol=1e-6)
    assert not np.allclose(fused_step(net).predict(x), before)


def test_bad_input_gets_a_clear_error():
    net = SimpleConvNet((1, 8, 8), {"filter_num": 3, "filter_size": 3}, 5, 3, rng=0)
    with pytest.raises(ValueError, match=r"expect images of shape \(N, 1, H, W\)"):
        training_step(net)(np.zeros((2, 64), np.float32), np.array([0, 1]))
    with pytest.raises(ValueError, match="an empty batch"):
        training_step(net)(np.zeros((0, 1, 8, 8), np.float32), np.array([], np.int64))
    with pytest.raises(ValueError, match="integer class labels expected"):
        training_step(net)(np.zeros((2, 1, 8, 8), np.float32), np.array([0.0, 1.0]))


def test_two_lanes_only_where_blas_may_use_two_threads(monkeypatch):
    from dlzero.fast import conv as convpath

    net = SimpleConvNet((1, 8, 8), {"filter_num": 3, "filter_size": 3}, 5, 3, rng=0)
    monkeypatch.setattr(convpath, "available_cpus", lambda: 2)
    for blas, lanes in ((1, 1), (2, 2), (8, 2)):
        monkeypatch.setattr(convpath, "blas_thread_count", lambda b=blas: b)
        assert FusedConvNet.from_network(net).lanes == lanes
    monkeypatch.setattr(convpath, "available_cpus", lambda: 1)
    assert FusedConvNet.from_network(net).lanes == 1


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_trains_with_its_own_lane_thread():
    import multiprocessing

    from dlzero.fast import lanes as lanepool

    net = SimpleConvNet((1, 8, 8), {"filter_num": 3, "filter_size": 3}, 5, 3, rng=0)
    fused = fused_step(net)
    fused.lanes = 2
    x = np.random.default_rng(0).random((20, 1, 8, 8), dtype=np.float32)
    t = np.arange(20) % 3
    loss, _ = fused.loss_and_gradient(x, t)  # the parent's worker thread now exists
    assert lanepool._pool is not None
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child_loss = pool.apply_async(fused.loss_and_gradient, (x, t)).get(timeout=20)[0]
    assert child_loss == pytest.approx(loss, rel=1e-6)


def test_copies_and_pickles_leave_the_fused_buffers_behind_and_still_train_alike():
    import copy
    import pickle

    net = SimpleConvNet((1, 12, 12), {"filter_num": 4, "filter_size": 3}, 8, 3, rng=0)
    rng = np.random.default_rng(0)
    x, t = _images(rng, (20, 1, 12, 12)), rng.integers(0, 3, 20)
    fresh = len(pickle.dumps(net))
    loss, _ = training_step(net)(x, t)  # builds the fused step and its buffers
    assert len(pickle.dumps(net)) < 1.1 * fresh
    for twin in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert training_step(twin)(x, t)[0] == pytest.approx(loss, rel=1e-6)
        assert fused_step(twin) is not fused_step(net)
