"""The HTTP server behind ``dlzero serve``: one page, its five files, and a small JSON API.

Built on the standard library's :class:`~http.server.ThreadingHTTPServer` (one thread per
connection): no dependency beyond what ``dlzero predict`` already needs (NumPy, Pillow), a few
requests a second from one learner's browser, and nothing about it a learner cannot read here.
``docs/serve.md`` says why in full and describes the API::

    GET  /                  the page (index.html; style.css, app.js, backprop_graph.js and
                            backprop.js beside it)
    GET  /api/model         the network being served
    POST /api/predict       a drawing (image/png, or JSON {"pixels": 28x28 or 280x280})
    POST /api/train         start a short training run (JSON settings)
    GET  /api/train         the run so far (the page polls it)
    POST /api/train/stop    end the run after the current step
    POST /api/backprop      one drawing and its label, forward and backward, node by node
                            (and /learn, /check, /reset: see dlzero.serve.backprop)

Every error is a JSON object ``{"error": message, "status": code}`` with a 4xx status; a bug
would be a 500 with a one-line message (the traceback goes to the server's log, never to the
client), and the server keeps serving either way.

Any web page the learner opens may send requests here, and any client may send anything: the
checks and limits are in :mod:`dlzero.serve.guard`, and ``docs/serve.md`` ("Threat model")
says what is checked and why.
"""

from __future__ import annotations

import io
import json
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from numpy.typing import NDArray

from dlzero._version import __version__
from dlzero.networks import Sequential
from dlzero.serve.backprop import BACKPROP_PATHS, BackpropTab
from dlzero.serve.guard import (
    IDLE_TIMEOUT,
    MAX_BODY,
    MAX_CONNECTIONS,
    MAX_DISCARD,
    MAX_PIXELS,
    REQUEST_DEADLINE,
    DeadlineSocketReader,
    HTTPError,
    allowed_hosts,
    drawing_input,
    empty_json,
    host_allowed,
    json_body,
)
from dlzero.serve.inference import ServedModel, look_inside
from dlzero.serve.training_job import TrainingJob, TrainingSettings

__all__ = [
    "MAX_BODY",
    "MAX_CONNECTIONS",
    "MAX_PIXELS",
    "REQUEST_DEADLINE",
    "DigitServer",
    "ServedModel",
    "make_server",
]

STATIC_FILES = {  # the only files served: nothing else on disk can be reached by a path
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/backprop.js": ("backprop.js", "text/javascript; charset=utf-8"),
    "/backprop_graph.js": ("backprop_graph.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
GET_PATHS = {*STATIC_FILES, "/api/model", "/api/train"}
POST_PATHS = {"/api/predict", "/api/train", "/api/train/stop", *BACKPROP_PATHS}
Data = tuple[tuple[NDArray, NDArray], tuple[NDArray, NDArray]]


class DigitServer(ThreadingHTTPServer):
    """The server and what its request threads share: the served model and the training run.

    Parameters
    ----------
    address : (host, port)
        Port 0 takes any free port (``server_address`` then says which).
    model : ServedModel
    load_data : callable
        Returns MNIST as ``((x_train, t_train), (x_test, t_test))``; called once, at the first
        training run from the page.
    reference : ndarray, shape (N, 784)
        Test images on which a newly trained network's dead units are found.
    log : bool, default True
        Write a line to stderr for each request answered with an error.
    """

    daemon_threads = True  # a request thread never keeps the process alive after Ctrl-C
    # Connections waiting to be accepted; socketserver's default of 5 resets the rest when a
    # burst arrives at once (a page reloaded by several learners, the test's 50 requests).
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        model: ServedModel,
        *,
        load_data: Callable[[], Data],
        reference: NDArray,
        log: bool = True,
    ) -> None:
        self.model = model
        self.reference = reference
        self.log = log
        self._load_data = load_data
        self._data: Data | None = None
        self._job: TrainingJob | None = None
        self._lock = threading.Lock()  # guards _job and _data
        self.backprop = BackpropTab()  # the backprop tab's network: served, or a trained copy
        self.static = {
            name: (resources.files("dlzero.serve").joinpath("static", name).read_bytes(), ctype)
            for name, ctype in STATIC_FILES.values()
        }
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, RequestHandler)
        self.allowed_hosts = allowed_hosts(address[0], self.server_address[1])

    # -- connections ---------------------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection in a thread if one of ``MAX_CONNECTIONS`` slots is free; else
        answer 503 at once, from the accepting thread, without reading the request."""
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started (out of threads): the slot is free again
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        body = json.dumps(
            {"error": "too many connections; try again in a moment", "status": 503}
        ).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        )
        try:
            request.setblocking(False)  # never let a client that does not read stall accept()
            request.send(head.encode() + body)
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that leaves (reset, broken pipe, timeout) is not an error of the server:
        no traceback for it. Anything else is a bug, printed in full as socketserver does."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"

    # -- training from the page --------------------------------------------------------------

    def start_training(self, settings: TrainingSettings) -> TrainingJob:
        """Start a run, unless one is running (409); the data are loaded at the first run."""
        with self._lock:
            if self._job is not None and self._job.running:
                raise HTTPError(HTTPStatus.CONFLICT, "a training run is already under way")
            if self._data is None:
                self._data = self._load_data()

            def serve_it(network: Sequential, test_accuracy: float) -> None:
                source = f"trained on the page: {settings.describe()}"
                self.model = ServedModel(network, source, self.reference, test_accuracy)

            self._job = TrainingJob(settings, self._data, on_done=serve_it).start()
            return self._job

    @property
    def job(self) -> TrainingJob | None:
        with self._lock:
            return self._job

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request's ``Host`` header names this server (see :func:`host_allowed`)."""
        return host_allowed(host, self.allowed_hosts, self.server_address[:2])

    @property
    def wildcard(self) -> bool:
        return self.server_address[0] in ("0.0.0.0", "::")

    def stop_training(self, timeout: float = 5.0) -> None:
        """End a run under way (at shutdown) and wait for its thread."""
        job = self.job
        if job is not None:
            job.stop()
            job.join(timeout)


class RequestHandler(BaseHTTPRequestHandler):
    """One request: route it, answer JSON or a static file, turn every failure into JSON."""

    server: DigitServer
    server_version = f"dlzero/{__version__}"
    protocol_version = "HTTP/1.1"  # keep-alive: the page sends a request per stroke
    # Seconds per socket operation (writes, mostly: reads are bounded by DeadlineSocketReader).
    timeout = IDLE_TIMEOUT
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for the
    # client's delayed ACK, adding 40 ms to every answer on Linux (measured: 44 ms -> 8 ms for a
    # JSON prediction, benchmarks/serve_latency.py).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # replaced below; left open, it would keep the socket from closing
        self._reader = DeadlineSocketReader(self.connection)
        self.rfile = io.BufferedReader(self._reader, self.rbufsize if self.rbufsize > 0 else 8192)
        self._discard = 0  # bytes of a refused body to read and throw away after answering

    def handle_one_request(self) -> None:
        self._reader.deadline = time.monotonic() + IDLE_TIMEOUT  # for the request line
        super().handle_one_request()

    def parse_request(self) -> bool:
        self._reader.deadline = time.monotonic() + REQUEST_DEADLINE  # headers and body
        return super().parse_request()

    # -- routing -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._answer(self._get)

    def do_POST(self) -> None:
        self._answer(self._post)

    def do_PUT(self) -> None:
        self._answer(self._other)

    do_DELETE = do_PATCH = do_PUT

    def _path(self) -> str:
        return urlsplit(self.path).path

    def _get(self) -> None:
        path = self._path()
        if self.headers.get("Content-Length", "0") != "0":
            self.close_connection = True  # a body we do not read must not pass for a request
        if path in STATIC_FILES:
            body, ctype = self.server.static[STATIC_FILES[path][0]]
            self._send(HTTPStatus.OK, body, ctype)
        elif path == "/api/model":
            self._send_json(HTTPStatus.OK, self.server.model.info)
        elif path == "/api/train":
            job = self.server.job
            self._send_json(HTTPStatus.OK, job.snapshot() if job else {"state": "idle"})
        else:
            self._not_found_or_not_allowed(path)

    def _post(self) -> None:
        body = self._read_body()  # first: an unread body would be taken for the next request
        path = self._path()
        if path not in POST_PATHS:
            self._not_found_or_not_allowed(path)
        ctype = self.headers.get_content_type()
        if path == "/api/predict":
            self._send_json(HTTPStatus.OK, self._predict(body, ctype))
            return
        if path in BACKPROP_PATHS:
            query = urlsplit(self.path).query
            answer = self.server.backprop.answer(self.server.model, path, body, ctype, query)
            self._send_json(HTTPStatus.OK, answer)
            return
        if path == "/api/train":
            # JSON only, even for the defaults ({}): a page from another site cannot send
            # application/json here without a CORS preflight, which this server never grants.
            try:
                checked = TrainingSettings.from_json(json_body(body, ctype))
            except ValueError as exc:
                raise HTTPError(HTTPStatus.BAD_REQUEST, str(exc)) from None
            job = self.server.start_training(checked)
            self._send_json(HTTPStatus.ACCEPTED, job.snapshot())
            return
        # /api/train/stop: JSON too ({} or nothing), so that a cross-site form, which can send
        # text/plain without a preflight, cannot stop a run and have its network served.
        empty_json(body, ctype)
        job = self.server.job
        if job is None or not job.running:
            raise HTTPError(HTTPStatus.CONFLICT, "no training run is under way")
        job.stop()
        self._send_json(HTTPStatus.OK, job.snapshot())

    def _other(self) -> None:
        self.close_connection = True  # whatever body came is not read
        self._not_found_or_not_allowed(self._path())

    def _not_found_or_not_allowed(self, path: str) -> None:
        if path in GET_PATHS or path in POST_PATHS:
            allowed = [
                m for m, paths in (("GET", GET_PATHS), ("POST", POST_PATHS)) if path in paths
            ]
            raise HTTPError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"{self.command} is not allowed on {path}; use {' or '.join(allowed)}",
                {"Allow": ", ".join(allowed)},
            )
        raise HTTPError(HTTPStatus.NOT_FOUND, f"no such page or API: {path}")

    # -- /api/predict ------------------------------------------------------------------------

    def _predict(self, body: bytes, ctype: str) -> dict[str, Any]:
        image = drawing_input(body, ctype)
        result = look_inside(self.server.model.network, image)
        result["input28"] = np.round(image.astype(np.float64), 4).tolist()
        return result

    # -- reading and answering ---------------------------------------------------------------

    def _check_host_and_origin(self) -> None:
        """Refuse a request that does not name this server, or a POST from another site."""
        host = self.headers.get("Host")
        if not self.server.host_allowed(host):
            self.close_connection = True
            raise HTTPError(
                HTTPStatus.MISDIRECTED_REQUEST,
                f"this server answers to {', '.join(sorted(self.server.allowed_hosts))}, not "
                f"Host {host!r} (a page reached through another name is not let in)",
            )
        origin = self.headers.get("Origin")
        if self.command == "POST" and origin is not None:
            own = f"http://{host.strip().lower()}"
            if origin.strip().lower() != own:
                self.close_connection = True  # the body is not read
                raise HTTPError(
                    HTTPStatus.FORBIDDEN,
                    f"a request from {origin!r} is refused; only this page ({own}) may send one",
                )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise HTTPError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length, not chunks")
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise HTTPError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length!r}") from None
        if n > MAX_BODY:
            # Answered first, then read and thrown away (up to MAX_DISCARD), then closed: a
            # client that sends its whole body before reading the answer gets the 413 instead
            # of a connection reset, and the body is never taken for the next request.
            self.close_connection = True
            self._discard = n
            raise HTTPError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the request body is {n:,} bytes; at most {MAX_BODY:,} are accepted",
            )
        return self.rfile.read(n)

    def _answer(self, route: Callable[[], None]) -> None:
        try:
            try:
                self._check_host_and_origin()
                route()
            except HTTPError as exc:
                self._send_json(exc.status, {"error": str(exc), "status": exc.status}, exc.headers)
                if self._discard:
                    self._discard_body()
            except Exception as exc:
                if isinstance(exc, (ConnectionError, TimeoutError)):
                    raise
                # A bug: say so in one line, keep the traceback here.
                traceback.print_exc(file=sys.stderr)
                self.close_connection = True
                status = HTTPStatus.INTERNAL_SERVER_ERROR
                message = f"internal error ({type(exc).__name__}); see the server's log"
                self._send_json(status, {"error": message, "status": int(status)})
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away or stalled: no one to answer

    def _discard_body(self) -> None:
        """A lingering close: the answer is out; read what the client still sends, up to
        ``MAX_DISCARD`` bytes and the request's deadline, so that closing does not reset the
        connection before the client has read the answer."""
        self.wfile.flush()
        left = min(self._discard, MAX_DISCARD)
        self._discard = 0
        while left > 0:
            chunk = self.rfile.read1(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)

    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        # Reads leave the socket's timeout at what remained of the request's deadline; the
        # answer gets the full IDLE_TIMEOUT per write.
        self.connection.settimeout(IDLE_TIMEOUT)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json", headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a malformed request line, an unknown method), as JSON."""
        self.close_connection = True
        text = message or HTTPStatus(code).phrase
        try:
            self._send_json(code, {"error": text, "status": code})
        except (ConnectionError, TimeoutError):
            pass  # the client left before its answer: nothing to say, nothing to log

    def log_error(self, format: str, *args: Any) -> None:
        if self.server.log:
            super().log_error(format, *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Only failures: a drawing sends several requests a second.
        if self.server.log and isinstance(code, int) and code >= 400:
            super().log_request(code, size)


def make_server(
    network: Sequential,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    source: str = "",
    load_data: Callable[[], Data],
    reference: NDArray,
    test_accuracy: float | None = None,
    log: bool = True,
) -> DigitServer:
    """A :class:`DigitServer` for ``network``, bound (not yet serving: call ``serve_forever``).

    Raises
    ------
    ValueError
        The network does not read 28x28 images into ten classes.
    OSError
        The address cannot be bound (the port is taken, the host is not this machine's).
    """
    model = ServedModel(network, source, reference, test_accuracy)
    return DigitServer((host, port), model, load_data=load_data, reference=reference, log=log)
