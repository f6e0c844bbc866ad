"""The import hook: the book's ``common.*`` and ``dataset.*`` modules, answered by dlzero.

The book's scripts start with ``sys.path.append(os.pardir)`` and then import the book's own
helper modules: ``from common.layers import *``, ``from dataset.mnist import load_mnist``.
:func:`book_imports` puts a finder first on ``sys.meta_path`` (before the finder that searches
``sys.path``, so it answers even when the book's own ``common/`` folder is on the path), and
each of those imports gets a fresh module holding dlzero's objects under the book's names::

    with book_imports():
        from common.layers import Affine      # dlzero.layers.Affine itself
        import common.trainer                 # common.trainer.Trainer is dlzero's BookTrainer

Nothing is written or installed: when the ``with`` block ends, the finder and every module it
made are gone, and any ``common``/``dataset`` module that was imported before is put back.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = [
    "BOOK_MODULES",
    "BOOK_PACKAGES",
    "BookFinder",
    "book_imports",
    "install_finder",
    "is_book_module",
    "remove_finder",
]

# Where each name comes from: (dlzero module, names). Names None: the module's ``__all__``; a
# tuple: those names; a dict: book name -> dlzero name. The book's modules have no ``__all__``,
# so ``from common.layers import *`` also hands on what they import (the functions, im2col,
# ``np``): scripts rely on it (ch06/optimizer_compare_mnist.py uses ``np`` from
# ``from common.optimizer import *``), so each module here has ``np`` and those names too.
Source = tuple[str, Sequence[str] | Mapping[str, str] | None]

BOOK_PACKAGES = ("common", "dataset")

BOOK_MODULES: dict[str, tuple[Source, ...]] = {
    "common": (),
    "common.functions": (("dlzero.functions", None),),
    "common.gradient": (("dlzero.gradient", None),),
    "common.layers": (
        ("dlzero.layers", None),
        # The book's network classes (ch07, ch08) load the book's weights themselves, trained
        # with dropout scaled at inference: they get that dropout, not dlzero's inverted one.
        ("dlzero.book.layers", {"Dropout": "BookDropout"}),
        ("dlzero.functions", None),
        ("dlzero.layers.im2col", ("im2col", "col2im")),
    ),
    "common.optimizer": (("dlzero.optimizers", None),),
    "common.multi_layer_net": (("dlzero.networks", None),),
    # The book's dropout in training too: inverted dropout's scale compounds over the layers.
    "common.multi_layer_net_extend": (
        ("dlzero.networks", None),
        ("dlzero.book.networks", None),
    ),
    "common.trainer": (("dlzero.book.trainer", {"Trainer": "BookTrainer"}),),
    "common.util": (("dlzero.book.util", None),),
    "dataset": (),
    "dataset.mnist": (("dlzero.datasets.mnist", None),),
}


def is_book_module(name: str) -> bool:
    """True for ``common``, ``dataset`` and any module below them: the names the hook owns."""
    return any(name == p or name.startswith(p + ".") for p in BOOK_PACKAGES)


def _names(module: types.ModuleType, names: Sequence[str] | Mapping[str, str] | None) -> dict:
    """``{book name: object}`` for one source of a book module."""
    if names is None:
        names = getattr(module, "__all__", ())
    if isinstance(names, Mapping):
        pairs = names.items()
    else:
        pairs = ((n, n) for n in names)
    # A name dlzero does not have (yet) is left out rather than failing every import.
    return {book: getattr(module, ours) for book, ours in pairs if hasattr(module, ours)}


def _build(name: str) -> types.ModuleType:
    """A new module called ``name`` with the names of its dlzero sources."""
    sources = BOOK_MODULES[name]
    module = types.ModuleType(name)
    if not sources:  # a package: its modules are found by the finder
        module.__doc__ = f"The book's {name} package, answered by dlzero (dlzero book)."
        return module
    targets = ", ".join(dict.fromkeys(src for src, _ in sources))
    module.__doc__ = f"The book's {name}, answered by {targets} (dlzero book)."
    namespace = {"np": np}
    for src, names in sources:
        namespace.update(_names(importlib.import_module(src), names))
    vars(module).update(namespace)
    module.__all__ = sorted(namespace)
    return module


class _BookLoader(importlib.abc.Loader):
    """Makes the module for a spec found by :class:`BookFinder`; there is no code to run."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _build(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class BookFinder(importlib.abc.MetaPathFinder):
    """A meta-path finder for the names in :data:`BOOK_MODULES`."""

    _loader = _BookLoader()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not is_book_module(fullname):
            return None
        if fullname not in BOOK_MODULES:
            known = ", ".join(n for n in BOOK_MODULES if "." in n)
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: dlzero book answers the book's {known}",
                name=fullname,
            )
        sources = BOOK_MODULES[fullname]
        spec = importlib.machinery.ModuleSpec(
            fullname,
            self._loader,
            origin=sources[0][0] if sources else "dlzero book",
            is_package=not sources,
        )
        if not sources:
            spec.submodule_search_locations = []  # its modules come from this finder only
        return spec


def install_finder() -> tuple[BookFinder, dict[str, Any]]:
    """Put a :class:`BookFinder` first on ``sys.meta_path``; set aside modules it will answer.

    Returns
    -------
    finder : BookFinder
        The finder installed.
    saved : dict
        The ``common``/``dataset`` modules imported before, taken out of ``sys.modules``:
        :func:`remove_finder` puts them back.
    """
    saved = {n: sys.modules.pop(n) for n in list(sys.modules) if is_book_module(n)}
    finder = BookFinder()
    sys.meta_path.insert(0, finder)
    return finder, saved


def remove_finder(finder: BookFinder, saved: Mapping[str, Any]) -> None:
    """Undo :func:`install_finder`: the finder and every module it made go, ``saved`` returns."""
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
    for name in [n for n in sys.modules if is_book_module(n)]:
        del sys.modules[name]
    sys.modules.update(saved)


@contextmanager
def book_imports() -> Iterator[BookFinder]:
    """While the block runs, ``common.*`` and ``dataset.*`` imports resolve to dlzero.

    On the way out the finder is removed from ``sys.meta_path``, the modules it made are
    dropped from ``sys.modules``, and modules of those names imported before are restored.
    """
    finder, saved = install_finder()
    try:
        yield finder
    finally:
        remove_finder(finder, saved)
