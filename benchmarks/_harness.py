"""What the benchmark scripts share: contenders timed in fresh child processes.

A benchmark here runs each contender (dlzero, PyTorch, the dlzero of another source tree, ...)
in a fresh process, the contenders interleaved round after round so that a slow spell of a
shared machine hits them all alike. The parent's side:

- :func:`child_env`: the environment for a child: its BLAS held to ``threads`` threads, and
  for a ``--baseline SRC`` contender the dlzero of ``SRC`` imported instead of this one;
- :func:`torch_available`: whether PyTorch can run, with the note when it cannot;
- :func:`run_child`: one run of a command, its wall time, peak memory and output
  (:meth:`Child.result`: the JSON object of its last line), or one readable error with the
  end of its stderr if it fails;
- :func:`spread`: the ``min, max, runs`` of a summary line.

The child's side: :func:`peak_rss_mb` and :func:`blas_description`, for the JSON line it
prints.

The scripts that time inside one process (``eval_overlap.py``, ``step_profile.py``,
``book_notebooks.py``) or a server (``serve_latency.py``) need none of it.

The folder is not a package: ``python benchmarks/X.py`` puts ``benchmarks/`` on ``sys.path``,
so the scripts ``import _harness``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: The variables NumPy's BLAS (OpenBLAS, or MKL) reads its thread count from at start-up.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

NO_TORCH = "PyTorch not installed (pip install torch==2.13.0): timing dlzero only"

#: How much of a failed child's stderr the error quotes (its end: the traceback's last lines).
STDERR_TAIL = 2000


def child_env(
    *, threads: int | None = None, baseline: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """This process's environment, as a contender's child process should get it.

    Parameters
    ----------
    threads : int, optional
        Set :data:`THREAD_VARIABLES` to this, so that NumPy's BLAS starts with as many threads
        (PyTorch's contenders call ``torch.set_num_threads`` themselves).
    baseline : path, optional
        A source directory holding another ``dlzero`` package (another checkout's ``src/``):
        ``PYTHONPATH`` becomes its absolute path alone, which Python puts ahead of the
        installed package, so the child imports that tree's dlzero and not this one.

    Returns
    -------
    dict of str to str
        A new environment; ``os.environ`` is not changed.
    """
    env = dict(os.environ)
    if threads is not None:
        env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    if baseline is not None:
        env["PYTHONPATH"] = os.path.abspath(baseline)
    return env


def torch_available() -> bool:
    """Whether PyTorch is installed; if not, print :data:`NO_TORCH` (only dlzero is timed)."""
    if importlib.util.find_spec("torch") is not None:
        return True
    print(NO_TORCH)
    return False


@dataclass(frozen=True)
class Child:
    """A child process that exited with status 0.

    Attributes
    ----------
    name : str
        The contender's name, for errors.
    stdout, stderr : str
        All it wrote.
    seconds : float
        Wall time from its start to its exit.
    peak_rss_mb : float
        Its peak resident memory in MB (``ru_maxrss`` of the process itself, not of any
        process it starts). Linux starts a child's count at its parent's resident size at
        the fork, so this is right only when the parent is smaller than the child, as the
        scripts' parents (which load no data) are.
    """

    name: str
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float

    def lines(self) -> list[str]:
        """The lines of its stdout, blank ones at either end left out."""
        return self.stdout.strip().splitlines()

    def result(self) -> dict:
        """The JSON object of its stdout's last line, where the scripts' children report.

        Raises
        ------
        SystemExit
            If the last line is missing or not a JSON object.
        """
        lines = self.lines()
        try:
            result = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            result = None
        if not isinstance(result, dict):
            last = repr(lines[-1]) if lines else "nothing"
            raise SystemExit(
                f"{self.name} printed {last} last, not a JSON object\n{self.stderr[-STDERR_TAIL:]}"
            )
        return result


def run_child(
    cmd: Sequence[str],
    *,
    name: str,
    env: dict[str, str] | None = None,
    on_start: Callable[[int], object] | None = None,
) -> Child:
    """Run ``cmd`` to its end; its output, wall time and peak memory.

    Its stdout and stderr go to temporary files, not pipes, so a child that writes a lot
    cannot block on a full pipe while this process waits for it.

    Parameters
    ----------
    cmd : sequence of str
        The command, e.g. ``[sys.executable, __file__, "--child", "torch"]``.
    name : str
        The contender's name, for the error if it fails.
    env : dict of str to str, optional
        Its environment (:func:`child_env`); this process's when None.
    on_start : callable, optional
        Called with the child's process id once it has started, before it is waited for
        (``race.py`` samples the memory of the child's process tree meanwhile).

    Returns
    -------
    Child

    Raises
    ------
    SystemExit
        If the child exits with a status other than 0 or is killed: one message with its name,
        status, command and the end of its stderr.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, stdout=out, stderr=err, text=True)
        try:
            if on_start is not None:
                on_start(proc.pid)
            # wait4, not proc.wait: the child's own resource usage, peak memory included.
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # an interrupt, a failing on_start: leave no child running
            proc.kill()
            proc.wait()
            raise
        seconds = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code:
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        tail = stderr[-STDERR_TAIL:].rstrip()
        raise SystemExit(f"{name} failed ({how}): {_shown(cmd)}\n{tail}".rstrip())
    # ru_maxrss is in kilobytes on Linux.
    return Child(name, stdout, stderr, seconds, usage.ru_maxrss / 1024)


def _shown(cmd: Sequence[str], longest: int = 200) -> str:
    """``cmd`` as a shell line, a longer argument than ``longest`` (a ``-c`` script) cut short."""
    cut = [
        a if len(a) <= longest else (a.strip().splitlines() or [""])[0][:60] + " ..." for a in cmd
    ]
    return shlex.join(cut)


def spread(values: Sequence[float], *, runs: bool = True) -> str:
    """``min 1.20, max 1.35, 3 runs`` (without the count if ``runs`` is False), for seconds."""
    text = f"min {min(values):.2f}, max {max(values):.2f}"
    return f"{text}, {len(values)} runs" if runs else text


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (data, network, buffers: all of it;
    at least its parent's size at the fork, see :class:`Child`)."""
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def blas_description() -> str:
    """This process's BLAS and its thread count, ``openblas (2 threads)``, as it runs now.

    Read with threadpoolctl; without it, only NumPy's version.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        import numpy as np

        return f"NumPy {np.__version__}"
    return ", ".join(f"{i['internal_api']} ({i['num_threads']} threads)" for i in threadpool_info())
