"""The book's trained weights in dlzero's networks predict exactly as the book's own code does.

These tests need the book's repository (oreilly-japan/deep-learning-from-scratch), a checkout
or an extracted tree, named by ``DLZERO_BOOK_REPO`` (default ``/tmp/book``); they skip when it
is absent. To get one from a bare mirror::

    mkdir -p /tmp/book && git -C MIRROR archive HEAD | tar -x -C /tmp/book

The book's code runs in a separate process, on its own ``common`` package, with the MNIST test
images that dlzero loads; its scores are compared with dlzero's.
"""

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import dlzero
from dlzero.book.params import load_params, read_params
from dlzero.convnets import DeepConvNet, SimpleConvNet
from dlzero.datasets import load_mnist
from dlzero.networks import MultiLayerNet

BOOK = Path(os.environ.get("DLZERO_BOOK_REPO") or "/tmp/book")
FILES = {
    "ch03": "ch03/sample_weight.pkl",
    "ch07": "ch07/params.pkl",
    "ch08": "ch08/deep_convnet_params.pkl",
}
pytestmark = pytest.mark.skipif(
    not all((BOOK / f).is_file() for f in FILES.values()),
    reason=f"the book's repository is not at {BOOK} (set DLZERO_BOOK_REPO to a checkout of "
    "oreilly-japan/deep-learning-from-scratch)",
)


@pytest.fixture(scope="module")
def mnist_test():
    (_, _), (x, t) = load_mnist(flatten=False)
    return x, t


def _book_scores(tmp_path, chapter, n):
    """Scores of the book's own network (its code, its common package) on n test images."""
    out = tmp_path / f"{chapter}.npy"
    module, cls, predict = {
        "ch07": ("simple_convnet", "SimpleConvNet", "net.predict(x)"),
        "ch08": ("deep_convnet", "DeepConvNet", "net.predict(x, train_flg=False)"),
    }[chapter]
    script = textwrap.dedent(f"""
        import os, sys
        import numpy as np
        from dlzero.datasets import load_mnist
        (_, _), (x, _) = load_mnist(flatten=False)
        x = x[:{n}]
        sys.path[:0] = [{str(BOOK / chapter)!r}, {str(BOOK)!r}]
        os.chdir({str(BOOK / chapter)!r})
        from {module} import {cls}
        net = {cls}()
        net.load_params({Path(FILES[chapter]).name!r})
        assert type(net).__module__ == {module!r} and sys.modules["common"].__file__.startswith(
            {str(BOOK)!r})
        np.save({str(out)!r}, np.concatenate([{predict.replace("(x", "(x[i:i + 100]")}
                                              for i in range(0, len(x), 100)]))
    """)
    src = str(Path(dlzero.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return np.load(out)


def _dlzero_scores(net, x):
    return np.concatenate([net.predict(x[i : i + 500]) for i in range(0, len(x), 500)])


def test_the_restricted_reader_gives_what_pickle_gives_on_the_books_files():
    for name in FILES.values():
        with open(BOOK / name, "rb") as f:
            expected = pickle.load(f)  # the book's own files: trusted here, as the reference
        got = read_params(BOOK / name)
        assert list(got) == list(expected)
        for key, value in expected.items():
            assert got[key].dtype == value.dtype
            np.testing.assert_array_equal(got[key], value)


def test_chapter3_sample_weights_in_a_multi_layer_net(mnist_test):
    x, t = mnist_test
    x = x.reshape(len(x), -1)
    net = MultiLayerNet(784, [50, 100], 10, activation="sigmoid", rng=0)
    load_params(net, BOOK / FILES["ch03"])
    # The chapter-3 script's forward pass, written out: sigmoid, sigmoid, softmax.
    w = read_params(BOOK / FILES["ch03"])
    z1 = 1 / (1 + np.exp(-(x @ w["W1"] + w["b1"])))
    z2 = 1 / (1 + np.exp(-(z1 @ w["W2"] + w["b2"])))
    scores = z2 @ w["W3"] + w["b3"]
    np.testing.assert_array_equal(net.predict(x).argmax(axis=1), scores.argmax(axis=1))
    assert net.accuracy(x, t) == 0.9352  # what the book's neuralnet_mnist.py prints


@pytest.mark.parametrize(
    ("chapter", "make", "n"), [("ch07", SimpleConvNet, 200), ("ch08", DeepConvNet, 100)]
)
def test_the_books_convnet_weights_give_the_books_scores(tmp_path, mnist_test, chapter, make, n):
    x, _ = mnist_test
    net = make(rng=0)
    load_params(net, BOOK / FILES[chapter])
    assert net.dtype == np.float64  # the book's arrays, as they are
    book = _book_scores(tmp_path, chapter, n)
    np.testing.assert_allclose(_dlzero_scores(net, x[:n]), book, rtol=1e-9, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("chapter", "make", "accuracy"), [("ch07", SimpleConvNet, 0.96), ("ch08", DeepConvNet, 0.9797)]
)
def test_the_books_predictions_on_all_10000_test_images(
    tmp_path, mnist_test, chapter, make, accuracy
):
    # accuracy: what the book's own code scores with these files on MNIST's test set.
    x, t = mnist_test
    net = make(rng=0)
    load_params(net, BOOK / FILES[chapter])
    book = _book_scores(tmp_path, chapter, len(x)).argmax(axis=1)
    ours = _dlzero_scores(net, x).argmax(axis=1)
    assert np.count_nonzero(ours != book) == 0
    assert np.mean(book == t) == np.mean(ours == t) == accuracy
