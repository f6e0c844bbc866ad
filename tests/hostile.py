"""Run hostile input in a child process whose memory and time are bounded.

A loader that trusts a file's header can allocate gigabytes before it fails; run in the test
process, such a regression would take the machine with it. :func:`run_bounded` runs a snippet
(or the ``dlzero`` command) in a fresh interpreter under ``RLIMIT_AS`` and a wall-clock
timeout, so the regression fails one test instead, and reports the child's own peak memory and
time for the test to bound. The peak is the child's ``VmHWM``, written at its exit by
``tests/peak_memory/sitecustomize.py``; ``wait4``'s ``ru_maxrss`` is the fallback (a child
killed by a signal writes nothing), an overestimate that includes what the test process held
when it forked.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SRC = str(Path(__file__).resolve().parent.parent / "src")
PEAK_HOOK = str(Path(__file__).resolve().parent / "peak_memory")
# Address space, not resident memory: Python, NumPy and Pillow reserve about 150 MB of it
# before doing anything. 400 MB leaves room for the work of a few-kilobyte input (bounded at
# about 100 MB by the issue) and fails an allocation of the sizes the attacks asked for.
DEFAULT_MEMORY_MB = 400


@dataclass
class Outcome:
    """What a bounded child did: exit status, its output, peak resident memory, seconds."""

    returncode: int
    stdout: str
    stderr: str
    peak_mb: float
    seconds: float
    timed_out: bool


def run_bounded(
    code: str | None = None,
    *,
    argv: list[str] | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    timeout: float = 60.0,
    cwd: str | os.PathLike[str] | None = None,
) -> Outcome:
    """Run ``python -c code`` (or ``python -m dlzero *argv``) under a memory and time bound.

    The child sees this checkout's ``src`` first on ``PYTHONPATH``, runs BLAS on one thread
    (OpenBLAS reserves address space per thread), and is killed after ``timeout`` seconds.
    """
    if (code is None) == (argv is None):
        raise ValueError("give code or argv")
    args = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "dlzero"]
    args += argv or []
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PEAK_HOOK, SRC, env.get("PYTHONPATH")]))
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    limit = memory_mb * 1024 * 1024

    def bound() -> None:  # in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env["DLZERO_PEAK_FILE"] = peak_file = os.path.join(tmp, "peak")
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=cwd, preexec_fn=bound)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        peak_kb = usage.ru_maxrss  # kilobytes on Linux
        with contextlib.suppress(OSError, ValueError), open(peak_file, encoding="ascii") as f:
            peak_kb = int(f.read())
        return Outcome(
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            peak_mb=peak_kb / 1024,
            seconds=seconds,
            timed_out=killed.is_set(),
        )


@contextlib.contextmanager
def bounded_memory(extra_mb: int = 300) -> Iterator[None]:
    """Bound this process's address space to what it uses now plus ``extra_mb`` for a block.

    For in-process fuzzing, where a child per example would be too slow: an input that makes
    the code under test allocate hundreds of megabytes raises ``MemoryError`` (and fails the
    test) instead of taking the machine. The previous limit is restored afterwards.
    """
    with open("/proc/self/status") as f:
        size_kb = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size_kb * 1024 + extra_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# -- hostile model files -------------------------------------------------------------------------


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def _header(class_name: str, config: dict, params: list[str], state: list[str] = ()) -> np.ndarray:
    header = {
        "format": "dlzero-model",
        "version": 1,
        "class": class_name,
        "config": config,
        "params": list(params),
        "state": list(state),
        "metadata": {},
        "dlzero_version": "0.1.0",
    }
    return np.frombuffer(json.dumps(header).encode(), np.uint8)


def _write_members(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for key, data in members.items():
            z.writestr(key + ".npy", data)
    return path


def _patch_members(data: bytes, patch: Callable[[bytearray, int, int], None]) -> bytes:
    """Apply ``patch(data, flags_offset, method_offset)`` to every local and central header."""
    out = bytearray(data)
    for signature, flags in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = out.find(signature)
        while i >= 0:
            patch(out, i + flags, i + flags + 2)
            i = out.find(signature, i + 4)
    return bytes(out)


BIG_CONFIG = {
    "input_size": 784,
    "hidden_size": 100_000,
    "output_size": 10,
    "weight_init_std": 0.01,
    "activation": "relu",
    "dtype": "float32",
}


def hostile_models(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write issue 25's hostile model files (and a good one) into ``folder``: name -> path.

    ``big_config``: a file of about 1 KB whose config names a hidden layer of 100,000 units
    (about 900 MB to build) beside one-number arrays. ``big_declared``: the same config with
    ``.npy`` headers and zip sizes that agree with it, but no data (deflate cannot expand
    a few bytes to 300 MB). ``method99``/``encrypted``: a good file with an unsupported zip
    compression method / the encrypted flag. ``nan``/``inf``/``complex``: a good 784-50-10
    file with a NaN weight, an infinite one, a complex ``W1``.
    """
    from dlzero import TwoLayerNet, save

    folder = Path(folder)
    names = ["W1", "b1", "W2", "b2"]
    paths = {}
    paths["big_config"] = _write_members(
        folder / "big_config.npz",
        {
            "__dlzero__": _npy(_header("TwoLayerNet", BIG_CONFIG, names)),
            **{f"param.{n}": _npy(np.zeros(1, np.float32)) for n in names},
        },
    )
    # .npy headers of the config's shapes with no data after them; then the zip's sizes
    # patched to claim the full arrays, as a crafted file would.
    shapes = {"W1": (784, 100_000), "b1": (100_000,), "W2": (100_000, 10), "b2": (10,)}
    members = {"__dlzero__": _npy(_header("TwoLayerNet", BIG_CONFIG, names))}
    for n, shape in shapes.items():
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f4", "fortran_order": False, "shape": shape}
        )
        members[f"param.{n}"] = header.getvalue()
    raw = bytearray(_write_members(folder / "big_declared.npz", members).read_bytes())
    claims = [None] + [len(members[f"param.{n}"]) + 4 * math.prod(shapes[n]) for n in names]
    _claim_sizes(raw, claims)
    paths["big_declared"] = folder / "big_declared.npz"
    paths["big_declared"].write_bytes(bytes(raw))

    net = TwoLayerNet(784, 50, 10, rng=0)
    paths["good"] = folder / "good.npz"
    save(net, paths["good"])
    good = paths["good"].read_bytes()

    def method99(data: bytearray, flags: int, method: int) -> None:
        data[method : method + 2] = (99).to_bytes(2, "little")

    def encrypted(data: bytearray, flags: int, method: int) -> None:
        data[flags] |= 1

    for name, patch in (("method99", method99), ("encrypted", encrypted)):
        paths[name] = folder / f"{name}.npz"
        paths[name].write_bytes(_patch_members(good, patch))

    def with_weights(name: str, W1: np.ndarray) -> None:
        members = {"__dlzero__": _npy(_header("TwoLayerNet", net.config, list(net.params)))}
        members.update({f"param.{k}": _npy(v) for k, v in net.params.items()})
        members["param.W1"] = _npy(W1)
        paths[name] = _write_members(folder / f"{name}.npz", members)

    W1 = net.params["W1"].copy()
    W1[0, 0] = np.nan
    with_weights("nan", W1)
    W1 = net.params["W1"].copy()
    W1[3, 4] = np.inf
    with_weights("inf", W1)
    with_weights("complex", net.params["W1"].astype(np.complex64))
    return paths


def _claim_sizes(raw: bytearray, claims: list[int | None]) -> None:
    """Overwrite the uncompressed size of the archive's members, in order, where not None, in
    both the local headers (offset 22) and the central directory (offset 24)."""
    cd = int.from_bytes(raw[raw.rfind(b"PK\x05\x06") + 16 :][:4], "little")
    for claim in claims:
        name_len, extra_len, comment_len = (
            int.from_bytes(raw[cd + i : cd + i + 2], "little") for i in (28, 30, 32)
        )
        local = int.from_bytes(raw[cd + 42 : cd + 46], "little")
        if claim is not None:
            raw[cd + 24 : cd + 28] = claim.to_bytes(4, "little")
            raw[local + 22 : local + 26] = claim.to_bytes(4, "little")
        cd += 46 + name_len + extra_len + comment_len


# -- hostile pictures ----------------------------------------------------------------------------


def hostile_pictures(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Pictures in modes Pillow decodes but cannot convert to grayscale: name -> path.

    ``lab``: a CIELAB TIFF of a bright bar on black (Pillow has no LAB -> L conversion; its L
    channel is the lightness). ``premultiplied``: a gray TIFF with premultiplied alpha
    (ExtraSamples = 1, Pillow's mode ``La``), which Pillow converts to nothing.
    """
    from PIL import Image

    folder = Path(folder)
    lab = Image.new("LAB", (64, 64), (0, 128, 128))
    lab.paste((255, 128, 128), (26, 8, 38, 56))
    paths = {"lab": folder / "lab.tif"}
    lab.save(paths["lab"])
    buf = io.BytesIO()
    Image.new("LA", (16, 16), (0, 255)).save(buf, format="TIFF", compression=None)
    data = bytearray(buf.getvalue())
    # ExtraSamples (tag 338 = 0x0152, SHORT, count 1): 2 (unassociated alpha) -> 1 (associated)
    entry = data.find(bytes([0x52, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00]))
    data[entry + 8] = 1
    paths["premultiplied"] = folder / "premultiplied.tif"
    paths["premultiplied"].write_bytes(bytes(data))
    return paths
