"""Settings shared by the whole test suite."""

import socket
import sys

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


@pytest.fixture
def book_folder(tmp_path, monkeypatch):
    """A book-like ``common`` package on sys.path, its ``common.layers`` already imported
    (and saying ``FROM_THE_FOLDER``): what a book checkout looks like to the import hooks."""
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "__init__.py").write_text("")
    (tmp_path / "common" / "layers.py").write_text("FROM_THE_FOLDER = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import common.layers

    yield common.layers
    for name in [n for n in sys.modules if n == "common" or n.startswith("common.")]:
        del sys.modules[name]


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


# -- dlzero serve ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mnist_data():
    """MNIST as ``dlzero serve`` uses it: ((x_train, t_train), (x_test, t_test)), flattened."""
    from dlzero.datasets import load_mnist

    return load_mnist(normalize=True, flatten=True, one_hot_label=False)


@pytest.fixture(scope="session")
def digit_model(mnist_data, tmp_path_factory):
    """A small 784-50-10 ReLU network trained on MNIST (1,500 steps, about 93% on the test
    set, a second or two), and the file it is saved in: ``(network, path)``."""
    from dlzero import save
    from dlzero.serve.training_job import TrainingSettings, train

    network, _, accuracy = train(TrainingSettings(iters=1500, seed=0), mnist_data)
    assert accuracy is not None and accuracy > 0.9
    path = tmp_path_factory.mktemp("serve") / "digits.npz"
    save(network, path)
    return network, path


@pytest.fixture
def start_server(mnist_data):
    """``start_server(network)`` serves ``network`` on a free loopback port in a thread and
    returns the server (``server.url``); every server started is shut down after the test.

    BLAS runs one thread meanwhile, as under ``dlzero serve`` (see ``dlzero._threads``)."""
    import threading

    from dlzero._threads import limit_blas_to_one_thread
    from dlzero.serve import make_server

    started = []

    def start(network, **kwargs):
        kwargs.setdefault("source", "a network trained by the tests")
        kwargs.setdefault("log", False)
        server = make_server(
            network,
            port=0,
            load_data=lambda: mnist_data,
            reference=mnist_data[1][0][:500],
            **kwargs,
        )
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        started.append((server, thread))
        return server

    restore_blas = limit_blas_to_one_thread()
    yield start
    for server, thread in started:
        server.shutdown()
        server.stop_training()
        server.server_close()
        thread.join(10)
    if restore_blas is not None:
        restore_blas()
