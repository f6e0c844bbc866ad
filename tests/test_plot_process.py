"""Tests of the child process that draws dlzero train's plots (dlzero._plot_process)."""

import os
import signal
import sys
import time

import numpy as np
import pytest

from dlzero import cli
from dlzero._plot_process import PlotProcess
from dlzero.training import History

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

PNG = b"\x89PNG\r\n\x1a\n"


def a_history():
    h = History(iterations=1200, iterations_per_epoch=600, seed=0, stop_reason="completed")
    h.loss = np.linspace(2.3, 0.1, 1200)
    h.loss[5] = np.nan  # non-finite losses travel (as null) and are left out of the plot
    h.iterations_done = 1200
    h.epochs, h.epoch_iterations = [0, 1, 2], [0, 600, 1200]
    h.accuracy = {"train": [0.1, 0.9, 0.95], "test": [0.1, 0.88, 0.93]}
    h.epoch_loss, h.train_time, h.eval_time = [None, 0.5, 0.2], [0.0, 1.0, 1.0], [0.1] * 3
    return h


def gone(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_the_child_draws_both_plots_and_ends(tmp_path, monkeypatch):
    monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS", raising=False)
    plotter = PlotProcess()
    pid = plotter._pid
    assert pid is not None and pid != os.getpid()
    plots = [("accuracy", str(tmp_path / "acc.png")), ("loss", str(tmp_path / "loss.svg"))]
    assert plotter.draw(a_history(), plots, "a title") is True
    assert (tmp_path / "acc.png").read_bytes().startswith(PNG)
    assert b"a title" in (tmp_path / "loss.svg").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["acc.png", "loss.svg"]  # no temporary files
    assert gone(pid)


def test_a_dismissed_child_ends_without_drawing(tmp_path, monkeypatch):
    monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS", raising=False)
    plotter = PlotProcess()
    pid = plotter._pid
    plotter.close()
    assert gone(pid)
    plotter.close()  # twice is fine
    assert plotter.draw(a_history(), [("accuracy", str(tmp_path / "a.png"))], "t") is False
    assert not (tmp_path / "a.png").exists()


def test_a_failure_in_the_child_hands_the_plots_back(tmp_path, monkeypatch):
    monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS", raising=False)
    plotter = PlotProcess()
    missing = tmp_path / "no such folder" / "a.png"
    assert plotter.draw(a_history(), [("accuracy", str(missing))], "t") is False
    assert not missing.exists()


def test_the_last_plot_is_drawn_by_a_second_process_at_the_same_time(tmp_path, monkeypatch):
    from dlzero import plotting

    monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS", raising=False)

    def record(kind):
        def draw(history, path, title):
            with open(path, "w") as f:
                f.write(f"{kind} {os.getpid()}")

        return draw

    # patched before the fork, so the child has them too
    monkeypatch.setattr(plotting, "plot_accuracy", record("accuracy"))
    monkeypatch.setattr(plotting, "plot_loss", record("loss"))
    plotter = PlotProcess()
    plots = [("accuracy", str(tmp_path / "a")), ("loss", str(tmp_path / "l"))]
    assert plotter.draw(a_history(), plots, "t") is True
    pid_a = int((tmp_path / "a").read_text().split()[1])
    pid_l = int((tmp_path / "l").read_text().split()[1])
    assert len({pid_a, pid_l, os.getpid()}) == 3


def test_a_failure_in_the_second_process_hands_the_plots_back(tmp_path, monkeypatch):
    from dlzero import plotting

    monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS", raising=False)
    test_process = os.getpid()
    draw_loss = plotting.plot_loss

    def fails_in_the_helper(history, path, title):
        # the child's parent is this process; the helper's is the child
        if os.getppid() != test_process:
            raise RuntimeError("helper broke")
        draw_loss(history, path, title=title)

    monkeypatch.setattr(plotting, "plot_loss", fails_in_the_helper)
    plotter = PlotProcess()
    plots = [("accuracy", str(tmp_path / "a.png")), ("loss", str(tmp_path / "l.png"))]
    assert plotter.draw(a_history(), plots, "t") is False


def test_a_killed_child_takes_its_helper_along(tmp_path, monkeypatch):
    from dlzero import _plot_process, plotting

    monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS", raising=False)
    monkeypatch.setattr(_plot_process, "ANSWER_TIMEOUT_S", 1.0)
    pid_file = tmp_path / "helper.pid"

    def hangs(history, path, title):
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)

    monkeypatch.setattr(plotting, "plot_accuracy", hangs)
    monkeypatch.setattr(plotting, "plot_loss", hangs)
    plotter = PlotProcess()
    plots = [("accuracy", str(tmp_path / "a.png")), ("loss", str(tmp_path / "l.png"))]
    assert plotter.draw(a_history(), plots, "t") is False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:  # either sleeper: both must be gone (a zombie not yet reaped counts as gone)
            with open(f"/proc/{int(pid_file.read_text())}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("a drawing process outlived the kill")


def test_ctrl_c_is_left_to_the_parent(tmp_path, monkeypatch):
    monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS", raising=False)
    plotter = PlotProcess()
    os.kill(plotter._pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole group
    assert plotter.draw(a_history(), [("accuracy", str(tmp_path / "a.png"))], "t") is True


def test_a_stuck_child_is_killed_and_the_plots_handed_back(tmp_path, monkeypatch):
    import time

    from dlzero import _plot_process, plotting

    monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS", raising=False)
    monkeypatch.setattr(_plot_process, "ANSWER_TIMEOUT_S", 0.5)
    monkeypatch.setattr(plotting, "plot_accuracy", lambda *a, **k: time.sleep(60))  # (the child's)
    plotter = PlotProcess()
    pid = plotter._pid
    t0 = time.monotonic()
    assert plotter.draw(a_history(), [("accuracy", str(tmp_path / "a.png"))], "t") is False
    assert time.monotonic() - t0 < 10
    assert gone(pid)


def test_the_deadline_holds_even_when_the_pipe_is_small(monkeypatch):
    import fcntl
    import time

    from dlzero import _plot_process, plotting

    monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS", raising=False)
    monkeypatch.setattr(_plot_process, "ANSWER_TIMEOUT_S", 0.5)
    monkeypatch.setattr(plotting, "_figure", lambda *a, **k: time.sleep(60))  # never reads
    plotter = PlotProcess()
    pid = plotter._pid
    fcntl.fcntl(plotter._down, fcntl.F_SETPIPE_SZ, 4096)  # as on a system short of pipe pages
    h = a_history()
    h.loss = np.linspace(2.3, 0.1, 20_000)
    h.iterations = h.iterations_done = 20_000  # a history of some 400 KB
    t0 = time.monotonic()
    assert plotter.draw(h, [("accuracy", "unused.png")], "t") is False
    assert time.monotonic() - t0 < 5
    assert gone(pid)


def test_a_child_that_will_not_exit_when_dismissed_is_killed(monkeypatch):
    import time

    from dlzero import _plot_process, plotting

    monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS", raising=False)
    monkeypatch.setattr(_plot_process, "EXIT_TIMEOUT_S", 0.3)
    monkeypatch.setattr(plotting, "_figure", lambda *a, **k: time.sleep(60))  # stuck "importing"
    plotter = PlotProcess()
    pid = plotter._pid
    t0 = time.monotonic()
    plotter.close()
    assert time.monotonic() - t0 < 10
    assert gone(pid)


def test_the_environment_variable_keeps_plots_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("DLZERO_PLOT_IN_PROCESS", "1")
    plotter = PlotProcess()
    assert plotter._pid is None
    assert plotter.draw(a_history(), [("accuracy", str(tmp_path / "a.png"))], "t") is False


@pytest.mark.parametrize("in_process", ["", "1"])
def test_train_writes_the_same_plots_either_way(tmp_path, monkeypatch, in_process, capsys):
    monkeypatch.setenv("DLZERO_PLOT_IN_PROCESS", in_process)
    if not in_process:
        monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS")
    drew_here = []
    real = cli.PlotProcess.draw
    monkeypatch.setattr(
        cli.PlotProcess, "draw", lambda self, *a: drew_here.append(r := real(self, *a)) or r
    )
    status = cli.main(
        ["train", "--train-size", "500", "--test-size", "100", "--iters", "10", "--seed", "0",
         "--quiet", "--plot", str(tmp_path / "acc.png")]
    )  # fmt: skip
    assert status == 0
    assert (tmp_path / "acc.png").read_bytes().startswith(PNG)
    assert (tmp_path / "loss.png").read_bytes().startswith(PNG)
    assert drew_here == [not in_process]


def test_train_reports_an_unwritable_plot_as_before(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DLZERO_PLOT_IN_PROCESS", raising=False)
    out = tmp_path / "out"
    out.mkdir()
    real = cli.PlotProcess.draw
    answers = []

    def draw_after_the_folder_became_a_file(self, *args):
        out.rmdir()
        out.write_text("in the way")  # even root cannot write under a file
        answers.append(real(self, *args))
        return answers[-1]

    monkeypatch.setattr(cli.PlotProcess, "draw", draw_after_the_folder_became_a_file)
    status = cli.main(
        ["train", "--train-size", "500", "--test-size", "100", "--iters", "10", "--seed", "0",
         "--quiet", "--plot", str(out / "acc.png")]
    )  # fmt: skip
    # the child could not draw; the command drew in-process and failed as it always has
    assert answers == [False]
    assert status == 1
    assert "cannot write results" in capsys.readouterr().err
