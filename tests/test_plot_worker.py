"""Tests of the process that draws dlzero train's plots (dlzero.cli.plot_worker).

Each runs in a fresh interpreter, which has not imported matplotlib: whether it has afterwards
tells where the plots were drawn.
"""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks")

SETUP = """
import os, signal, sys, time
import numpy as np
from dlzero.cli.plot_worker import PlotWorker
from dlzero.training import History

h = History(iterations=1200, iterations_per_epoch=600, seed=0, stop_reason="completed",
            loss=np.linspace(2.3, 0.2, 1200), iterations_done=1200, epochs=[0, 1, 2],
            epoch_iterations=[0, 600, 1200], accuracy={"train": [0.1, 0.8, 0.9]},
            epoch_loss=[None, 1.0, 0.5], train_time=[0.0, 1.0, 1.0], eval_time=[0.1] * 3)
worker = PlotWorker()
(pid,) = worker._pool._processes
"""


def run(tmp_path, code):
    script = SETUP + code + "\nprint('matplotlib' in sys.modules)\n"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    return out


def test_the_worker_draws_the_plots(tmp_path):
    out = run(tmp_path, "worker.draw(h, 'acc.png', 'loss.png', 'a title')")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "False"  # this process never needed matplotlib
    for name in ("acc.png", "loss.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_dead_worker_leaves_the_plots_to_this_process(tmp_path):
    code = (
        "os.kill(pid, signal.SIGKILL); time.sleep(0.5)\nworker.draw(h, 'acc.png', 'loss.png', 't')"
    )
    out = run(tmp_path, code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "True"  # drawn here
    assert (tmp_path / "acc.png").exists() and (tmp_path / "loss.png").exists()


def test_the_worker_outlives_a_ctrl_c(tmp_path):
    # Ctrl-C goes to the whole process group; the trainer stops and still wants its plots.
    code = "time.sleep(1); os.kill(pid, signal.SIGINT); time.sleep(0.3)\n"
    code += "worker.draw(h, 'acc.png', 'loss.png', 't')"
    out = run(tmp_path, code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "False"  # still drawn by the worker
    assert (tmp_path / "loss.png").exists()


def test_an_unwritable_plot_is_an_error_here(tmp_path):
    code = "try:\n    worker.draw(h, 'no/such/dir/acc.png', 'loss.png', 't')\n"
    code += "except OSError as exc:\n    print('OSError', type(exc).__name__)\n"
    out = run(tmp_path, code)
    assert out.returncode == 0, out.stderr
    assert "OSError" in out.stdout
