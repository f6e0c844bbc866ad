"""``use_numpy_global_random``: ``np.random.seed`` in a book script makes a dlzero run repeatable.

The legacy global-state calls (``np.random.seed``, ``np.random.rand``) are what is under test.
"""
# ruff: noqa: NPY002

import numpy as np
import pytest

from dlzero._rng import use_numpy_global_random
from dlzero.convnets import DeepConvNet
from dlzero.layers import Dropout
from dlzero.networks import MultiLayerNet
from dlzero.optimizers import SGD


@pytest.fixture
def numpy_global():
    use_numpy_global_random()
    try:
        yield
    finally:
        use_numpy_global_random(False)


def _run(seed):
    """Seed NumPy as a book script does, build and train without ``rng=``; return the result."""
    if seed is not None:
        np.random.seed(seed)
    net = MultiLayerNet(5, [6], 3, use_dropout=True, dropout_ratio=0.3)
    x = np.linspace(-1, 1, 40, dtype=np.float32).reshape(8, 5)
    t = np.arange(8) % 3
    opt = SGD(0.1)
    losses = []
    for _ in range(3):
        losses.append(net.loss(x, t, train_flg=True))  # draws dropout masks
        opt.update(net.params, net.gradient(x, t))
    return losses, {k: v.copy() for k, v in net.params.items()}


def _same(a, b):
    return a[0] == b[0] and all(np.array_equal(a[1][k], b[1][k]) for k in a[1])


def test_np_random_seed_makes_a_run_repeatable(numpy_global):
    first, again, other = _run(3), _run(3), _run(4)
    assert _same(first, again)
    assert not np.array_equal(first[1]["W1"], other[1]["W1"])


def test_dropout_masks_come_from_the_global_state_when_they_are_drawn(numpy_global):
    layer = Dropout(0.5)  # built once; each forward draws from NumPy's state at that moment
    x = np.ones((4, 50), dtype=np.float32)
    np.random.seed(7)
    a = layer.forward(x)
    np.random.seed(7)
    b = layer.forward(x)
    c = layer.forward(x)
    assert np.array_equal(a, b) and not np.array_equal(b, c)


def test_draws_advance_the_global_state_as_the_books_draws_do(numpy_global):
    np.random.seed(0)
    untouched = np.random.rand()
    np.random.seed(0)
    MultiLayerNet(4, [3], 2)
    assert np.random.rand() != untouched


def test_an_explicit_rng_is_unaffected(numpy_global):
    np.random.seed(1)
    a = DeepConvNet(input_dim=(1, 8, 8), hidden_size=4, rng=5)
    use_numpy_global_random(False)
    b = DeepConvNet(input_dim=(1, 8, 8), hidden_size=4, rng=5)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_by_default_none_is_fresh_entropy_whatever_the_global_seed():
    np.random.seed(3)
    first = _run(None)
    np.random.seed(3)
    assert not np.array_equal(first[1]["W1"], _run(None)[1]["W1"])
    # Turning it on and off again restores that default.
    use_numpy_global_random()
    use_numpy_global_random(False)
    np.random.seed(3)
    assert not np.array_equal(first[1]["W1"], _run(None)[1]["W1"])
