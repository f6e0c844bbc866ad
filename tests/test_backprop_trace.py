"""Backpropagation you can see (issue 27): the trace of one input, the book's apple graphs, the
pictures of both, and ``dlzero backprop``. The endpoint and the tab: test_serve_backprop.py."""

from __future__ import annotations

import numpy as np
import pytest

import dlzero
from dlzero import MultiLayerNet, SimpleConvNet, TwoLayerNet, trace_backprop
from dlzero.gradient import numerical_gradient
from dlzero.studies.apples import buy_apples, buy_apples_and_oranges
from dlzero.studies.backprop import check_some_weights


@pytest.fixture(scope="module")
def images(mnist_data):
    (_, _), (x_test, t_test) = mnist_data
    return x_test[:3].astype(np.float64), t_test[:3]


def numerical_in_test_mode(network, x, t):
    """Central differences of ``network.loss`` in inference mode, every parameter (float64)."""
    xb, tb = x.reshape(1, -1), np.array([t])
    return {
        key: numerical_gradient(lambda _: network.loss(xb, tb, train_flg=False), p)
        for key, p in network.params.items()
    }


# -- the trace ---------------------------------------------------------------------------------


def test_the_trace_is_a_hand_written_forward_and_backward_pass(images):
    net = TwoLayerNet(784, 12, 10, rng=1, dtype=np.float64)
    net.params["b1"][...] = np.random.default_rng(2).normal(0, 0.1, 12)  # some units off
    x, t = images[0][0], int(images[1][0])
    W1, b1, W2, b2 = (net.params[k] for k in ("W1", "b1", "W2", "b2"))

    # Chapter 5 by hand: the two affine layers, the ReLU, softmax with the cross-entropy.
    xb = x.reshape(1, 784)
    a1 = xb @ W1 + b1
    z1 = np.maximum(a1, 0)
    a2 = z1 @ W2 + b2
    y = np.exp(a2 - a2.max()) / np.exp(a2 - a2.max()).sum()
    loss = -np.log(y[0, t])
    da2 = y.copy()
    da2[0, t] -= 1
    dz1 = da2 @ W2.T
    da1 = dz1 * (a1 > 0)
    dx = da1 @ W1.T

    trace = trace_backprop(net, x, t)
    assert [n.name for n in trace.nodes] == ["Affine1", "Relu1", "Affine2", "SoftmaxWithLoss"]
    assert [n.layer for n in trace.nodes] == ["Affine", "Relu", "Affine", "SoftmaxWithLoss"]
    expected = {
        "Affine1": (a1, da1, dx, {"W": xb.T @ da1, "b": da1.sum(0)}),
        "Relu1": (z1, dz1, da1, {}),
        "Affine2": (a2, da2, dz1, {"W": z1.T @ da2, "b": da2.sum(0)}),
        "SoftmaxWithLoss": (np.asarray(loss), np.asarray(1.0), da2, {}),
    }
    for node in trace.nodes:
        out, dout, dx_, grads = expected[node.name]
        np.testing.assert_allclose(node.out, out, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(node.dout, dout, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(node.dx, dx_, rtol=1e-12, atol=1e-15)
        assert node.grads.keys() == grads.keys()
        for name, g in grads.items():
            np.testing.assert_allclose(node.grads[name], g, rtol=1e-12, atol=1e-15)
    assert trace.loss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(trace.probabilities, y[0], rtol=1e-12)
    assert trace.prediction == int(np.argmax(a2)) and trace.label == t
    assert trace.node("Affine1").param_keys == {"W": "W1", "b": "b1"}
    np.testing.assert_allclose(trace.dx, dx, rtol=1e-12, atol=1e-15)
    # The same gradients as the network's own, and the numerical gradient's, in float64.
    own = net.gradient(xb, np.array([t]))
    numerical = numerical_in_test_mode(net, x, t)
    for key, g in trace.gradients().items():
        np.testing.assert_allclose(g, own[key], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(g, numerical[key], rtol=1e-6, atol=1e-9)


def test_multilayer_net_with_dropout_and_batch_norm_is_traced_in_test_mode(images):
    net = MultiLayerNet(
        784, [12, 8], 10, use_dropout=True, dropout_ratio=0.5, use_batchnorm=True,
        weight_decay_lambda=0.05, rng=3, dtype=np.float64,
    )  # fmt: skip
    # Running statistics that are not the identity, as after training.
    rng = np.random.default_rng(4)
    for key, value in net.state.items():
        value[...] = (
            rng.uniform(0.5, 1.5, value.shape) if "var" in key else rng.normal(0, 1, value.shape)
        )
    x, t = images[0][1], int(images[1][1])
    trace = trace_backprop(net, x, t)
    names = [n.name for n in trace.nodes]
    assert names[:4] == ["Affine1", "BatchNorm1", "Activation_function1", "Dropout1"]
    assert names[-1] == "SoftmaxWithLoss" and len(names) == len(net.layers) + 1
    # Dropout at test time lets everything through, both ways.
    drop = trace.node("Dropout1")
    np.testing.assert_array_equal(drop.out, trace.node("Activation_function1").out)
    np.testing.assert_array_equal(drop.dx, drop.dout)
    # The scores are the network's inference-mode prediction; the loss adds weight decay.
    np.testing.assert_allclose(trace.node("Affine3").out, net.predict(x.reshape(1, -1)), rtol=1e-12)
    total = net.loss(x.reshape(1, -1), np.array([t]))
    assert trace.loss + trace.weight_decay_loss == pytest.approx(total, rel=1e-12)
    assert trace.node("BatchNorm1").grads.keys() == {"gamma", "beta"}
    numerical = numerical_in_test_mode(net, x, t)
    grads = trace.gradients()
    assert grads.keys() == numerical.keys()
    for key in grads:
        np.testing.assert_allclose(grads[key], numerical[key], rtol=1e-6, atol=1e-8, err_msg=key)
    assert "+ weight decay" in trace.lines()[0]


def test_simple_conv_net_trace_matches_its_gradient_and_the_numerical_one(images):
    net = SimpleConvNet(
        conv_param={"filter_num": 3, "filter_size": 5}, hidden_size=8, rng=5, dtype=np.float64,
        weight_init_std=0.1,
    )  # fmt: skip
    # A difference quotient across a kink is no derivative: a ReLU input within h of 0, or a
    # pooling window whose two largest values are within h (the black background of a digit
    # ties them exactly). So noise for the input, convolution outputs mostly above 0, and a
    # step of 1e-6 (the default 1e-4 crosses a few kinks here; float64 keeps 1e-6 accurate).
    net.params["b1"][...] = 1.0
    x = np.random.default_rng(6).uniform(0, 1, (1, 28, 28))
    t = int(images[1][2])
    trace = trace_backprop(net, x, t)
    assert [n.name for n in trace.nodes] == [
        "Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2", "SoftmaxWithLoss",
    ]  # fmt: skip
    assert trace.x.shape == (1, 1, 28, 28)
    assert trace.node("Conv1").shape == (1, 3, 24, 24) and trace.node("Pool1").shape == (
        1,
        3,
        12,
        12,
    )
    assert trace.dx.shape == (1, 1, 28, 28)
    own = net.gradient(trace.x, np.array([t]))
    numerical = {
        key: numerical_gradient(lambda _: net.loss(trace.x, np.array([t])), p, h=1e-6)
        for key, p in net.params.items()
    }
    for key, g in trace.gradients().items():
        np.testing.assert_allclose(g, own[key], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(g, numerical[key], rtol=1e-5, atol=1e-9, err_msg=key)
    # dL/dx too, on a few pixels.
    xin = trace.x.copy()
    for r, c in [(0, 0), (5, 9), (14, 14), (20, 3), (27, 27)]:

        def loss_at(v, r=r, c=c):
            xin[0, 0, r, c] = v
            return net.loss(xin, np.array([t]))

        v0 = xin[0, 0, r, c]
        num = (loss_at(v0 + 1e-6) - loss_at(v0 - 1e-6)) / 2e-6
        loss_at(v0)
        assert trace.dx[0, 0, r, c] == pytest.approx(num, rel=1e-5, abs=1e-10)


def test_the_trace_leaves_the_networks_layers_as_they_were(images):
    net = TwoLayerNet(784, 10, 10, rng=0)
    trace_backprop(net, images[0][0], 3)
    assert net.layers["Affine1"].x is None and net.layers["Affine1"].dW is None
    assert net.last_layer.loss is None


def test_the_trace_runs_in_the_networks_dtype(images):
    net = TwoLayerNet(784, 10, 10, rng=0)  # float32, dlzero's default
    trace = trace_backprop(net, images[0][0], 3)
    assert trace.x.dtype == np.float32 and trace.node("Affine1").grads["W"].dtype == np.float32


@pytest.mark.parametrize(
    ("x", "label", "message"),
    [
        (np.zeros(783), 3, "784 values"),
        (np.zeros((28, 28)), 10, "0-9"),
        (np.zeros((28, 28)), -1, "0-9"),
        (np.zeros((28, 28)), True, "integer class"),
        (np.zeros((28, 28)), 2.0, "integer class"),
        (np.array(["a"] * 784), 2, "numbers"),
    ],
)
def test_bad_input_or_label_is_a_clear_error(x, label, message):
    with pytest.raises(ValueError, match=message):
        trace_backprop(TwoLayerNet(784, 5, 10, rng=0), x, label)


def test_lines_say_each_node_with_its_shape_and_ranges(images):
    net = TwoLayerNet(784, 10, 10, rng=0)
    lines = trace_backprop(net, images[0][0], int(images[1][0])).lines()
    assert lines[0].startswith("prediction ") and f"label {int(images[1][0])}" in lines[0]
    assert lines[1].split()[:3] == ["input", "x", "1x784"]
    assert [line.split()[0] for line in lines[2:]] == [
        "Affine1", "Relu1", "Affine2", "SoftmaxWithLoss",
    ]  # fmt: skip
    assert lines[2].split()[1] == "1x10" and "dW1 max|.|" in lines[2] and "db1" in lines[2]
    assert "(the loss)" in lines[5] and "dout 1 " in lines[5]


def test_check_some_weights_agrees_and_times_both(images):
    net = TwoLayerNet(784, 20, 10, rng=0)  # float32: the check takes a float64 copy
    check = check_some_weights(net, images[0][0], int(images[1][0]))
    assert [w.key for w in check.weights] == ["W1", "b1", "W2", "b2"]
    for w in check.weights:
        assert w.backprop != 0
        assert w.difference <= 1e-7 * abs(w.backprop) + 1e-12, w
    assert check.parameters == 784 * 20 + 20 + 20 * 10 + 10
    assert 0 < check.backprop_seconds < check.numerical_seconds_all
    assert net.dtype == np.float32  # the network itself was not cast


# -- the apples --------------------------------------------------------------------------------


def test_buying_apples_has_the_books_numbers():
    g = buy_apples()
    assert g.edge("mul_tax", "price").forward == pytest.approx(220)
    assert g.edge("apple", "mul_apple").backward == pytest.approx(2.2)
    assert g.edge("apple_num", "mul_apple").backward == pytest.approx(110)
    assert g.edge("tax", "mul_tax").backward == pytest.approx(200)
    assert g.edge("mul_apple", "mul_tax").backward == pytest.approx(1.1)


def test_buying_apples_and_oranges_has_the_books_numbers():
    g = buy_apples_and_oranges()
    assert g.edge("mul_tax", "price").forward == pytest.approx(715)
    assert g.edge("add_fruit", "mul_tax").forward == pytest.approx(650)
    expected = {"apple": 2.2, "apple_num": 110, "orange": 3.3, "orange_num": 165}
    for name, value in expected.items():
        target = "mul_apple" if name.startswith("apple") else "mul_orange"
        assert g.edge(name, target).backward == pytest.approx(value)
    assert g.edge("tax", "mul_tax").backward == pytest.approx(650)
    assert g.edge("mul_orange", "add_fruit").backward == pytest.approx(1.1)  # + passes it on
    with pytest.raises(KeyError):
        g.edge("apple", "price")


# -- the pictures ------------------------------------------------------------------------------


@pytest.fixture
def tmp_path(tmp_path):
    """Every test below draws or reads pictures: skipped without matplotlib or Pillow."""
    pytest.importorskip("matplotlib", reason="plots need matplotlib (dlzero[cli])")
    pytest.importorskip("PIL", reason="reading pictures needs Pillow (dlzero[cli])")
    return tmp_path


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_the_apple_graph_is_drawn_with_both_numbers_on_each_edge(tmp_path):
    fig = dlzero.plotting.plot_computational_graph(
        buy_apples_and_oranges(), tmp_path / "apples.png"
    )
    texts = _texts(fig)
    for number in ("100", "2", "150", "3", "200", "450", "650", "715", "1.1"):
        assert number in texts
    for number in ("2.2", "110", "3.3", "165", "650", "1"):
        assert number in texts
    red = [t.get_text() for t in fig.axes[0].texts if t.get_color() == "#c0392b"]
    assert sorted(red) == sorted(["2.2", "110", "3.3", "165", "1.1", "1.1", "1.1", "650", "1"])
    assert (tmp_path / "apples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_network_graph_is_drawn_with_shapes_and_values(images, tmp_path):
    trace = trace_backprop(TwoLayerNet(784, 50, 10, rng=0), images[0][0], int(images[1][0]))
    fig = dlzero.plotting.plot_backprop_graph(trace, tmp_path / "graph.png")
    texts = " ".join(_texts(fig))
    for word in ("Affine1", "Relu1", "Affine2", "SoftmaxWithLoss", "1x784", "1x50", "1x10",
                 "dW1[:,", "db2 10", "t = 7", "loss L", "input x"):  # fmt: skip
        assert word in texts, word
    # Heat maps: the input and three values forward, four gradients back, four parameter
    # gradients, and the probabilities.
    maps = fig.axes[0].child_axes
    assert len(maps) == 1 + 3 + 4 + 4 + 1
    assert all(len(m.images) == 1 for m in maps)
    assert (tmp_path / "graph.png").stat().st_size > 10_000


def test_a_deep_network_graph_wraps_onto_rows(images, tmp_path):
    net = SimpleConvNet(conv_param={"filter_num": 4}, hidden_size=10, rng=0)
    trace = trace_backprop(net, images[0][0], 7)
    fig = dlzero.plotting.plot_backprop_graph(trace, per_row=4)
    texts = _texts(fig)
    # x Conv1 Relu1 Pool1 | Affine1 Relu2 Affine2 SoftmaxWithLoss | L: rows start with the edge in
    assert "from Pool1" in texts and "from SoftmaxWithLoss" in texts
    width, height = fig.get_size_inches()
    assert height > 2 * 3.7 and width < 14


# -- dlzero backprop ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seven(tmp_path_factory):
    PIL = pytest.importorskip("PIL.Image", reason="reading pictures needs Pillow (dlzero[cli])")
    from PIL import ImageDraw

    im = PIL.new("L", (280, 280), 0)
    ImageDraw.Draw(im).line([(80, 50), (200, 50), (120, 240)], fill=255, width=20)
    path = tmp_path_factory.mktemp("digits") / "seven.png"
    im.save(path)
    return path


def test_the_command_prints_a_line_per_node_and_draws_the_graph(
    run_dlzero, digit_model, seven, tmp_path
):
    network, model = digit_model
    out = tmp_path / "graph.png"
    status, stdout, stderr = run_dlzero(["backprop", model, seven, "--label", "7", "--out", out])
    assert status == 0, stderr
    lines = stdout.splitlines()
    from dlzero.studies.digits import load_digit

    expected = trace_backprop(network, load_digit(seven), 7).lines()
    assert lines == [*expected, f"wrote {out}"]
    assert lines[0].startswith("prediction 7 (") and "label 7" in lines[0]
    assert [line.split()[0] for line in lines[2:6]] == [
        "Affine1", "Relu1", "Affine2", "SoftmaxWithLoss",
    ]  # fmt: skip
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_the_command_without_a_model_trains_the_chapter_5_network_first(
    run_dlzero, seven, tmp_path
):
    status, stdout, stderr = run_dlzero(
        ["backprop", seven, "--label", "1", "--no-plot", "--iters", "30"]
    )
    assert status == 0, stderr
    assert "training the chapter-5 network first" in stderr and "test accuracy" in stderr
    assert stdout.splitlines()[0].startswith("prediction ") and "label 1" in stdout
    assert "wrote" not in stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{model}", "missing.png", "--label", "7"], "cannot read 'missing.png'"),
        (["{model}", "{seven}", "--label", "10"], "argument --label: expected the correct digit"),
        (["{model}", "{seven}", "--label", "x"], "argument --label"),
        (["{model}", "{seven}"], "the following arguments are required: --label"),
        (["{model}", "{text}", "--label", "7"], "not an image"),
        (["{model}", "{blank}", "--label", "7"], "blank"),
        (["nomodel.npz", "{seven}", "--label", "7"], "nomodel.npz"),
        (["{model}", "{seven}", "--label", "7", "--out", "graph.txt"], "plot file suffix"),
        (["{model}", "{seven}", "{seven}", "--label", "7"], "unrecognized arguments"),
    ],
)
def test_bad_input_is_a_one_line_error_with_status_2(
    run_dlzero, digit_model, seven, tmp_path, argv, message
):
    from PIL import Image

    (tmp_path / "text.png").write_text("not a picture")
    Image.new("L", (50, 50), 0).save(tmp_path / "blank.png")
    paths = {
        "model": digit_model[1],
        "seven": seven,
        "text": tmp_path / "text.png",
        "blank": tmp_path / "blank.png",
    }
    status, stdout, stderr = run_dlzero(["backprop", *(a.format(**paths) for a in argv)])
    assert status == 2 and stdout == ""
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("dlzero backprop: error")
    assert message in stderr, stderr


def test_ctrl_c_while_training_first_is_one_line_and_status_130(run_dlzero, seven, monkeypatch):
    from dlzero.cli import backprop

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(backprop, "train_chapter5", interrupted)
    status, stdout, stderr = run_dlzero(["backprop", seven, "--label", "7", "--no-plot"])
    assert status == 130 and stdout == "" and stderr == "dlzero backprop: interrupted\n"


def test_without_matplotlib_the_graph_is_refused_before_training(run_dlzero, seven, monkeypatch):
    import importlib.util

    from dlzero.cli import backprop

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else find_spec(name, *a),
    )
    monkeypatch.setattr(backprop, "train_chapter5", lambda *a: pytest.fail("trained first"))
    status, stdout, stderr = run_dlzero(["backprop", seven, "--label", "7"])
    assert (
        status == 2 and stdout == "" and "plots need matplotlib" in stderr and "--no-plot" in stderr
    )
