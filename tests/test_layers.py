"""Tests of the chapter-5 layers: backward against numerical gradients, shapes, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlzero.gradient import numerical_gradient
from dlzero.layers import AddLayer, Affine, MulLayer, Relu, Sigmoid, SoftmaxWithLoss


def _rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def _check_elementwise(layer, x, rng):
    """Backward of a layer against numerical gradients of <forward(x), w> for a random w."""
    w = rng.standard_normal(x.shape)
    layer.forward(x)
    dx = layer.backward(w.copy())
    num = numerical_gradient(lambda a: float(np.sum(layer.forward(a) * w)), x)
    assert _rel_err(dx, num) < 1e-6


@given(st.integers(1, 5), st.integers(1, 7), st.integers(0, 10_000))
@settings(max_examples=20, deadline=None)
def test_relu_and_sigmoid_backward(n, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x[np.abs(x) < 1e-3] = 0.5  # stay away from ReLU's kink, where h = 1e-4 straddles it
    _check_elementwise(Relu(), x.copy(), rng)
    _check_elementwise(Sigmoid(), x.copy(), rng)


def test_relu_backward_leaves_dout_unchanged():
    layer = Relu()
    layer.forward(np.array([[-1.0, 2.0], [3.0, -4.0]]))
    dout = np.ones((2, 2))
    dx = layer.backward(dout)
    assert dx.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert dout.tolist() == [[1.0, 1.0], [1.0, 1.0]]  # the book's Relu would zero these in place


@given(
    st.integers(1, 4),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.integers(1, 5),
    st.integers(0, 10_000),
)
@settings(max_examples=20, deadline=None)
def test_affine_gradients_any_input_shape(n, feature_shape, m, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *feature_shape))
    d = int(np.prod(feature_shape))
    W, b = rng.standard_normal((d, m)), rng.standard_normal(m)
    layer = Affine(W, b)
    w = rng.standard_normal((n, m))
    out = layer.forward(x)
    assert out.shape == (n, m)
    dx = layer.backward(w)
    assert dx.shape == x.shape

    def f(_):
        return float(np.sum(layer.forward(x) * w))

    assert _rel_err(dx, numerical_gradient(lambda a: float(np.sum(layer.forward(a) * w)), x)) < 1e-6
    layer.forward(x)
    layer.backward(w)
    dW, db = layer.dW.copy(), layer.db.copy()
    assert _rel_err(dW, numerical_gradient(f, layer.W)) < 1e-6
    assert _rel_err(db, numerical_gradient(f, layer.b)) < 1e-6


def test_affine_keeps_the_given_arrays():
    W, b = np.zeros((3, 2)), np.zeros(2)
    layer = Affine(W, b)
    assert layer.W is W and layer.b is b
    assert layer.params["W"] is W


@pytest.mark.parametrize("shape", [(5, 783), (5, 2, 391), (784,)])
def test_affine_rejects_wrong_width_before_arithmetic(shape):
    layer = Affine(np.zeros((784, 50)), np.zeros(50))
    with pytest.raises(
        ValueError, match=r"expected input of shape \(N, 784\).*W of shape \(784, 50\)"
    ):
        layer.forward(np.zeros(shape))


def test_affine_rejects_mismatched_bias():
    with pytest.raises(ValueError, match="b of shape"):
        Affine(np.zeros((3, 2)), np.zeros(3))


@pytest.mark.parametrize("labels", ["int", "onehot"])
@given(st.integers(1, 6), st.integers(2, 6), st.integers(0, 10_000))
@settings(max_examples=15, deadline=None)
def test_softmax_with_loss_backward(labels, n, c, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)) * 3
    t = rng.integers(0, c, n)
    if labels == "onehot":
        t = np.eye(c)[t]
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward()
    num = numerical_gradient(lambda a: layer.forward(a, t), x)
    assert _rel_err(dx, num) < 1e-6
    # (y - t) / N, literally
    y = np.exp(x - x.max(1, keepdims=True))
    y /= y.sum(1, keepdims=True)
    onehot = t if t.ndim == 2 else np.eye(c)[t]
    np.testing.assert_allclose(dx, (y - onehot) / n, atol=1e-12)


def test_softmax_with_loss_equal_for_labels_and_one_hot_and_finite_at_extremes():
    x = np.array([[1e4, 0.0, -1e4], [0.5, 0.1, -0.3]])
    t = np.array([2, 0])
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    la, lb = a.forward(x, t), b.forward(x, np.eye(3)[t])
    assert np.isfinite(la) and la == pytest.approx(lb)
    assert la == pytest.approx((2e4 + -np.log(np.exp(0.5) / np.exp([0.5, 0.1, -0.3]).sum())) / 2)
    np.testing.assert_allclose(a.backward(), b.backward())


def test_softmax_with_loss_dout_scales_and_single_sample():
    x = np.array([0.3, -0.2, 1.0])
    layer = SoftmaxWithLoss()
    layer.forward(x, np.array(1))
    dx1 = layer.backward()
    assert dx1.shape == (3,)
    np.testing.assert_allclose(layer.backward(2.0), 2 * dx1)


@pytest.mark.parametrize(
    ("t", "match"),
    [(np.array([0, 1]), r"labels of shape \(3,\)"), (np.zeros((3, 4)), "one-hot of shape")],
)
def test_softmax_with_loss_rejects_bad_labels(t, match):
    with pytest.raises(ValueError, match=match):
        SoftmaxWithLoss().forward(np.zeros((3, 5)), t)


def test_mul_and_add_layers_reproduce_the_apple_example():
    # Chapter 5: 2 apples at 100 yen each, 3 oranges at 150 yen, 10% tax.
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    apple = mul_apple.forward(100, 2)
    orange = mul_orange.forward(150, 3)
    total = add.forward(apple, orange)
    price = mul_tax.forward(total, 1.1)
    assert price == pytest.approx(715)
    dtotal, dtax = mul_tax.backward(1)
    dapple_price, dorange_price = add.backward(dtotal)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    dorange, dorange_num = mul_orange.backward(dorange_price)
    assert (dapple, dapple_num) == pytest.approx((2.2, 110))
    assert (dorange, dorange_num) == pytest.approx((3.3, 165))
    assert dtax == pytest.approx(650)
