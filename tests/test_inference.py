"""The fused inference pass (dlzero.fast.infer) against the layers' predict."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from dlzero.convnets import DeepConvNet, SimpleConvNet
from dlzero.fast import accuracy, fused_step, predictor
from dlzero.fast.conv import FusedConvNet
from dlzero.layers import Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid
from dlzero.networks import Sequential


def _images(rng, shape, blank=0.4):
    """Random images with a share of exact zeros, as MNIST's background: ties in pooling."""
    x = rng.random(shape)
    x[x < blank] = 0
    return x


def _nonzero_biases(net, rng):
    for key in net.params:  # so that a bias added in the wrong place would show
        if key.startswith("b"):
            net.params[key][...] = rng.uniform(-0.1, 0.1, net.params[key].shape)


def _check(net, x, lanes=(1, 2), rtol=1e-10):
    """The fused pass in one lane and in two equals the layers' predict."""
    fused = fused_step(net)
    assert isinstance(fused, FusedConvNet)
    expected = net.predict(x)
    for n_lanes in lanes:
        fused.lanes = n_lanes
        got = fused.predict(x)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    return fused


@pytest.mark.parametrize(
    ("input_dim", "conv_param", "n"),
    [
        ((1, 28, 28), None, 17),  # the book's network, halves of 9 and 8
        ((1, 12, 12), {"filter_num": 4, "filter_size": 5}, 1),  # one image
        ((2, 10, 10), {"filter_num": 3, "filter_size": 3, "pad": 1}, 33),  # padding, 2 channels
        ((3, 9, 9), {"filter_num": 2, "filter_size": 3, "pad": 2, "stride": 2}, 16),  # stride
        ((1, 7, 11), {"filter_num": 3, "filter_size": 2, "pad": 0}, 20),  # not square
        ((1, 9, 8), {"filter_num": 2, "filter_size": 3, "stride": 2}, 5),  # sizes that floor
    ],
)
def test_simple_convnet_inference_equals_the_layers(input_dim, conv_param, n):
    net = SimpleConvNet(input_dim, conv_param, 6, 4, weight_init_std=0.3, rng=1, dtype=np.float64)
    rng = np.random.default_rng(2)
    _nonzero_biases(net, rng)
    _check(net, _images(rng, (n, *input_dim)))


@pytest.mark.parametrize(
    ("input_dim", "conv", "n"),
    [
        ((1, 12, 12), {}, 3),
        ((1, 13, 11), {}, 19),  # odd sides: every pooling floors somewhere
        ((2, 16, 16), {"conv_param_3": {"filter_num": 5, "filter_size": 5, "pad": 2}}, 16),
        ((1, 14, 14), {"conv_param_2": {"filter_num": 4, "filter_size": 4, "pad": 0}}, 21),
    ],
)
def test_deep_convnet_inference_equals_the_layers_with_dropout_as_the_identity(input_dim, conv, n):
    kwargs = {"input_dim": input_dim, "hidden_size": 7, "output_size": 3, **conv}
    net = DeepConvNet(rng=5, dtype=np.float64, dropout_ratio=0.5, **kwargs)
    rng = np.random.default_rng(6)
    _nonzero_biases(net, rng)
    state = net.rng.bit_generator.state
    fused = _check(net, _images(rng, (n, *input_dim)))
    assert fused.inference_tail is not None  # the batch-innermost tail, not the layers
    assert net.rng.bit_generator.state == state  # no dropout mask drawn


def test_float32_stays_float32_and_close_to_the_layers():
    net = DeepConvNet((1, 16, 16), hidden_size=9, output_size=4, rng=0)
    x = _images(np.random.default_rng(1), (18, 1, 16, 16)).astype(np.float32)
    got = fused_step(net).predict(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, net.predict(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("chunk_bytes", [1, 5_000])
def test_columns_a_few_rows_at_a_time_give_the_same_scores(monkeypatch, chunk_bytes):
    from dlzero.fast import stages

    monkeypatch.setattr(stages, "_CHUNK_BYTES", chunk_bytes)
    net = DeepConvNet((1, 12, 12), hidden_size=6, output_size=3, rng=3, dtype=np.float64)
    _check(net, _images(np.random.default_rng(0), (17, 1, 12, 12)))


def _stage_net(tail, rng):
    conv = Convolution(rng.standard_normal((3, 2, 3, 3)), rng.uniform(-0.1, 0.1, 3), pad=1)
    return Sequential([conv, Relu(), Pooling(2, 2), *tail])


@pytest.mark.parametrize(
    "make_tail",
    [
        # ReLU straight after the stages (a second ReLU), ReLU after the last affine.
        lambda r: [Relu(), Affine(r.standard_normal((27, 4)), r.standard_normal(4)), Relu()],
        # Dropout first, two affines with nothing between them.
        lambda r: [
            Dropout(0.3, rng=0),
            Affine(r.standard_normal((27, 5)), r.standard_normal(5)),
            Affine(r.standard_normal((5, 2)), r.standard_normal(2)),
        ],
    ],
)
def test_tails_of_affines_relus_and_dropout_run_batch_innermost(make_tail):
    rng = np.random.default_rng(0)
    net = _stage_net(make_tail(rng), rng)
    fused = _check(net, _images(rng, (17, 2, 6, 6)))
    assert fused.inference_tail is not None


@pytest.mark.parametrize(
    "make_tail",
    [
        lambda r: [Affine(r.standard_normal((27, 4)), r.standard_normal(4)), Sigmoid()],
        lambda r: [
            Affine(r.standard_normal((27, 4)), r.standard_normal(4)),
            BatchNormalization(r.uniform(0.5, 1.5, 4), r.standard_normal(4)),
            Relu(),
            Affine(r.standard_normal((4, 3)), r.standard_normal(3)),
        ],
        lambda r: [],  # the flattened feature maps are the scores
    ],
)
def test_other_tails_run_through_their_layers_after_both_lanes(make_tail):
    rng = np.random.default_rng(1)
    net = _stage_net(make_tail(rng), rng)
    if any(isinstance(layer, BatchNormalization) for layer in net.layers.values()):
        net.layers["BatchNormalization1"].running_mean[...] = rng.standard_normal(4)
    assert fused_step(net).inference_tail is None
    _check(net, _images(rng, (18, 2, 6, 6)))


def test_an_affine_that_does_not_fit_the_stages_gets_the_layers_message():
    rng = np.random.default_rng(0)
    net = _stage_net([Affine(rng.standard_normal((26, 4)), np.zeros(4))], rng)
    x = _images(rng, (17, 2, 6, 6))
    with pytest.raises(ValueError, match=r"Affine: expected input of shape \(N, 26\)"):
        net.predict(x)
    for lanes in (1, 2):
        fused_step(net).lanes = lanes
        with pytest.raises(ValueError, match=r"Affine: expected input of shape \(N, 26\)"):
            fused_step(net).predict(x)


def test_scores_are_a_new_array_and_weights_changed_in_place_are_used():
    net = SimpleConvNet((1, 8, 8), {"filter_num": 3, "filter_size": 3}, 5, 3, 0.3, rng=0)
    net = net.astype(np.float64)
    rng = np.random.default_rng(0)
    x = _images(rng, (20, 1, 8, 8))
    first = fused_step(net).predict(x)
    kept = first.copy()
    for n in (20, 7, 20):  # buffers for each size, reused
        net.params["W1"] -= 0.1
        net.params["b3"] += 0.1
        _check(net, x[:n])
    np.testing.assert_array_equal(first, kept)


def test_a_snapshot_predicts_in_one_lane_with_the_weights_of_its_time():
    net = DeepConvNet((1, 12, 12), hidden_size=6, output_size=3, rng=2, dtype=np.float64)
    x = _images(np.random.default_rng(0), (20, 1, 12, 12))
    before = net.predict(x)
    snap = fused_step(net).snapshot()
    for p in net.params.values():
        p += 0.5
    assert snap.lanes == 1
    np.testing.assert_allclose(snap.predict(x), before, rtol=1e-10)


def test_predictor_and_accuracy_run_the_fused_pass_on_one_blas_thread(monkeypatch):
    if not [i for i in threadpool_info() if i["user_api"] == "blas"]:
        pytest.skip("no BLAS threadpoolctl knows")
    net = DeepConvNet((1, 12, 12), hidden_size=6, output_size=3, rng=2)
    x = _images(np.random.default_rng(0), (40, 1, 12, 12)).astype(np.float32)
    t = np.arange(40) % 3
    seen = []
    original = FusedConvNet.predict

    def spy(self, images):
        seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
        return original(self, images)

    monkeypatch.setattr(FusedConvNet, "predict", spy)
    with threadpool_limits(2, user_api="blas"):
        scores = predictor(net)(x)
        acc = accuracy(net, x, t, batch_size=16)
    assert seen == [1, 1, 1, 1]  # predictor's call, then accuracy's three chunks
    np.testing.assert_allclose(scores, net.predict(x), rtol=1e-4, atol=1e-5)
    assert acc == net.accuracy(x, t, batch_size=16)
