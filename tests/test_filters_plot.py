"""Tests of the filter pictures (Figure 7-24): what is drawn, files written, bad input."""

import subprocess
import sys

import numpy as np
import pytest

from dlzero.plotting import plot_filters, plot_filters_before_after

pytest.importorskip("matplotlib")


def _images(fig):
    return [im for ax in fig.get_axes() for im in ax.get_images()]


def test_before_after_draws_every_filter_of_both_sets(tmp_path):
    rng = np.random.default_rng(0)
    before = rng.standard_normal((30, 1, 5, 5))
    after = rng.standard_normal((30, 1, 5, 5))
    path = tmp_path / "filters.png"
    fig = plot_filters_before_after(before, after, path)
    images = _images(fig)
    assert len(images) == 60
    # Left half the initial filters, right half the trained ones, in order.
    np.testing.assert_array_equal(images[0].get_array(), before[0, 0])
    np.testing.assert_array_equal(images[30].get_array(), after[0, 0])
    np.testing.assert_array_equal(images[59].get_array(), after[29, 0])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_filters_layout_and_channel(tmp_path):
    W = np.arange(5 * 3 * 2 * 2, dtype=float).reshape(5, 3, 2, 2)
    fig = plot_filters(W, tmp_path / "w.svg", ncols=2, channel=2, title="W1")
    images = _images(fig)
    assert len(images) == 5
    assert len(fig.get_axes()) == 6  # 3 rows of 2, the last cell empty
    np.testing.assert_array_equal(images[4].get_array(), W[4, 2])
    assert (tmp_path / "w.svg").read_text().lstrip().startswith("<?xml")


def test_plotting_does_not_touch_pyplot():
    code = (
        "import sys, numpy as np\n"
        "from dlzero.plotting import plot_filters\n"
        "plot_filters(np.ones((2, 1, 3, 3)))\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_failed_save_leaves_the_previous_file_and_no_partial_one(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    path = tmp_path / "filters.png"
    path.write_bytes(b"previous picture")

    def breaks_midway(self, f, **kwargs):
        f.write(b"half a PNG")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", breaks_midway)
    with pytest.raises(OSError, match="disk full"):
        plot_filters_before_after(np.ones((3, 1, 5, 5)), np.zeros((3, 1, 5, 5)), path)
    assert path.read_bytes() == b"previous picture"
    assert [p.name for p in tmp_path.iterdir()] == ["filters.png"]


def test_an_unknown_suffix_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="cannot save a plot"):
        plot_filters(np.ones((3, 1, 5, 5)), tmp_path / "filters.txt")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plot_filters(np.ones((30, 5, 5))), r"\(FN, C, FH, FW\).*got shape \(30, 5, 5\)"),
        (lambda: plot_filters(np.ones((3, 1, 5, 5)), channel=1), r"channel must be in \[0, 0\]"),
        (lambda: plot_filters(np.ones((3, 1, 5, 5)), ncols=0), "ncols must be a positive"),
        (
            lambda: plot_filters_before_after(np.ones((3, 1, 5, 5)), np.ones((4, 1, 5, 5))),
            "same shape",
        ),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
