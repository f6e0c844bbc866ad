"""Tests of dlzero.plotting: the notes' figure, the loss curve, comparisons, no window ever."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import PolyCollection

from dlzero.plotting import plot_accuracy, plot_comparison, plot_loss, save_figure
from dlzero.training import History

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_history(iters=1000, per_epoch=100, seed=0, diverged_at=None):
    rng = np.random.default_rng(seed)
    loss = 2.3 * np.exp(-np.arange(iters) / 200) + 0.1 * rng.random(iters)
    if diverged_at is not None:
        loss[diverged_at] = np.nan
    done = iters if diverged_at is None else diverged_at + 1
    n_eval = -(-iters // per_epoch) + 1
    return History(
        iterations=iters,
        iterations_per_epoch=per_epoch,
        loss=loss[:done],
        iterations_done=done,
        epochs=list(range(n_eval)),
        epoch_iterations=[min(i * per_epoch, iters) for i in range(n_eval)],
        accuracy={
            "train": list(np.linspace(0.1, 0.98, n_eval)),
            "test": list(np.linspace(0.1, 0.96, n_eval)),
        },
        epoch_loss=[None] + [1.0] * (n_eval - 1),
        train_time=[0.1] * n_eval,
        eval_time=[0.01] * n_eval,
    )


def test_accuracy_plot_is_the_notes_figure(tmp_path):
    h = make_history()
    path = tmp_path / "acc.png"
    fig = plot_accuracy(h, path)
    ax = fig.axes[0]
    train_line, test_line = ax.get_lines()
    assert train_line.get_label() == "train acc" and train_line.get_linestyle() == "-"
    assert test_line.get_label() == "test acc" and test_line.get_linestyle() == "--"
    np.testing.assert_array_equal(train_line.get_xdata(), h.epochs)
    np.testing.assert_allclose(test_line.get_ydata(), h.accuracy["test"])
    assert ax.get_ylim() == (0.0, 1.0)
    assert ax.get_xlabel() == "epochs" and ax.get_ylabel() == "accuracy"
    assert ax.get_legend()._loc == 4  # "lower right"
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert os.listdir(tmp_path) == ["acc.png"]  # written atomically, no temporary file left


def test_other_formats_follow_the_suffix(tmp_path):
    plot_accuracy(make_history(), tmp_path / "acc.svg")
    assert b"<svg" in (tmp_path / "acc.svg").read_bytes()[:500]
    with pytest.raises(ValueError, match=r"\.png"):
        save_figure(plot_accuracy(make_history()), tmp_path / "acc.txt")
    assert not (tmp_path / "acc.txt").exists()


def test_short_loss_curve_draws_every_iteration(tmp_path):
    h = make_history(iters=300, per_epoch=50)
    fig = plot_loss(h, tmp_path / "loss.png")
    raw, mean = fig.axes[0].get_lines()
    np.testing.assert_array_equal(raw.get_ydata(), h.loss)
    # The moving average of 50 steps, drawn at the middle of each window.
    expected = np.convolve(h.loss, np.ones(50) / 50, mode="valid")
    np.testing.assert_allclose(mean.get_ydata(), expected)
    assert mean.get_xdata()[0] == pytest.approx(25.5)
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG_MAGIC


def test_long_loss_curve_is_a_band_that_keeps_every_spike():
    h = make_history(iters=10_000, per_epoch=600)
    h.loss[4321] = 9.0  # one spike
    fig = plot_loss(h)
    ax = fig.axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    vertices = bands[0].get_paths()[0].vertices
    assert vertices[:, 1].max() == pytest.approx(9.0)
    assert vertices[:, 1].min() == pytest.approx(h.loss.min())
    assert len(ax.get_lines()[0].get_xdata()) <= 2000


def test_loss_curve_of_a_diverged_run_leaves_out_the_nan():
    h = make_history(iters=100, per_epoch=10, diverged_at=60)
    fig = plot_loss(h)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 1  # no moving average through a NaN
    assert np.isfinite(lines[0].get_ydata()).all() and len(lines[0].get_ydata()) == 60


def test_comparison_one_color_per_run_test_dashed(tmp_path):
    runs = {"sigmoid": make_history(seed=1), "relu": make_history(seed=2)}
    fig = plot_comparison(runs, tmp_path / "cmp.png")
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == [
        "sigmoid train acc",
        "sigmoid test acc",
        "relu train acc",
        "relu test acc",
    ]
    assert [ln.get_linestyle() for ln in lines] == ["-", "--", "-", "--"]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert fig.axes[0].get_legend()._loc == 4
    assert (tmp_path / "cmp.png").exists()


def test_no_pyplot_and_no_matplotlib_until_a_plot_is_made(tmp_path):
    code = (
        "import sys, dlzero, dlzero.cli, dlzero.training, dlzero.plotting\n"
        "assert not any(m.startswith(('matplotlib', 'tqdm')) for m in sys.modules), 'eager'\n"
        "from dlzero.training import History\n"
        "from dlzero.plotting import plot_accuracy\n"
        "h = History(iterations=1, epochs=[0, 1], accuracy={'train': [0.1, 0.5]})\n"
        f"plot_accuracy(h, {str(tmp_path / 'a.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env["MPLBACKEND"] = "TkAgg"  # even a GUI default backend must not be used
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG_MAGIC


# -- chapter 6: loss comparison, search, activation histograms -------------------------------


def test_loss_comparison_one_smoothed_curve_per_run_up_to_a_divergence(tmp_path):
    from dlzero.plotting import plot_loss_comparison

    runs = {"sgd": make_history(500, seed=1), "adam": make_history(500, seed=2, diverged_at=300)}
    fig = plot_loss_comparison(runs, tmp_path / "l.png", window=20)
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["sgd", "adam"]
    assert len(lines[0].get_xdata()) == 500 - 19  # one mean per full window
    assert len(lines[1].get_xdata()) == 300 - 19 and np.isfinite(lines[1].get_ydata()).all()
    # The moving average of the first window, drawn at its middle.
    assert lines[0].get_xdata()[0] == pytest.approx(10.5)
    assert lines[0].get_ydata()[0] == pytest.approx(runs["sgd"].loss[:20].mean())
    assert (tmp_path / "l.png").read_bytes()[:8] == PNG_MAGIC


def test_search_plot_rings_the_best_and_draws_their_curves(tmp_path):
    from dlzero.plotting import plot_search
    from dlzero.studies.search import SearchResult, Trial

    trials = [
        Trial(i, i, 10.0 ** -(i + 1), 10.0 ** -(i + 4), val_acc=0.1 * i, train_acc=0.1 * i,
              epochs=[0, 1], val_curve=[0.1, 0.1 * i])
        for i in range(6)
    ]  # fmt: skip
    fig = plot_search(SearchResult(trials, {}), tmp_path / "s.png", top=2)
    scatter, curves = fig.axes[0], fig.axes[1]
    assert scatter.get_xscale() == "log" and scatter.get_yscale() == "log"
    ringed = scatter.collections[1].get_offsets()
    np.testing.assert_allclose(ringed, [[1e-6, 1e-9], [1e-5, 1e-8]])  # trials 5 and 4
    assert len(curves.get_lines()) == 2
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG_MAGIC


def test_search_plot_colours_by_the_finished_trials_when_one_failed(tmp_path):
    from dlzero.plotting import plot_search
    from dlzero.studies.search import SearchResult, Trial

    trials = [
        Trial(i, i, 10.0 ** -(i + 1), 10.0 ** -(i + 4), val_acc=0.1 * i, train_acc=0.1 * i,
              epochs=[0, 1], val_curve=[0.1, 0.1 * i])
        for i in range(4)
    ]  # fmt: skip
    trials.append(Trial(4, 4, 1e-3, 1e-6, status="failed", val_acc=float("nan")))
    fig = plot_search(SearchResult(trials, {}), tmp_path / "s.png", top=2)
    assert fig.axes[0].collections[0].norm.vmax == pytest.approx(0.3)


def test_activation_histograms_one_row_per_setting_one_panel_per_layer(tmp_path):
    from dlzero.plotting import plot_activation_histograms
    from dlzero.studies.activations_study import activation_study

    studies = [activation_study("sigmoid", 1.0, layers=3, rng=0),
               activation_study("relu", "he", layers=3, rng=0)]  # fmt: skip
    fig = plot_activation_histograms(studies, tmp_path / "a.png")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 6
    assert axes[0].get_ylabel() == "sigmoid, std 1" and axes[3].get_ylabel() == "relu, he"
    assert axes[0].get_xlim()[0] <= 0 and axes[0].get_xlim()[1] >= 1
    # ReLU's bar at 0 (half the outputs) is clipped so the rest stays visible.
    zeros = np.mean(studies[1].activations[0] == 0) * studies[1].activations[0].size
    assert axes[3].get_ylim()[1] < zeros
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG_MAGIC
