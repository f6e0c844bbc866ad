"""Inputs that the book's scripts pass and dlzero accepts with the book's meaning, and the
book's ``numerical_gradient_2d`` and ``softmax_loss``.

A scalar or (1, M) bias, labels in a column (N, 1), plain numbers as optimizer parameters,
convolution and pooling on sizes the stride does not divide. Each is checked against an
independent result: the same computation in the usual form, numerical gradients, or PyTorch.
"""

import types

import numpy as np
import pytest

from dlzero.fast import fused_step, training_step
from dlzero.functions import softmax_loss
from dlzero.gradient import numerical_gradient, numerical_gradient_2d
from dlzero.layers import Affine, Convolution, Pooling, Relu, SoftmaxWithLoss
from dlzero.networks import Sequential, TwoLayerNet
from dlzero.optimizers import OPTIMIZERS, SGD, Adam


def _rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def _check_param_gradients(layer, x, rng):
    """dx and every parameter gradient of ``layer`` against numerical gradients of <out, w>."""
    w = rng.standard_normal(layer.forward(x).shape)
    dx = layer.backward(w)
    grads = {name: getattr(layer, "d" + name).copy() for name in layer.param_names}

    def f(_):
        return float(np.sum(layer.forward(x) * w))

    for name, g in grads.items():
        assert g.shape == getattr(layer, name).shape, name
        assert _rel_err(g, numerical_gradient(f, getattr(layer, name))) < 1e-7, name
    num_dx = numerical_gradient(lambda a: float(np.sum(layer.forward(a) * w)), x)
    assert _rel_err(dx, num_dx) < 1e-7


# -- biases that broadcast ---------------------------------------------------------------------


def test_convolution_scalar_bias_as_the_book_passes_it():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    layer = Convolution(W, 0)  # the book's apply_filter.py: Convolution(w, b) with b = 0
    # An integer bias takes the filters' dtype, so the output stays float32 and can train.
    assert layer.b.shape == () and layer.b.dtype == np.float32
    out = layer.forward(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, Convolution(W, np.zeros(3, np.float32)).forward(x))
    shifted = Convolution(W, 0.5).forward(x)
    np.testing.assert_allclose(shifted, out + 0.5, rtol=1e-6)


def test_convolution_scalar_bias_gradient_checks_and_trains():
    rng = np.random.default_rng(1)
    layer = Convolution(rng.standard_normal((2, 2, 3, 3)), 0.3, stride=2, pad=1)
    x = rng.standard_normal((2, 2, 5, 5))
    _check_param_gradients(layer, x, rng)
    assert layer.db.shape == ()
    before = float(layer.b)
    SGD(lr=0.1).update(layer.params, layer.grads)  # in place, shapes fit
    assert float(layer.b) == pytest.approx(before - 0.1 * float(layer.db))


@pytest.mark.parametrize("shape", [(1, 4), ()])
def test_affine_row_or_scalar_bias_broadcasts_and_gradient_keeps_its_shape(shape):
    rng = np.random.default_rng(2)
    W = rng.standard_normal((5, 4))
    b = rng.standard_normal(shape)
    layer = Affine(W, b)
    assert layer.b is b
    x = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(layer.forward(x), x @ W + b)
    _check_param_gradients(layer, x, rng)
    assert layer.db.shape == shape


def test_network_with_a_row_bias_trains_as_one_with_a_vector_bias():
    # The (1, M) bias takes the layer-by-layer path (the fused step wants (M,)); both must
    # give the same training run.
    rng = np.random.default_rng(3)
    W1, W2 = rng.standard_normal((6, 5)), rng.standard_normal((5, 3))
    b1, b2 = rng.standard_normal(5), rng.standard_normal(3)
    row = Sequential([Affine(W1.copy(), b1.reshape(1, 5).copy()), Relu(), Affine(W2.copy(), b2)])
    vec = Sequential([Affine(W1.copy(), b1.copy()), Relu(), Affine(W2.copy(), b2.copy())])
    assert fused_step(row) is None and fused_step(vec) is not None
    x, t = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    opt_row, opt_vec = Adam(0.01), Adam(0.01)
    for _ in range(5):
        loss_row, g_row = training_step(row)(x, t)  # the layers
        loss_vec, g_vec = training_step(vec)(x, t)  # the fused step
        assert loss_row == pytest.approx(loss_vec, rel=1e-12)
        opt_row.update(row.params, g_row)
        opt_vec.update(vec.params, g_vec)
    assert row.params["b1"].shape == (1, 5)
    np.testing.assert_allclose(row.params["b1"][0], vec.params["b1"], rtol=1e-10)
    np.testing.assert_allclose(row.params["W1"], vec.params["W1"], rtol=1e-10)


def test_bias_shapes_that_do_not_broadcast_are_refused():
    with pytest.raises(ValueError, match=r"b of shape \(M,\) \(or \(1, M\), or a scalar\)"):
        Affine(np.zeros((5, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"b of shape \(FN,\) or a scalar; got .* b \(2, 1\)"):
        Convolution(np.zeros((2, 1, 3, 3)), np.zeros((2, 1)))


# -- labels in a column ------------------------------------------------------------------------


def test_softmax_with_loss_takes_labels_in_a_column():
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    flat, column = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert column.forward(x, t.reshape(5, 1)) == flat.forward(x, t)
    np.testing.assert_array_equal(column.backward(), flat.backward())
    # A float column is not labels: refused, with the shapes that would do.
    with pytest.raises(ValueError, match=r"labels of shape \(5,\), got shape \(5, 1\)"):
        SoftmaxWithLoss().forward(x, t.reshape(5, 1).astype(float))


def test_networks_take_labels_in_a_column_on_every_path():
    # The layer path (gradient), the fused step (loss_and_gradient) and accuracy.
    rng = np.random.default_rng(5)
    net = TwoLayerNet(6, 5, 3, rng=0, dtype=np.float64)
    x, t = rng.standard_normal((7, 6)), rng.integers(0, 3, 7)
    expected = {k: v.copy() for k, v in net.gradient(x, t).items()}
    for key, g in net.gradient(x, t.reshape(7, 1)).items():
        np.testing.assert_array_equal(g, expected[key])
    loss, grads = training_step(net)(x, t.reshape(7, 1))  # the fused step
    assert loss == pytest.approx(net.loss(x, t), rel=1e-12)
    for key, g in grads.items():
        np.testing.assert_allclose(g, expected[key], rtol=1e-10, atol=1e-14)
    assert net.accuracy(x, t.reshape(7, 1)) == net.accuracy(x, t)


# -- optimizers on plain numbers -----------------------------------------------------------------


def _descend(opt, params, steps=30):
    """The book's optimizer comparison: minimize x**2 / 20 + y**2 from (-7, 2)."""
    path = []
    for _ in range(steps):
        x, y = params["x"], params["y"]
        path.append((float(np.ravel(x)[0]), float(np.ravel(y)[0])))
        opt.update(params, {"x": x / 10.0, "y": 2.0 * y})
    return path


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_updates_plain_numbers_as_it_updates_arrays(name):
    numbers = {"x": -7.0, "y": 2.0}
    arrays = {"x": np.array([-7.0]), "y": np.array([2.0])}
    path = _descend(OPTIMIZERS[name](lr=0.1), numbers)
    assert path == _descend(OPTIMIZERS[name](lr=0.1), arrays)
    assert type(numbers["x"]) is float and numbers["x"] == arrays["x"][0]
    assert path[-1] != path[0]  # it moved


def test_optimizer_gradients_may_be_integers_and_numbers_may_be_numpy_scalars():
    params = {"x": np.float32(1.5), "y": 2}
    SGD(lr=0.5).update(params, {"x": 1, "y": np.float64(2.0)})
    assert params == {"x": 1.0, "y": 1.0}


@pytest.mark.parametrize(
    ("params", "grads", "match"),
    [
        ({"x": [1.0, 2.0]}, {"x": [1.0, 2.0]}, r"'x' must be a NumPy array of floats .* got list"),
        ({"x": "7"}, {"x": 1.0}, r"'x' must be a NumPy array .* got str '7'"),
        ({"x": True}, {"x": 1.0}, r"got bool True"),
        ({"x": np.arange(3)}, {"x": np.ones(3)}, r"'x' is an array of int64; it must be floating"),
        ({"x": 1.0}, {"x": "a"}, r"the gradient of 'x' must be a number, got str 'a'"),
        ({"x": 1.0}, {"y": 1.0}, r"no gradient for parameter 'x'"),
        (
            types.MappingProxyType({"x": 1.0}),
            {"x": 1.0},
            r"'x' is a number, .* params must then be a dict, got mappingproxy",
        ),
    ],
)
def test_optimizer_refuses_what_it_cannot_update_and_says_what_it_expected(params, grads, match):
    for cls in (SGD, Adam):
        with pytest.raises(ValueError, match=match):
            cls().update(params, grads)
    if isinstance(params, dict):
        assert params == dict(params)  # nothing was changed


# -- sizes the stride does not divide -------------------------------------------------------------


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "pad", "out_hw"),
    [
        ((2, 2, 8, 6), (3, 2, 3, 3), 3, 1, (3, 2)),  # (8+2-3)/3 + 1 = 3.3, (6+2-3)/3 + 1 = 2.7
        ((1, 1, 6, 6), (2, 1, 2, 2), 3, 0, (2, 2)),  # rows 2 and 5 are in no window
    ],
)
def test_convolution_floors_and_its_gradients_check(x_shape, w_shape, stride, pad, out_hw):
    rng = np.random.default_rng(6)
    layer = Convolution(rng.standard_normal(w_shape), rng.standard_normal(w_shape[0]), stride, pad)
    x = rng.standard_normal(x_shape)
    assert layer.forward(x).shape[2:] == out_hw
    _check_param_gradients(layer, x, rng)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_floors_and_its_gradient_checks(mode):
    rng = np.random.default_rng(7)
    # Distinct values, far apart: a nudge never changes which value is a window's maximum.
    x = rng.permutation(2 * 2 * 7 * 8).reshape(2, 2, 7, 8) * 0.01
    layer = Pooling(3, 3, stride=2, mode=mode)  # (7-3)/2+1 = 3, (8-3)/2+1 = 3.5 -> 3
    out = layer.forward(x)
    assert out.shape == (2, 2, 3, 3)
    w = rng.standard_normal(out.shape)
    dx = layer.backward(w)
    num = numerical_gradient(lambda a: float(np.sum(layer.forward(a) * w)), x)
    assert _rel_err(dx, num) < 1e-7
    assert not np.any(dx[:, :, :, 7])  # the last column is in no window


def test_convolution_and_pooling_floor_as_pytorch_does():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 10, 9))
    W, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv = Convolution(W, b, stride=2, pad=1)
    out = conv.forward(x)
    tx = torch.tensor(x, requires_grad=True)
    tW, tb = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    tout = torch.nn.functional.conv2d(tx, tW, tb, stride=2, padding=1)
    assert out.shape == tuple(tout.shape) == (2, 4, 5, 5)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.backward(dout), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.dW, tW.grad.numpy(), rtol=1e-10, atol=1e-12)

    pool = Pooling(2, 2, stride=2)
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.max_pool2d(tx, 2, stride=2)
    np.testing.assert_array_equal(pool.forward(x), tout.detach().numpy())
    dpool = rng.standard_normal(tout.shape)
    tout.backward(torch.tensor(dpool))
    np.testing.assert_array_equal(pool.backward(dpool), tx.grad.numpy())


# -- the book's numerical_gradient_2d and softmax_loss ---------------------------------------------


def test_numerical_gradient_2d_gives_the_gradient_at_each_row():
    # The book's chapter-4 field of f(x0, x1) = x0**2 + x1**2: the gradient at (a, b) is 2(a, b).
    points = np.array([[-2.0, 1.0], [0.5, 3.0], [0.0, 0.0]])
    calls = []

    def f(x):
        calls.append(x.shape)
        return float(np.sum(x**2))

    grad = numerical_gradient_2d(f, points)
    np.testing.assert_allclose(grad, 2 * points, atol=1e-8)
    assert set(calls) == {(2,)}  # f sees one point at a time
    np.testing.assert_array_equal(points, [[-2.0, 1.0], [0.5, 3.0], [0.0, 0.0]])  # restored
    np.testing.assert_allclose(numerical_gradient_2d(f, np.array([3.0, -4.0])), [6, -8])
    with pytest.raises(ValueError, match=r"1-D \(one point\) or 2-D .* got shape \(2, 2, 2\)"):
        numerical_gradient_2d(f, np.zeros((2, 2, 2)))


def test_softmax_loss_is_the_cross_entropy_of_the_softmax():
    x = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    t = np.array([1, 2])
    p = [np.exp(row[k]) / np.exp(row).sum() for row, k in zip(x, t, strict=True)]
    expected = -np.mean(np.log(np.array(p) + 1e-7))
    assert softmax_loss(x, t) == pytest.approx(expected, rel=1e-12)
    assert softmax_loss(x, np.eye(3)[t]) == pytest.approx(expected, rel=1e-12)  # one-hot
