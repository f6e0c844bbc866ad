"""Imported at start-up by the children of ``tests/hostile.py`` (this folder is first on their
``PYTHONPATH``): at exit, write this process's peak resident memory to the file named by
``DLZERO_PEAK_FILE``.

The peak is ``VmHWM`` from ``/proc/self/status``, which starts afresh when the child execs
Python. ``wait4``'s ``ru_maxrss`` does not: a child forked from a test process that has grown to
hundreds of megabytes reports at least that much, whatever the child itself did.
"""

import atexit
import os


def _write_peak() -> None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        with open(os.environ["DLZERO_PEAK_FILE"], "w", encoding="ascii") as out:
            out.write(str(kb))
    except (OSError, StopIteration, KeyError, ValueError):
        pass  # no /proc (not Linux): the parent keeps wait4's figure


if os.environ.get("DLZERO_PEAK_FILE"):
    atexit.register(_write_peak)
