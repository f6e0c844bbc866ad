"""dlzero.datasets: the genuine files, the sources in order, verification, cache and download.

No test touches the internet or the real user cache: the autouse fixture points the cache
at a temporary folder and empties the mirror lists; download tests serve files from a local
http.server. Most fault tests use a tiny stand-in for MNIST (``fake``) so that they run fast.
"""

import contextlib
import gzip
import hashlib
import http.server
import io
import sys
import threading
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dlzero.datasets import (
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    DatasetError,
    cache_dir,
    download,
    idx,
    load_fashion_mnist,
    load_mnist,
)
from dlzero.datasets import mnist as m

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
NAMES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not all((DEBIAN_FASHION / f"{n}.gz").is_file() for n in NAMES),
    reason="Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist (.ci/run does)",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private user cache, no DLZERO_DATA, no mirrors, no retry delay. Returns the cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("DLZERO_DATA", raising=False)
    for key in m.MIRRORS:
        monkeypatch.setitem(m.MIRRORS, key, [])
    monkeypatch.setattr(download, "RETRY_DELAY_S", 0.0)
    monkeypatch.setattr(download, "TIMEOUT_S", 5.0)
    return tmp_path / "xdg-cache" / "dlzero"


def files_in(folder: Path) -> list[str]:
    """Every file under folder, hidden ones included, as sorted relative paths."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# -- the genuine files -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def genuine_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("genuine-cache")


@pytest.fixture
def genuine(genuine_cache, monkeypatch):
    """A user cache shared by this module's tests of the real MNIST, so it is filled once."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(genuine_cache))


def test_genuine_mnist_parses(genuine):
    (x, t), (xt, tt) = load_mnist()
    assert (x.shape, x.dtype, xt.shape, xt.dtype) == ((60000, 784), "float32", (10000, 784), "f4")
    assert (t.shape, t.dtype, tt.shape) == ((60000,), np.uint8, (10000,))
    assert np.bincount(t, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(tt, minlength=10).tolist() == TEST_COUNTS
    assert abs(x.mean(dtype=np.float64) - 0.1307) <= 1e-4
    assert (x.min(), x.max()) == (0.0, 1.0)
    assert t[:5].tolist() == [5, 0, 4, 1, 9]
    assert x.flags.writeable and t.flags.writeable


def test_the_books_calls_give_the_books_results(genuine):
    # As in the book's chapter 4 and 5 scripts, and its dataset/mnist.py.
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
    assert (x_train.shape, x_train.dtype) == ((60000, 784), np.float32)
    assert t_train.shape == (60000, 10) and t_test.shape == (10000, 10)
    assert (t_train.sum(axis=1) == 1).all() and set(np.unique(t_train)) == {0, 1}
    (x_u8, t_int), (xt_u8, _) = load_mnist(flatten=True, normalize=False)
    assert (x_u8.dtype, x_u8.shape, int(x_u8.max())) == (np.uint8, (60000, 784), 255)
    np.testing.assert_array_equal(t_train.argmax(axis=1), t_int)
    # The book converts to float32 and divides by 255.0: the same values, bit for bit.
    np.testing.assert_array_equal(x_test, xt_u8.astype(np.float32) / 255.0)
    (x_img, _), (xt_img, _) = load_mnist(False, False, False)  # positional, as in the book
    assert x_img.shape == (60000, 1, 28, 28) and xt_img.shape == (10000, 1, 28, 28)
    np.testing.assert_array_equal(x_img[:100].reshape(100, -1), x_u8[:100])


def test_dtype_sets_the_float_type(genuine):
    (x, t), _ = load_mnist(one_hot_label=True, dtype=np.float64)
    assert x.dtype == np.float64 and t.dtype == np.float64
    assert abs(x.mean() - 0.1307) <= 1e-4


@pytest.mark.parametrize("bad", [np.int32, np.uint8, bool, "no-such-type"])
def test_a_dtype_that_is_not_floating_is_a_value_error(bad):
    with pytest.raises(ValueError, match="dtype must be a"):
        load_mnist(dtype=bad)


def test_first_and_repeat_loads_copy_nothing_large_and_cache_verified_files(isolated):
    # The training images as float32 are 188 MB; a uint8 copy would add 47 MB, float64 376 MB.
    for _ in ("first load, from the bundled gzip files", "repeat load, from the cache"):
        tracemalloc.start()
        try:
            (x, t), (xt, tt) = load_mnist()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        returned = x.nbytes + t.nbytes + xt.nbytes + tt.nbytes
        assert peak < returned + 8 * 2**20
        del x, t, xt, tt
    assert files_in(isolated) == sorted(f"mnist/{n}" for n in NAMES)
    for f in m.DATASETS["mnist"].files:
        assert hashlib.sha256((isolated / "mnist" / f.name).read_bytes()).hexdigest() == f.sha256


def test_class_names():
    assert MNIST_CLASSES == tuple("0123456789")
    assert len(FASHION_MNIST_CLASSES) == 10
    assert (FASHION_MNIST_CLASSES[0], FASHION_MNIST_CLASSES[9]) == ("T-shirt/top", "Ankle boot")


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "dlzero"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as XDG says
    assert cache_dir() == Path.home() / ".cache" / "dlzero"


# -- a tiny stand-in for MNIST ---------------------------------------------------------------


class Fake:
    """Six training and four test images, registered as MNIST, with no installed copy."""

    def __init__(self, seed: int, key: str = "mnist", title: str = "MNIST"):
        rng = np.random.default_rng(seed)
        self.arrays = {}
        for part, n in (("train", 6), ("t10k", 4)):
            images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
            images[0, 0, :2] = 0, 255
            self.arrays[f"{part}-images-idx3-ubyte"] = images
            self.arrays[f"{part}-labels-idx1-ubyte"] = rng.integers(0, 10, n, dtype=np.uint8)
        self.raw = {name: idx.to_idx_bytes(a) for name, a in self.arrays.items()}
        self.sha = {name: hashlib.sha256(c).hexdigest() for name, c in self.raw.items()}
        files = [m._File(n, self.sha[n], self.arrays[n].shape) for n in NAMES]
        self.dataset = m._Dataset(key, title, *files)

    def put(self, folder: Path, gz: bool = True, names=NAMES) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            data = self.raw[name]
            (folder / (f"{name}.gz" if gz else name)).write_bytes(
                gzip.compress(data) if gz else data
            )
        return folder

    def check(self, loaded) -> None:
        """Assert that loaded is load_mnist()'s default result for this data."""
        (x, t), (xt, tt) = loaded
        for got, name in ((x, NAMES[0]), (xt, NAMES[2])):
            assert got.dtype == np.float32
            want = self.arrays[name].reshape(len(got), 784).astype(np.float32) / np.float32(255)
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(t, self.arrays[NAMES[1]])
        np.testing.assert_array_equal(tt, self.arrays[NAMES[3]])


@pytest.fixture
def fake(monkeypatch):
    f = Fake(seed=0)
    monkeypatch.setitem(m.DATASETS, "mnist", f.dataset)
    monkeypatch.setitem(m.INSTALLED, "mnist", [])
    return f


def install(monkeypatch, *folders: Path) -> None:
    monkeypatch.setitem(
        m.INSTALLED, "mnist", [(f"test copy {i}", d) for i, d in enumerate(folders)]
    )


def damage(kind: str, raw: bytes) -> bytes:
    """A damaged file, gzipped: the kinds of fault a learner's download may have."""
    if kind == "truncated":
        return gzip.compress(raw[:-10])
    if kind == "wrong-magic":
        return gzip.compress(b"\x12\x34\x56\x78" + raw[4:])
    if kind == "wrong-hash":  # a well-formed IDX file with one pixel changed
        return gzip.compress(raw[:-1] + bytes([raw[-1] ^ 1]))
    if kind == "corrupt-gzip":  # the CRC in the gzip trailer no longer matches
        packed = bytearray(gzip.compress(raw))
        packed[-8] ^= 0xFF
        return bytes(packed)
    raise AssertionError(kind)


FAULT = {
    "truncated": "truncated",
    "wrong-magic": "not an IDX file: wrong magic number 0x12345678",
    "wrong-hash": "SHA-256 of the uncompressed content is ",
    "corrupt-gzip": "corrupt gzip data",
}
KINDS = list(FAULT)


def test_data_dir_first_and_never_copied_to_the_cache(fake, isolated, tmp_path, monkeypatch):
    install(monkeypatch, tmp_path / "no-such-install")
    fake.check(load_mnist(data_dir=fake.put(tmp_path / "d")))
    assert files_in(isolated) == []


def test_data_dir_set_subfolder_before_the_folder_itself_and_raw_files(fake, tmp_path):
    d = tmp_path / "d"
    fake.put(d / "mnist", gz=False)
    for name in NAMES:  # these would be an error if they were read first
        (d / f"{name}.gz").write_bytes(damage("wrong-magic", fake.raw[name]))
    fake.check(load_mnist(data_dir=d))


def test_dlzero_data_environment_variable(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("DLZERO_DATA", str(fake.put(tmp_path / "env" / "mnist")))
    fake.check(load_mnist())


def test_data_dir_comes_before_dlzero_data(fake, tmp_path, monkeypatch):
    good, bad = fake.put(tmp_path / "good"), tmp_path / "bad"
    bad.mkdir()
    (bad / f"{NAMES[0]}.gz").write_bytes(damage("wrong-hash", fake.raw[NAMES[0]]))
    monkeypatch.setenv("DLZERO_DATA", str(bad))
    fake.check(load_mnist(data_dir=good))
    monkeypatch.setenv("DLZERO_DATA", str(good))
    with pytest.raises(DatasetError, match=r"bad MNIST file .*bad.* in data_dir"):
        load_mnist(data_dir=bad)


def test_a_data_dir_that_is_not_a_folder_is_an_error(fake, tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match=r"data_dir .*typo.* is not a folder"):
        load_mnist(data_dir=tmp_path / "typo")
    monkeypatch.setenv("DLZERO_DATA", str(tmp_path / "typo2"))
    with pytest.raises(DatasetError, match=r"DLZERO_DATA .*typo2.* is not a folder"):
        load_mnist()


def test_installed_copy_is_verified_then_cached_and_the_cache_used(
    fake, isolated, tmp_path, monkeypatch
):
    install(monkeypatch, tmp_path / "empty-install", fake.put(tmp_path / "install"))
    fake.check(load_mnist())
    assert files_in(isolated) == sorted(f"mnist/{n}" for n in NAMES)  # raw, no temp files
    for name in NAMES:
        assert (isolated / "mnist" / name).read_bytes() == fake.raw[name]
    install(monkeypatch)  # gone: the cache alone must serve the repeat load
    fake.check(load_mnist())


@pytest.mark.parametrize("kind", KINDS)
def test_bad_file_in_data_dir_is_an_error_and_caches_nothing(
    fake, isolated, tmp_path, monkeypatch, kind
):
    install(monkeypatch, fake.put(tmp_path / "install"))  # a good copy must not hide the bad
    d = fake.put(tmp_path / "d")
    bad = d / f"{NAMES[1]}.gz"
    bad.write_bytes(damage(kind, fake.raw[NAMES[1]]))
    with pytest.raises(DatasetError) as info:
        load_mnist(data_dir=d)
    message = str(info.value)
    assert f"{bad}: {FAULT[kind]}" in message
    assert f"Expected SHA-256 of the uncompressed {NAMES[1]}: {fake.sha[NAMES[1]]}" in message
    assert "Sources tried, in order:" in message and "put the file in place by hand" in message
    if kind == "wrong-hash":
        actual = hashlib.sha256(gzip.decompress(bad.read_bytes())).hexdigest()
        assert f"is {actual}, expected {fake.sha[NAMES[1]]}" in message
    assert files_in(isolated) == []


@pytest.mark.parametrize("kind", KINDS)
def test_bad_file_in_the_cache_is_deleted_and_replaced(fake, isolated, tmp_path, monkeypatch, kind):
    cache, name = isolated / "mnist", NAMES[2]
    cache.mkdir(parents=True)
    damaged = damage(kind, fake.raw[name])
    # The cache's own files are raw; a gzip fault needs a .gz (which a user may put there).
    bad = cache / (f"{name}.gz" if kind == "corrupt-gzip" else name)
    bad.write_bytes(damaged if kind == "corrupt-gzip" else gzip.decompress(damaged))
    install(monkeypatch, fake.put(tmp_path / "install"))
    fake.check(load_mnist())
    assert files_in(isolated) == sorted(f"mnist/{n}" for n in NAMES)
    assert (cache / name).read_bytes() == fake.raw[name]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_file_in_the_cache_with_no_other_copy(fake, isolated, tmp_path, monkeypatch, kind):
    cache, name = isolated / "mnist", NAMES[0]
    cache.mkdir(parents=True)
    (cache / f"{name}.gz").write_bytes(damage(kind, fake.raw[name]))
    with pytest.raises(DatasetError, match="deleted it") as info:
        load_mnist()
    assert FAULT[kind] in str(info.value)
    assert f"no good copy of MNIST file {name} found" in str(info.value)
    assert files_in(isolated) == []


def test_bad_installed_copy_is_passed_over(fake, isolated, tmp_path, monkeypatch):
    bad = fake.put(tmp_path / "bad-install")
    (bad / f"{NAMES[1]}.gz").write_bytes(damage("wrong-hash", fake.raw[NAMES[1]]))
    install(monkeypatch, bad)
    with pytest.raises(DatasetError, match=r"test copy 0: .*SHA-256 of the uncompressed content"):
        load_mnist()
    # The good train images were cached; the bad labels left nothing, not even a temp file.
    assert files_in(isolated) == [f"mnist/{NAMES[0]}"]
    install(monkeypatch, bad, fake.put(tmp_path / "good-install"))
    fake.check(load_mnist())


def test_the_other_datasets_genuine_file_is_passed_over(fake, tmp_path, monkeypatch):
    other = Fake(seed=1, key="fashion-mnist", title="Fashion-MNIST")
    monkeypatch.setitem(m.DATASETS, "fashion-mnist", other.dataset)
    d = other.put(tmp_path / "d", names=NAMES[:1])  # same names, other data set
    with pytest.raises(DatasetError, match="it is Fashion-MNIST's train-images-idx3-ubyte"):
        load_mnist(data_dir=d)
    install(monkeypatch, fake.put(tmp_path / "install"))
    fake.check(load_mnist(data_dir=d))


def test_an_unwritable_cache_does_not_stop_loading(fake, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_folder))
    install(monkeypatch, fake.put(tmp_path / "install"))
    fake.check(load_mnist())


def test_a_cache_write_that_fails_midway_leaves_no_file_and_loading_goes_on(
    fake, isolated, tmp_path, monkeypatch
):
    real_atomic_write = m.atomic_write

    writes = []

    class FullDisk:
        def __init__(self, file):
            self.file = file

        def write(self, data):
            writes.append(len(data))
            raise OSError(28, "No space left on device")

    @contextlib.contextmanager
    def full_disk(path, mode):
        with real_atomic_write(path, mode) as f:
            yield FullDisk(f)

    monkeypatch.setattr(m, "atomic_write", full_disk)
    install(monkeypatch, fake.put(tmp_path / "install"))
    fake.check(load_mnist())
    assert len(writes) == 4  # one failed write per file, then no more tries
    assert files_in(isolated) == []  # no partial file, no temporary file


def test_nothing_found_names_every_source_and_the_way_by_hand(
    fake, isolated, tmp_path, monkeypatch
):
    install(monkeypatch, tmp_path / "install")
    monkeypatch.setitem(m.MIRRORS, "mnist", ["http://127.0.0.1:9/"])  # the discard port
    with pytest.raises(DatasetError) as info:
        load_mnist()
    message = str(info.value)
    assert message.startswith(f"no good copy of MNIST file {NAMES[0]} found.")
    assert f"1. user cache {isolated / 'mnist'}: no {NAMES[0]} or {NAMES[0]}.gz" in message
    assert f"2. test copy 0 {tmp_path / 'install'}: no" in message
    assert f"3. http://127.0.0.1:9/{NAMES[0]}.gz: " in message
    assert f"`gunzip -c {NAMES[0]}.gz | sha256sum` prints {fake.sha[NAMES[0]]}" in message
    assert files_in(isolated) == []


# -- downloads, from a local server ----------------------------------------------------------


@pytest.fixture
def server(fake):
    """Serves fake's files under /good/; /missing/ 404s, /error/ 500s, /corrupt/ serves a
    wrong payload, /cut/ promises more bytes than it sends and hangs up."""
    log = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            log.append(self.path)
            kind, _, file = self.path.strip("/").partition("/")
            raw = fake.raw.get(file.removesuffix(".gz"))
            if raw is None or kind == "missing":
                self.send_error(404)
                return
            if kind == "error":
                self.send_error(500)
                return
            if kind in ("huge", "endless"):  # far more than any copy of the file
                self.send_response(200)
                if kind == "huge":
                    self.send_header("Content-Length", str(10**10))
                self.end_headers()
                try:  # bounded: the client stops reading (or never starts) long before
                    for _ in range(2000):
                        self.wfile.write(b"\0" * 65536)
                except OSError:
                    pass
                return
            body = damage("wrong-hash", raw) if kind == "corrupt" else gzip.compress(raw)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + (1000 if kind == "cut" else 0)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if kind == "cut" else body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_address[1]}", log=log)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def mirrors(monkeypatch, server, *kinds: str) -> None:
    monkeypatch.setitem(m.MIRRORS, "mnist", [f"{server.url}/{k}/" for k in kinds])


def test_download_verifies_and_caches(fake, isolated, server, monkeypatch):
    mirrors(monkeypatch, server, "good")
    fake.check(load_mnist())
    assert server.log == [f"/good/{n}.gz" for n in NAMES]
    assert files_in(isolated) == sorted(f"mnist/{n}" for n in NAMES)  # no .part, no .tmp
    for name in NAMES:
        assert (isolated / "mnist" / name).read_bytes() == fake.raw[name]


def test_installed_copy_comes_before_a_download(fake, server, tmp_path, monkeypatch):
    mirrors(monkeypatch, server, "good")
    install(monkeypatch, fake.put(tmp_path / "install"))
    fake.check(load_mnist())
    assert server.log == []


def test_a_404_falls_through_to_the_next_mirror_without_retry(fake, server, monkeypatch):
    mirrors(monkeypatch, server, "missing", "good")
    fake.check(load_mnist())
    assert server.log == [f"/{k}/{n}.gz" for n in NAMES for k in ("missing", "good")]


def test_a_server_error_is_retried_once_then_the_next_mirror(fake, server, monkeypatch):
    mirrors(monkeypatch, server, "error", "good")
    fake.check(load_mnist())
    assert server.log[:3] == [f"/error/{NAMES[0]}.gz"] * 2 + [f"/good/{NAMES[0]}.gz"]


def test_a_corrupted_payload_is_rejected(fake, isolated, server, monkeypatch):
    mirrors(monkeypatch, server, "corrupt")
    with pytest.raises(DatasetError) as info:
        load_mnist()
    message = str(info.value)
    url = f"{server.url}/corrupt/{NAMES[0]}.gz"
    assert f"{url}: SHA-256 of the uncompressed content is " in message
    assert f"expected {fake.sha[NAMES[0]]}; rejected" in message
    assert files_in(isolated) == []
    mirrors(monkeypatch, server, "corrupt", "good")
    fake.check(load_mnist())


def test_an_interrupted_download_leaves_no_file(fake, isolated, server, monkeypatch):
    mirrors(monkeypatch, server, "cut")
    with pytest.raises(DatasetError, match=r"cut/train-images-idx3-ubyte\.gz: .*tried 2 times"):
        load_mnist()
    assert server.log == [f"/cut/{NAMES[0]}.gz"] * 2
    assert files_in(isolated) == []


@pytest.mark.parametrize("kind", ["huge", "endless"])
def test_a_download_is_capped_before_its_checksum(fake, isolated, server, monkeypatch, kind):
    mirrors(monkeypatch, server, kind, "good")
    fake.check(load_mnist())  # the next mirror serves it
    # not retried: one request each to the first mirror
    assert server.log[:2] == [f"/{kind}/{NAMES[0]}.gz", f"/good/{NAMES[0]}.gz"]
    assert files_in(isolated) == sorted(f"mnist/{n}" for n in NAMES)  # nothing else kept
    mirrors(monkeypatch, server, kind)
    for name in NAMES:
        (isolated / "mnist" / name).unlink()
    with pytest.raises(DatasetError) as info:
        load_mnist()
    cap = m.max_download_bytes(fake.dataset.files[0])
    assert f"{cap:,}" in str(info.value) and files_in(isolated) == []


def test_the_cap_is_a_small_multiple_of_the_real_files():
    for ds in m.DATASETS.values():
        for f in ds.files:
            size = 4 + 4 * len(f.shape) + int(np.prod(f.shape))
            assert size < m.max_download_bytes(f) <= 2 * size + 65536


# As shipped: the autouse fixture below empties the mirrors for every test.
SHIPPED_MIRRORS = {key: list(urls) for key, urls in m.MIRRORS.items()}


def test_each_data_set_is_downloaded_over_https_first():
    for urls in SHIPPED_MIRRORS.values():
        assert urls[0].startswith("https://")


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("on_terminal", [False, True])
def test_a_download_shows_a_bar_only_on_a_terminal(fake, server, monkeypatch, on_terminal):
    mirrors(monkeypatch, server, "good")
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain bar, whose output is plain text
    stderr = FakeTerminal() if on_terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    fake.check(load_mnist())
    assert (f"downloading {NAMES[0]}: 100% (" in stderr.getvalue()) is on_terminal


# -- Fashion-MNIST, from Debian's package ----------------------------------------------------


@needs_fashion
def test_fashion_mnist_from_the_debian_package(isolated):
    (x, t), (xt, tt) = load_fashion_mnist()
    assert (x.shape, xt.shape, x.dtype) == ((60000, 784), (10000, 784), np.float32)
    assert np.bincount(t, minlength=10).tolist() == [6000] * 10
    assert np.bincount(tt, minlength=10).tolist() == [1000] * 10
    assert abs(x.mean(dtype=np.float64) - 0.2860) <= 1e-4
    assert files_in(isolated) == sorted(f"fashion-mnist/{n}" for n in NAMES)
    (x_u8, t_hot), _ = load_fashion_mnist(normalize=False, flatten=False, one_hot_label=True)
    assert x_u8.shape == (60000, 1, 28, 28) and x_u8.dtype == np.uint8
    np.testing.assert_array_equal(t_hot.argmax(axis=1), t)


@needs_fashion
def test_mnist_files_are_not_taken_for_fashion_mnist(isolated):
    (_, t), _ = load_fashion_mnist(data_dir=m.BUNDLED_DIR)  # genuine MNIST, passed over
    assert np.bincount(t, minlength=10).tolist() == [6000] * 10
