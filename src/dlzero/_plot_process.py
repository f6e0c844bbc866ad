"""Draw a training run's plots in a child process that gets matplotlib ready while training runs.

Importing matplotlib costs ``dlzero train`` about 0.3 s of one core, more than half of what the
command adds to its training loop. Forked before the data are loaded, a child process pays that
on the other core while the parent trains (processes, not threads: an import holds the GIL, and a
thread doing it measurably slows the steps as much as it saves). When training ends the parent
sends the history down a pipe; the child draws and saves the plots and answers (it forks once
more so that the last plot is drawn at the same time, on the core the parent leaves idle while
it waits). The plots are written before the command exits, so nothing about the result changes:
only where the waiting happens. The child runs in its own process group, so a child killed for
not answering goes with its helper.

Anything unusual (no ``fork`` on this platform, the child gone, any error in it) makes
:meth:`PlotProcess.draw` return False, and the caller draws in its own process as before; a
file that cannot be written then fails there with the usual message. Linux only: elsewhere
forking a process that has loaded system frameworks is not safe.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
import warnings
from typing import Any

__all__ = ["PlotProcess"]


# How long the parent waits for the child to take the history and answer (its import can take
# long the first time, while matplotlib builds its font cache) before it gives up on the child
# and draws the plots itself; and how long a dismissed child may take to exit before it is killed.
ANSWER_TIMEOUT_S = 120.0
EXIT_TIMEOUT_S = 10.0


class _Timeout(Exception):
    pass


def _read_all(fd: int, deadline: float | None = None) -> bytes:
    chunks = []
    while True:
        if deadline is not None:
            _wait(fd, readable=True, deadline=deadline)
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    view = memoryview(data)
    while view:
        if deadline is not None:
            _wait(fd, readable=False, deadline=deadline)
        try:
            # The parent's end is non-blocking: a write takes what the pipe has room for, so
            # a stuck child cannot hold it past the deadline.
            view = view[os.write(fd, view[: 1 << 16]) :]
        except BlockingIOError:
            continue


def _wait(fd: int, *, readable: bool, deadline: float) -> None:
    left = deadline - time.monotonic()
    ready = (
        select.select([fd], [], [], max(left, 0))
        if readable
        else select.select([], [fd], [], max(left, 0))
    )
    if not any(ready):
        raise _Timeout


class PlotProcess:
    """A forked child that imports matplotlib now and draws ``plot_accuracy``/``plot_loss`` later.

    Use ``draw`` once, or ``close`` to dismiss it unused; both wait for the child to end (and
    kill one that does not answer in time), so no process outlives the command and none can
    hang it.
    """

    def __init__(self) -> None:
        self._pid: int | None = None
        # (any non-empty value of DLZERO_PLOT_IN_PROCESS, "0" included, opts out)
        if not sys.platform.startswith("linux") or os.environ.get("DLZERO_PLOT_IN_PROCESS"):
            return
        down_r, down_w = os.pipe()  # parent -> child: the history and the plots to draw
        up_r, up_w = os.pipe()  # child -> parent: "ok" or what went wrong
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns about forking a process with threads (OpenBLAS's idle
                # workers are some); the child only imports and draws, and never uses them.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            for fd in (down_r, down_w, up_r, up_w):
                os.close(fd)
            return
        if pid == 0:  # the child: never returns, whatever happens
            try:
                # Its own process group, with the helper it forks to draw: a kill reaches both.
                os.setpgid(0, 0)
                os.close(down_w)
                os.close(up_r)
                _child(down_r, up_w)
            finally:
                os._exit(1)
        try:  # (the child does this too: whichever runs first, kills find the group)
            os.setpgid(pid, pid)
        except OSError:
            pass
        os.close(down_r)
        os.close(up_w)
        os.set_blocking(down_w, False)
        self._pid, self._down, self._up = pid, down_w, up_r

    def draw(self, history: Any, plots: list[tuple[str, str]], title: str) -> bool:
        """Have the child save ``plots``, (kind, path) with kind "accuracy" or "loss".

        Returns True when every plot was written, False when the caller must draw them.
        """
        if self._pid is None:
            return False
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        try:
            # One line of what to draw, then the history as ``History.save`` writes it.
            header = json.dumps({"plots": plots, "title": title})
            _write_all(self._down, f"{header}\n{history.to_json()}".encode(), deadline)
            os.close(self._down)
            self._down = -1
            answer = _read_all(self._up, deadline)
        except (OSError, ValueError, _Timeout):  # the child is gone, stuck, or JSON refused
            answer = b""
        self.close(kill=answer != b"ok")
        return answer == b"ok"

    def close(self, *, kill: bool = False) -> None:
        """Dismiss the child (it sees the pipe close and exits) and wait for it.

        A child that has not exited ``EXIT_TIMEOUT_S`` seconds later, or at once with ``kill``,
        is killed: the command never hangs on it.
        """
        if self._pid is None:
            return
        pid, self._pid = self._pid, None
        for fd in (self._down, self._up):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._down = self._up = -1
        deadline = time.monotonic() + (0.0 if kill else EXIT_TIMEOUT_S)
        try:
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                if time.monotonic() >= deadline:
                    _kill_group(pid)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.005)
        except ChildProcessError:  # already reaped
            pass


def _child(down: int, up: int) -> None:
    """The child's whole life: import, wait for the request, draw, answer, exit."""
    status = 1
    helper: int | None = None
    try:
        # Ctrl-C is for the parent, which then still sends what it recorded to be drawn.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from dlzero import plotting
        from dlzero.training import History

        plotting._figure()  # import the Agg canvas and figure machinery now
        request = _read_all(down)
        if not request:  # dismissed: nothing to draw
            status = 0
            return
        header, _, body = request.partition(b"\n")
        what = json.loads(header)
        history = History.from_dict(json.loads(body))
        draw = {"accuracy": plotting.plot_accuracy, "loss": plotting.plot_loss}
        plots = [(draw[kind], path) for kind, path in what["plots"]]
        # The parent waits with its cores idle: a second child draws the last plot meanwhile.
        if len(plots) > 1:
            helper = _fork_drawer(plots.pop(), history, what["title"], (down, up))
        for fn, path in plots:
            fn(history, path, title=what["title"])
        if helper is not None:
            pid, helper = helper, None
            if os.waitpid(pid, 0)[1] != 0:
                raise RuntimeError("the helper drawing the last plot failed")
        _write_all(up, b"ok")
        status = 0
    except BaseException as exc:
        if helper is not None:  # the parent will draw every plot itself: stop the helper first
            try:
                os.kill(helper, signal.SIGKILL)
                os.waitpid(helper, 0)
            except OSError:
                pass
        try:
            _write_all(up, f"error: {type(exc).__name__}: {exc}".encode())
        except BaseException:
            pass
    finally:
        # Never return into the parent's code, and never run its exit handlers or flush its
        # buffered output a second time.
        os._exit(status)


def _kill_group(pid: int) -> None:
    """SIGKILL the child and its helper (its process group), or the child alone."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:  # no group of that id (setpgid had not run yet): the child alone
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _fork_drawer(
    plot: tuple[Any, str], history: Any, title: str, close: tuple[int, ...]
) -> int | None:
    """Draw ``plot``, (function, path), in a forked process; its pid, or None if drawn here.

    The helper closes the file descriptors in ``close`` (the child's pipe ends), so the parent
    sees the child's answer, or its end, without waiting for the helper.
    """
    fn, path = plot
    try:
        pid = os.fork()
    except OSError:
        fn(history, path, title=title)
        return None
    if pid == 0:
        status = 1
        try:
            for fd in close:
                os.close(fd)
            fn(history, path, title=title)
            status = 0
        finally:
            os._exit(status)  # never back into the child's code: only the exit status counts
    return pid
