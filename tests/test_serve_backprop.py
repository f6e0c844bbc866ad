"""``dlzero serve``'s backprop API (issue 27): /api/backprop and its learn, check and reset,
against a running server. The tab itself, in Chromium: test_serve_browser.py."""

from __future__ import annotations

import copy
import json
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from dlzero import SimpleConvNet, trace_backprop
from dlzero.serve.backprop import BackpropTab, values
from dlzero.studies.digits import decode_image, to_mnist
from test_serve import SEVEN, call, drawing_280, png_bytes

pytest.importorskip("PIL.Image", reason="reading pictures needs Pillow (dlzero[cli])")
J = "application/json"


@pytest.fixture(scope="module")
def served(digit_model):
    return digit_model[0]


@pytest.fixture
def server(served, start_server):
    return start_server(served)


@pytest.fixture(scope="module")
def digit(mnist_data):
    """An MNIST test image (a 7) as 28x28 rows, and its label."""
    x, t = mnist_data[1]
    return x[0].reshape(28, 28), int(t[0])


def close(answer, expected):
    """A JSON answer equals an array to the rounding the API applies (5 significant digits of
    the array's largest value)."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(np.asarray(answer), expected, rtol=0, atol=1e-4 * scale + 1e-30)


# -- /api/backprop -------------------------------------------------------------------------------


def test_the_tab_is_on_the_page_and_fetches_nothing_from_elsewhere(server):
    page = call(server, "GET", "/")[1].decode()
    assert 'id="tab-backprop"' in page and '<script src="backprop.js">' in page
    assert '<script src="backprop_graph.js">' in page
    scripts = b""
    for path in ("/backprop_graph.js", "/backprop.js"):
        status, script, headers = call(server, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        scripts += script
    assert b"/api/backprop/learn" in scripts and b"backpropGraph.draw" in scripts
    # Only relative paths are fetched (the one absolute URL is SVG's namespace, not fetched).
    assert re.findall(rb"https?://[^\"]*", scripts) == [b"http://www.w3.org/2000/svg"]
    assert not re.search(rb"fetch\(\s*[\"'`]https?:", scripts)


def test_backprop_json_is_the_trace_of_the_served_network(server, served, digit):
    pixels, label = digit
    status, answer, _ = call(
        server, "POST", "/api/backprop", {"pixels": pixels.tolist(), "label": 3}, J
    )
    assert status == 200, answer
    trace = trace_backprop(served, pixels, 3)
    assert answer["prediction"] == trace.prediction == label and answer["label"] == 3
    assert answer["loss"] == pytest.approx(trace.loss, rel=1e-6)
    np.testing.assert_allclose(answer["probabilities"], trace.probabilities, rtol=1e-6)
    assert answer["input_shape"] == [1, 784] and answer["steps"] == 0
    np.testing.assert_allclose(answer["input28"], pixels, atol=1e-4)
    assert [n["name"] for n in answer["nodes"]] == [
        "Affine1",
        "Relu1",
        "Affine2",
        "SoftmaxWithLoss",
    ]
    for got, node in zip(answer["nodes"], trace.nodes, strict=True):
        assert got["layer"] == node.layer and got["shape"] == list(node.out.shape)
        close(got["out"], node.out)
        close(got["dout"], node.dout)
        close(got["dx"], node.dx)
        assert got["grads"].keys() == node.grads.keys() and got["params"] == node.param_keys
        for name, g in node.grads.items():
            assert np.shape(got["grads"][name]) == g.shape
            close(got["grads"][name], g)
    affine1, relu1, _, loss = answer["nodes"]
    assert np.shape(affine1["grads"]["W"]) == (784, 50) and relu1["grads"] == {}
    assert (
        loss["shape"] == []
        and loss["dout"] == 1.0
        and loss["out"] == pytest.approx(trace.loss, rel=1e-4)
    )
    # dL/dscores is y - t: negative at the label only.
    dscores = np.asarray(loss["dx"])[0]
    assert dscores[3] < 0 and np.all(np.delete(dscores, 3) >= 0)


def test_backprop_png_with_the_label_in_the_query(server, served):
    png = png_bytes(drawing_280(SEVEN))
    status, answer, _ = call(server, "POST", "/api/backprop?label=7", png, "image/png")
    assert status == 200, answer
    prepared = to_mnist(decode_image(png))
    np.testing.assert_allclose(answer["input28"], prepared, atol=1e-4)
    assert answer["prediction"] == 7 and answer["label"] == 7
    assert answer["loss"] == pytest.approx(trace_backprop(served, prepared, 7).loss, rel=1e-6)


def test_values_keep_five_significant_digits_of_the_largest_in_short_numbers():
    a = np.array([0.123456789, -4.56789e-7, 1.5e-9], dtype=np.float32)
    rounded = values(a)
    assert rounded == [0.12346, -0.0, 0.0]
    assert values(np.array([[0.0, 0.0]])) == [[0.0, 0.0]]
    assert values(np.float32(3.3333333)) == 3.3333
    assert json.dumps(values(np.array([1e-6, 2.5e-7]))) == "[1e-06, 2.5e-07]"


def _example(pixels, **extra):
    return {"pixels": np.asarray(pixels).tolist(), **extra}


BAD = {
    "label outside 0-9": ("/api/backprop", {"label": 10}, J, 400, "label must be an integer 0-9"),
    "negative label": ("/api/backprop", {"label": -1}, J, 400, "0-9"),
    "label as text": ("/api/backprop", {"label": "7"}, J, 400, "0-9"),
    "label true": ("/api/backprop", {"label": True}, J, 400, "0-9"),
    "label 7.5": ("/api/backprop", {"label": 7.5}, J, 400, "0-9"),
    "no label": ("/api/backprop", {}, J, 400, '"label"'),
    "bad pixels": ("/api/backprop", {"label": 1, "pixels": [[2.0] * 28] * 28}, J, 400, "[0, 1]"),
    "no pixels": ("/api/backprop", b'{"label": 1}', J, 400, "pixels"),
    "malformed JSON": ("/api/backprop", b'{"pixels": [', J, 400, "malformed JSON"),
    "NaN": ("/api/backprop", b'{"pixels": [[NaN]], "label": 1}', J, 400, "NaN"),
    "blank drawing": ("/api/backprop", {"label": 1, "pixels": [[0] * 280] * 280}, J, 422, "blank"),
    "PNG without label": ("/api/backprop", "png", "image/png", 400, "?label=N"),
    "PNG label x": ("/api/backprop?label=x", "png", "image/png", 400, "0-9"),
    "PNG label 12": ("/api/backprop?label=12", "png", "image/png", 400, "0-9"),
    # "²" is a digit to str.isdigit but not to int(); int() refuses more than 4,300 digits
    "PNG label superscript": ("/api/backprop?label=%C2%B2", "png", "image/png", 400, "0-9"),
    "PNG label 5000 digits": ("/api/backprop?label=" + "1" * 5000, "png", "image/png", 400, "0-9"),
    "not an image": ("/api/backprop?label=1", b"plain text", "image/png", 400, "not an image"),
    "other media type": ("/api/backprop?label=1", b"1,2", "text/csv", 415, "image/png"),
    "learn as a form": ("/api/backprop/learn", b"label=1", "text/plain", 415, "application/json"),
    "learn a PNG": ("/api/backprop/learn", "png", "image/png", 415, "application/json"),
    "learn lr 0": ("/api/backprop/learn", {"label": 1, "lr": 0}, J, 400, "lr"),
    "learn lr 11": ("/api/backprop/learn", {"label": 1, "lr": 11}, J, 400, "lr"),
    "learn lr text": ("/api/backprop/learn", {"label": 1, "lr": "0.1"}, J, 400, "lr"),
    "learn lr 400 digits": ("/api/backprop/learn", {"label": 1, "lr": 10**400}, J, 400, "lr"),
    "learn label 10": ("/api/backprop/learn", {"label": 10}, J, 400, "0-9"),
    "check as a form": ("/api/backprop/check", b"label=1", "text/plain", 415, "application/json"),
    "check no label": ("/api/backprop/check", {}, J, 400, '"label"'),
    "reset as a form": ("/api/backprop/reset", b"", "text/plain", 415, "application/json"),
    "reset bad JSON": ("/api/backprop/reset", b"{", J, 400, "malformed JSON"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_requests_are_a_4xx_with_a_json_error(server, digit, case):
    path, body, ctype, expected, words = BAD[case]
    if body == "png":
        body = png_bytes(drawing_280(SEVEN))
    elif isinstance(body, dict):
        body = _example(digit[0], **body) if "pixels" not in body else body
    status, answer, _ = call(server, "POST", path, body, ctype)
    assert status == expected and answer["status"] == expected, answer
    assert words in answer["error"], answer
    assert call(server, "POST", "/api/backprop", _example(digit[0], label=1), J)[1]["steps"] == 0


@pytest.mark.parametrize(
    "path", ["/api/backprop", "/api/backprop/learn", "/api/backprop/check", "/api/backprop/reset"]
)
def test_every_backprop_path_has_the_apis_protections(server, digit, path):
    host, port = server.server_address[:2]
    body = _example(digit[0], label=1)
    assert call(server, "GET", path)[0] == 405
    status, answer, _ = call(server, "POST", path, body, J, {"Host": f"rebind.example:{port}"})
    assert status == 421, answer
    status, answer, _ = call(server, "POST", path, body, J, {"Origin": "http://evil.example"})
    assert status == 403, answer
    own = {"Origin": f"http://{host}:{port}"}
    assert call(server, "POST", path, body, J, own)[0] == 200


# -- learn, reset, check -------------------------------------------------------------------------


def test_learn_takes_one_sgd_step_on_a_copy_and_reset_drops_it(server, served, digit):
    pixels, _ = digit
    before_weights = {k: v.copy() for k, v in served.params.items()}
    predict = call(server, "POST", "/api/predict", _example(pixels), J)[1]
    status, learned, _ = call(
        server, "POST", "/api/backprop/learn", _example(pixels, label=3, lr=0.01), J
    )
    assert status == 200, learned
    assert learned["steps"] == 1 and learned["lr"] == 0.01 and learned["label"] == 3
    before, after = learned["before"], learned["after"]
    assert after["loss"] < before["loss"]
    assert after["probabilities"][3] > before["probabilities"][3]
    # By hand: the same step on a copy of the network gives the same "after".
    copy_ = copy.deepcopy(served)
    for key, g in trace_backprop(served, pixels, 3).gradients().items():
        copy_.params[key] -= np.float32(0.01) * g
    assert after["loss"] == pytest.approx(trace_backprop(copy_, pixels, 3).loss, rel=1e-5)
    # The tab now traces the copy; the draw tab and the served weights are untouched.
    traced = call(server, "POST", "/api/backprop", _example(pixels, label=3), J)[1]
    assert traced["steps"] == 1 and traced["loss"] == pytest.approx(after["loss"], rel=1e-6)
    assert call(server, "POST", "/api/predict", _example(pixels), J)[1] == predict
    for key, value in served.params.items():
        np.testing.assert_array_equal(value, before_weights[key])
    # A second step goes on from the first.
    again = call(server, "POST", "/api/backprop/learn", _example(pixels, label=3, lr=0.01), J)[1]
    assert again["steps"] == 2 and again["before"]["loss"] == pytest.approx(after["loss"], rel=1e-6)
    # Reset: back to the served network.
    assert call(server, "POST", "/api/backprop/reset", b"", J)[1] == {"steps": 0}
    traced = call(server, "POST", "/api/backprop", _example(pixels, label=3), J)[1]
    assert traced["steps"] == 0 and traced["loss"] == pytest.approx(before["loss"], rel=1e-6)


def test_learn_uses_the_chapters_learning_rate_by_default(server, digit):
    learned = call(server, "POST", "/api/backprop/learn", _example(digit[0], label=digit[1]), J)[1]
    assert learned["lr"] == 0.1 and learned["steps"] == 1


def test_check_compares_backprop_with_the_numerical_gradient(server, served, digit):
    status, check, _ = call(server, "POST", "/api/backprop/check", _example(digit[0], label=2), J)
    assert status == 200, check
    assert [w["parameter"] for w in check["weights"]] == ["W1", "b1", "W2", "b2"]
    for w in check["weights"]:
        assert w["backprop"] != 0
        assert w["difference"] == pytest.approx(abs(w["backprop"] - w["numerical"]))
        assert w["difference"] <= 1e-6 * abs(w["backprop"]), w
    W1 = check["weights"][0]
    assert digit[0].reshape(-1)[W1["index"][0]] > 0  # a weight on the digit's ink
    assert check["parameters"] == sum(p.size for p in served.params.values())
    assert 0 < check["backprop_seconds"] < check["numerical_seconds_all"]
    assert check["numerical_seconds"] > 0 and check["steps"] == 0


def test_a_new_served_network_forgets_the_learned_copy(served, digit):
    tab = BackpropTab()
    tab.learn(served, digit[0], 3, 0.1)
    assert tab.network(served)[1] == 1
    other = copy.deepcopy(served)
    network, steps = tab.network(other)
    assert network is other and steps == 0


def test_a_convolutional_network_is_traced_too(start_server, mnist_data, digit):
    net = SimpleConvNet(conv_param={"filter_num": 4}, hidden_size=20, rng=0, weight_init_std=0.1)
    server = start_server(net)
    status, answer, _ = call(server, "POST", "/api/backprop", _example(digit[0], label=7), J)
    assert status == 200, answer
    assert [n["name"] for n in answer["nodes"]][:3] == ["Conv1", "Relu1", "Pool1"]
    assert answer["input_shape"] == [1, 1, 28, 28]
    assert np.shape(answer["nodes"][0]["grads"]["W"]) == (4, 1, 5, 5)
    assert np.shape(answer["nodes"][0]["dx"]) == (1, 1, 28, 28)
    check = call(server, "POST", "/api/backprop/check", _example(digit[0], label=7), J)[1]
    assert [w["parameter"] for w in check["weights"]] == ["W1", "b1", "W2", "b2", "W3", "b3"]


def test_concurrent_traces_and_steps_do_not_mix(server, served, mnist_data):
    x, _ = mnist_data[1]
    images = [x[i].reshape(28, 28) for i in range(12)]
    expected = [trace_backprop(served, im, i % 10).loss for i, im in enumerate(images)]

    def ask(i):
        if i >= 12:  # steps on the copy meanwhile: traces see one network or the other
            return call(server, "POST", "/api/backprop/learn", _example(images[0], label=1), J)
        return call(server, "POST", "/api/backprop", _example(images[i], label=i % 10), J)

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(ask, range(16)))
    assert all(status == 200 for status, _, _ in answers)
    for i in range(12):
        result = answers[i][1]
        if result["steps"] == 0:
            assert result["loss"] == pytest.approx(expected[i], rel=1e-6)
        else:  # traced on the copy, after some of the 4 steps: a whole network, not a torn one
            assert 1 <= result["steps"] <= 4 and np.isfinite(result["loss"])
            assert np.isfinite(result["probabilities"]).all()
            assert sum(result["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert call(server, "POST", "/api/backprop/reset", {}, J)[1]["steps"] == 0
