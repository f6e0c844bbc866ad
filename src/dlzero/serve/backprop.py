"""The "backprop" tab's API: one drawing forward and backward through the network, node by node.

::

    POST /api/backprop          a drawing and its correct label: JSON {"pixels": 28x28 or
                                280x280, "label": N}, or a picture (image/png) with ?label=N
    POST /api/backprop/learn    JSON {"pixels", "label", "lr"}: one SGD step on this example
    POST /api/backprop/check    JSON {"pixels", "label"}: backprop against the numerical
                                gradient on a few weights, with both times
    POST /api/backprop/reset    JSON {} (or nothing): back to the served network

The trace is :func:`dlzero.studies.backprop.trace_backprop`: the layers' own ``forward`` and
``backward`` on shallow copies, so requests never disturb each other or the served network.

"Learn this digit" trains a *copy* of the served network: the draw tab keeps serving the
network as it was, and a reset drops the copy. Each step makes a new copy (copy-on-write), so
a trace running meanwhile sees one network or the other, never one half-updated. When a run
from the train tab replaces the served network, the copy of the old one is forgotten.

The three actions change what the tab shows, so, like ``/api/train``, they take JSON only (a
form on another site cannot send it without a CORS preflight, which this server never grants).
The Host and Origin checks and the body limits are the server's, as for every request.
"""

from __future__ import annotations

import copy
import math
import re
import threading
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from numpy.typing import NDArray

from dlzero.networks import Sequential
from dlzero.optimizers import SGD
from dlzero.serve.guard import HTTPError, drawing_input, empty_json, json_body, pixels_input
from dlzero.serve.inference import ServedModel
from dlzero.studies.backprop import BackpropTrace, check_some_weights, trace_backprop

__all__ = ["BACKPROP_PATHS", "MAX_LR", "BackpropTab", "trace_json"]

BACKPROP_PATHS = (
    "/api/backprop",
    "/api/backprop/learn",
    "/api/backprop/check",
    "/api/backprop/reset",
)
MAX_LR = 10.0  # as for a training run from the page
DEFAULT_LR = 0.1  # the chapter-5 experiment's
SIGNIFICANT = 5  # digits kept of each array's values, relative to its largest


def values(a: NDArray) -> Any:
    """``a`` as nested lists of floats, each rounded to ``SIGNIFICANT`` digits of the array's
    largest magnitude: short numbers in the JSON (a float32 converted to float64 would print
    17 digits), and no value off by more than 5e-5 of the largest."""
    a = np.asarray(a, dtype=np.float64)
    top = float(np.max(np.abs(a))) if a.size else 0.0
    if top == 0.0:
        return np.zeros_like(a).tolist()
    decimals = min(20, max(0, SIGNIFICANT - 1 - math.floor(math.log10(top))))
    return np.round(a, decimals).tolist()


def trace_json(trace: BackpropTrace) -> dict[str, Any]:
    """A trace as the API answers it: ``prediction``, ``label``, ``probabilities``, ``loss``,
    ``input_shape`` and ``nodes`` (each ``name``, ``layer``, ``shape``, ``out``, ``dout``,
    ``dx``, ``grads`` by parameter name, ``params``: each parameter's key in the network)."""
    return {
        "prediction": trace.prediction,
        "label": trace.label,
        "probabilities": trace.probabilities.tolist(),
        "loss": trace.loss,
        "input_shape": list(trace.x.shape),
        "nodes": [
            {
                "name": node.name,
                "layer": node.layer,
                "shape": list(node.shape),
                "out": values(node.out),
                "dout": values(node.dout),
                "dx": values(node.dx),
                "grads": {name: values(g) for name, g in node.grads.items()},
                "params": node.param_keys,
            }
            for node in trace.nodes
        ],
    }


def _label(value: Any, *, query: bool = False) -> int:
    """A correct label 0-9, from JSON (an integer) or the query string (digits)."""
    if query:  # parse_qs gives a list of strings
        value = value[-1]
        # ASCII digits only: str.isdigit accepts "²", which int() refuses, and int() refuses
        # more than 4,300 digits; one digit is all a label has.
        if re.fullmatch(r"[0-9]", value.strip()):
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
        raise HTTPError(
            HTTPStatus.BAD_REQUEST,
            f"label must be an integer 0-9 (the correct digit), got {value!r}",
        )
    return value


def _lr(value: Any) -> float:
    # The range is tested before isfinite: a JSON integer of 400 digits overflows a float.
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value <= MAX_LR
        or not math.isfinite(value)
    ):
        raise HTTPError(
            HTTPStatus.BAD_REQUEST, f"lr must be a number with 0 < lr <= {MAX_LR:g}, got {value!r}"
        )
    return float(value)


def _json_example(body: bytes, ctype: str) -> tuple[dict[str, Any], NDArray, int]:
    """The JSON payload of learn and check, its 28x28 input, and its label."""
    if ctype != "application/json":
        raise HTTPError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f'send JSON {{"pixels": [[...]], "label": N}} as application/json, not {ctype}',
        )
    payload = json_body(body, ctype)
    image = pixels_input(payload)
    if "label" not in payload:
        raise HTTPError(HTTPStatus.BAD_REQUEST, 'expected "label": the correct digit 0-9')
    return payload, image, _label(payload["label"])


def _outcome(trace: BackpropTrace) -> dict[str, Any]:
    return {
        "prediction": trace.prediction,
        "probabilities": trace.probabilities.tolist(),
        "loss": trace.loss,
    }


class BackpropTab:
    """The network the tab traces: the served one, or a copy "learn this digit" has trained.

    ``_state`` is ``(served network, trained copy, steps)``, replaced as a whole (one
    assignment) so that a reader never sees a copy paired with another served network; a
    lock orders the writers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: tuple[Sequential | None, Sequential | None, int] = (None, None, 0)

    def network(self, served: Sequential) -> tuple[Sequential, int]:
        """The network to trace and how many steps it has learned (0: the served one)."""
        base, trained, steps = self._state
        if trained is not None and base is served:
            return trained, steps
        return served, 0

    def learn(self, served: Sequential, image: NDArray, label: int, lr: float) -> dict[str, Any]:
        """One SGD step on (image, label), on a copy: the probabilities before and after."""
        with self._lock:
            network, steps = self.network(served)
            before = trace_backprop(network, image, label)
            trained = copy.deepcopy(network)
            SGD(lr).update(trained.params, before.gradients())
            after = trace_backprop(trained, image, label)
            self._state = (served, trained, steps + 1)
        return {
            "label": label,
            "lr": lr,
            "steps": steps + 1,
            "before": _outcome(before),
            "after": _outcome(after),
        }

    def reset(self) -> dict[str, Any]:
        """Drop the learning copy: the tab traces the served network again. ``{"steps": 0}``."""
        with self._lock:
            self._state = (None, None, 0)
        return {"steps": 0}

    def answer(
        self, model: ServedModel, path: str, body: bytes, ctype: str, query: str
    ) -> dict[str, Any]:
        """The answer to a POST on one of ``BACKPROP_PATHS`` (raises HTTPError for a 4xx)."""
        served = model.network
        if path == "/api/backprop":
            if ctype == "application/json":
                _, image, label = _json_example(body, ctype)
            else:
                given = parse_qs(query).get("label")
                if given is None:
                    raise HTTPError(
                        HTTPStatus.BAD_REQUEST,
                        "give the correct digit in the query: /api/backprop?label=N",
                    )
                label = _label(given, query=True)
                image = drawing_input(body, ctype)
            network, steps = self.network(served)
            result = trace_json(trace_backprop(network, image, label))
            result["input28"] = np.round(image.astype(np.float64), 4).tolist()
            result["steps"] = steps
            return result
        if path == "/api/backprop/reset":
            empty_json(body, ctype)
            return self.reset()
        payload, image, label = _json_example(body, ctype)
        if path == "/api/backprop/learn":
            return self.learn(served, image, label, _lr(payload.get("lr", DEFAULT_LR)))
        # /api/backprop/check
        network, steps = self.network(served)
        check = check_some_weights(network, image, label)
        return {
            "label": label,
            "steps": steps,
            "weights": [
                {
                    "parameter": w.key,
                    "index": list(w.index),
                    "backprop": w.backprop,
                    "numerical": w.numerical,
                    "difference": w.difference,
                }
                for w in check.weights
            ],
            "backprop_seconds": check.backprop_seconds,
            "numerical_seconds": check.numerical_seconds,
            "numerical_seconds_all": check.numerical_seconds_all,
            "parameters": check.parameters,
        }
