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
import pickle
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

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
    src: str = SRC,
) -> Outcome:
    """Run ``python -c code`` (or ``python -m dlzero *argv``) under a memory and time bound.

    The child sees this checkout's ``src`` (or ``src``: another checkout's, to measure it) first
    on ``PYTHONPATH``, runs BLAS on one thread (OpenBLAS reserves address space per thread),
    and is killed after ``timeout`` seconds.
    """
    if (code is None) == (argv is None):
        raise ValueError("give code or argv")
    args = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "dlzero"]
    args += argv or []
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PEAK_HOOK, src, env.get("PYTHONPATH")]))
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


# -- fuzzing: random changes of a valid file -----------------------------------------------------


def mutations() -> st.SearchStrategy:
    """Random changes of a file: up to 8 bytes overwritten, a cut, or bytes inserted."""
    flips = st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=8,
    )
    return st.one_of(
        st.tuples(st.just("flip"), flips),
        st.tuples(st.just("truncate"), st.integers(min_value=0)),
        st.tuples(st.just("insert"), st.tuples(st.integers(min_value=0), st.binary(max_size=64))),
    )


def mutate(data: bytes, mutation: tuple) -> bytes:
    """``data`` with a change drawn from :func:`mutations` applied."""
    kind, arg = mutation
    out = bytearray(data)
    if kind == "flip":
        for pos, value in arg:
            out[pos % len(out)] = value
    elif kind == "truncate":
        del out[arg % len(out) :]
    else:
        pos, extra = arg
        out[pos % len(out) : pos % len(out)] = extra
    return bytes(out)


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


def _claim_sizes(raw: bytearray, claims: list[int | None], compressed: bool = False) -> None:
    """Overwrite the uncompressed size of the archive's members, in order, where not None, in
    both the local headers (offset 22) and the central directory (offset 24); or, with
    ``compressed``, their compressed size (offsets 18 and 20)."""
    cd = int.from_bytes(raw[raw.rfind(b"PK\x05\x06") + 16 :][:4], "little")
    at_local, at_cd = (18, 20) if compressed else (22, 24)
    for claim in claims:
        name_len, extra_len, comment_len = (
            int.from_bytes(raw[cd + i : cd + i + 2], "little") for i in (28, 30, 32)
        )
        local = int.from_bytes(raw[cd + 42 : cd + 46], "little")
        if claim is not None:
            raw[cd + at_cd : cd + at_cd + 4] = claim.to_bytes(4, "little")
            raw[local + at_local : local + at_local + 4] = claim.to_bytes(4, "little")
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


# -- hostile parameter files (the book's pickles, dlzero's .npz) ---------------------------------


def _text(s: str) -> bytes:
    """A pickle's SHORT_BINUNICODE (or BINUNICODE, for a long string)."""
    b = s.encode()
    if len(b) < 256:
        return b"\x8c" + bytes([len(b)]) + b
    return b"X" + len(b).to_bytes(4, "little") + b


def _global(module: str, name: str) -> bytes:
    return _text(module) + _text(name) + b"\x93"  # STACK_GLOBAL


def _long1(n: int) -> bytes:
    """A pickle's LONG1: an integer of any size."""
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def reencoded_pickle(size: int = 1_000_000, copies: int = 400) -> bytes:
    """A pickle of ``size`` bytes that builds ``copies`` arrays, each from its own latin-1
    encoding of the one string in the file: ``copies * size`` bytes asked of a ``size`` file.

    As protocol 2 stores an array's bytes: ``_codecs.encode(text, "latin1")`` in the array's
    BUILD state; the text is memoized once and fetched again for every array.
    """
    head = [
        b"\x80\x04",
        _global("numpy.core.multiarray", "_reconstruct") + b"\x94",  # memo 0
        _global("numpy", "ndarray") + b"\x94",  # memo 1
        _global("numpy", "dtype") + _text("u1") + b"\x89\x88\x87R\x94",  # 2: dtype("u1")
        _global("_codecs", "encode") + b"\x94",  # memo 3
        _text("a" * size) + b"\x94",  # memo 4: the text
        _text("latin1") + b"\x94",  # memo 5
        b"J" + size.to_bytes(4, "little") + b"\x85\x94",  # memo 6: the shape (size,)
        b"}(",
    ]
    array = (
        b"h\x00h\x01K\x00\x85C\x01b\x87R"  # _reconstruct(ndarray, (0,), b"b")
        + b"(K\x01h\x06h\x02\x89h\x03h\x04h\x05\x86Rtb"  # BUILD (1, shape, dtype, False, raw)
    )
    body = [_text(f"W{i}") + array for i in range(copies)]
    return b"".join([*head, *body, b"u."])


def colliding_keys_pickle(n: int = 50_000) -> bytes:
    """A dict pickle of ``n`` integer keys that all have the same hash (multiples of
    ``2**61 - 1``, the modulus of Python's integer hash): building it takes time in n**2."""
    items = b"".join(_long1(i * (2**61 - 1)) + b"N" for i in range(1, n + 1))
    return b"\x80\x04}(" + items + b"u."


def deep_pickle(levels: int = 1_000_000) -> bytes:
    """``{"W1": ((((0,),),),...)}``, one byte a level: hashing or printing it recurses."""
    return b"\x80\x04}" + _text("W1") + b"K\x00" + b"\x85" * levels + b"s."


def memo_pickle(index: int = 1 << 24) -> bytes:
    """A 12-byte pickle that memoizes its dict at ``index``: CPython's unpickler grows its memo
    table to ``2 * index`` entries (8 bytes each), and clears them, before going on."""
    return b"\x80\x04}r" + index.to_bytes(4, "little") + b"."


def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def _stream_member(z: zipfile.ZipFile, name: str, header: bytes, zeros: int) -> None:
    """Write a member: ``header`` and ``zeros`` zero bytes, a megabyte at a time."""
    chunk = bytes(1 << 20)
    with z.open(name, "w", force_zip64=True) as f:
        f.write(header)
        for start in range(0, zeros, len(chunk)):
            f.write(chunk[: min(len(chunk), zeros - start)])


HUGE_BYTES = 256 * 1024 * 1024  # what the expanding members hold: 256 MiB of zeros


def hostile_params(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write issue 25's hostile parameter files (and good ones) into ``folder``: name -> path.

    Pickles: ``reencoded`` (1 MB, 400 MB of arrays), ``colliding_keys``, ``deep``, ``memo``
    (see the functions above). Archives (``.npz``): ``bzip2`` (a 256 MiB member in 441 bytes,
    compressed with bzip2), ``claimed`` (a few hundred bytes of deflate whose zip and
    ``.npy`` headers claim 256 MiB), ``huge_header`` (a ``.npy`` header of 10**12 float64
    numbers, no data), ``zeros`` (a real deflated member of 256 MiB of zeros, 260 KB: too big
    for the network it is loaded into), ``overlapping_npz`` (a good archive whose members'
    compressed data claim to overlap), ``method99_npz``/``encrypted_npz`` (a good archive with
    an unsupported method / the encrypted flag). ``nan``, ``inf``, ``complex`` as ``.pkl`` and
    ``.npz``: a good 784-50-10 TwoLayerNet's parameters with a NaN, an infinite, a complex
    ``W1``. ``good_pkl``, ``good_npz``: those parameters, untouched.
    """
    from dlzero import TwoLayerNet

    folder = Path(folder)
    paths: dict[str, Path] = {}

    def write(name: str, file_name: str, data: bytes) -> None:
        paths[name] = folder / file_name
        paths[name].write_bytes(data)

    write("reencoded", "reencoded.pkl", reencoded_pickle())
    write("colliding_keys", "colliding_keys.pkl", colliding_keys_pickle())
    write("deep", "deep.pkl", deep_pickle())
    write("memo", "memo.pkl", memo_pickle())

    n = HUGE_BYTES // 8
    paths["bzip2"] = folder / "bzip2.npz"
    with zipfile.ZipFile(paths["bzip2"], "w", zipfile.ZIP_BZIP2, compresslevel=9) as z:
        _stream_member(z, "W1.npy", _npy_header((n,)), HUGE_BYTES)
    paths["zeros"] = folder / "zeros.npz"
    with zipfile.ZipFile(paths["zeros"], "w", zipfile.ZIP_DEFLATED) as z:
        _stream_member(z, "W1.npy", _npy_header((n,)), HUGE_BYTES)
    # A member of 64 KiB of zeros (a few hundred bytes of deflate) whose .npy header and zip
    # sizes claim 256 MiB: as a crafted file would, both headers agree.
    paths["claimed"] = folder / "claimed.npz"
    with zipfile.ZipFile(paths["claimed"], "w", zipfile.ZIP_DEFLATED) as z:
        _stream_member(z, "W1.npy", _npy_header((n,)), 1 << 16)
    raw = bytearray(paths["claimed"].read_bytes())
    _claim_sizes(raw, [len(_npy_header((n,))) + HUGE_BYTES])
    paths["claimed"].write_bytes(bytes(raw))
    paths["huge_header"] = _write_members(
        folder / "huge_header.npz", {"W1": _npy_header((10**12,))}
    )

    net = TwoLayerNet(784, 50, 10, dtype=np.float64, rng=0)
    params = {k: np.asarray(v) for k, v in net.params.items()}

    def write_both(name: str, arrays: dict[str, np.ndarray]) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write(f"{name}_npz", f"{name}.npz", buf.getvalue())
        write(f"{name}_pkl", f"{name}.pkl", pickle.dumps(arrays, protocol=4))  # the book's
        return buf.getvalue()

    good = write_both("good", params)

    def method99(data: bytearray, flags: int, method: int) -> None:
        data[method : method + 2] = (99).to_bytes(2, "little")

    def encrypted(data: bytearray, flags: int, method: int) -> None:
        data[flags] |= 1

    # Each member's compressed data claimed to run to the end of the file, over the next ones,
    # as a zip bomb of overlapping members does (each member's size stays what it was).
    overlapping = bytearray(good)
    _claim_sizes(overlapping, [len(good)] * len(params), compressed=True)
    write("overlapping_npz", "overlapping.npz", bytes(overlapping))
    write("method99_npz", "method99.npz", _patch_members(good, method99))
    write("encrypted_npz", "encrypted.npz", _patch_members(good, encrypted))
    for name, (i, j, value) in {"nan": (0, 0, np.nan), "inf": (3, 4, -np.inf)}.items():
        W1 = params["W1"].copy()
        W1[i, j] = value
        write_both(name, {**params, "W1": W1})
    write_both("complex", {**params, "W1": params["W1"] + 0.5j})
    return paths


def huge_png(path: str | os.PathLike[str], width: int = 9000, height: int = 9000) -> Path:
    """A black grayscale PNG of ``width x height`` pixels with a white bar in its middle, written
    a row at a time: a few tens of kilobytes that decode to ``width * height`` bytes or more."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    black = bytes(width + 1)  # filter byte 0, then the row
    bar = bytearray(black)
    bar[1 + width // 2 - width // 20 : 1 + width // 2 + width // 20] = b"\xff" * (width // 10)
    compress = zlib.compressobj(9)
    rows = [
        compress.compress(bytes(bar) if height // 4 <= y < 3 * height // 4 else black)
        for y in range(height)
    ]
    idat = b"".join(rows) + compress.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    path = Path(path)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path
