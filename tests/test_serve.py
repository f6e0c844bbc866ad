"""``dlzero serve``: the JSON API against a running server, what the page is computed from, and
the command (bind address, Ctrl-C) as a process. The page itself: test_serve_browser.py."""

from __future__ import annotations

import copy
import http.client
import io
import json
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import numpy as np
import pytest

from dlzero import MultiLayerNet, SimpleConvNet, TwoLayerNet
from dlzero.gradient import numerical_gradient
from dlzero.serve import look_inside
from dlzero.serve.server import MAX_BODY
from dlzero.serve.training_job import TrainingSettings
from dlzero.studies.digits import decode_image, to_mnist
from dlzero.studies.evaluation import predict_proba

PIL = pytest.importorskip("PIL.Image", reason="reading pictures needs Pillow (dlzero[cli])")


def call(server, method, path, body=None, ctype=None, headers=None):
    """One request on a new connection: (status, parsed JSON or bytes, response headers)."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        hdrs = dict(headers or {})
        if ctype:
            hdrs["Content-Type"] = ctype
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        conn.request(method, path, body=body, headers=hdrs)
        response = conn.getresponse()
        data = response.read()
        if response.getheader("Content-Type") == "application/json":
            data = json.loads(data)
        return response.status, data, dict(response.getheaders())
    finally:
        conn.close()


def drawing_280(strokes, width=20):
    """A 280x280 drawing, white ink on black, of straight strokes [(x0, y0), (x1, y1), ...]."""
    from PIL import ImageDraw

    im = PIL.new("L", (280, 280), 0)
    draw = ImageDraw.Draw(im)
    for points in strokes:
        draw.line(points, fill=255, width=width, joint="curve")
    return im


def png_bytes(im):
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


SEVEN = [[(80, 50), (200, 50), (120, 240)]]


@pytest.fixture(scope="module")
def served(digit_model, mnist_data):
    return digit_model[0]


@pytest.fixture
def server(served, start_server):
    return start_server(served)


# -- the page and the model ----------------------------------------------------------------


def test_the_page_and_its_files_are_served(server):
    status, page, headers = call(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    html = page.decode()
    assert 'id="pad"' in html and "app.js" in html and "style.css" in html
    # Nothing is fetched from elsewhere: no absolute URL in any of the three files.
    for path in ("/", "/app.js", "/style.css"):
        status, body, _ = call(server, "GET", path)
        assert status == 200 and not re.search(rb"(src|href)=\"?(https?:)?//", body), path
    assert call(server, "GET", "/app.js")[2]["Content-Type"].startswith("text/javascript")


def test_model_describes_the_network(server, served):
    status, info, _ = call(server, "GET", "/api/model")
    assert status == 200
    assert info["class"] == "TwoLayerNet" and info["description"] == "784-50-10 relu"
    assert info["parameters"] == 784 * 50 + 50 + 50 * 10 + 10
    (layer,) = info["hidden"]
    assert layer["name"] == "Relu1" and layer["kind"] == "units" and layer["shape"] == [50]


def test_dead_units_are_those_silent_on_every_reference_image(start_server, served, mnist_data):
    network = copy.deepcopy(served)
    network.params["b1"][[3, 17]] = -1e6  # two units that can never fire
    status, info, _ = call(start_server(network), "GET", "/api/model")
    assert status == 200 and info["hidden"][0]["dead"] == [3, 17]


# -- /api/predict --------------------------------------------------------------------------


def test_predict_json_28x28_is_the_network_on_that_image(server, served, mnist_data):
    x = mnist_data[1][0][:1]
    status, result, _ = call(
        server, "POST", "/api/predict", {"pixels": x.reshape(28, 28).tolist()}, "application/json"
    )
    assert status == 200
    expected = predict_proba(served, x)[0]
    np.testing.assert_allclose(result["probabilities"], expected, rtol=1e-5, atol=1e-7)
    assert result["prediction"] == int(np.argmax(expected))
    np.testing.assert_allclose(result["input28"], x.reshape(28, 28), atol=1e-4)  # as given
    # Saliency by the layers' backward, against the chapter-5 formula written out:
    # d score_k / d x = W1 @ (relu'(x W1 + b1) * W2[:, k]).
    p = {k: v.astype(np.float64) for k, v in served.params.items()}
    a1 = x[0].astype(np.float64) @ p["W1"] + p["b1"]
    formula = p["W1"] @ ((a1 > 0) * p["W2"][:, result["prediction"]])
    np.testing.assert_allclose(np.ravel(result["saliency"]), formula, rtol=1e-4, atol=1e-6)
    hidden = result["hidden"][0]
    np.testing.assert_allclose(hidden["values"], np.maximum(a1, 0), rtol=1e-3, atol=1e-3)


def test_predict_png_prepares_the_drawing_as_dlzero_predict_does(server, served):
    im = drawing_280(SEVEN)
    status, result, _ = call(server, "POST", "/api/predict", png_bytes(im), "image/png")
    assert status == 200
    prepared = to_mnist(decode_image(png_bytes(im)))
    np.testing.assert_allclose(result["input28"], prepared, atol=1e-4)
    np.testing.assert_allclose(
        result["probabilities"], predict_proba(served, prepared.reshape(1, -1))[0], rtol=1e-5
    )
    assert result["prediction"] == 7
    assert len(result["probabilities"]) == 10 and abs(sum(result["probabilities"]) - 1) < 1e-6


def test_predict_json_280x280_is_prepared_too(server):
    im = drawing_280(SEVEN)
    pixels = (np.asarray(im, dtype=np.float64) / 255).round(3)
    status, result, _ = call(
        server, "POST", "/api/predict", {"pixels": pixels.tolist()}, "application/json"
    )
    assert status == 200 and result["prediction"] == 7
    np.testing.assert_allclose(result["input28"], to_mnist(pixels), atol=1e-4)


def _pixels(value, shape=(28, 28)):
    rows = np.zeros(shape).tolist()
    rows[5][5] = value
    return {"pixels": rows}


J = "application/json"
BAD_REQUESTS = {
    "malformed JSON": ("POST", "/api/predict", b'{"pixels": [[0, 1]', J, 400, "malformed JSON"),
    "not an object": ("POST", "/api/predict", b"[1, 2]", J, 400, "pixels"),
    "no pixels": ("POST", "/api/predict", {"pix": []}, J, 400, "pixels"),
    "wrong shape": ("POST", "/api/predict", {"pixels": [[0] * 27] * 28}, J, 400, "28x28"),
    "ragged rows": ("POST", "/api/predict", {"pixels": [[0] * 28] * 27 + [[0]]}, J, 400, "rows"),
    "strings": ("POST", "/api/predict", _pixels("a"), J, 400, "numbers"),
    "booleans": ("POST", "/api/predict", {"pixels": [[True] * 28] * 28}, J, 400, "numbers"),
    "NaN": ("POST", "/api/predict", b'{"pixels": [[NaN]]}', J, 400, "NaN"),
    "infinite": (
        "POST",
        "/api/predict",
        json.dumps(_pixels(0.5)).replace("0.5", "1e999"),
        J,
        400,
        "finite",
    ),
    "above 1": ("POST", "/api/predict", _pixels(2.0), J, 400, "[0, 1]"),
    "negative": ("POST", "/api/predict", _pixels(-0.5), J, 400, "[0, 1]"),
    "not an image": (
        "POST",
        "/api/predict",
        b"GIF? no, just text",
        "image/png",
        400,
        "not an image",
    ),
    "truncated PNG": ("POST", "/api/predict", None, "image/png", 400, "image"),
    "blank drawing": ("POST", "/api/predict", {"pixels": [[0] * 280] * 280}, J, 422, "blank"),
    "other media type": ("POST", "/api/predict", b"1,2,3", "text/csv", 415, "image/png"),
    "unknown path": ("GET", "/api/nothing", None, None, 404, "/api/nothing"),
    "unknown POST path": ("POST", "/predict", {"pixels": []}, J, 404, "/predict"),
    "wrong method": ("PUT", "/api/model", b"{}", J, 405, "PUT"),
    "bad Content-Length": ("POST", "/api/predict", None, J, 400, "Content-Length"),
    "bad settings": ("POST", "/api/train", {"iters": 0}, J, 400, "iters"),
    "unknown setting": ("POST", "/api/train", {"epochs": 3}, J, 400, "epochs"),
    "settings not JSON": ("POST", "/api/train", b"iters=5", "text/plain", 415, "application/json"),
    "no run to stop": ("POST", "/api/train/stop", {}, J, 409, "no training run"),
    "stop not JSON": ("POST", "/api/train/stop", b"", "text/plain", 415, "application/json"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_bad_input_is_a_4xx_with_a_json_error_and_the_server_keeps_serving(server, case):
    method, path, body, ctype, expected, words = BAD_REQUESTS[case]
    headers = {}
    if case == "truncated PNG":
        body = png_bytes(drawing_280(SEVEN))[:60]
    if case == "bad Content-Length":
        body, headers = None, {"Content-Length": "-5"}
    if isinstance(body, str):
        body = body.encode()
    status, answer, response_headers = call(server, method, path, body, ctype, headers)
    assert status == expected, answer
    assert answer["status"] == expected and words in answer["error"], answer
    if status == 405:
        assert response_headers["Allow"] == "GET"
    assert call(server, "GET", "/api/model")[0] == 200


def test_a_body_over_2_mb_is_answered_413_before_it_is_read(server):
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=30) as sock:
        # Only the headers: the server must answer without waiting for the 3 MB.
        sock.sendall(
            f"POST /api/predict HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
            + f"Content-Type: image/png\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode()
        )
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), reply
    assert "at most 2,097,152" in json.loads(body)["error"]
    assert call(server, "GET", "/api/model")[0] == 200


def test_50_concurrent_requests_are_each_answered_with_their_own_image(server, served, mnist_data):
    x = mnist_data[1][0][:50]
    expected = [look_inside(served, image.reshape(28, 28)) for image in x]  # one thread

    def ask(i):
        pixels = {"pixels": x[i].reshape(28, 28).tolist()}
        return call(server, "POST", "/api/predict", pixels, "application/json")

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(ask, range(50)))
    for (status, result, _), want in zip(answers, expected, strict=True):
        assert status == 200
        assert result["prediction"] == want["prediction"]
        np.testing.assert_allclose(result["probabilities"], want["probabilities"], rtol=1e-6)
        np.testing.assert_allclose(result["saliency"], want["saliency"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(
            result["hidden"][0]["values"], want["hidden"][0]["values"], atol=1e-4
        )
    assert len({r["prediction"] for _, r, _ in answers}) > 5  # they really were different
    assert call(server, "GET", "/api/model")[0] == 200


def test_keep_alive_connection_serves_several_requests(server):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        for _ in range(3):
            conn.request("GET", "/api/model")
            response = conn.getresponse()
            assert response.status == 200 and json.loads(response.read())["class"]
    finally:
        conn.close()


# -- what the page is computed from ----------------------------------------------------------


@pytest.mark.parametrize(
    "network",
    [
        MultiLayerNet(
            784,
            [20, 12],
            10,
            activation="tanh",
            use_batchnorm=True,
            use_dropout=True,
            rng=0,
            dtype=np.float64,
        ),
        SimpleConvNet(
            (1, 28, 28),
            {"filter_num": 4, "filter_size": 5, "pad": 0, "stride": 1},
            hidden_size=8,
            weight_init_std=0.1,
            rng=0,
            dtype=np.float64,
        ),
    ],
    ids=["batchnorm-dropout-tanh", "cnn"],
)
def test_saliency_is_the_gradient_of_the_top_score(network, mnist_data):
    # Off-grid pixel values (noise): max pooling and ReLU have no ties or kinks there, so
    # central differences are exact enough to compare with.
    x = mnist_data[1][0][0].astype(np.float64)
    x = x + np.random.default_rng(0).uniform(0.01, 0.2, x.shape)
    result = look_inside(network, x.reshape(28, 28))
    top = result["prediction"]
    shape = (1, 784) if "input_size" in network.config else (1, 1, 28, 28)
    numeric = numerical_gradient(lambda _: float(network.predict(x.reshape(shape))[0, top]), x)
    np.testing.assert_allclose(np.ravel(result["saliency"]), numeric, rtol=1e-4, atol=1e-9)
    from dlzero.serve.inference import describe_network

    assert describe_network(network) in ("784-20-12-10 tanh", "conv 4x5x5, 8 hidden")
    kinds = [h["kind"] for h in result["hidden"]]
    assert kinds == (["units", "units"] if shape == (1, 784) else ["maps", "units"])
    if kinds[0] == "maps":
        assert result["hidden"][0]["shape"] == [4, 24, 24]


def test_look_inside_leaves_the_network_untouched(served, mnist_data):
    network = copy.deepcopy(served)
    network.layers["Affine1"].x = network.layers["Relu1"].mask = None
    before = {k: v.copy() for k, v in network.params.items()}
    look_inside(network, mnist_data[1][0][0].reshape(28, 28))
    assert all(np.array_equal(before[k], v) for k, v in network.params.items())
    # the per-call state went to the copies of the layers, not to the network's own
    assert network.layers["Affine1"].x is None and network.layers["Relu1"].mask is None


def test_a_model_that_does_not_read_digits_is_refused(start_server):
    with pytest.raises(ValueError, match="not 28x28 images"):
        start_server(TwoLayerNet(4, 3, 10, rng=0))
    with pytest.raises(ValueError, match="3 classes"):
        start_server(TwoLayerNet(784, 3, 3, rng=0))


# -- training from the page ----------------------------------------------------------------


def wait_for_run(server, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, run, _ = call(server, "GET", "/api/train")
        assert status == 200
        if run["state"] != "running":
            return run
        time.sleep(0.05)
    raise AssertionError(f"the run did not end in {timeout} s: {run}")


def test_a_run_from_the_page_trains_reports_and_is_then_served(start_server, served):
    server = start_server(served)
    assert call(server, "GET", "/api/train")[1] == {"state": "idle"}
    settings = {"hidden": [30, 20], "activation": "relu", "optimizer": "adam", "lr": 0.002}
    status, run, _ = call(server, "POST", "/api/train", {**settings, "iters": 150}, J)
    assert status == 202 and run["state"] == "running"
    assert call(server, "POST", "/api/train", {"iters": 10}, J)[0] == 409  # one at a time
    run = wait_for_run(server)
    assert run["state"] == "done", run
    assert run["iteration"] == 150 and run["loss"][-1][0] == 150
    assert run["accuracy"][0][0] == 0 and run["accuracy"][-1][0] == 150
    first_loss, last_loss = run["loss"][0][1], run["loss"][-1][1]
    assert last_loss < first_loss / 2  # it learned
    info = call(server, "GET", "/api/model")[1]
    assert info["description"] == "784-30-20-10 relu" and "trained on the page" in info["source"]
    assert [h["name"] for h in info["hidden"]] == [
        "Activation_function1",
        "Activation_function2",
    ]
    assert 0.5 < info["test_accuracy"] <= 1


def test_a_run_can_be_stopped_and_the_network_it_reached_is_served(start_server, served):
    server = start_server(served)
    status, run, _ = call(server, "POST", "/api/train", {"iters": 20000, "hidden": 20}, J)
    assert status == 202
    time.sleep(0.2)
    assert call(server, "POST", "/api/train/stop", {}, J)[0] == 200
    run = wait_for_run(server)
    assert run["state"] == "stopped" and 0 < run["iteration"] < 20000
    assert call(server, "GET", "/api/model")[1]["description"] == "784-20-10 relu"


def test_a_run_whose_loss_turns_nan_stops_and_keeps_the_previous_network(mnist_data):
    from dlzero.serve import TrainingJob

    (x, t), test = mnist_data
    x = x[:200].copy()
    x[7] = np.nan  # the first shuffled epoch meets it: its batch's loss is NaN
    served = []
    job = TrainingJob(TrainingSettings(iters=50), ((x, t[:200]), test), served.append).start()
    job.join(30)
    run = job.snapshot()
    assert run["state"] == "diverged" and "NaN or infinite" in run["message"], run
    assert run["loss"][-1][1] is None and run["iteration"] <= 2  # (JSON null, not NaN)
    assert served == []


def test_a_failure_after_training_ends_the_run_as_failed_so_another_can_start(mnist_data):
    from dlzero.serve import TrainingJob

    (x, t), test = mnist_data

    def hand_over(network, test_accuracy):
        raise RuntimeError("could not describe the network")

    job = TrainingJob(TrainingSettings(iters=5), ((x[:200], t[:200]), test), hand_over).start()
    job.join(30)
    run = job.snapshot()
    assert run["state"] == "failed" and "could not describe" in run["message"], run


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"activation": "softplus"}, "activation"),
        ({"activation": []}, "activation"),  # not hashable: must not reach a dict lookup
        ({"hidden": []}, "hidden"),
        ({"hidden": [10, 10, 10, 10]}, "hidden"),
        ({"hidden": [0]}, "hidden size"),
        ({"lr": 0}, "lr"),
        ({"lr": "0.1"}, "lr"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"iters": 10**6}, "at most"),
        ({"batch_size": True}, "batch_size"),
        ("relu", "JSON object"),
    ],
)
def test_training_settings_are_checked(body, words):
    with pytest.raises(ValueError, match=words):
        TrainingSettings.from_json(body)


# -- the command -----------------------------------------------------------------------------


def test_serve_help_describes_the_page(run_dlzero):
    status, out, _ = run_dlzero(["serve", "--help"])
    assert status == 0
    for words in ("MODEL", "--host", "--port", "--open", "saliency", "chapter-5"):
        assert words in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["--port", "70000"], "port 0-65535"), (["--iters", "0"], "--iters")],
)
def test_serve_bad_arguments_exit_2(run_dlzero, argv, words):
    status, _, err = run_dlzero(["serve", *argv])
    assert status == 2 and words in err and len(err.strip().splitlines()) == 1


def test_serve_refuses_a_model_that_does_not_read_digits(run_dlzero, tmp_path):
    from dlzero import save

    save(TwoLayerNet(4, 3, 2, rng=0), tmp_path / "tiny.npz")
    status, _, err = run_dlzero(["serve", tmp_path / "tiny.npz", "--port", "0"])
    assert status == 2 and "not 28x28 images" in err


def test_serve_on_a_port_in_use_exits_1(run_dlzero, digit_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, _, err = run_dlzero(["serve", digit_model[1], "--port", str(port)])
    assert status == 1 and f"cannot listen on 127.0.0.1:{port}" in err


def _start(argv):
    """``python -m dlzero serve ...`` as a process; returns it and the lines up to the URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlzero", "serve", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    while not lines or not lines[-1].startswith("serving "):
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            raise AssertionError(f"the server did not start: {lines} {proc.stderr.read()}")
        lines.append(line)
    return proc, lines


def _ctrl_c(proc):
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_command_serves_on_loopback_and_ctrl_c_stops_it_cleanly(digit_model):
    proc, lines = _start([digit_model[1], "--port", "0"])
    url = urlsplit(lines[-1].split()[1])
    assert url.hostname == "127.0.0.1"  # the default: this machine only
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("GET", "/api/model")
    assert json.loads(conn.getresponse().read())["source"] == str(digit_model[1])
    conn.close()
    out, err = _ctrl_c(proc)
    assert proc.returncode == 0, err
    assert out.strip().endswith("stopped") and "Traceback" not in err and "warning" not in err


def test_without_a_model_it_trains_first_and_another_host_is_warned_of():
    proc, lines = _start(["--iters", "100", "--port", "0", "--host", "0.0.0.0"])
    _, err = _ctrl_c(proc)
    assert proc.returncode == 0, err
    text = "".join(lines)
    assert "no model given: training the chapter-5 network first" in text
    assert "100 iterations" in text and "test accuracy" in text
    assert "warning: listening on 0.0.0.0" in err and "no password" in err


def test_only_raster_formats_are_decoded():
    # Pillow reads many formats, some through outside programs (EPS by Ghostscript): a picture
    # in a format outside RASTER_FORMATS (here PCX, which Pillow reads itself) is refused.
    from PIL import Image

    from dlzero.studies.digits import ImageError

    for fmt, accepted in (("PNG", True), ("BMP", True), ("PCX", False)):
        buf = io.BytesIO()
        Image.new("L", (8, 8), 255).save(buf, fmt)
        if accepted:
            assert decode_image(buf.getvalue()).shape == (8, 8)
        else:
            with pytest.raises(ImageError):
                decode_image(buf.getvalue())
