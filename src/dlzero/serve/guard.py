"""What a request to ``dlzero serve`` may be: the limits, the ``Host`` check, reading a body
against a deadline, and a drawing's pixels.

``docs/serve.md`` ("Threat model") says why each limit is there. :mod:`dlzero.serve.server`
applies them; they are apart so that the server reads as the API it serves.
"""

from __future__ import annotations

import io
import ipaddress
import json
import socket
import time
from http import HTTPStatus
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero.studies.digits import ImageError, decode_image, to_mnist

__all__ = [
    "IDLE_TIMEOUT",
    "LOOPBACK_NAMES",
    "MAX_BODY",
    "MAX_CONNECTIONS",
    "MAX_DISCARD",
    "MAX_PIXELS",
    "REQUEST_DEADLINE",
    "HTTPError",
    "allowed_hosts",
    "drawing_input",
    "empty_json",
    "host_allowed",
    "json_body",
    "pixels_input",
]

MAX_BODY = 2 * 1024 * 1024  # bytes of a request body; more is refused (413)
# A refused body is read and thrown away up to this many bytes after the 413 is sent (a
# client that sends its whole body before reading, as browsers and urllib do, then sees the
# answer instead of a reset connection); a larger one is cut off.
MAX_DISCARD = 8 * MAX_BODY
MAX_PIXELS = 1024 * 1024  # pixels of an uploaded picture (a PNG compresses a huge blank well)
# Connections served at once, each by its own thread; more are answered 503 and closed. A
# browser opens at most six to one server; the tests send 50 requests at once.
MAX_CONNECTIONS = 64
IDLE_TIMEOUT = 10.0  # seconds a connection may wait for its next request line
# Seconds a request may take to arrive in full, from its request line to its body's last byte:
# a client that trickles a byte now and then cannot hold a thread for longer.
REQUEST_DEADLINE = 20.0
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class HTTPError(Exception):
    """An answer other than 200: its status and a message for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` header values that name a server bound to ``host`` and ``port``.

    The loopback names (``127.0.0.1``, ``localhost``, ``[::1]``) and ``host`` itself (an IPv6
    address in brackets), each with ``:port`` (and bare too when the port is 80, which
    browsers leave out). Lower case: host names are compared without case.
    """
    names = set(LOOPBACK_NAMES)
    names.add(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    hosts = {f"{name.lower()}:{port}" for name in names}
    if port == 80:
        hosts |= {name.lower() for name in names}
    return frozenset(hosts)


def host_allowed(host: str | None, allowed: frozenset[str], bound: tuple[str, int]) -> bool:
    """Whether a ``Host`` header names a server bound to ``bound`` (address, port): one of
    ``allowed`` (:func:`allowed_hosts`), or any IP literal with the port where the server is
    bound to every address (0.0.0.0, ::), as the learner's other devices reach it. An IP
    literal cannot be rebound: DNS rebinding needs a name the attacker's DNS answers."""
    if host is None:
        return False
    host = host.strip().lower()
    if host in allowed:
        return True
    name, _, port = host.rpartition(":")
    if bound[0] in ("0.0.0.0", "::") and port == str(bound[1]):
        try:
            ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
            return True
        except ValueError:
            return False
    return False


class DeadlineSocketReader(io.RawIOBase):
    """The connection's reading side, each read bounded by a deadline the handler moves.

    ``http.server`` reads a request with a timeout per socket operation: a client that sends a
    byte every 29 seconds could hold its thread for hours. Here each read waits at most until
    ``deadline``, which the handler sets when a request starts (``IDLE_TIMEOUT``) and when its
    request line is in (``REQUEST_DEADLINE``, for the headers and body).
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = time.monotonic() + IDLE_TIMEOUT

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request took too long to arrive")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


def json_body(body: bytes, ctype: str) -> Any:
    if ctype != "application/json":
        raise HTTPError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"expected application/json, got {ctype}"
        )

    def no_constants(name: str) -> None:  # json.loads would accept NaN and Infinity
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        return json.loads(body, parse_constant=no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HTTPError(HTTPStatus.BAD_REQUEST, f"malformed JSON: {exc}") from None


def empty_json(body: bytes, ctype: str) -> None:
    """Check the body of an action that takes no settings: ``{}`` or nothing, as JSON.

    JSON is required even when empty, so that a cross-site form, which can send ``text/plain``
    without a preflight, cannot trigger the action.

    Raises
    ------
    HTTPError
        415 for another content type; 400 for malformed JSON.
    """
    if ctype != "application/json":
        raise HTTPError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"send Content-Type: application/json (an empty body or {{}}), not {ctype}",
        )
    if body.strip():
        json_body(body, ctype)


def pixels_input(payload: Any) -> NDArray[np.float32]:
    """The network's 28x28 input from a JSON ``{"pixels": [[...]]}`` of grey values in [0, 1].

    28x28 pixels are taken as they are (already an MNIST-like input, e.g. a test image);
    280x280 pixels are a drawing, prepared as ``dlzero predict`` prepares a picture (cropped,
    fitted in 20x20, centred by its centre of mass). White ink on black, as MNIST.

    Raises
    ------
    HTTPError
        400: not an object with ``pixels``, not numbers, NaN or infinite, outside [0, 1], or
        another shape; 422: a 280x280 drawing with nothing drawn.
    """
    if not isinstance(payload, dict) or "pixels" not in payload:
        raise HTTPError(HTTPStatus.BAD_REQUEST, 'expected a JSON object {"pixels": [[...], ...]}')
    try:
        pixels = np.asarray(payload["pixels"])
    except ValueError:  # rows of different lengths
        raise HTTPError(
            HTTPStatus.BAD_REQUEST, "pixels must be rows of equal length (28x28 or 280x280)"
        ) from None
    if pixels.dtype.kind not in "iuf":
        raise HTTPError(HTTPStatus.BAD_REQUEST, "pixels must be numbers (grey values in [0, 1])")
    if pixels.shape not in ((28, 28), (280, 280)):
        raise HTTPError(
            HTTPStatus.BAD_REQUEST,
            f"pixels must be 28x28 or 280x280 grey values, got shape {pixels.shape}",
        )
    pixels = pixels.astype(np.float64)
    if not np.all(np.isfinite(pixels)):
        raise HTTPError(HTTPStatus.BAD_REQUEST, "pixels must be finite numbers")
    if pixels.min() < 0 or pixels.max() > 1:
        raise HTTPError(
            HTTPStatus.BAD_REQUEST,
            f"pixels must be in [0, 1], got {pixels.min():g} to {pixels.max():g}",
        )
    if pixels.shape == (28, 28):
        return pixels.astype(np.float32)
    return prepare_pixels(pixels)


def drawing_input(body: bytes, ctype: str) -> NDArray[np.float32]:
    """The network's 28x28 input from a request's body: a picture (``image/*``, prepared like
    a ``dlzero predict`` picture) or JSON ``{"pixels": ...}`` (:func:`pixels_input`).

    Raises
    ------
    HTTPError
        400 for bad pixels or a picture that cannot be read; 415 for another content type;
        422 for a blank drawing.
    """
    if ctype == "application/json":
        return pixels_input(json_body(body, ctype))
    if ctype.startswith("image/"):
        try:
            gray = decode_image(body, name="the uploaded picture", max_pixels=MAX_PIXELS)
        except ImageError as exc:
            raise HTTPError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        return prepare_pixels(gray)
    raise HTTPError(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        f"send the drawing as image/png or application/json, not {ctype}",
    )


def prepare_pixels(gray: NDArray) -> NDArray[np.float32]:
    try:
        return to_mnist(gray, name="the drawing")
    except ImageError as exc:  # nothing drawn: a valid request with no digit in it
        raise HTTPError(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from None
