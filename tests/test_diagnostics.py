"""Tests of layer_diagnostics: norms against NumPy, dead and saturated shares against units
built to be dead or saturated, and a network left exactly as it was."""

import json

import numpy as np
import pytest

from dlzero.functions import sigmoid
from dlzero.networks import MultiLayerNet
from dlzero.training.diagnostics import layer_diagnostics


def _state(net):
    """Every array a diagnostic must not change, copied, plus the dropout Generator's state."""
    arrays = {k: p.copy() for k, p in net.params.items()}
    for name, layer in net.layers.items():
        for s in layer.state_names:
            arrays[f"{name}.{s}"] = getattr(layer, s).copy()
    return arrays, net.rng.bit_generator.state


def test_norms_match_numpy_and_the_network_is_untouched():
    rng = np.random.default_rng(0)
    net = MultiLayerNet(5, [4, 3], 3, use_batchnorm=True, use_dropout=True, rng=1)
    x, t = rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 3, 8)
    before, rng_state = _state(net)
    expected = MultiLayerNet(5, [4, 3], 3, use_batchnorm=True, use_dropout=True, rng=1)
    expected_grads = expected.gradient(x, t)  # same seed: same weights and dropout masks

    diag = layer_diagnostics(net, x, t)

    assert [p.name for p in diag.params] == list(net.params)
    for p in diag.params:
        assert p.shape == net.params[p.name].shape
        assert p.weight_norm == pytest.approx(np.linalg.norm(net.params[p.name]), rel=1e-6)
        assert p.grad_norm == pytest.approx(np.linalg.norm(expected_grads[p.name]), rel=1e-5)
    after, rng_after = _state(net)
    assert rng_after == rng_state
    for key, value in before.items():
        assert np.array_equal(after[key], value), key


def test_a_convnet_gets_the_gradient_of_its_layers_and_keeps_no_im2col_matrix():
    # The gradient comes from the fused step on a copy (same dropout masks as the layers'), and
    # the activations pass runs on shallow copies: no layer of the network keeps its input.
    from dlzero.convnets import DeepConvNet

    kwargs = {"input_dim": (1, 12, 12), "hidden_size": 6, "output_size": 3, "dtype": np.float64}
    net, twin = DeepConvNet(rng=4, **kwargs), DeepConvNet(rng=4, **kwargs)
    rng = np.random.default_rng(0)
    x, t = rng.random((5, 1, 12, 12)), rng.integers(0, 3, 5)
    before, rng_state = _state(net)
    expected = twin.gradient(x, t)  # the layers, with the same masks
    diag = layer_diagnostics(net, x, t)
    for p in diag.params:
        assert p.grad_norm == pytest.approx(np.linalg.norm(expected[p.name]), rel=1e-9)
    relus = [a for a in diag.activations if a.layer.startswith("Relu")]
    assert len(relus) == 7 and all(a.dead_share is not None for a in relus)
    assert all(getattr(layer, "col", None) is None for layer in net.layers.values())
    assert all(getattr(layer, "x", None) is None for layer in net.layers.values())
    after, rng_after = _state(net)
    assert rng_after == rng_state
    for key, value in before.items():
        assert np.array_equal(after[key], value), key


def test_given_grads_are_used_and_none_without_labels():
    net = MultiLayerNet(3, [2], 2, rng=0)
    x = np.ones((4, 3), dtype=np.float32)
    grads = {k: np.full_like(p, 2.0) for k, p in net.params.items()}
    diag = layer_diagnostics(net, x, grads=grads)
    w1 = diag.params[0]
    assert w1.grad_norm == pytest.approx(2.0 * np.sqrt(6))
    assert w1.grad_to_weight == pytest.approx(w1.grad_norm / w1.weight_norm)
    assert diag.params[1].grad_to_weight == float("inf")  # zero bias, nonzero gradient
    assert all(p.grad_norm is None for p in layer_diagnostics(net, x).params)
    with pytest.raises(ValueError, match="not both"):
        layer_diagnostics(net, x, np.zeros(4, int), grads=grads)
    with pytest.raises(ValueError, match=r"no entry for \['b2'\]"):
        layer_diagnostics(net, x, grads={k: v for k, v in grads.items() if k != "b2"})


def test_dead_relu_units_are_counted():
    net = MultiLayerNet(4, [10, 6], 3, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((50, 4))
    net.params["b1"][:4] = -1e3  # four units of ten can never be positive
    net.params["b2"][:] = -1e3  # the whole second layer is dead
    diag = layer_diagnostics(net, x)
    first, second = diag.activations
    assert (first.layer, first.kind, first.units) == ("Activation_function1", "relu", 10)
    # The other six may be dead on this batch too, but only if all 50 pre-activations are <= 0.
    pre = x @ net.params["W1"][:, 4:]
    assert first.dead_share == pytest.approx(0.4 + np.mean(np.all(pre <= 0, axis=0)) * 0.6)
    assert second.dead_share == 1.0
    assert first.saturated_share is None
    problems = diag.problems()
    assert any("Activation_function2: 100% of the ReLU units are dead" in p for p in problems)
    assert not any("Activation_function1" in p for p in problems)
    assert "W1: the gradient is exactly 0" not in " ".join(problems)  # no gradient given


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_saturated_share_matches_the_definition(activation):
    rng = np.random.default_rng(2)
    net = MultiLayerNet(
        6, [20], 2, activation=activation, weight_init_std=3.0, rng=0, dtype=np.float64
    )
    x = rng.standard_normal((40, 6))
    (act,) = layer_diagnostics(net, x, saturation_tol=0.05).activations
    a = x @ net.params["W1"]
    if activation == "sigmoid":
        y = sigmoid(a)
        expected = np.mean((y < 0.05) | (y > 0.95))
    else:
        expected = np.mean(np.abs(np.tanh(a)) > 0.95)
    assert 0.2 < expected < 1.0  # the test is about something
    assert act.saturated_share == pytest.approx(expected, abs=1e-12)
    assert act.dead_share is None


def test_the_books_chapter_6_2_experiment():
    # Five sigmoid layers of 100 on standard-normal input: with weights of std 1 the outputs
    # pile up at 0 and 1; with Xavier's scale they stay in the middle.
    x = np.random.default_rng(0).standard_normal((1000, 100))
    bad = layer_diagnostics(
        MultiLayerNet(100, [100] * 5, 10, "sigmoid", weight_init_std=1.0, rng=0), x
    )
    good = layer_diagnostics(
        MultiLayerNet(100, [100] * 5, 10, "sigmoid", weight_init_std="xavier", rng=0), x
    )
    assert min(a.saturated_share for a in bad.activations) > 0.3
    assert max(a.saturated_share for a in good.activations) < 0.01
    assert len(bad.problems(saturated=0.45)) >= 1 and good.problems() == []


def test_train_flag_uses_batch_statistics_on_a_copy():
    net = MultiLayerNet(3, [4], 2, use_batchnorm=True, rng=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((30, 3)) * 5 + 10
    bn_mean = net.layers["BatchNorm1"].running_mean.copy()
    inference = layer_diagnostics(net, x).activations[0]
    training = layer_diagnostics(net, x, train_flg=True).activations[0]
    # Batch statistics centre the pre-activations, so about half the ReLU outputs are 0;
    # the running statistics (mean 0, var 1) do not centre these inputs around 10.
    assert training.mean != pytest.approx(inference.mean)
    assert np.array_equal(net.layers["BatchNorm1"].running_mean, bn_mean)


def test_flat_dict_string_and_json():
    net = MultiLayerNet(3, [2, 2], 2, activation="tanh", rng=0)
    x, t = np.ones((5, 3), dtype=np.float32), np.zeros(5, dtype=int)
    diag = layer_diagnostics(net, x, t)
    flat = diag.flat()
    assert flat["W1.weight_norm"] == diag.params[0].weight_norm
    assert flat["W3.grad_norm"] == diag.params[4].grad_norm
    assert "Activation_function2.saturated_share" in flat
    assert "Activation_function2.dead_share" not in flat
    json.dumps(diag.to_dict())
    text = str(diag)
    assert "W3" in text and "Activation_function2" in text and "tanh" in text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"saturation_tol": 0.0}, "saturation_tol"),
        ({"saturation_tol": 0.5}, "saturation_tol"),
    ],
)
def test_bad_arguments(kwargs, match):
    net = MultiLayerNet(3, [2], 2, rng=0)
    with pytest.raises(ValueError, match=match):
        layer_diagnostics(net, np.ones((2, 3)), **kwargs)
    with pytest.raises(ValueError, match="non-empty batch"):
        layer_diagnostics(net, np.ones((0, 3)))
