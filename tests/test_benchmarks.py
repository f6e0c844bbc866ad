"""The benchmark scripts run end to end with tiny settings, and their shared harness."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def _load(name: str, monkeypatch):
    """The script ``benchmarks/NAME.py`` as a module, its folder on sys.path as when it runs."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def _broken_tree(root: Path) -> Path:
    """A source tree whose dlzero fails at once, saying so; its ``src/``."""
    broken = root / "broken" / "src" / "dlzero"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise SystemExit('the baseline tree ran')\n")
    (broken / "__main__.py").write_text("")
    return broken.parent


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
    _broken_tree(tmp_path)
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
    import signal
    import time

    race = _load("race", monkeypatch)
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
    assert 4.9 < products[0]["gflop_per_step"] < 5.4 and products[0]["hot_gflops"] > 0
    from dlzero._threads import available_cpus

    assert products[0]["lanes"] == (2 if available_cpus() >= 2 else 1)
    assert "products: 5." in done.stdout and "GFLOP a step" in done.stdout


def test_the_harness_gives_a_child_its_blas_threads_and_the_baseline_tree(tmp_path, monkeypatch):
    harness = _load("_harness", monkeypatch)
    tree = tmp_path / "tree" / "src"
    (tree / "dlzero").mkdir(parents=True)
    (tree / "dlzero" / "__init__.py").write_text("")
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert harness.child_env()["OMP_NUM_THREADS"] == "7"  # left as it was without threads
    probe = (
        "import json, os, dlzero; print('a line before'); "
        f"print(json.dumps({{v: os.environ[v] for v in {harness.THREAD_VARIABLES!r}}} "
        "| {'dlzero': dlzero.__file__}))"
    )
    env = harness.child_env(threads=3, baseline=tree)
    child = harness.run_child([sys.executable, "-c", probe], name="probe", env=env)
    assert child.result() == {
        "OPENBLAS_NUM_THREADS": "3",
        "OMP_NUM_THREADS": "3",
        "MKL_NUM_THREADS": "3",
        "dlzero": str(tree / "dlzero" / "__init__.py"),  # the other tree's, not this one's
    }
    assert child.lines()[0] == "a line before"
    assert os.environ["OMP_NUM_THREADS"] == "7"


def test_the_harness_reports_a_failing_childs_stderr(monkeypatch):
    harness = _load("_harness", monkeypatch)
    script = "import sys\n" + "x = 1\n" * 50 + "print('some output')\nsys.exit('the reason')\n"
    with pytest.raises(SystemExit) as failed:
        harness.run_child([sys.executable, "-c", script, "--flag"], name="contender X")
    message = str(failed.value)
    assert message.startswith("contender X failed (exit status 1): ")
    assert message.endswith("\nthe reason")
    assert "-c 'import sys ...' --flag" in message  # the long script cut short
    with pytest.raises(SystemExit, match=r"killed by signal 9"):
        harness.run_child(
            [sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"], name="killed"
        )
    printed = harness.run_child(
        [sys.executable, "-c", "import sys; print('no JSON'); sys.stderr.write('why')"],
        name="talker",
    )
    with pytest.raises(SystemExit, match=r"talker printed 'no JSON' last, not a JSON object\nwhy"):
        printed.result()


def test_the_harness_measures_a_childs_time_and_peak_memory():
    # From a small parent, as the scripts run it: a child's peak resident memory (ru_maxrss)
    # starts at its parent's at the fork, and this test process may hold hundreds of MB.
    parent = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import _harness\n"
        "script = 'import os, time; b = os.urandom(1 << 20) * 150; time.sleep(0.3); "
        "print(os.getpid())'\n"
        "started = []\n"
        "child = _harness.run_child([sys.executable, '-c', script], name='big', "
        "on_start=started.append)\n"
        "print(json.dumps([started, child.stdout, child.seconds, child.peak_rss_mb]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", parent, str(BENCHMARKS)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    started, stdout, seconds, peak_mb = json.loads(done.stdout)
    assert started == [int(stdout)]  # on_start called with the child's pid
    assert seconds >= 0.3
    assert 150 <= peak_mb < 250  # 150 MB of its own, and the interpreter


def test_the_harness_spread(monkeypatch):
    harness = _load("_harness", monkeypatch)
    assert harness.spread([1.0, 1.254, 1.1]) == "min 1.00, max 1.25, 3 runs"
    assert harness.spread([2.0], runs=False) == "min 2.00, max 2.00"


def test_a_failing_baseline_child_stops_the_epoch_benchmark_with_its_stderr(tmp_path):
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "cnn_epoch.py"), "--model", "cnn", "--rounds", "1",
         "--train-size", "100", "--threads", "1", "--baseline", str(_broken_tree(tmp_path))],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    assert "round 1: dlzero" in done.stdout  # the dlzero of this tree ran first
    assert done.stderr.startswith("baseline failed (exit status 1): ")
    assert done.stderr.endswith("--child baseline --threads 1 --seed 0 --model cnn --train-size "
                                "100\nthe baseline tree ran\n")  # fmt: skip


def test_the_winograd_benchmark_checks_its_layer_and_times_every_3x3_convolution():
    # The script refuses to time a Winograd layer that differs from Convolution (forward, dW,
    # dx); this runs it on 8-image lanes and reads each convolution's line.
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "winograd_training.py"), "--lane", "8", "--reps", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("conv ")]
    assert [line.split()[1] for line in lines] == ["2", "3", "4", "5", "6"]
    for line in lines:
        assert float(line.rsplit("error ", 1)[1].rstrip(")")) < 1e-5
