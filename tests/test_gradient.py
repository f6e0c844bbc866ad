"""Tests of dlzero.gradient: numerical differentiation and the gradient-check reports."""

import numpy as np
import pytest

from dlzero import TwoLayerNet
from dlzero.gradient import directional_gradient_check, gradient_check, numerical_gradient


def test_numerical_gradient_of_known_functions_any_shape():
    x = np.array([[3.0, 4.0], [-1.0, 0.5]])
    grad = numerical_gradient(lambda a: float(np.sum(a**2)), x)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-8)
    x3 = np.linspace(-1, 1, 24).reshape(2, 3, 4)
    np.testing.assert_allclose(
        numerical_gradient(lambda a: float(np.sum(np.sin(a))), x3), np.cos(x3), atol=1e-8
    )


def test_numerical_gradient_restores_x_exactly():
    x = np.random.default_rng(0).standard_normal((3, 5))
    before = x.copy()
    numerical_gradient(lambda a: float(np.sum(np.exp(a))), x)
    assert np.array_equal(x, before)  # bit for bit, not approximately


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([0.1, 0.2, 0.3])
    before = x.copy()
    calls = []

    def f(a):
        calls.append(1)
        if len(calls) == 4:  # fail while the second element is nudged
            raise RuntimeError("boom")
        return float(a.sum())

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert np.array_equal(x, before)


def test_numerical_gradient_rejects_integer_arrays():
    with pytest.raises(ValueError, match="floating-point"):
        numerical_gradient(lambda a: 0.0, np.arange(3))


def _data(rng, n=4, d=6, c=3):
    return rng.standard_normal((n, d)), rng.integers(0, c, n)


def test_gradient_check_passes_and_report_is_complete():
    rng = np.random.default_rng(1)
    net = TwoLayerNet(6, 5, 3, weight_init_std=0.5, rng=2)
    x, t = _data(rng)
    report = gradient_check(net, x, t, include_input=True)
    assert report.passed
    assert [c.name for c in report.checks] == ["W1", "b1", "W2", "b2", "x"]
    assert report["W1"].shape == (6, 5)
    assert all(c.relative_error < 1e-6 for c in report.checks)
    assert "PASS" in str(report)
    # The user's network is left alone: still float32, same values.
    assert net.dtype == np.float32


def test_gradient_check_detects_a_wrong_backward(monkeypatch):
    rng = np.random.default_rng(3)
    net = TwoLayerNet(6, 5, 3, weight_init_std=0.5, rng=4)
    x, t = _data(rng)
    from dlzero.layers import Affine

    original = Affine.backward

    def broken(self, dout):
        dx = original(self, dout)
        self.db = self.db * 1.01  # a 1% error in every bias gradient
        return dx

    monkeypatch.setattr(Affine, "backward", broken)
    report = gradient_check(net, x, t)
    assert not report.passed
    assert not report["b1"].passed and not report["b2"].passed
    assert report["W1"].passed
    assert "FAIL" in str(report)
    assert not directional_gradient_check(net, x, t, rng=0).passed


def test_directional_check_passes_on_correct_network():
    rng = np.random.default_rng(5)
    net = TwoLayerNet(30, 20, 4, weight_init_std=0.3, activation="sigmoid", rng=6)
    x, t = _data(rng, n=8, d=30, c=4)
    check = directional_gradient_check(net, x, t, rng=7)
    assert check.passed, str(check)
    assert check.analytic != 0


def test_atol_passes_zero_gradients_only_when_asked():
    from dlzero.gradient import _compare

    tiny = _compare("b", np.array([1e-12, 0.0]), np.array([-1e-12, 0.0]), 1e-6)
    assert not tiny.passed  # relative error 1: noise around zero
    assert _compare("b", np.array([1e-12, 0.0]), np.array([-1e-12, 0.0]), 1e-6, atol=1e-9).passed
    assert not _compare("b", np.array([1e-3, 0.0]), np.array([0.0, 0.0]), 1e-6, atol=1e-9).passed


class LeastSquares:
    """Not a dlzero network: ``0.5 * sum((x @ w + b - t) ** 2) / N``, its gradient by hand.

    It has what the checks ask for (``params``, ``astype``, ``loss``, ``gradient``,
    ``numerical_gradient``, ``backward``) and nothing else; ``bug`` doubles ``dw``.
    """

    def __init__(self, w, b, bug=False):
        self.params = {"w": w, "b": b}
        self.bug = bug

    def astype(self, dtype):
        return LeastSquares(*(p.astype(dtype) for p in self.params.values()), bug=self.bug)

    def loss(self, x, t, train_flg=False):
        self.x = x
        self.residual = x @ self.params["w"] + self.params["b"] - t
        return 0.5 * float(np.sum(self.residual**2)) / len(x)

    def gradient(self, x, t):
        self.loss(x, t)
        n = len(x)
        dw = x.T @ self.residual / n
        return {"w": 2 * dw if self.bug else dw, "b": self.residual.sum(axis=0) / n}

    def numerical_gradient(self, x, t):
        return {k: numerical_gradient(lambda _: self.loss(x, t), p) for k, p in self.params.items()}

    def backward(self, dout=1.0):
        return dout * self.residual @ self.params["w"].T / len(self.x)


def test_the_checks_take_any_object_with_the_protocol():
    rng = np.random.default_rng(8)
    x, t = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    w, b = rng.standard_normal((4, 2)).astype(np.float32), np.zeros(2, np.float32)
    report = gradient_check(LeastSquares(w, b), x, t, include_input=True)
    assert report.passed, str(report)
    assert [c.name for c in report.checks] == ["w", "b", "x"]
    assert directional_gradient_check(LeastSquares(w, b), x, t, rng=0).passed

    wrong = gradient_check(LeastSquares(w, b, bug=True), x, t)
    assert not wrong["w"].passed and wrong["b"].passed
    assert not directional_gradient_check(LeastSquares(w, b, bug=True), x, t, rng=0).passed


def test_gradient_imports_no_network():
    import ast
    from pathlib import Path

    import dlzero.gradient

    tree = ast.parse(Path(dlzero.gradient.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    # Only leaf helpers: seeding, and the HTML table of the report's notebook display.
    assert {m for m in imported if m and m.startswith("dlzero")} == {"dlzero._rng", "dlzero._html"}
