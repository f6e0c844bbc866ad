"""How long ``dlzero serve`` takes to answer a drawing: POST /api/predict, one after another.

Starts ``python -m dlzero serve [MODEL] --port 0`` (without MODEL it trains the chapter-5
network first, as the command does) or uses a server already running (``--url``), then sends
the same 280x280 PNG the page sends (a drawn 7) ``--requests`` times over one keep-alive
connection, as the page does, and prints the median and 90th percentile of the round trip
(decode, MNIST-style preparation, forward, hidden layers, saliency by backward, JSON). A
28x28 JSON input, which skips the PNG and the preparation, is timed the same way.

    python benchmarks/serve_latency.py [--model model.npz] [--requests 100]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import signal
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit

import numpy as np
from PIL import Image, ImageDraw


def seven_png() -> bytes:
    im = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(im).line([(80, 50), (200, 50), (120, 240)], fill=255, width=20, joint="curve")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def time_requests(url: str, body: bytes, ctype: str, n: int) -> list[float]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    times = []
    try:
        for _ in range(n + 3):  # three to warm up, not counted
            start = time.perf_counter()
            conn.request("POST", "/api/predict", body=body, headers={"Content-Type": ctype})
            response = conn.getresponse()
            answer = response.read()
            elapsed = time.perf_counter() - start
            if response.status != 200:
                raise SystemExit(f"the server answered {response.status}: {answer[:200]!r}")
            times.append(elapsed)
    finally:
        conn.close()
    return times[3:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model file (default: the command trains one)")
    parser.add_argument("--url", help="a server already running, e.g. http://127.0.0.1:8000/")
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()

    proc = None
    url = args.url
    if url is None:
        argv = [sys.executable, "-m", "dlzero", "serve", "--port", "0"]
        proc = subprocess.Popen(
            argv + ([args.model] if args.model else []), stdout=subprocess.PIPE, text=True
        )
        for line in proc.stdout:
            print(line, end="")
            if line.startswith("serving "):
                url = line.split()[1]
                break
        if url is None:
            raise SystemExit("the server did not start")
    try:
        x = np.zeros((28, 28))
        x[4:24, 13:15] = 1.0  # a 1, already MNIST-like
        cases = [
            ("PNG 280x280 (what the page sends)", seven_png(), "image/png"),
            ("JSON 28x28", json.dumps({"pixels": x.tolist()}).encode(), "application/json"),
        ]
        print(f"{args.requests} POST /api/predict each, one keep-alive connection, {url}")
        for name, body, ctype in cases:
            times = time_requests(url, body, ctype, args.requests)
            q90 = statistics.quantiles(times, n=10)[-1]
            print(
                f"  {name:<36} median {1000 * statistics.median(times):6.2f} ms   "
                f"90% {1000 * q90:6.2f} ms   ({len(body):,} bytes sent)"
            )
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
