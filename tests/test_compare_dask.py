"""dlzero compare on a Dask cluster: a real LocalCluster of two worker processes, on loopback.

The nannies start every worker with one BLAS thread, and the configurations train with the
same seed there as here, so the table and the histories are those of a local run, to the bit.
"""

import functools
import os
import re
import sys

import pytest

from dlzero.cli import compare as compare_module
from dlzero.interop import dask as dask_module

distributed = pytest.importorskip("distributed")
pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# A few hundred MNIST images, a few epochs: a fraction of a second per configuration.
SMALL = ["--hidden", 50, "--init", "he", "--epochs", 5, "--batch-size", 20, "--seed", 0]
SMALL += ["--train-size", 300, "--test-size", 200]
CLI_COMPARE = ["compare", "--activation", "sigmoid", "relu", *SMALL]


def table(out, head="activation "):
    """The comparison table printed in ``out`` (its header starts with ``head``), without its
    time column."""
    text = out[re.search(f"^{head}", out, re.MULTILINE).start() :]
    text = text[: text.index("wrote")] if "wrote" in text else text
    return re.sub(r" +\d+\.\d s", "", text)


def outcome(history):
    """What a run recorded, without its times and the one setting that differs: a worker
    evaluates in its own thread (``background_eval`` False), as it has no core to spare."""
    times = ("train_time", "eval_time", "wall_time")
    recorded = {k: v for k, v in history.to_dict().items() if k not in times}
    del recorded["config"]["background_eval"]
    return recorded


@pytest.fixture
def histories(monkeypatch):
    """The histories each compare run tabulates, one dict (label: history) per run."""
    seen = []
    real = compare_module._print_comparison

    def spy(rows, varying):
        seen.append(dict(rows))
        real(rows, varying)

    monkeypatch.setattr(compare_module, "_print_comparison", spy)
    return seen


def test_compare_on_the_cluster_gives_the_table_and_histories_of_a_local_run(
    dask_cluster, histories, run_dlzero
):
    argv = [*CLI_COMPARE, "--validation-fraction", 0.2, "--no-plot"]
    status, out, err = run_dlzero([*argv, "-q"])
    assert status == 0, err
    local_table = table(out)
    status, out, err = run_dlzero([*argv, "--scheduler", dask_cluster.scheduler_address])
    assert status == 0, err
    address = dask_cluster.scheduler_address
    assert out.startswith(f"2 configurations on the Dask cluster {address} (2 workers, 2 at once)")
    finished = [ln for ln in out.splitlines() if ln.startswith("[")]
    assert len(finished) == 2 and "epoch" not in out  # no live epoch lines from the workers
    assert all(re.search(r": test acc \d\.\d{4}  \d+\.\d s$", ln) for ln in finished)
    assert table(out) == local_table and "val acc" in local_table
    local, remote = histories
    assert list(remote) == list(local) == ["sigmoid", "relu"]
    assert all(outcome(remote[k]) == outcome(local[k]) for k in local)


def test_a_diverged_configuration_is_kept_and_the_status_is_1_as_here(dask_cluster, run_dlzero):
    argv = ["compare", "--lr", 0.1, 1e10, "--weight-init-std", 1, *SMALL[:2], *SMALL[4:]]
    status, out, err = run_dlzero([*argv, "--no-plot", "-q"])
    assert status == 1 and "diverged" in out
    local_table, local_err = table(out, "lr "), err
    status, out, err = run_dlzero(
        [*argv, "--no-plot", "--scheduler", dask_cluster.scheduler_address]
    )
    assert status == 1 and "] lr 1e+10: test acc" in out and "(diverged)" in out
    assert table(out, "lr ") == local_table and err == local_err
    assert err.startswith("dlzero compare: lr 1e+10: ") and err.count("\n") == 1


def _train_or_die(cfg, *args, **kwargs):
    """train_configuration, except that sigmoid kills the worker process running it, each time."""
    if cfg["activation"] == "sigmoid":
        os._exit(1)
    return compare_module.train_configuration(cfg, *args, **kwargs)


def test_a_configuration_that_kills_every_worker_fails_alone(
    dask_cluster, monkeypatch, tmp_path, run_dlzero
):
    # The workers unpickle the function by name, from this module (its folder is on their
    # sys.path: they are spawned from this process).
    monkeypatch.setattr(compare_module, "train_configuration", _train_or_die)
    plot = tmp_path / "cmp.png"
    argv = [*CLI_COMPARE, "--plot", plot, "--scheduler", dask_cluster.scheduler_address]
    status, out, err = run_dlzero(argv)
    assert status == 1
    assert "] sigmoid: failed" in out and "] relu: test acc" in out
    rows = table(out).splitlines()
    assert len(rows) == 2 and rows[1].startswith("relu ")  # the header, then relu alone
    assert err.startswith("dlzero compare: sigmoid failed: KilledWorker: Attempted to run task")
    assert err.count("\n") == 1 and plot.read_bytes()[:8] == PNG_MAGIC


def test_ctrl_c_cancels_the_queued_configurations_and_exits_130(
    dask_cluster, monkeypatch, run_dlzero
):
    argv = ["compare", "--lr", 0.01, 0.02, 0.05, 0.1, *SMALL, "--no-plot"]
    real_at_best, real_cancel = compare_module.History.at_best, distributed.Client.cancel
    cancelled = []

    def at_best_then_ctrl_c(self, name):
        """Ctrl-C as the first configuration's line is being printed."""
        monkeypatch.setattr(compare_module.History, "at_best", real_at_best)
        raise KeyboardInterrupt

    def cancel(self, futures, *args, **kwargs):
        cancelled.extend(futures)
        return real_cancel(self, futures, *args, **kwargs)

    monkeypatch.setattr(compare_module.History, "at_best", at_best_then_ctrl_c)
    monkeypatch.setattr(distributed.Client, "cancel", cancel)
    status, out, err = run_dlzero([*argv, "--scheduler", dask_cluster.scheduler_address])
    assert status == 130
    assert err == "dlzero compare: interrupted; writing the runs finished so far\n"
    assert len(cancelled) == 3  # the three others, queued or running
    # The cluster's line, then the table of the one that finished (whichever came first).
    lines = out.splitlines()
    assert len(lines) == 3 and lines[1].startswith("lr ") and lines[2].startswith("lr 0.")


def test_without_distributed_it_says_what_to_install(monkeypatch, run_dlzero):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    status, out, err = run_dlzero([*CLI_COMPARE, "--scheduler", "tcp://127.0.0.1:8786"])
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "--scheduler needs distributed: pip install 'dlzero[dask]'" in err


def test_an_unreachable_scheduler_is_a_one_line_error(
    monkeypatch, run_dlzero, unreachable_scheduler
):
    address = unreachable_scheduler
    monkeypatch.setattr(dask_module, "connect", functools.partial(dask_module.connect, timeout=1))
    status, out, err = run_dlzero([*CLI_COMPARE, "--scheduler", address])
    assert status == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"dlzero compare: error: cannot reach the Dask scheduler at {address}")


def test_help_mentions_the_scheduler(run_dlzero):
    status, out, _ = run_dlzero(["compare", "--help"])
    text = " ".join(out.split())
    assert status == 0 and "--scheduler ADDRESS" in text
    assert "the epoch lines are not shown" in text and "docs/dask.md" in text
