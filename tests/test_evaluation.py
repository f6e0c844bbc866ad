"""Tests of dlzero.studies.evaluation (confusion matrix, precision/recall, mistakes) and its
plots."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dlzero.convnets import SimpleConvNet
from dlzero.networks import MultiLayerNet, TwoLayerNet
from dlzero.plotting import (
    plot_confusion_matrix,
    plot_first_layer_weights,
    plot_mistakes,
    plot_predictions,
)
from dlzero.studies.evaluation import (
    confusion_matrix,
    evaluate,
    format_report,
    input_shape,
    most_confident_mistakes,
    precision_recall,
    predict_proba,
)


def test_confusion_matrix_by_hand():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0, 1])
    cm = confusion_matrix(labels, predicted, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [1, 2, 0], [0, 1, 0]])
    precision, recall = precision_recall(cm)
    # Predicted 0: two samples, one right; predicted 1: four, two right; 2 never predicted.
    np.testing.assert_allclose(precision[:2], [1 / 2, 2 / 4])
    assert np.isnan(precision[2])
    np.testing.assert_allclose(recall, [1 / 2, 2 / 3, 0.0])


@given(n=st.integers(0, 60), c=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_confusion_matrix_equals_counting_loop(n, c, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    predicted = rng.integers(0, c, n)
    expected = np.zeros((c, c), dtype=int)
    for a, b in zip(labels, predicted, strict=True):
        expected[a, b] += 1
    np.testing.assert_array_equal(confusion_matrix(labels, predicted, c), expected)


@pytest.mark.parametrize(
    ("labels", "predicted", "message"),
    [
        ([0, 1], [0], "same length"),
        ([0, 3], [0, 1], "integers in 0..2"),
        ([0, -1], [0, 1], "integers in 0..2"),
        ([0.0, 1.0], [0, 1], "integers"),
    ],
)
def test_confusion_matrix_bad_input(labels, predicted, message):
    with pytest.raises(ValueError, match=message):
        confusion_matrix(np.array(labels), np.array(predicted), 3)


def test_most_confident_mistakes_by_hand():
    proba = np.array(
        [
            [0.9, 0.1],  # label 0: right
            [0.6, 0.4],  # label 1: wrong, 0.6
            [0.2, 0.8],  # label 0: wrong, 0.8
            [0.3, 0.7],  # label 1: right
            [0.95, 0.05],  # label 1: wrong, 0.95
        ]
    )
    labels = np.array([0, 1, 0, 1, 1])
    np.testing.assert_array_equal(most_confident_mistakes(proba, labels, 10), [4, 2, 1])
    np.testing.assert_array_equal(most_confident_mistakes(proba, labels, 2), [4, 2])
    assert most_confident_mistakes(proba[[0, 3]], labels[[0, 3]], 5).size == 0


@pytest.fixture(scope="module")
def blobs():
    """Three separable classes of 12-pixel "images" and a network trained on them."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (3, 12))
    t = rng.integers(0, 3, 300)
    x = (centres[t] + rng.normal(0, 1, (300, 12))).astype(np.float32)
    net = TwoLayerNet(12, 8, 3, weight_init_std=0.3, rng=1)
    for _ in range(100):
        _, grads = net.loss_and_gradient(x, t)
        for key in net.params:
            net.params[key] -= 0.1 * grads[key]
    return net, x, t


def test_evaluate_agrees_with_the_network(blobs):
    net, x, t = blobs
    ev = evaluate(net, x, t)
    assert ev.accuracy == pytest.approx(net.accuracy(x, t))
    np.testing.assert_array_equal(ev.predicted, net.predict(x).argmax(axis=1))
    np.testing.assert_allclose(ev.proba.sum(axis=1), 1.0)
    assert ev.confusion.sum() == len(x)
    np.testing.assert_array_equal(ev.confusion.sum(axis=1), np.bincount(t, minlength=3))
    assert ev.num_mistakes == np.count_nonzero(ev.predicted != t)
    for i in ev.mistakes(5):
        assert ev.predicted[i] != t[i]
    # One-hot targets and chunked prediction give the same answer.
    ev2 = evaluate(net, x, np.eye(3)[t], batch_size=7)
    np.testing.assert_allclose(ev2.proba, ev.proba, rtol=1e-5)  # float32, chunked products


def test_format_report(blobs):
    net, x, t = blobs
    ev = evaluate(net, x, t)
    text = format_report(ev, ["cat", "dog", "eel"])
    lines = text.splitlines()
    assert lines[0].startswith(f"accuracy: {ev.accuracy:.4f}")
    assert lines[2].split()[0] == "cat"
    assert lines[4].split()[-1] == str(np.count_nonzero(t == 2))
    assert f"{100 * ev.recall[1]:.2f}%" in lines[3]
    # Undefined precision (a class never predicted) prints as "-".
    ev.precision[0] = np.nan
    assert format_report(ev).splitlines()[2].split()[1] == "-"


def test_input_shape_and_flattened_images_for_a_convnet():
    net = SimpleConvNet((1, 8, 8), {"filter_num": 2, "filter_size": 3}, 4, 3, rng=0)
    assert input_shape(net) == (1, 8, 8)
    assert input_shape(TwoLayerNet(5, 3, 2)) == (5,)
    assert input_shape(MultiLayerNet(6, [3], 2)) == (6,)
    x = np.random.default_rng(0).random((4, 64)).astype(np.float32)
    expected = predict_proba(net, x.reshape(4, 1, 8, 8))
    np.testing.assert_allclose(predict_proba(net, x), expected)
    with pytest.raises(ValueError, match=r"expects samples of shape \(1, 8, 8\)"):
        predict_proba(net, x[:, :60])


# -- pictures ----------------------------------------------------------------------------------


def _png_size(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_pictures_are_written(tmp_path):
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 50, (10, 10)) + np.diag(np.full(10, 900))
    plot_confusion_matrix(cm, tmp_path / "cm.png")
    images = rng.random((13, 784))
    labels = rng.integers(0, 10, 13)
    plot_mistakes(images, labels, (labels + 1) % 10, rng.random(13), tmp_path / "m.png", ncols=5)
    plot_first_layer_weights(rng.normal(size=(784, 7)), tmp_path / "w.png", ncols=4)
    proba = rng.dirichlet(np.ones(10), 2)
    plot_predictions(images[:2], proba, tmp_path / "p.png", labels=["a.png", "b.png"])
    for name in ("cm.png", "m.png", "w.png", "p.png"):
        width, height = _png_size(tmp_path / name)
        assert width > 200 and height > 100
    # 3 rows of 5 mistakes are taller than 1 row of 4 weight images... and 2 prediction rows.
    assert _png_size(tmp_path / "m.png")[1] > _png_size(tmp_path / "w.png")[1]


def test_figure_without_a_path_is_returned_not_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = plot_first_layer_weights(np.zeros((784, 2)))
    assert len(fig.axes) == 2
    assert list(tmp_path.iterdir()) == []


def test_weights_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"expected W of shape \(784, H\)"):
        plot_first_layer_weights(np.zeros((100, 5)))
