"""``%load_ext dlzero.book``: the book's imports answered by dlzero in IPython and Jupyter.

The book's notebooks (``notebooks/ch01.ipynb`` ... ``ch08.ipynb`` of its repository) start their
cells with ``sys.path.append(os.pardir)`` and then ``from common.layers import *`` or
``from dataset.mnist import load_mnist``. After ``%load_ext dlzero.book`` those imports give
dlzero's modules, as under ``dlzero book SCRIPT.py``: the finder of :mod:`dlzero.book.hook`
comes first on ``sys.meta_path`` (ahead of the book's own ``common/`` folder on ``sys.path``),
and networks built without ``rng=`` draw from NumPy's global random state, so that
``np.random.seed`` repeats a run. ``%unload_ext dlzero.book`` takes both back: the finder and
the modules it made go, the ``common``/``dataset`` modules imported before come back, and the
random mode is what it was. ``%reload_ext dlzero.book`` unloads and loads again.

Nothing here imports IPython: the shell is handed in by IPython itself, and only its
``extension_manager`` bookkeeping is used, never a private attribute.
"""

from __future__ import annotations

from typing import Any

from dlzero import _rng
from dlzero.book.hook import BOOK_MODULES, install_finder, remove_finder

__all__ = ["is_loaded", "load_ipython_extension", "unload_ipython_extension"]

# What a load changed and its unload puts back: the finder, the modules it set aside, and the
# random mode before. Module state, not the
# shell's, because IPython's %reload_ext re-executes dlzero/book/__init__.py but not this module.
_state: dict[str, Any] = {}


def _answered() -> str:
    """The book's modules dlzero answers, grouped by package: ``common.{functions, ...}``."""
    groups: dict[str, list[str]] = {}
    for name in BOOK_MODULES:
        package, _, module = name.partition(".")
        if module:
            groups.setdefault(package, []).append(module)
    parts = [
        f"{package}.{mods[0]}" if len(mods) == 1 else f"{package}.{{{','.join(mods)}}}"
        for package, mods in groups.items()
    ]
    return " and ".join(parts)


def is_loaded() -> bool:
    """Whether the extension is loaded (its finder is on ``sys.meta_path``)."""
    return bool(_state)


def load_ipython_extension(ipython: Any) -> None:
    """Answer the book's ``common.*`` and ``dataset.*`` imports with dlzero in this session.

    Parameters
    ----------
    ipython : IPython.core.interactiveshell.InteractiveShell
        The shell, as IPython hands it to ``%load_ext``; not needed (the finder is global).

    Notes
    -----
    A second load without an unload between changes nothing (IPython itself refuses it with
    "already loaded"); modules of those names imported before are set aside until the unload.
    """
    if _state:
        return
    _state["finder"], _state["saved"] = install_finder()
    _state["was_global"] = _rng._use_numpy_global
    # Networks built without rng= draw from np.random's global state, as the book's do.
    _rng.use_numpy_global_random(True)
    print(
        f"dlzero book: {_answered()} now come from dlzero; np.random.seed repeats a run; "
        "%unload_ext dlzero.book undoes it"
    )


def unload_ipython_extension(ipython: Any) -> None:
    """Put the session back as it was before :func:`load_ipython_extension`.

    Parameters
    ----------
    ipython : IPython.core.interactiveshell.InteractiveShell
        The shell; unused.
    """
    if not _state:
        return
    finder, saved, was_global = _state.pop("finder"), _state.pop("saved"), _state.pop("was_global")
    try:
        remove_finder(finder, saved)
    finally:
        _rng.use_numpy_global_random(was_global)
