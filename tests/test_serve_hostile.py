"""``dlzero serve`` against hostile clients and pages (issue 25).

Each attack is sent to a server on a free loopback port, in a thread of this process, under an
address-space bound (:func:`hostile.bounded_memory`): the answer is a 4xx (or 503 when full),
never a 500 or a reset connection, nothing changes that should not, no traceback is printed,
and the server then answers a plain request as before.
"""

from __future__ import annotations

import io
import json
import socket
import time
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlzero.serve import server as server_module
from dlzero.serve.server import MAX_BODY, MAX_CONNECTIONS, allowed_hosts
from dlzero.serve.training_job import MAX_WORK, TrainingSettings
from hostile import bounded_memory, hostile_pictures, huge_png
from test_serve import call as serve_call

PIL = pytest.importorskip("PIL.Image", reason="reading pictures needs Pillow (dlzero[cli])")
J = "application/json"


@pytest.fixture
def server(digit_model, start_server):
    return start_server(digit_model[0])


def call(server, method, path, body=None, ctype=None, headers=None):
    """One request on a new connection: (status, parsed JSON or bytes). A ``Host`` given in
    ``headers`` replaces the one http.client would send."""
    return serve_call(server, method, path, body, ctype, headers)[:2]


def still_serving(server):
    return call(server, "GET", "/api/model")[0] == 200


def png(im):
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def seven_png():
    from PIL import ImageDraw

    im = PIL.new("L", (280, 280), 0)
    ImageDraw.Draw(im).line([(80, 50), (200, 50), (120, 240)], fill=255, width=20)
    return png(im)


# -- Host: DNS rebinding ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LocalHost", "[::1]"])
def test_the_loopback_names_with_the_port_are_this_server(server, name):
    port = server.server_address[1]
    assert call(server, "GET", "/api/model", headers={"Host": f"{name}:{port}"})[0] == 200


@pytest.mark.parametrize(
    "host",
    ["rebind.example:{port}", "127.0.0.1:1", "127.0.0.1", "localhost.rebind.example:{port}", ""],
)
@pytest.mark.parametrize(("method", "path"), [("GET", "/api/model"), ("POST", "/api/train")])
def test_a_host_that_is_not_this_server_is_refused_with_421(server, host, method, path):
    host = host.format(port=server.server_address[1])
    with bounded_memory():
        status, answer = call(
            server, method, path, {} if method == "POST" else None, J, {"Host": host}
        )
    assert status == 421 and "not Host" in answer["error"], answer
    assert call(server, "GET", "/api/train")[1]["state"] == "idle"  # no run was started
    assert still_serving(server)


def test_a_request_without_host_is_refused(server):
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET /api/model HTTP/1.0\r\n\r\n")
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 421"), reply


def test_allowed_hosts_name_the_bound_address_too():
    assert allowed_hosts("192.168.1.5", 8000) == {
        "127.0.0.1:8000",
        "localhost:8000",
        "[::1]:8000",
        "192.168.1.5:8000",
    }
    assert "[fe80::1]:81" in allowed_hosts("fe80::1", 81)
    assert {"localhost", "localhost:80"} <= allowed_hosts("127.0.0.1", 80)


# -- Origin and Content-Type: cross-site requests ------------------------------------------------


def test_a_post_from_another_origin_is_refused_and_starts_nothing(server):
    with bounded_memory():
        status, answer = call(
            server, "POST", "/api/train", {"iters": 10}, J, {"Origin": "http://evil.example"}
        )
    assert status == 403 and "evil.example" in answer["error"]
    assert call(server, "GET", "/api/train")[1]["state"] == "idle"
    status, _ = call(server, "POST", "/api/predict", seven_png(), "image/png", {"Origin": "null"})
    assert status == 403


def test_the_pages_own_origin_may_post(server):
    host, port = server.server_address[:2]
    own = {"Origin": f"http://{host}:{port}"}
    assert call(server, "POST", "/api/predict", seven_png(), "image/png", own)[0] == 200


def test_a_cross_site_form_cannot_stop_a_run(start_server, digit_model):
    server = start_server(digit_model[0])
    assert call(server, "POST", "/api/train", {"iters": 20000, "hidden": 20}, J)[0] == 202
    # What a <form method=post enctype=text/plain> sends: no preflight needed, so refused by type.
    status, answer = call(server, "POST", "/api/train/stop", b"x=y", "text/plain")
    assert status == 415 and "application/json" in answer["error"]
    assert call(server, "GET", "/api/train")[1]["state"] == "running"
    assert call(server, "POST", "/api/train/stop", {}, J)[0] == 200


# -- bodies: the 413 reaches an ordinary client ---------------------------------------------------


def test_an_oversized_body_sent_in_full_gets_its_413(server):
    # 8 MB: more than loopback's socket buffers hold, so a server that closes without reading
    # resets the connection while urllib is still sending (Broken pipe, no answer).
    body = b"\0" * (4 * MAX_BODY)
    host, port = server.server_address[:2]
    request = urllib.request.Request(
        f"http://{host}:{port}/api/predict", data=body, headers={"Content-Type": "image/png"}
    )
    with bounded_memory(), pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 413
    assert "at most 2,097,152" in json.loads(caught.value.read())["error"]
    assert still_serving(server)


# -- connections: capped, each request with a deadline, no traceback for a client that leaves --


def test_connections_beyond_the_cap_are_answered_503_then_served_again(server):
    host, port = server.server_address[:2]
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)  # every one accepted and holding a thread
        with socket.create_connection((host, port), timeout=10) as extra:
            reply = extra.recv(65536)
        assert reply.startswith(b"HTTP/1.1 503"), reply
        assert json.loads(reply.partition(b"\r\n\r\n")[2])["status"] == 503
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the threads notice the closed sockets
        try:
            if still_serving(server):
                break
        except ConnectionError:
            pass
        time.sleep(0.05)
    assert still_serving(server)


def test_a_client_that_trickles_its_request_is_dropped_at_the_deadline(server, monkeypatch):
    monkeypatch.setattr(server_module, "REQUEST_DEADLINE", 0.5)
    host, port = server.server_address[:2]
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET /api/model HTTP/1.1\r\n")
        closed = False
        for _ in range(40):  # a header byte every 0.1 s, each within any per-read timeout
            try:
                sock.sendall(b"X")
                time.sleep(0.1)
                if sock.recv(1, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                continue
            except OSError:
                closed = True
                break
    assert closed and time.monotonic() - start < 3
    assert still_serving(server)


def test_a_client_that_leaves_before_its_answer_leaves_no_traceback(
    start_server, digit_model, capfd
):
    server = start_server(digit_model[0], log=True)
    host, port = server.server_address[:2]
    # Half the body promised, then gone: the server reads to the end, answers 400, and finds no
    # one to write to (the first write draws a reset, the second a broken pipe).
    request = (
        f"POST /api/predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/png\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode() + b"x" * 50
    for _ in range(20):
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(request)
    time.sleep(0.5)
    assert still_serving(server)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


# -- pictures and training runs -----------------------------------------------------------------


def test_pictures_pillow_cannot_convert_are_a_4xx(server, tmp_path):
    pictures = hostile_pictures(tmp_path)
    with bounded_memory():
        status, answer = call(
            server, "POST", "/api/predict", pictures["premultiplied"].read_bytes(), "image/tiff"
        )
        assert status == 400 and "La image" in answer["error"], answer
        status, answer = call(
            server, "POST", "/api/predict", pictures["lab"].read_bytes(), "image/tiff"
        )
    assert status == 200 and len(answer["probabilities"]) == 10
    assert still_serving(server)


def test_a_picture_of_too_many_pixels_is_a_4xx_before_it_is_decoded(server, tmp_path):
    huge = huge_png(tmp_path / "huge.png").read_bytes()  # 9000x9000 pixels in 95 KB
    with bounded_memory(100):  # decoding it would take 81 MB for its pixels alone
        status, answer = call(server, "POST", "/api/predict", huge, "image/png")
    assert status == 400 and "9000x9000 pixels; at most 1,048,576" in answer["error"], answer
    assert still_serving(server)


def test_a_run_is_bounded_by_its_work_not_only_its_steps(server):
    largest = {"iters": 20000, "batch_size": 1000, "hidden": [1000, 1000, 1000]}
    status, answer = call(server, "POST", "/api/train", largest, J)
    assert status == 400 and "too large" in answer["error"] and "5.6e+13" in answer["error"]
    assert call(server, "GET", "/api/train")[1]["state"] == "idle"
    # the chapter-5 run at the most steps is allowed
    assert TrainingSettings.from_json({"iters": 20000}).work <= MAX_WORK


# -- fuzzing: random mutations of a valid drawing ------------------------------------------------


def _mutate(data, flips, cut):
    out = bytearray(data)
    for pos, value in flips:
        out[pos % len(out)] = value
    return bytes(out[: max(1, cut)]) if cut is not None else bytes(out)


_FLIPS = st.lists(
    st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8
)
_CUTS = st.one_of(st.none(), st.integers(min_value=0, max_value=4000))
_TYPES = st.sampled_from(["image/png", "image/tiff", "application/json", "text/plain"])


def _fuzz_predict(server, data, flips, cut, ctype):
    body = _mutate(data, flips, cut)
    with bounded_memory(300):
        status, answer = call(server, "POST", "/api/predict", body, ctype)
    assert status == 200 or 400 <= status < 500, (status, answer)
    if status != 200:
        assert answer["status"] == status and answer["error"]


@pytest.fixture(scope="module")
def fuzz_inputs():
    pixels = json.dumps({"pixels": [[0.0] * 28] * 12 + [[1.0] * 28] * 4 + [[0.0] * 28] * 12})
    return {"image": seven_png(), "json": pixels.encode()}


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["image", "json"]), flips=_FLIPS, cut=_CUTS, ctype=_TYPES)
def test_fuzz_predict_answers_200_or_4xx(server, fuzz_inputs, kind, flips, cut, ctype):
    _fuzz_predict(server, fuzz_inputs[kind], flips, cut, ctype)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["image", "json"]), flips=_FLIPS, cut=_CUTS, ctype=_TYPES)
def test_fuzz_predict_answers_200_or_4xx_slow(server, fuzz_inputs, kind, flips, cut, ctype):
    _fuzz_predict(server, fuzz_inputs[kind], flips, cut, ctype)
