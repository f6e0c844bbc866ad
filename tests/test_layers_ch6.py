"""Tests of the chapter-6 layers: Tanh, Dropout, BatchNormalization.

Every backward is checked against numerical gradients in float64; the statistics that define
each layer (kept share, per-feature mean and variance, running averages) are checked against
formulas written out here.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlzero.gradient import numerical_gradient
from dlzero.layers import BatchNormalization, Dropout, Tanh


def _rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def _assert_close(analytic, numeric, what="dx"):
    # Relative error, with an absolute floor for gradients that are zero up to eps: batch norm
    # of two values per feature gives outputs of exactly +-1 (less eps), whatever the input.
    err = _rel_err(analytic, numeric)
    assert err < 1e-6 or np.max(np.abs(analytic - numeric)) < 1e-10, (what, err)


def _check_layer(layer, x, rng, *, train_flg=None, params=()):
    """Backward of ``layer`` (dx and the named parameter gradients) against numerical gradients
    of ``<forward(x), w>`` for a random ``w``."""
    w = rng.standard_normal(x.shape)

    def fwd(a):
        return layer.forward(a) if train_flg is None else layer.forward(a, train_flg)

    fwd(x)
    dx = layer.backward(w.copy())
    analytic = {name: getattr(layer, "d" + name).copy() for name in params}
    assert dx.shape == x.shape
    _assert_close(dx, numerical_gradient(lambda a: float(np.sum(fwd(a) * w)), x))
    for name in params:
        num = numerical_gradient(lambda _: float(np.sum(fwd(x) * w)), getattr(layer, name))
        _assert_close(analytic[name], num, name)


# -- Tanh ----------------------------------------------------------------------------------


@given(st.integers(1, 5), st.integers(1, 7), st.integers(0, 10_000))
@settings(max_examples=15, deadline=None)
def test_tanh_backward(n, d, seed):
    rng = np.random.default_rng(seed)
    _check_layer(Tanh(), 2 * rng.standard_normal((n, d)), rng)


def test_tanh_forward_values_and_dtype():
    x = np.array([[-1.0, 0.0, 2.0]], dtype=np.float32)
    out = Tanh().forward(x)
    assert out.dtype == np.float32
    expected = [(np.exp(2 * v) - 1) / (np.exp(2 * v) + 1) for v in (-1.0, 0.0, 2.0)]
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)


# -- Dropout -------------------------------------------------------------------------------


@given(
    st.integers(1, 5),
    st.integers(1, 7),
    st.sampled_from([0.0, 0.2, 0.5, 0.8]),
    st.integers(0, 10_000),
)
@settings(max_examples=15, deadline=None)
def test_dropout_backward_with_fixed_mask(n, d, ratio, seed):
    rng = np.random.default_rng(seed)
    layer = Dropout(ratio, rng=seed)
    layer.fixed_mask = True
    x = rng.standard_normal((n, d))
    _check_layer(layer, x, rng, train_flg=True)
    # The gradient is zero exactly where a unit was dropped (numpy-ml's Dropout bug).
    dx = layer.backward(np.ones_like(x))
    assert np.all((dx == 0) == ~layer.mask)


def test_dropout_is_inverted_scaling_at_train_time_identity_at_inference():
    layer = Dropout(0.25, rng=0)
    x = np.full((400, 500), 2.0)
    out = layer.forward(x, train_flg=True)
    kept = out != 0
    assert np.array_equal(kept, layer.mask)
    # Kept values are divided by 1 - ratio, so the expected output equals the input.
    assert np.all(out[kept] == 2.0 / 0.75)
    assert kept.mean() == pytest.approx(0.75, abs=0.005)
    assert out.mean() == pytest.approx(2.0, abs=0.02)
    assert layer.forward(x, train_flg=False) is x
    # After an inference forward, backward passes the gradient through unchanged.
    dout = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(layer.backward(dout), dout)


def test_dropout_mask_comes_from_the_generator():
    x = np.ones((10, 20))
    a = Dropout(0.5, rng=7).forward(x, train_flg=True)
    b = Dropout(0.5, rng=np.random.default_rng(7)).forward(x, train_flg=True)
    c = Dropout(0.5, rng=8).forward(x, train_flg=True)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dropout_fixed_mask_reuses_the_mask_and_checks_its_shape():
    layer = Dropout(0.5, rng=0)
    x = np.ones((6, 8))
    first = layer.forward(x, train_flg=True)
    assert not np.array_equal(first, layer.forward(x, train_flg=True))  # fresh mask each time
    layer.fixed_mask = True
    second = layer.forward(x, train_flg=True)
    assert np.array_equal(second, layer.forward(x, train_flg=True))
    with pytest.raises(ValueError, match=r"fixed_mask.*\(6, 8\).*\(3, 8\)"):
        layer.forward(np.ones((3, 8)), train_flg=True)


def test_dropout_ratio_zero_keeps_everything_and_float32_stays_float32():
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    out = Dropout(0.0, rng=0).forward(x, train_flg=True)
    assert out.dtype == np.float32
    assert np.array_equal(out, x)
    assert Dropout(0.5, rng=0).forward(x, train_flg=True).dtype == np.float32


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5, float("nan"), True, "0.5", None])
def test_dropout_ratio_outside_0_1_is_rejected(ratio):
    with pytest.raises(ValueError, match="dropout_ratio must be"):
        Dropout(ratio)


# -- BatchNormalization --------------------------------------------------------------------


def _spread(x, axes, rng):
    """Give each feature a standard deviation between 1 and 3 and a random mean.

    With a few samples a feature's values can land close together; batch norm then divides
    by a tiny std and the central difference's O(h**2) error swamps the check, a property of
    the numerical derivative, not of the layer.
    """
    mean, std = x.mean(axis=axes, keepdims=True), x.std(axis=axes, keepdims=True)
    scale = rng.uniform(1.0, 3.0, mean.shape)
    return (x - mean) / np.maximum(std, 1e-12) * scale + rng.normal(0.0, 2.0, mean.shape)


def _bn(rng, size, **kwargs):
    return BatchNormalization(
        1.0 + 0.5 * rng.standard_normal(size), rng.standard_normal(size), **kwargs
    )


@given(st.integers(2, 6), st.integers(1, 5), st.integers(0, 10_000))
@settings(max_examples=15, deadline=None)
def test_batchnorm_2d_backward(n, d, seed):
    rng = np.random.default_rng(seed)
    x = _spread(rng.standard_normal((n, d)), (0,), rng)
    _check_layer(_bn(rng, d), x, rng, train_flg=True, params=("gamma", "beta"))


@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(0, 10_000),
)
@settings(max_examples=10, deadline=None)
def test_batchnorm_4d_backward(n, c, h, w, seed):
    if n * h * w < 2:
        n = 2
    rng = np.random.default_rng(seed)
    x = _spread(rng.standard_normal((n, c, h, w)), (0, 2, 3), rng)
    _check_layer(_bn(rng, c), x, rng, train_flg=True, params=("gamma", "beta"))


def test_batchnorm_inference_backward():
    rng = np.random.default_rng(3)
    layer = _bn(rng, 4, running_mean=rng.standard_normal(4), running_var=rng.random(4) + 0.5)
    _check_layer(layer, rng.standard_normal((3, 4)), rng, train_flg=False, params=("gamma", "beta"))


def test_batchnorm_training_output_has_beta_mean_and_gamma_std():
    rng = np.random.default_rng(0)
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0])
    layer = BatchNormalization(gamma, beta, eps=1e-12)
    x = rng.standard_normal((50, 3)) * [1.0, 10.0, 0.1] + [5.0, -2.0, 0.0]
    out = layer.forward(x, train_flg=True)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-9)


def test_batchnorm_4d_is_per_channel():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5, 2)) * np.array([1.0, 3.0, 0.2])[:, None, None] + 7.0
    layer = BatchNormalization(np.ones(3), np.zeros(3), eps=1e-12)
    out = layer.forward(x, train_flg=True)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1.0, rtol=1e-9)
    # Same as normalizing each channel's values by hand.
    for ch in range(3):
        v = x[:, ch]
        np.testing.assert_allclose(out[:, ch], (v - v.mean()) / v.std(), rtol=1e-9)


def test_batchnorm_running_statistics_and_inference():
    x1 = np.array([[1.0, 10.0], [3.0, 14.0]])  # mean (2, 12), biased var (1, 4)
    x2 = np.array([[0.0, 0.0], [4.0, 2.0]])  # mean (2, 1), biased var (4, 1)
    layer = BatchNormalization(np.array([2.0, 1.0]), np.array([0.5, 0.0]), momentum=0.9)
    assert layer.running_mean.tolist() == [0.0, 0.0]
    assert layer.running_var.tolist() == [1.0, 1.0]
    layer.forward(x1, train_flg=True)
    np.testing.assert_allclose(layer.running_mean, [0.1 * 2.0, 0.1 * 12.0])
    np.testing.assert_allclose(layer.running_var, [0.9 + 0.1 * 1.0, 0.9 + 0.1 * 4.0])
    layer.forward(x2, train_flg=True)
    mean = [0.9 * 0.2 + 0.1 * 2.0, 0.9 * 1.2 + 0.1 * 1.0]
    var = [0.9 * 1.0 + 0.1 * 4.0, 0.9 * 1.3 + 0.1 * 1.0]
    np.testing.assert_allclose(layer.running_mean, mean)
    np.testing.assert_allclose(layer.running_var, var)
    # Inference uses the running statistics, not the batch's, and changes no state.
    x = np.array([[1.0, 2.0]])
    out = layer.forward(x, train_flg=False)
    expected = [
        2.0 * (1.0 - mean[0]) / np.sqrt(var[0] + 1e-6) + 0.5,
        1.0 * (2.0 - mean[1]) / np.sqrt(var[1] + 1e-6),
    ]
    np.testing.assert_allclose(out[0], expected)
    np.testing.assert_allclose(layer.running_mean, mean)


def test_batchnorm_shares_params_casts_state_and_keeps_float32():
    gamma, beta = np.ones(3, dtype=np.float32), np.zeros(3, dtype=np.float32)
    layer = BatchNormalization(gamma, beta)
    assert layer.params["gamma"] is gamma and layer.params["beta"] is beta
    assert layer.running_mean.dtype == np.float32 and layer.running_var.shape == (3,)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert layer.forward(x, train_flg=True).dtype == np.float32
    assert layer.running_var.dtype == np.float32
    assert layer.backward(np.ones_like(x)).dtype == np.float32
    layer.cast(np.float64)
    assert layer.running_mean.dtype == np.float64 and layer.gamma.dtype == np.float64


def test_batchnorm_batch_of_one_in_training_warns_gives_beta_and_checks_numerically():
    # The book's batch_norm_gradient_check.py trains on one sample: allowed, with a warning.
    rng = np.random.default_rng(0)
    gamma, beta = rng.standard_normal(3) + 2, rng.standard_normal(3)
    layer = BatchNormalization(gamma, beta)
    x = rng.standard_normal((1, 3))
    with pytest.warns(RuntimeWarning, match="batch of one"):
        out = layer.forward(x, train_flg=True)
    np.testing.assert_array_equal(out, beta[None, :])  # zero variance: every output is beta
    with pytest.warns(RuntimeWarning, match="batch of one"):
        _check_layer(layer, x, rng, train_flg=True, params=("gamma", "beta"))
    np.testing.assert_array_equal(layer.dgamma, 0)  # the output does not depend on gamma
    with pytest.warns(RuntimeWarning, match="batch of one"):
        BatchNormalization(np.ones(2), np.zeros(2)).forward(np.ones((1, 2, 1, 1)))
    with pytest.raises(ValueError, match="empty batch"):
        layer.forward(np.ones((0, 3)), train_flg=True)
    # At inference a single sample uses the running statistics, without a warning.
    assert layer.forward(np.ones((1, 3)), train_flg=False).shape == (1, 3)


@pytest.mark.parametrize(
    ("gamma", "beta", "kwargs", "match"),
    [
        (np.ones((2, 2)), np.zeros((2, 2)), {}, "1-D"),
        (np.ones(3), np.zeros(2), {}, "same shape"),
        (np.ones(3), np.zeros(3), {"momentum": 1.0}, "momentum"),
        (np.ones(3), np.zeros(3), {"running_var": np.ones(2)}, "running_var"),
        (np.ones(3), np.zeros(3), {"eps": 0.0}, "eps"),
    ],
)
def test_batchnorm_bad_construction(gamma, beta, kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchNormalization(gamma, beta, **kwargs)


@pytest.mark.parametrize("shape", [(4, 2), (4, 3, 2), (4, 2, 2, 2), (4,)])
def test_batchnorm_wrong_input_shape(shape):
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3\)"):
        BatchNormalization(np.ones(3), np.zeros(3)).forward(np.ones(shape))
