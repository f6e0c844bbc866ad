"""Tests of im2col/col2im, Convolution and Pooling: oracles, adjoints, numerical gradients."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlzero.gradient import numerical_gradient
from dlzero.layers import Convolution, Pooling
from dlzero.layers.im2col import col2im, conv_output_size, im2col


def _rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


# -- independent oracles: plain loops over every output pixel, and the book's own code ----------


def _conv_loops(x, W, b, stride, pad):
    n, _, h, w = x.shape
    fn, _, fh, fw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    out = np.zeros((n, fn, oh, ow))
    for i in range(n):
        for f in range(fn):
            for y in range(oh):
                for x_ in range(ow):
                    win = xp[i, :, y * stride : y * stride + fh, x_ * stride : x_ * stride + fw]
                    out[i, f, y, x_] = np.sum(win * W[f]) + b[f]
    return out


def _pool_loops(x, ph, pw, stride, pad, mode):
    n, c, h, w = x.shape
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    oh, ow = (h + 2 * pad - ph) // stride + 1, (w + 2 * pad - pw) // stride + 1
    out = np.zeros((n, c, oh, ow))
    for y in range(oh):
        for x_ in range(ow):
            win = xp[:, :, y * stride : y * stride + ph, x_ * stride : x_ * stride + pw]
            out[:, :, y, x_] = win.max(axis=(2, 3)) if mode == "max" else win.mean(axis=(2, 3))
    return out


def _book_im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """``common/util.py`` of the book, verbatim but for names."""
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def _book_col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return img[:, :, pad : H + pad, pad : W + pad]


def _book_max_pool_backward(x, dout, ph, pw, stride):
    """The book's Pooling.backward: argmax over im2col rows, scatter, col2im (pad 0)."""
    col = _book_im2col(x, ph, pw, stride).reshape(-1, ph * pw)
    arg_max = np.argmax(col, axis=1)
    d = dout.transpose(0, 2, 3, 1)
    dmax = np.zeros((d.size, ph * pw))
    dmax[np.arange(arg_max.size), arg_max.flatten()] = d.flatten()
    dcol = dmax.reshape(*d.shape, ph * pw).reshape(d.shape[0] * d.shape[1] * d.shape[2], -1)
    return _book_col2im(dcol, x.shape, ph, pw, stride)


# Shapes (N, C, H, W, FH, FW, stride, pad) where the filter fits the padded input. The stride
# need not divide H + 2 pad - FH: then the output size floors, and the last rows or columns
# that no whole window reaches are left out (up to stride - 1 of them, drawn as ``extra``).
@st.composite
def conv_shapes(draw, max_filter=3):
    stride = draw(st.integers(1, 3))
    pad = draw(st.integers(0, 2))
    fh, fw = draw(st.integers(1, max_filter)), draw(st.integers(1, max_filter))
    oh, ow = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    extra_h, extra_w = draw(st.integers(0, stride - 1)), draw(st.integers(0, stride - 1))
    h = max((oh - 1) * stride + fh - 2 * pad + extra_h, 1)
    w = max((ow - 1) * stride + fw - 2 * pad + extra_w, 1)
    # Grow the input until the filter fits the padded size.
    while h + 2 * pad < fh:
        h += 1
    while w + 2 * pad < fw:
        w += 1
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return n, c, h, w, fh, fw, stride, pad


# -- conv_output_size ------------------------------------------------------------------------


def test_conv_output_size_formula_and_padding():
    assert conv_output_size(28, 5) == 24
    assert conv_output_size(28, 3, 1, 1) == 28
    assert conv_output_size(14, 3, 1, 2) == 16  # DeepConvNet's fourth convolution
    assert conv_output_size(24, 2, 2) == 12
    assert conv_output_size(7, 3, 2, 1) == 4  # (7 + 2 - 3) / 2 + 1
    # A stride that does not divide: the size floors, as in the book's layers and PyTorch.
    assert conv_output_size(28, 3, 2, 1) == 14  # (28 + 2 - 3) / 2 + 1 = 14.5
    assert conv_output_size(25, 2, 2) == 12  # SimpleConvNet's pooling on a 29x29 input
    assert type(conv_output_size(25, 2, 2)) is int


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((4, 7, 1, 1), "filter of size 7 does not fit in an input of size 4 with pad 1"),
        ((28, 5, 0, 0), "stride must be a positive integer, got 0"),
        ((28, 5, 1, -1), "pad must be an integer >= 0, got -1"),
        ((28.0, 5, 1, 0), "input_size must be a positive integer, got 28.0"),
    ],
)
def test_conv_output_size_errors(args, match):
    with pytest.raises(ValueError, match=match):
        conv_output_size(*args)


# -- im2col / col2im -------------------------------------------------------------------------


@given(conv_shapes(), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_im2col_equals_the_books_im2col(shape, seed):
    n, c, h, w, fh, fw, stride, pad = shape
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    col = im2col(x, fh, fw, stride, pad)
    assert col.shape == (
        n * conv_output_size(h, fh, stride, pad) * conv_output_size(w, fw, stride, pad),
        c * fh * fw,
    )
    np.testing.assert_array_equal(col, _book_im2col(x, fh, fw, stride, pad))


@given(conv_shapes(), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_im2col_and_col2im_are_adjoint(shape, seed):
    n, c, h, w, fh, fw, stride, pad = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    col_shape = im2col(x, fh, fw, stride, pad).shape
    y = rng.standard_normal(col_shape)
    lhs = np.sum(im2col(x, fh, fw, stride, pad) * y)
    rhs = np.sum(x * col2im(y, x.shape, fh, fw, stride, pad))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)
    # And col2im is the book's col2im (which it must be, being im2col's adjoint).
    np.testing.assert_allclose(
        col2im(y, x.shape, fh, fw, stride, pad),
        _book_col2im(y, x.shape, fh, fw, stride, pad),
        rtol=1e-12,
        atol=1e-12,
    )


def test_col2im_adds_overlapping_windows():
    # 3x3 image, 2x2 windows, stride 1: the centre pixel is in all four windows.
    x_shape = (1, 1, 3, 3)
    counts = col2im(np.ones((4, 4)), x_shape, 2, 2)
    np.testing.assert_array_equal(counts[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_im2col_col2im_keep_float32():
    x = np.ones((2, 3, 5, 5), dtype=np.float32)
    col = im2col(x, 3, 3, 1, 1)
    assert col.dtype == np.float32
    assert col2im(col, x.shape, 3, 3, 1, 1).dtype == np.float32
    assert col2im(np.ascontiguousarray(col), x.shape, 3, 3, 1, 1).dtype == np.float32


def test_im2col_col2im_errors():
    with pytest.raises(ValueError, match=r"expected images of shape \(N, C, H, W\), got shape"):
        im2col(np.zeros((28, 28)), 5, 5)
    with pytest.raises(ValueError, match=r"im2col: input of shape \(1, 1, 2, 28\): filter of"):
        im2col(np.zeros((1, 1, 2, 28)), 3, 3)
    with pytest.raises(ValueError, match=r"col must have shape \(576, 25\), got \(576, 24\)"):
        col2im(np.zeros((576, 24)), (1, 1, 28, 28), 5, 5)


# -- Convolution -----------------------------------------------------------------------------


@given(conv_shapes(), st.integers(1, 3), st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_convolution_forward_matches_loops(shape, fn, seed):
    n, c, h, w, fh, fw, stride, pad = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    W, b = rng.standard_normal((fn, c, fh, fw)), rng.standard_normal(fn)
    out = Convolution(W, b, stride, pad).forward(x)
    np.testing.assert_allclose(out, _conv_loops(x, W, b, stride, pad), rtol=1e-10, atol=1e-12)


@given(conv_shapes(), st.integers(1, 3), st.integers(0, 2**32 - 1))
@settings(max_examples=15, deadline=None)
def test_convolution_gradients_numerically(shape, fn, seed):
    n, c, h, w, fh, fw, stride, pad = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    layer = Convolution(rng.standard_normal((fn, c, fh, fw)), rng.standard_normal(fn), stride, pad)
    w_out = rng.standard_normal(layer.forward(x).shape)

    def f(_):  # a scalar function of the output: <forward(x), w_out>
        return float(np.sum(layer.forward(x) * w_out))

    layer.forward(x)
    dx = layer.backward(w_out)
    dW, db = layer.dW.copy(), layer.db.copy()
    assert dx.shape == x.shape and dW.shape == layer.W.shape and db.shape == layer.b.shape
    assert _rel_err(dW, numerical_gradient(f, layer.W)) < 1e-7
    assert _rel_err(db, numerical_gradient(f, layer.b)) < 1e-7
    num_dx = numerical_gradient(lambda a: float(np.sum(layer.forward(a) * w_out)), x)
    assert _rel_err(dx, num_dx) < 1e-7


def test_convolution_keeps_arrays_and_float32():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    b = np.zeros(4, dtype=np.float32)
    layer = Convolution(W, b, pad=1)
    assert layer.W is W and layer.b is b and layer.params["W"] is W
    x = rng.standard_normal((5, 2, 6, 6)).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32 and out.shape == (5, 4, 6, 6)
    dout = np.ones_like(out)
    dx = layer.backward(dout)
    assert dx.dtype == layer.dW.dtype == layer.db.dtype == np.float32
    assert np.all(dout == 1)  # backward does not write into its argument


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: Convolution(np.zeros((2, 3, 3)), np.zeros(2)),
            r"W must be 4-D .* got W \(2, 3, 3\)",
        ),
        (lambda: Convolution(np.zeros((2, 1, 3, 3)), np.zeros(3)), r"b of shape \(FN,\)"),
        (lambda: Convolution(np.zeros((2, 1, 3, 3)), np.zeros(2), stride=0), "stride must be"),
        (lambda: Convolution(np.zeros((2, 1, 3, 3)), np.zeros(2), pad=-1), "pad must be"),
    ],
)
def test_convolution_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_convolution_bad_input():
    layer = Convolution(np.zeros((2, 3, 3, 3)), np.zeros(2), stride=2)
    with pytest.raises(ValueError, match=r"expect 3 input channels, got input of shape \(1, 1"):
        layer.forward(np.zeros((1, 1, 7, 7)))
    with pytest.raises(ValueError, match=r"expected images of shape \(N, C, H, W\)"):
        layer.forward(np.zeros((3, 7, 7)))
    with pytest.raises(ValueError, match=r"Convolution: input of shape \(1, 3, 2, 7\): filter"):
        layer.forward(np.zeros((1, 3, 2, 7)))


# -- Pooling ---------------------------------------------------------------------------------


@st.composite
def pool_shapes(draw):
    n, c, h, w, ph, pw, stride, pad = draw(conv_shapes(max_filter=3))
    # Max pooling needs pad < window; shrink the pad (and regrow the input) when it is not.
    if pad >= min(ph, pw):
        pad = min(ph, pw) - 1
        while h + 2 * pad < ph:
            h += 1
        while w + 2 * pad < pw:
            w += 1
    return n, c, h, w, ph, pw, stride, pad


def _distinct_values(rng, shape):
    """Values at least 0.01 apart, so that a nudge of 1e-4 never changes a window's maximum."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0


@given(pool_shapes(), st.sampled_from(["max", "avg"]), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_pooling_forward_matches_loops(shape, mode, seed):
    n, c, h, w, ph, pw, stride, pad = shape
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    out = Pooling(ph, pw, stride, pad, mode=mode).forward(x)
    np.testing.assert_allclose(out, _pool_loops(x, ph, pw, stride, pad, mode), rtol=1e-12)


@given(pool_shapes(), st.sampled_from(["max", "avg"]), st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_pooling_gradient_numerically(shape, mode, seed):
    n, c, h, w, ph, pw, stride, pad = shape
    rng = np.random.default_rng(seed)
    x = _distinct_values(rng, (n, c, h, w))
    layer = Pooling(ph, pw, stride, pad, mode=mode)
    w_out = rng.standard_normal(layer.forward(x).shape)
    dx = layer.backward(w_out)
    num = numerical_gradient(lambda a: float(np.sum(layer.forward(a) * w_out)), x)
    assert dx.shape == x.shape
    assert _rel_err(dx, num) < 1e-7


@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**32 - 1))
@settings(max_examples=20, deadline=None)
def test_max_pooling_backward_equals_the_books_with_ties(n, c, seed):
    # After a ReLU most windows hold zeros, some of them only zeros: every gradient must go to
    # exactly one input, the first maximum of the window, as the book's argmax sends it.
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((n, c, 6, 8)), 0)
    x[0, 0, :2, :2] = 0.0  # at least one all-zero window
    for ph, stride in ((2, 2), (3, 1), (2, 3)):
        h = 6 if (6 - ph) % stride == 0 else 5
        w = 8 if (8 - ph) % stride == 0 else 7
        xs = x[:, :, :h, :w]
        layer = Pooling(ph, ph, stride)
        dout = rng.standard_normal(layer.forward(xs).shape)
        np.testing.assert_allclose(
            layer.backward(dout), _book_max_pool_backward(xs, dout, ph, ph, stride), rtol=1e-12
        )


def test_max_pooling_tie_goes_to_first_and_overlaps_accumulate():
    layer = Pooling(2, 2, stride=2)
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, :, 2:] = [[1.0, 3.0], [3.0, 2.0]]
    np.testing.assert_array_equal(layer.forward(x), [[[[0.0, 3.0]]]])
    np.testing.assert_array_equal(
        layer.backward(np.array([[[[5.0, 7.0]]]]))[0, 0], [[5, 0, 0, 7], [0, 0, 0, 0]]
    )
    # Stride 1: the middle pixel is the maximum of both windows and gets both gradients.
    layer = Pooling(1, 2, stride=1)
    x = np.array([[[[0.0, 9.0, 1.0]]]])
    np.testing.assert_array_equal(layer.forward(x), [[[[9.0, 9.0]]]])
    np.testing.assert_array_equal(layer.backward(np.array([[[[2.0, 3.0]]]])), [[[[0, 5, 0]]]])


def test_pooling_padding_is_never_the_maximum():
    # All inputs negative: a zero-padded max pool (the book's im2col pad) would return 0.
    x = -np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    out = Pooling(2, 2, stride=2, pad=1).forward(x)
    assert out.shape == (1, 1, 3, 3)
    assert np.all(out < 0)
    assert out[0, 0, 0, 0] == -1.0


def test_pooling_keeps_float32_and_default_stride_halves():
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 6)).astype(np.float32)
    for mode in ("max", "avg"):
        layer = Pooling(2, 2, mode=mode)
        out = layer.forward(x)
        assert out.shape == (2, 3, 4, 3) and out.dtype == np.float32
        assert layer.backward(np.ones_like(out)).dtype == np.float32


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Pooling(2, 2, stride=2, pad=2), "max pooling needs pad < pool size"),
        (lambda: Pooling(2, 2, mode="mean"), "mode must be 'max' or 'avg', got 'mean'"),
        (lambda: Pooling(0, 2), "pool_h must be a positive integer, got 0"),
    ],
)
def test_pooling_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_pooling_odd_input_floors_and_too_small_input_gives_clear_error():
    x = np.random.default_rng(0).standard_normal((1, 3, 25, 25))
    out = Pooling(2, 2, stride=2).forward(x)  # the last row and column are in no window
    np.testing.assert_array_equal(out, _pool_loops(x, 2, 2, 2, 0, "max"))
    assert out.shape == (1, 3, 12, 12)
    with pytest.raises(ValueError, match=r"Pooling: input of shape \(1, 30, 1, 25\): filter"):
        Pooling(2, 2, stride=2).forward(np.zeros((1, 30, 1, 25)))


# -- against PyTorch, when it is installed ----------------------------------------------------


def test_convolution_and_pooling_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 9))
    W, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    dout = rng.standard_normal((2, 4, 5, 5))
    conv = Convolution(W, b, stride=2, pad=1)
    out = conv.forward(x)
    dx = conv.backward(dout)
    tx = torch.tensor(x, requires_grad=True)
    tW, tb = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    tout = torch.nn.functional.conv2d(tx, tW, tb, stride=2, padding=1)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.dW, tW.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.db, tb.grad.numpy(), rtol=1e-10, atol=1e-12)

    pool = Pooling(3, 3, stride=2, pad=1)
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.max_pool2d(tx, 3, stride=2, padding=1)
    np.testing.assert_array_equal(pool.forward(x), tout.detach().numpy())
    dpool = rng.standard_normal(tout.shape)
    tout.backward(torch.tensor(dpool))
    np.testing.assert_allclose(pool.backward(dpool), tx.grad.numpy(), rtol=1e-12)
