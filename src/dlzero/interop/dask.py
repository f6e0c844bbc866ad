"""Dask: run dlzero's studies on a cluster (``dlzero search --scheduler``, ``compare``).

Three small helpers, used by :func:`dlzero.studies.search.random_search` and ``dlzero
compare``: :func:`connect` to a scheduler, :func:`send_to_cluster` to put the data there once,
:func:`as_they_finish` to collect the tasks' results. ``distributed`` is imported only when
they are called (``pip install 'dlzero[dask]'``). docs/dask.md has the guide.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["CONNECT_TIMEOUT", "as_they_finish", "connect", "send_to_cluster"]

T = TypeVar("T")

# Seconds to wait for a Dask scheduler to answer, and then for its first worker: a scheduler
# on the network answers in milliseconds, and a wrong address should not hang for long.
CONNECT_TIMEOUT = 10.0


def connect(scheduler: str, timeout: float = CONNECT_TIMEOUT) -> Client:
    """A client of the Dask scheduler at ``scheduler``, for ``random_search(client=...)``.

    ::

        with connect("tcp://HOST:8786") as client:
            result = random_search(x_train, t_train, client=client, seed=0)

    Parameters
    ----------
    scheduler : str
        The scheduler's address, as ``dask scheduler`` prints it: ``tcp://host:8786``.
    timeout : float
        Seconds to wait for the scheduler to answer, then as long for its first worker.

    Returns
    -------
    distributed.Client
        Close it when done (``with`` does).

    Raises
    ------
    ImportError
        ``distributed`` is not installed (``pip install 'dlzero[dask]'``).
    ValueError
        ``scheduler`` is not an address.
    ConnectionError
        The scheduler did not answer, or no worker joined it, within ``timeout``.
    """
    try:
        import distributed
        from distributed.comm import get_address_host_port
    except ImportError:
        raise ImportError(
            "a search on a Dask cluster needs distributed: pip install 'dlzero[dask]'"
        ) from None
    # Checked before Client(): one given a malformed address fails half-built, and its
    # clean-up at exit then prints a traceback.
    try:
        get_address_host_port(scheduler)
    except ValueError as exc:
        raise ValueError(
            f"{scheduler!r} is not a Dask scheduler address ({exc}); expected e.g. tcp://host:8786"
        ) from None
    try:
        client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
    except OSError as exc:  # refused, unknown host, timed out
        raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except distributed.TimeoutError:
        client.close()
        raise ConnectionError(
            f"the Dask scheduler at {scheduler} has no worker (none joined in {timeout:g} s)"
        ) from None
    return client


def send_to_cluster(client: Client, arrays: Sequence[NDArray]) -> list[Future]:
    """Put ``arrays`` on ``client``'s cluster once, as tasks of their own that later tasks
    take as arguments: the data travels once, not once with each task.

    Not ``client.scatter``: scattered data is lost for good when every worker holding it has
    died, while a task's result Dask can compute again. Dask warns about a task over 10 MB
    ("Sending large graph"); a data set is meant to be one, so the warning is silenced here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
        return [client.submit(np.asarray, a, pure=False) for a in arrays]


def as_they_finish(
    client: Client, pending: dict[Future, T]
) -> Iterator[tuple[T, Any, BaseException | None]]:
    """Yield ``(key, result, None)``, or ``(key, None, error)``, for each of ``pending``'s
    futures as it finishes, removing it from ``pending`` (what is left there can be cancelled).

    Removed at once so the cluster forgets each result: otherwise a worker that dies later would
    make Dask compute the finished tasks again. An error means the task raised, was cancelled,
    or could not finish: each time a worker died under it Dask ran it again on another (up to
    ``distributed.scheduler.allowed-failures`` times, 3 by default). The others go on.
    """
    from distributed import as_completed

    for future in as_completed(list(pending), loop=client.loop):
        key = pending.pop(future)
        try:
            result, error = future.result(), None
        except Exception as exc:
            result, error = None, exc
        yield key, result, error
