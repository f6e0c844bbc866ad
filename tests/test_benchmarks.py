"""Smoke test: the race script runs end to end with tiny settings and prints its table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_race_runs_with_tiny_settings(tmp_path):
    md = tmp_path / "race.md"
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "race.py"), "--rounds", "1", "--iters", "20",
        "--train-size", "500", "--only", "book", "dlzero", "--markdown", str(md),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = md.read_text()
    assert "| book (ch. 5 script) |" in text and "| dlzero train |" in text
    assert "BLAS floor" in text and "1.00x |" in text  # dlzero against itself
    assert "W: 20 iterations, 500 training images, 1 rounds" in text


def test_race_runs_a_baseline_tree_beside_the_installed_one(tmp_path):
    # A tree whose dlzero fails at once: if the baseline were not run from it, the race would
    # pass; since it is, the race must report that contender's failure.
    broken = tmp_path / "broken" / "src" / "dlzero"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise SystemExit('the baseline tree ran')\n")
    (broken / "__main__.py").write_text("")
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "race.py"), "--rounds", "1", "--iters", "20",
        "--train-size", "500", "--only", "dlzero", "baseline",
        "--baseline", str(tmp_path / "broken"),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "dlzero baseline" in out.stderr + out.stdout
    assert "the baseline tree ran" in out.stderr + out.stdout
    # ...and the installed one ran first, without it.
    assert "round 1: dlzero train" in out.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_race_memory_counts_a_forked_childs_own_pages(tmp_path, monkeypatch):
    import importlib.util
    import os
    import signal
    import time

    spec = importlib.util.spec_from_file_location("race", ROOT / "benchmarks" / "race.py")
    race = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "race", race)  # (dataclasses look their module up)
    spec.loader.exec_module(race)
    ready = tmp_path / "ready"
    script = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    block = bytearray(os.urandom(1 << 20) * 100)  # 100 MB of the child's own\n"
        f"    open({str(ready)!r}, 'w').close()\n"
        "    time.sleep(30)\n"
        "    os._exit(0)\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    children = []
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists()
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            children = [int(c) for c in f.read().split()]
        tree = race._tree_pss_mb(proc.pid)
        alone = tree - sum(race._tree_pss_mb(c) for c in children)
        assert tree - alone >= 95  # the child's 100 MB, once
        assert tree < alone + 100 + 60  # and the pages it shares with its parent not twice
    finally:
        for child in children:
            os.kill(child, signal.SIGKILL)
        proc.kill()
        proc.wait()


def test_step_profile_and_background_eval_scripts_run(tmp_path):
    profile = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "step_profile.py"), "--number", "20"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert profile.returncode == 0, profile.stderr
    assert "the whole step (gather, fused step, SGD)" in profile.stdout
    ab = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "background_eval.py"), "--rounds", "1",
         "--iters", "1300"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ab.returncode == 0, ab.stderr
    assert "foreground                   (background used: False)" in ab.stdout
    assert "background                   (background used: True)" in ab.stdout
    assert "median fit (mlp)" in ab.stdout


def test_the_convolutional_evaluation_benchmarks_run():
    bench = ROOT / "benchmarks"
    ab = subprocess.run(
        [sys.executable, str(bench / "background_eval.py"), "--model", "cnn", "--rounds", "1",
         "--train-size", "300", "--test-size", "100", "--epochs", "2", "--train-eval-size", "50"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ab.returncode == 0, ab.stderr
    runs = [line.split(":", 1)[1].split("fit")[0].split() for line in ab.stdout.splitlines()
            if line.startswith("round 1:")]  # fmt: skip
    assert [" ".join(run) for run in runs] == [
        "foreground (background used: False)",
        "background (background used: True)",
        "foreground, train on 50 (background used: False)",
        "background, train on 50 (background used: True)",
    ]
    assert "foreground, train on 50" in ab.stdout.split("median fit (cnn)")[1]
    overlap = subprocess.run(
        [sys.executable, str(bench / "eval_overlap.py"), "--model", "cnn", "--steps", "2",
         "--rounds", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert overlap.returncode == 0, overlap.stderr
    assert "SimpleConvNet: training time an evaluated image costs" in overlap.stdout


@pytest.mark.slow
def test_the_forward_benchmark_runs_dlzero_and_pytorch():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cnn_forward.py"), "--rounds", "1",
         "--passes", "1", "--images", "300", "--threads", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "DeepConvNet forward pass on 300 test images" in done.stdout
    assert "dlzero   median" in done.stdout


def test_scaling_times_the_convolutional_networks(tmp_path):
    table = tmp_path / "cnn.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scaling.py"), "--cnn", "--batch", "3",
         "--repeats", "1", "--steps", "2", "--markdown", str(table)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = table.read_text().splitlines()[2:]
    assert [row.split(" | ")[:2] for row in rows] == [
        ["| SimpleConvNet", "3"],
        ["| DeepConvNet", "3"],
    ]
    assert all(float(row.split(" | ")[2]) > 0 for row in rows)


def test_the_epoch_benchmark_times_the_products_alone(tmp_path):
    # The floor under an epoch: one step's np.matmul calls replayed. If the fused step stopped
    # calling np.matmul, nothing would be recorded and the floor would read 0 s: it must fail.
    runs = tmp_path / "runs.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cnn_epoch.py"), "--model", "deep-cnn",
         "--rounds", "1", "--train-size", "200", "--threads", "2", "--products",
         "--json", str(runs)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    products = [r for r in json.loads(runs.read_text())["runs"] if r["contender"] == "products"]
    assert len(products) == 1 and products[0]["epoch_seconds"] > 0
    # DeepConvNet's six convolutions, forward and backward, on 100 images: 5.1 GFLOP, and the
    # two lanes' products were both recorded (on a machine with two cores).
    assert 4.9 < products[0]["gflop_per_step"] < 5.4
    from dlzero._threads import available_cpus

    assert products[0]["lanes"] == (2 if available_cpus() >= 2 else 1)
    assert "products: 5." in done.stdout and "GFLOP a step" in done.stdout
