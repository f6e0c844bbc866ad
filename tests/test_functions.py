"""Tests of dlzero.functions: values, shapes, stability at extreme inputs, label formats."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dlzero.functions import (
    cross_entropy_error,
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    step_function,
    sum_squared_error,
)

finite = st.floats(-50, 50, allow_nan=False, width=64)


def test_step_identity_relu_values():
    x = np.array([-1.0, 0.0, 2.5])
    assert step_function(x).tolist() == [0, 0, 1]
    assert identity_function(x) is not None and np.array_equal(identity_function(x), x)
    assert relu(x).tolist() == [0.0, 0.0, 2.5]
    assert relu_grad(x).tolist() == [0.0, 0.0, 1.0]


def test_sigmoid_matches_formula_and_has_no_overflow_warning():
    x = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = sigmoid(np.array([-1e4, -800.0, 0.0, 800.0, 1e4]))
    assert y.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_sigmoid_keeps_float32():
    assert sigmoid(np.ones(3, dtype=np.float32)).dtype == np.float32


@given(arrays(np.float64, st.integers(1, 20), elements=finite))
@settings(max_examples=30, deadline=None)
def test_sigmoid_grad_is_derivative(x):
    h = 1e-6
    numeric = (sigmoid(x + h) - sigmoid(x - h)) / (2 * h)
    np.testing.assert_allclose(sigmoid_grad(x), numeric, atol=1e-8)


@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 8)), elements=finite))
@settings(max_examples=30, deadline=None)
def test_softmax_rows_are_distributions_and_shift_invariant(x):
    y = softmax(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    np.testing.assert_allclose(softmax(x + 123.0), y, atol=1e-12)
    # 1-D input is the same as one row of a batch.
    np.testing.assert_allclose(softmax(x[0]), y[0])


def test_softmax_and_cross_entropy_finite_for_huge_logits():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = softmax(x)
        loss_right = cross_entropy_error(y, np.array([0, 2]))
        loss_wrong = cross_entropy_error(y, np.array([1, 0]))
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, [[1, 0, 0], [0, 0, 1]])
    assert np.isfinite(loss_right) and loss_right < 1e-6
    # A probability of exactly 0 gives the large, finite -log(1e-7), not inf.
    assert loss_wrong == pytest.approx(-np.log(1e-7))


def test_cross_entropy_one_hot_labels_and_single_sample_agree():
    rng = np.random.default_rng(0)
    y = softmax(rng.standard_normal((4, 5)))
    t = np.array([1, 0, 4, 2])
    one_hot = np.eye(5)[t]
    expected = -np.mean(np.log(y[np.arange(4), t] + 1e-7))
    assert cross_entropy_error(y, t) == pytest.approx(expected)
    assert cross_entropy_error(y, one_hot) == pytest.approx(expected)
    assert cross_entropy_error(y[2], one_hot[2]) == pytest.approx(-np.log(y[2, 4] + 1e-7))
    assert cross_entropy_error(y[2], np.array(4)) == pytest.approx(-np.log(y[2, 4] + 1e-7))


@pytest.mark.parametrize(
    ("t", "match"),
    [
        (np.array([0, 1, 2]), r"labels of shape \(4,\)"),
        (np.zeros((4, 3)), r"one-hot of shape \(4, 5\)"),
        (np.array([0, 1, 2, 5]), r"labels must lie in \[0, 4\]"),
        (np.array([0.0, 1.0, 2.0, 3.0]), "integer class labels"),
    ],
)
def test_cross_entropy_rejects_bad_labels(t, match):
    with pytest.raises(ValueError, match=match):
        cross_entropy_error(np.full((4, 5), 0.2), t)


def test_sum_squared_error():
    assert sum_squared_error([1.0, 2.0], [0.0, 4.0]) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="same shape"):
        sum_squared_error(np.zeros(3), np.zeros(4))
