"""Settings shared by the whole test suite."""

import socket

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_data_cache(tmp_path_factory):
    """Point dlzero's data cache at a temporary folder for the whole session.

    Tests, and the commands they start, must never write into the user's own cache
    (``~/.cache/dlzero``). Tests that need a cache of their own still set ``XDG_CACHE_HOME``
    themselves; ``DLZERO_DATA`` is cleared so a developer's setting cannot change what is read.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        mp.delenv("DLZERO_DATA", raising=False)
        yield


@pytest.fixture
def run_dlzero(capsys):
    """``run_dlzero(argv)`` runs the ``dlzero`` command in this process: (status, out, err)."""
    from dlzero import cli

    def run(argv):
        try:
            status = cli.main([str(a) for a in argv])
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture(scope="module")
def dask_cluster():
    """A real Dask LocalCluster of two one-thread worker processes, on loopback only."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        yield cluster


@pytest.fixture
def unreachable_scheduler():
    """A scheduler address on a loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"
