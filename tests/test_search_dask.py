"""dlzero search on a Dask cluster: a real LocalCluster of two worker processes, on loopback.

The nannies start every worker with one BLAS thread (``distributed.nanny.pre-spawn-environ``),
as joblib's loky workers have, so a trial gives the same numbers there as here, to the bit.
"""

import functools
import os
import signal
import sys
from dataclasses import asdict

import numpy as np
import pytest

from dlzero.interop import dask as dask_module
from dlzero.interop.dask import connect
from dlzero.studies import search as search_module
from dlzero.studies.search import random_search, run_trial

distributed = pytest.importorskip("distributed")


def blobs(n=150, d=8, c=3, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n)
    centers = 3 * rng.standard_normal((c, d))
    return (centers[t] + rng.standard_normal((n, d))).astype(np.float32), t


SMALL = {"n_trials": 4, "epochs": 3, "batch_size": 20, "hidden_size_list": [10, 10]}
# Trials of about half a second each, so that a worker can be killed while it runs one.
SLOW = {"n_trials": 6, "epochs": 6, "batch_size": 10, "hidden_size_list": [100, 100]}
# The CLI on 200 MNIST images, as tests/test_cli.py runs it.
CLI_SEARCH = ["search", "--trials", 3, "--epochs", 2, "--train-size", 200, "--hidden", "20x2"]


def outcome(trial):
    """What a trial found, without its wall time."""
    return {k: v for k, v in asdict(trial).items() if k != "seconds"}


@pytest.fixture
def client(dask_cluster):
    with connect(dask_cluster.scheduler_address) as dask_client:
        dask_client.wait_for_workers(2, timeout=30)  # (a test before may have killed one)
        yield dask_client


def test_a_search_on_the_cluster_finds_what_the_local_one_finds(client, dask_cluster):
    x, t = blobs()
    local = random_search(x, t, **SMALL, n_jobs=1, seed=5)
    remote = random_search(x, t, **SMALL, seed=5, client=client)
    assert [outcome(a) for a in remote.trials] == [outcome(a) for a in local.trials]
    assert all(a.status == "completed" and a.val_curve for a in remote.trials)
    assert remote.settings["scheduler"] == dask_cluster.scheduler_address
    assert remote.settings["n_jobs"] == 2 and local.settings["scheduler"] is None
    with pytest.raises(ValueError, match="n_jobs is for local processes"):
        random_search(x, t, **SMALL, n_jobs=2, client=client)


def test_dlzero_search_scheduler_prints_the_table_of_a_local_run(
    dask_cluster, tmp_path, run_dlzero
):
    argv = [*CLI_SEARCH, "--seed", 0, "--no-plot"]
    status, out, err = run_dlzero([*argv, "--jobs", 1, "--csv", tmp_path / "local.csv"])
    assert status == 0, err
    local_table = out[out.index("rank") : out.index("best:")]
    argv += ["--scheduler", dask_cluster.scheduler_address, "--csv", tmp_path / "dask.csv"]
    status, out, err = run_dlzero(argv)
    assert status == 0, err
    assert f"; Dask cluster {dask_cluster.scheduler_address} (2 workers, 2 at once), seed 0" in out
    assert sum(ln.startswith("[") for ln in out.splitlines()) == 3
    assert out[out.index("rank") : out.index("best:")] == local_table
    assert (tmp_path / "dask.csv").read_text() == (tmp_path / "local.csv").read_text()


def test_without_distributed_it_says_what_to_install(monkeypatch, run_dlzero):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'dlzero\[dask\]'"):
        connect("tcp://127.0.0.1:8786")
    status, out, err = run_dlzero([*CLI_SEARCH, "--scheduler", "tcp://127.0.0.1:8786"])
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "needs distributed: pip install 'dlzero[dask]'" in err


def test_an_unreachable_scheduler_is_a_one_line_error(
    monkeypatch, run_dlzero, unreachable_scheduler
):
    address = unreachable_scheduler
    with pytest.raises(ConnectionError, match=f"cannot reach the Dask scheduler at {address}"):
        connect(address, timeout=1)
    monkeypatch.setattr(dask_module, "connect", functools.partial(connect, timeout=1))
    status, out, err = run_dlzero([*CLI_SEARCH, "--scheduler", address])
    assert status == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"dlzero search: error: cannot reach the Dask scheduler at {address}")


def test_a_scheduler_without_workers_is_a_one_line_error():
    with distributed.LocalCluster(
        n_workers=0, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as empty:
        with pytest.raises(ConnectionError, match=r"has no worker \(none joined in 1 s\)"):
            connect(empty.scheduler_address, timeout=1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scheduler", "localhost"], "argument --scheduler: 'localhost' is not a Dask "),
        (["--scheduler", "http://h:1"], "unknown address scheme 'http'"),
        (["--scheduler", "tcp://h:1", "--jobs", "2"], "argument --jobs: not with --scheduler"),
    ],
)
def test_bad_scheduler_arguments(extra, message, run_dlzero):
    status, out, err = run_dlzero([*CLI_SEARCH, *extra])
    assert status == 2 and out == "" and err.count("\n") == 1 and message in err


def test_a_worker_killed_mid_search_costs_no_trial(client):
    x, t = blobs(600, d=20)
    killed = []

    def kill_a_busy_worker(trial):
        """When the first trial is in, kill a worker running another (SIGKILL: no goodbye)."""
        if killed:
            return
        busy = [worker for worker, keys in client.processing().items() if keys]
        assert busy, "no trial running: the trials are too short for this test"
        pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    remote = random_search(x, t, **SLOW, seed=1, client=client, on_trial=kill_a_busy_worker)
    assert killed
    local = random_search(x, t, **SLOW, seed=1, n_jobs=1)
    # Dask ran the lost trials again on the other worker (or on the one restarted): every
    # trial is there, as it would be here.
    assert [outcome(a) for a in remote.trials] == [outcome(a) for a in local.trials]


def _run_trial_or_die(trial, *args):
    """run_trial, except that trial 1 kills the worker process running it, every time."""
    if trial.index == 1:
        os._exit(1)
    return run_trial(trial, *args)


def test_a_trial_that_kills_every_worker_is_reported_and_the_table_still_written(
    dask_cluster, monkeypatch, tmp_path, run_dlzero
):
    # The workers unpickle the function by name, from this module (its folder is on their
    # sys.path: they are spawned from this process).
    monkeypatch.setattr(search_module, "run_trial", _run_trial_or_die)
    argv = [*CLI_SEARCH, "--seed", 0, "--no-plot", "--csv", tmp_path / "trials.csv"]
    status, out, err = run_dlzero([*argv, "--scheduler", dask_cluster.scheduler_address])
    assert status == 1
    table = out[out.index("rank") : out.index("best:")].splitlines()
    assert len(table) == 1 + 3 and table[-1].split()[1] == "1" and table[-1].endswith("(failed)")
    assert "best: val acc" in out  # the two others finished
    assert err.startswith("dlzero search: trial 1 failed: KilledWorker: Attempted to run task")
    rows = (tmp_path / "trials.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[2].startswith("1,") and rows[2].endswith(",failed")
    assert all(row.endswith(",completed") for row in rows[1:] if not row.startswith("1,"))
