"""``dlzero.check_layer`` and its companions: every dlzero layer passes; a layer with one known
fault fails on exactly that gradient, with the hint for that mistake; a layer that raises,
returns None or a wrong shape is a finding, never an exception.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import numpy as np
import pytest

import dlzero
from dlzero import check_function, check_layer, check_optimizer
from dlzero import layers as L
from dlzero.book import BookDropout
from dlzero.checking import LayerCheck

RNG = np.random.default_rng(1)
X = RNG.standard_normal((4, 3))
Y = RNG.standard_normal((4, 3))
W = RNG.standard_normal((3, 5))
B = RNG.standard_normal(5)
IMAGES = RNG.standard_normal((2, 3, 5, 5))
LABELS = np.array([0, 2, 1, 2])


# -- every dlzero layer passes ---------------------------------------------------------------

DLZERO_LAYERS = {
    "MulLayer": lambda: (L.MulLayer(), (X, Y), {}),
    "AddLayer": lambda: (L.AddLayer(), (X, Y), {}),
    "Relu": lambda: (L.Relu(), (X,), {}),
    "Sigmoid": lambda: (L.Sigmoid(), (X,), {}),
    "Tanh": lambda: (L.Tanh(), (X,), {}),
    "Affine": lambda: (L.Affine(W, B), (X,), {}),
    "Affine on images": lambda: (L.Affine(RNG.standard_normal((75, 4)), B[:4]), (IMAGES,), {}),
    "Affine, (1, M) bias": lambda: (L.Affine(W, B[None, :]), (X,), {}),
    "SoftmaxWithLoss, labels": lambda: (L.SoftmaxWithLoss(), (X,), {"labels": LABELS}),
    "SoftmaxWithLoss, one-hot": lambda: (L.SoftmaxWithLoss(), (X,), {"labels": np.eye(3)[LABELS]}),
    "Dropout": lambda: (L.Dropout(0.5, rng=0), (X,), {}),
    "BookDropout": lambda: (BookDropout(0.3, rng=0), (X,), {}),
    "BatchNormalization": lambda: (
        L.BatchNormalization(RNG.uniform(0.5, 1.5, 3), RNG.standard_normal(3)),
        (X,),
        {},
    ),
    "BatchNormalization, images": lambda: (
        L.BatchNormalization(RNG.uniform(0.5, 1.5, 3), RNG.standard_normal(3)),
        (IMAGES,),
        {},
    ),
    "Convolution": lambda: (
        L.Convolution(RNG.standard_normal((2, 3, 3, 3)), RNG.standard_normal(2), 1, 1),
        (IMAGES,),
        {},
    ),
    "Convolution, stride 2": lambda: (
        L.Convolution(RNG.standard_normal((2, 3, 3, 3)), RNG.standard_normal(2), 2, 0),
        (IMAGES,),
        {},
    ),
    "Pooling": lambda: (L.Pooling(2, 2, stride=2), (IMAGES,), {}),
    "Pooling, avg, overlapping": lambda: (L.Pooling(3, 3, stride=1, mode="avg"), (IMAGES,), {}),
}
EXPECTED_GRADIENTS = {
    "MulLayer": ["dx", "dy"],
    "AddLayer": ["dx", "dy"],
    "Affine": ["dx", "dW", "db"],
}


@pytest.mark.parametrize("case", DLZERO_LAYERS)
def test_every_dlzero_layer_passes(case):
    layer, inputs, kwargs = DLZERO_LAYERS[case]()
    report = check_layer(layer, *inputs, **kwargs)
    assert report.ok, str(report)
    assert report.failures == [] and report.warnings == [] and report.hints == []
    assert str(report).startswith(f"PASS {type(layer).__name__}: ")
    names = [g.name for g in report.gradients]
    assert names == EXPECTED_GRADIENTS.get(case, names)
    assert names[0] == "dx" and all(g.compared > 0 for g in report.gradients)
    if hasattr(layer, "param_names"):  # the book's way finds exactly the declared parameters
        assert names[len(inputs) :] == ["d" + p for p in layer.param_names]


def test_the_book_example_with_numbers_passes():
    # The apple example: plain numbers, integers among them, a 0-d "batch".
    report = check_layer(L.MulLayer(), 100, 2)
    assert report.ok and [g.shape for g in report.gradients] == [(), ()]


# -- broken copies: one fault each, named exactly, with its hint -----------------------------


class AffineNoSum(L.Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = dout  # not summed over the batch
        return dx


class AffineMeanBias(L.Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = dout.mean(axis=0)
        return dx


class AffineTransposedDW(L.Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = dout.T @ self.x
        return dx


class AffineDWOverN(L.Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = self.x.T @ dout / len(dout)
        return dx


class AffineDoubleDx(L.Affine):
    def backward(self, dout):
        return 2 * super().backward(dout)


class AffineNoDb(L.Affine):
    """Computes db but never stores it."""

    def backward(self, dout):
        dx = dout @ self.W.T
        self.dW = self.x.T @ dout
        return dx


class AffineFlipped(L.Affine):
    def backward(self, dout):
        return -super().backward(dout)


class ConvBiasPerBatch(L.Convolution):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = dout.sum(axis=0).sum(axis=(1, 2)) / dout.shape[0]  # a mean over the batch
        return dx


class SoftmaxNoDivide(L.SoftmaxWithLoss):
    def backward(self, dout=1):
        return super().backward(dout) * self.y.shape[0]


class SoftmaxWrongSign(L.SoftmaxWithLoss):
    def backward(self, dout=1):
        return -super().backward(dout)


class BookCrossEntropy(L.SoftmaxWithLoss):
    """The book's loss: log(y + 1e-7), whose gradient is not exactly (y - t) / N."""

    def forward(self, x, t):
        super().forward(x, t)
        self.loss = dlzero.cross_entropy_error(self.y, t)
        return self.loss


class SigmoidOutOnly(L.Sigmoid):
    def backward(self, dout):
        return dout * self.out


class TanhWrong(L.Tanh):
    def backward(self, dout):
        return dout * (1.0 - self.out)


class ReluNoMask(L.Relu):
    def backward(self, dout):
        return dout


class ReluInvertedMask(L.Relu):
    def backward(self, dout):
        return dout * self.mask


class BookDropoutLayer:
    """The book's Dropout, drawing from NumPy's global state."""

    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio  # noqa: NPY002
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * self.mask


class DropoutNoMask(BookDropoutLayer):
    def backward(self, dout):
        return dout


class MulSwapped(L.MulLayer):
    def backward(self, dout):
        return dout * self.x, dout * self.y


class BatchNormBetaPerSample(L.BatchNormalization):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dbeta = dout
        return dx


BN = (RNG.uniform(0.5, 1.5, 3), RNG.standard_normal(3))
CONV = (RNG.standard_normal((2, 3, 3, 3)), RNG.standard_normal(2))

# (layer, inputs, labels, the failures, a piece of the hint)
BROKEN = {
    "db not summed": (
        AffineNoSum(W, B),
        (X,),
        None,
        ["db"],
        "db is the sum of dout over the batch",
    ),
    "db a mean": (AffineMeanBias(W, B), (X,), None, ["db"], "db = np.sum(dout, axis=0)"),
    "dW transposed": (AffineTransposedDW(W, B), (X,), None, ["dW"], "dW = x.T @ dout"),
    "dW over N": (AffineDWOverN(W, B), (X,), None, ["dW"], "a division by the batch size (4)"),
    "dx doubled": (AffineDoubleDx(W, B), (X,), None, ["dx"], "dx = dout @ W.T"),
    "dx sign": (AffineFlipped(W, B), (X,), None, ["dx"], "dx has the wrong sign"),
    "db never set": (AffineNoDb(W, B), (X,), None, ["db"], "db is the sum of dout over the batch"),
    "conv db": (ConvBiasPerBatch(*CONV, 1, 1), (IMAGES,), None, ["db"], "axis=(0, 2, 3)"),
    "loss not divided": (
        SoftmaxNoDivide(),
        (X,),
        LABELS,
        ["dx"],
        "the loss layer's dx is divided by the batch size",
    ),
    "loss sign": (SoftmaxWrongSign(), (X,), LABELS, ["dx"], "y - t, not t - y"),
    "loss log(y + 1e-7)": (BookCrossEntropy(), (10 * X,), LABELS, ["dx"], "log(y + 1e-7)"),
    "sigmoid": (SigmoidOutOnly(), (X,), None, ["dx"], "sigmoid's derivative is out * (1 - out)"),
    "tanh": (TanhWrong(), (X,), None, ["dx"], "tanh's derivative is 1 - out ** 2"),
    "relu mask": (ReluNoMask(), (X,), None, ["dx"], "the mask of forward must be applied"),
    "relu inverted": (
        ReluInvertedMask(),
        (X,),
        None,
        ["dx"],
        "the mask of forward must be applied",
    ),
    "dropout mask": (DropoutNoMask(), (X,), None, ["dx"], "the mask of forward must be applied"),
    "mul swapped": (MulSwapped(), (X, Y), None, ["dx", "dy"], "dx and dy are swapped"),
    "bn dbeta": (BatchNormBetaPerSample(*BN), (X,), None, ["dbeta"], "dbeta is the sum of dout"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_layer_fails_on_exactly_its_fault_with_the_hint(case):
    layer, inputs, labels, failures, hint = BROKEN[case]
    report = check_layer(layer, *inputs, labels=labels)
    assert not report.ok
    assert report.failures == failures, str(report)
    assert any(hint in h for h in report.hints), str(report)
    assert report.warnings == [] and report.errors == []
    text = str(report)
    assert text.startswith(f"FAIL {type(layer).__name__}: ")
    assert f"hint: {report.hints[0]}" in text
    for name in failures:
        assert any(line.split()[:1] == [name] and "WRONG" in line for line in text.splitlines())


class SoftmaxOneElementOff(L.SoftmaxWithLoss):
    def backward(self, dout=1):
        dx = super().backward(dout)
        dx[0, 0] += 0.1
        return dx


def test_a_loss_gradient_off_in_no_known_way_gets_no_hint():
    # Confident scores: the book's log(y + 1e-7) would change the gradient by less than the
    # hint's tolerance, but backward is not (y - t) / N, so that is not the mistake.
    confident = 12 * np.eye(3)[LABELS] + 0.1 * X
    report = check_layer(SoftmaxOneElementOff(), confident, labels=LABELS)
    assert report.failures == ["dx"] and report.hints == []


def test_a_wrong_batch_norm_gets_no_hint():
    class BatchNormWithoutTheMeanPath(L.BatchNormalization):
        def backward(self, dout):
            super().backward(dout)
            return self.gamma * dout / self.std  # as if mu and var were constants

    report = check_layer(BatchNormWithoutTheMeanPath(*BN), X)
    assert report.failures == ["dx"] and report.hints == []


class BookAffineWithoutDb:
    """A learner's Affine whose backward never sets db, nor does __init__."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        return dout @ self.W.T


class KeepsItsOutput(L.Sigmoid):
    """Keeps its output in self.out and the dout it was given in self.dout: state, not a
    parameter "out" with gradient "dout"."""

    def __init__(self):
        super().__init__()
        self.out = np.zeros(3)  # from an earlier use

    def backward(self, dout):
        self.dout = dout
        return super().backward(dout)


class CopiesItsInput(L.Relu):
    """Copies its input into self.x in place and keeps dL/dx in self.dx."""

    def __init__(self):
        super().__init__()
        self.x = np.zeros(X.shape)

    def forward(self, x):
        self.x[...] = x
        return super().forward(x)

    def backward(self, dout):
        self.dx = super().backward(dout)
        return self.dx


class Scale:
    """out = x * s, with a parameter of no book name whose gradient only backward sets."""

    def __init__(self, s):
        self.s = s

    def forward(self, x):
        self.x = x
        return x * self.s

    def backward(self, dout):
        self.ds = np.sum(dout * self.x, axis=0)
        return dout * self.s


def test_parameters_are_found_the_books_way():
    report = check_layer(Scale(RNG.standard_normal(3)), X)
    assert report.ok and [g.name for g in report.gradients] == ["dx", "ds"]


def test_a_book_parameter_without_its_gradient_is_missing():
    report = check_layer(BookAffineWithoutDb(W, B), X)
    assert report.failures == ["db"] and "backward did not set self.db" in str(report)


@pytest.mark.parametrize("layer", [KeepsItsOutput(), CopiesItsInput()])
def test_arrays_that_forward_sets_are_state_not_parameters(layer):
    report = check_layer(layer, X)
    assert report.ok and [g.name for g in report.gradients] == ["dx"]


def test_the_worst_element_is_named():
    report = check_layer(AffineDoubleDx(W, B), X)
    dx = report.gradients[0]
    assert dx.worst is not None and dx.backprop == pytest.approx(2 * dx.numerical, rel=1e-6)
    assert f"backprop {dx.backprop:.6g}, numerical {dx.numerical:.6g}" in str(report)


# -- warnings: right but risky, and nothing else ---------------------------------------------


class BookRelu:
    """The book's Relu: backward writes into the dout it is given."""

    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


class ReluInPlace(BookRelu):
    def forward(self, x):
        self.mask = x <= 0
        x[self.mask] = 0
        return x

    def backward(self, dout):
        return dout * ~self.mask


def test_backward_writing_into_dout_passes_with_a_warning():
    report = check_layer(BookRelu(), X)
    assert report.ok and len(report.warnings) == 1
    assert "writes into the dout" in report.warnings[0]
    assert str(report).startswith("PASS BookRelu")
    assert f"warning: {report.warnings[0]}" in str(report)


def test_forward_writing_into_its_input_passes_with_a_warning():
    x = X.copy()
    report = check_layer(ReluInPlace(), x)
    assert report.ok and len(report.warnings) == 1
    assert "forward writes into its input" in report.warnings[0]
    np.testing.assert_array_equal(x, X)  # the caller's array: the check works on copies


# -- a wrong layer is a finding, never an exception ------------------------------------------


class Blank:
    def forward(self, x):
        raise NotImplementedError("your code here")

    def backward(self, dout):
        raise NotImplementedError("your code here")


class BackwardBlank(L.Relu):
    def backward(self, dout):
        raise NotImplementedError("your code here")


class ForwardNone:
    def forward(self, x):
        self.x = x

    def backward(self, dout):
        return dout


class ForwardRaises(L.Affine):
    def forward(self, x):
        return np.dot(self.W, x)  # the product the wrong way round


class BackwardRaises(L.Affine):
    def backward(self, dout):
        return np.dot(dout, self.W)  # W not transposed: (4, 5) @ (3, 5)


class BackwardNone(L.Affine):
    def backward(self, dout):
        super().backward(dout)


class BackwardTuple(L.Relu):
    def backward(self, dout):
        return (super().backward(dout),)


class BackwardOneForTwo(L.MulLayer):
    def backward(self, dout):
        return dout * self.y


class BackwardWrongShape(L.Affine):
    def backward(self, dout):
        return super().backward(dout).T


class BackwardNaN(L.Relu):
    def backward(self, dout):
        dx = super().backward(dout)
        dx[0, 0] = np.nan
        return dx


class Unrepeatable(L.Relu):
    def forward(self, x):
        self.keep = np.random.default_rng().random(x.shape) > 0.5  # a fresh, unseeded draw
        return x * self.keep

    def backward(self, dout):
        return dout * self.keep


FINDINGS = {
    "not written": (Blank(), (X,), ["forward"], "FAIL Blank: not written yet"),
    "backward not written": (
        BackwardBlank(),
        (X,),
        ["dx"],
        "FAIL BackwardBlank: backward not written yet",
    ),
    "forward returns None": (
        ForwardNone(),
        (X,),
        ["forward"],
        "FAIL ForwardNone: forward returned None",
    ),
    "forward raises": (
        ForwardRaises(W, B),
        (X,),
        ["forward"],
        "FAIL ForwardRaises: forward raised ValueError",
    ),
    "backward raises": (
        BackwardRaises(W, B),
        (X,),
        ["dx", "dW", "db"],
        "FAIL BackwardRaises: backward raised ValueError",
    ),
    "backward returns None": (BackwardNone(W, B), (X,), ["dx"], "backward returned None"),
    "a tuple for one input": (BackwardTuple(), (X,), ["dx"], "returns dx itself"),
    "one array for two inputs": (BackwardOneForTwo(), (X, Y), ["dx", "dy"], "(dx, dy)"),
    "dx of the wrong shape": (BackwardWrongShape(W, B), (X,), ["dx"], "dx has shape (3, 4)"),
    "NaN": (BackwardNaN(), (X,), ["dx"], "dx has NaN or infinite values"),
    "unrepeatable": (Unrepeatable(), (X,), ["forward"], "forward is not repeatable"),
    "loss without labels": (L.SoftmaxWithLoss(), (X,), ["forward"], "labels=t"),
    "no backward": (object(), (X,), ["forward"], "has no forward method"),
}


@pytest.mark.parametrize("case", FINDINGS)
def test_a_wrong_layer_is_a_finding(case):
    layer, inputs, failures, text = FINDINGS[case]
    report = check_layer(layer, *inputs)
    assert not report.ok and report.failures == failures
    assert text in str(report)
    assert str(report).startswith("FAIL ")


class LossPerSample(L.SoftmaxWithLoss):
    def forward(self, x, t):
        super().forward(x, t)
        return -np.log(self.y[np.arange(len(t)), t])  # the losses, not their mean


def test_a_loss_layer_must_return_one_number():
    report = check_layer(LossPerSample(), X, labels=LABELS)
    assert report.failures == ["forward"]
    assert "a loss layer's forward returns one number" in str(report)


def test_an_exception_names_the_learners_line():
    report = check_layer(BackwardRaises(W, B), X)
    assert "(line " in report.errors[0] and "return np.dot(dout, self.W)" in report.errors[0]


def test_not_written_yet_reads_plainly():
    text = str(check_layer(Blank(), X))
    assert text == "FAIL Blank: not written yet (forward raises NotImplementedError)"


# -- what the check holds fixed and leaves alone ---------------------------------------------


def test_the_book_dropout_draws_the_same_mask_in_every_call():
    report = check_layer(BookDropoutLayer(0.5), X)
    assert report.ok, str(report)


def test_the_global_random_state_and_the_layer_are_left_as_they_were():
    np.random.seed(3)  # noqa: NPY002
    expected = np.random.rand(3)  # noqa: NPY002
    np.random.seed(3)  # noqa: NPY002
    layer = L.Dropout(0.5, rng=7)
    rng_before = copy.deepcopy(layer.rng.bit_generator.state)
    assert check_layer(layer, X).ok and check_layer(BookDropoutLayer(), X).ok
    np.testing.assert_array_equal(np.random.rand(3), expected)  # noqa: NPY002
    assert layer.rng.bit_generator.state == rng_before and layer.mask is None


def test_a_float32_layer_is_checked_in_float64_and_stays_float32():
    layer = L.Affine(W.astype(np.float32), B.astype(np.float32))
    W_before = layer.W.copy()
    report = check_layer(layer, X.astype(np.float32))
    assert report.ok and max(g.relative_error for g in report.gradients) < 1e-9
    assert layer.W.dtype == np.float32 and layer.dW is None
    np.testing.assert_array_equal(layer.W, W_before)


def test_arrays_of_any_memory_layout_are_nudged_in_place():
    layer = L.Affine(np.asfortranarray(W), B)  # a parameter that is not C-contiguous
    assert check_layer(layer, np.asfortranarray(X)).ok


def test_inputs_at_a_kink_are_left_out():
    x = np.array([[-1.0, 0.0, 2.0], [0.5, -0.25, 0.0]])  # two inputs exactly at ReLU's kink
    report = check_layer(L.Relu(), x)
    assert report.ok and report.gradients[0].at_kinks == 2
    assert "2 of 6 at a kink, skipped" in str(report)


def test_large_gradients_are_sampled():
    layer = L.Affine(RNG.standard_normal((30, 40)), np.zeros(40))
    report = check_layer(layer, RNG.standard_normal((2, 30)), max_elements=50)
    assert report.ok and [g.compared for g in report.gradients] == [50, 50, 40]


def test_wrong_calls_raise():
    with pytest.raises(TypeError, match="needs the input"):
        check_layer(L.Relu())
    with pytest.raises(ValueError, match="input 1 must be an array of numbers"):
        check_layer(L.Relu(), "x")


def test_the_report_shows_as_html():
    html = check_layer(AffineNoSum(W, B), X)._repr_html_()
    assert "<table>" in html and "FAIL AffineNoSum: db is wrong" in html
    assert "hint: db is the sum of dout over the batch" in html
    assert isinstance(check_layer(L.Relu(), X), LayerCheck)


# -- check_optimizer -------------------------------------------------------------------------


class BookMomentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        for k in params:
            self.v[k] = self.momentum * self.v[k] - self.lr * grads[k]
            params[k] += self.v[k]


class MomentumForgets(BookMomentum):
    def update(self, params, grads):
        self.v = None  # a new velocity every step
        super().update(params, grads)


class SGDNotInPlace:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for k in params:
            params[k] = params[k] - self.lr * grads[k]


class AdamWithoutBiasCorrection(dlzero.Adam):
    def update(self, params, grads):
        for k in params:
            self.m.setdefault(k, np.zeros_like(params[k]))
            self.v.setdefault(k, np.zeros_like(params[k]))
            self.m[k] += (1 - self.beta1) * (grads[k] - self.m[k])
            self.v[k] += (1 - self.beta2) * (grads[k] ** 2 - self.v[k])
            params[k] -= self.lr * self.m[k] / (np.sqrt(self.v[k]) + 1e-7)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_dlzero_optimizers_pass_against_themselves(name):
    optimizer = dlzero.get_optimizer(name, lr=0.05)
    report = check_optimizer(optimizer, name)
    assert report.ok and str(report).startswith(f"PASS {type(optimizer).__name__}: 3 steps")
    assert not getattr(optimizer, "v", None)  # the check ran on a copy


def test_the_books_momentum_passes_with_its_hyperparameters():
    report = check_optimizer(BookMomentum(lr=0.2, momentum=0.5), "momentum")
    assert report.ok and "Momentum(lr=0.2, momentum=0.5)" in str(report)
    assert "<table>" in report._repr_html_() and "PASS BookMomentum" in report._repr_html_()


def test_an_optimizer_that_forgets_its_memory_fails_from_the_second_step():
    report = check_optimizer(MomentumForgets(lr=0.1), "momentum")
    assert report.failures == ["W", "b"]
    assert [s[3] is None for s in report.steps[:2]] == [True, True]  # step 1 is right
    assert any("carried over from one update to the next" in h for h in report.hints)


def test_an_update_that_replaces_the_arrays_fails():
    report = check_optimizer(SGDNotInPlace(lr=0.1), "sgd")
    assert report.failures == ["W", "b"] and "not changed in place" in str(report)
    assert "in place, with -= or +=" in report.hints[0]


def test_a_wrong_formula_fails_at_the_first_step():
    report = check_optimizer(AdamWithoutBiasCorrection(lr=0.01), "adam")
    assert report.failures == ["W", "b"] and report.steps[0][3] is not None
    assert report.hints == []


def test_an_optimizer_not_written_yet():
    class SGD:
        def update(self, params, grads):
            raise NotImplementedError("your code here")

    report = check_optimizer(SGD(), "sgd")
    assert str(report) == "FAIL SGD: not written yet (update raises NotImplementedError)"
    with pytest.raises(ValueError, match="unknown reference 'adamw'"):
        check_optimizer(SGD(), "adamw")


# -- check_function --------------------------------------------------------------------------


def numerical_gradient_forgetful(f, x):
    """Forgets to put each element back."""
    h, grad = 1e-4, np.zeros_like(x)
    for i in range(x.size):
        v = x.flat[i]
        x.flat[i] = v + h
        plus = f(x)
        x.flat[i] = v - h
        grad.flat[i] = (plus - f(x)) / (2 * h)
    return grad


def test_check_function_pass_fail_and_not_written():
    def square(x):
        return np.sum(x**2)

    x = np.array([3.0, 4.0])
    good = check_function(dlzero.numerical_gradient, square, x, expected=[6.0, 8.0])
    assert good.ok and str(good).startswith("PASS numerical_gradient: the result is right")
    assert good._repr_html_().startswith("<p>PASS numerical_gradient")
    forgetful = check_function(numerical_gradient_forgetful, square, x, expected=[6.0, 8.0])
    assert forgetful.ok and "changed its argument x; it must put it back" in str(forgetful)
    np.testing.assert_array_equal(x, [3.0, 4.0])
    wrong = check_function(lambda f, x: 2 * x + 1, square, x, expected=[6.0, 8.0], name="grad")
    assert wrong.failures == ["result"] and "at [0] 7, expected 6" in str(wrong)
    shape = check_function(lambda: np.zeros(3), expected=np.zeros(2), name="f")
    assert "shape (3,), expected (2,)" in str(shape)

    def blank(x):
        raise NotImplementedError

    assert str(check_function(blank, x, expected=x)).startswith("FAIL blank: not written yet")


def test_check_function_compares_dicts_and_computes_the_expected_value():
    net = dlzero.TwoLayerNet(4, 3, 2, weight_init_std=1.0, rng=0, dtype=np.float64)
    x, t = RNG.standard_normal((3, 4)), np.array([0, 1, 1])
    report = check_function(net.gradient, x, t, expected=net.numerical_gradient)
    assert report.ok and [r[0] for r in report.results] == ["W1", "b1", "W2", "b2"]

    def half(x, t):
        grads = net.gradient(x, t)
        grads["b2"] = grads["b2"] / 2
        return grads

    assert check_function(half, x, t, expected=net.numerical_gradient).failures == ["b2"]

    def raises(x, t):
        raise NotImplementedError

    report = check_function(net.gradient, x, t, expected=raises)
    assert report.not_written and not report.ok


# -- the check imports nothing new -----------------------------------------------------------


def test_the_checking_package_imports_only_numpy_the_standard_library_and_small_helpers():
    import sys

    allowed = {"numpy", "dlzero._html", "dlzero.optimizers"}
    folder = Path(dlzero.__file__).parent / "checking"
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert (
                    top in sys.stdlib_module_names
                    or name in allowed
                    or name.startswith("numpy")
                    or name.startswith("dlzero.checking")
                ), f"{path.name} imports {name}"
