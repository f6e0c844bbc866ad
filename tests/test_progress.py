"""Tests of dlzero._progress: tqdm's bar when installed, else a plain line on stderr."""

import io
import sys

import pytest

from dlzero._progress import TextBar, progress_bar


@pytest.fixture
def no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed


def fake_stderr(monkeypatch):
    # In the test itself: pytest puts its own sys.stderr back between a fixture and the test.
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    return stream


def test_without_tqdm_a_plain_bar_on_stderr(no_tqdm, monkeypatch):
    stderr = fake_stderr(monkeypatch)
    with progress_bar(2_000_000, "downloading x", unit="B") as bar:
        assert isinstance(bar, TextBar)
        bar.update(1_000_000)
        bar.update(1_000_000)
        assert stderr.getvalue().endswith("\rdownloading x: 100% (2.0 MB of 2.0 MB)")
    assert stderr.getvalue().endswith("\r" + " " * 38 + "\r")  # leave=False: erased


def test_the_plain_bar_counts_items_and_an_unknown_total():
    stream = io.StringIO()
    bar = TextBar(10, "epoch 1/3", unit="it", leave=True, stream=stream)
    bar.update(5)
    assert stream.getvalue() == "\repoch 1/3:  50% (5 it of 10 it)"
    bar.clear()
    bar.refresh()  # drawn again after a line printed above it
    assert stream.getvalue().endswith("\r" + " " * 31 + "\r\repoch 1/3:  50% (5 it of 10 it)")
    bar.close()
    assert stream.getvalue().endswith("\n")  # leave=True: the last state stays
    unknown = TextBar(None, "reading", unit="it", leave=False, stream=io.StringIO())
    unknown.update(7)
    assert unknown._stream.getvalue() == "\rreading: 7 it"


def test_tqdm_when_installed(monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    stderr = fake_stderr(monkeypatch)
    bar = progress_bar(10, "epoch 1/2", leave=False)
    assert isinstance(bar, tqdm.tqdm)
    assert bar.dynamic_ncols
    bar.update(3)
    bar.clear()
    bar.refresh()
    bar.close()
    assert "epoch 1/2:  30%" in stderr.getvalue()  # on stderr
