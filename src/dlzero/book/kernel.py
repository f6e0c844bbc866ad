"""The Jupyter kernel "Python 3 (dlzero book)": IPython with ``%load_ext dlzero.book`` done.

``dlzero book --install-kernel [--user | --prefix P]`` installs it; a learner picks it once in
Jupyter and the book's notebooks run unchanged, their ``common.*`` and ``dataset.mnist``
imports answered by dlzero (:mod:`dlzero.book.ipython`). The kernel is ipykernel's, on this
Python, started with ``--IPKernelApp.extensions=dlzero.book``. ``dlzero book NB.ipynb`` runs
notebooks on the same spec (:mod:`dlzero.book.notebook`), written to a temporary folder.

jupyter_client and ipykernel (the ``notebooks`` extra) are imported inside the functions, so
importing this module costs nothing.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

__all__ = ["DISPLAY_NAME", "KERNEL_NAME", "install", "kernel_dir", "uninstall", "write_spec"]

KERNEL_NAME = "dlzero-book"
DISPLAY_NAME = f"Python {sys.version_info[0]} (dlzero book)"
EXTENSION_ARGUMENT = "--IPKernelApp.extensions=dlzero.book"


def write_spec(folder: str | os.PathLike[str], extension: bool = True) -> Path:
    """Write the kernel spec (``kernel.json`` and ipykernel's logos) into ``folder``.

    Parameters
    ----------
    folder : path
        The spec's folder; created, and must not exist yet.
    extension : bool, default True
        Start the kernel with ``dlzero.book`` loaded. False gives a plain IPython kernel on
        this Python (what measuring the book's own code needs).

    Returns
    -------
    Path
        ``folder``.
    """
    from ipykernel.kernelspec import write_kernel_spec

    extra = [EXTENSION_ARGUMENT] if extension else []
    overrides = {
        "argv": make_argv(extra),
        "display_name": DISPLAY_NAME if extension else f"Python {sys.version_info[0]}",
    }
    return Path(write_kernel_spec(Path(folder), overrides=overrides))


def make_argv(extra: list[str]) -> list[str]:
    """The kernel's command line: ipykernel on this Python, with ``extra`` arguments."""
    from ipykernel.kernelspec import make_ipkernel_cmd

    return make_ipkernel_cmd(executable=sys.executable, extra_arguments=extra)


def kernel_dir(user: bool = False, prefix: str | os.PathLike[str] | None = None) -> Path:
    """Where :func:`install` puts the spec: Jupyter's folder for this user, under ``prefix``
    (``PREFIX/share/jupyter/kernels``), or the system's, as ``jupyter kernelspec`` does."""
    from jupyter_client.kernelspec import KernelSpecManager

    manager = KernelSpecManager()
    if user:
        return Path(manager.user_kernel_dir) / KERNEL_NAME
    if prefix is not None:
        return Path(os.path.abspath(prefix), "share", "jupyter", "kernels", KERNEL_NAME)
    from jupyter_core.paths import SYSTEM_JUPYTER_PATH

    return Path(SYSTEM_JUPYTER_PATH[0], "kernels", KERNEL_NAME)


def install(user: bool = False, prefix: str | os.PathLike[str] | None = None) -> Path:
    """Install the kernel spec (replacing an earlier one of the same name).

    Parameters
    ----------
    user : bool, default False
        For this user only (``~/.local/share/jupyter/kernels`` on Linux).
    prefix : path, optional
        Under ``PREFIX/share/jupyter/kernels`` (a virtual environment: ``sys.prefix``).
        Neither: the system-wide folder, which may need administrator rights.

    Returns
    -------
    Path
        The installed spec's folder.

    Raises
    ------
    PermissionError
        If that folder cannot be written.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        source = write_spec(Path(tmp) / KERNEL_NAME)
        where = KernelSpecManager().install_kernel_spec(
            str(source),
            KERNEL_NAME,
            user=user,
            prefix=os.fspath(prefix) if prefix is not None else None,
        )
    return Path(where)


def uninstall(user: bool = False, prefix: str | os.PathLike[str] | None = None) -> Path:
    """Remove the installed kernel spec.

    With ``user`` or ``prefix``, from that folder; with neither, the one Jupyter finds first
    (as ``jupyter kernelspec remove`` does).

    Returns
    -------
    Path
        The folder removed.

    Raises
    ------
    FileNotFoundError
        If there is no such spec there.
    """
    import shutil

    from jupyter_client.kernelspec import KernelSpecManager

    if user or prefix is not None:
        where = kernel_dir(user=user, prefix=prefix)
        if not (where / "kernel.json").is_file():
            raise FileNotFoundError(f"no kernel spec {KERNEL_NAME!r} in {where.parent}")
        shutil.rmtree(where)
        return where
    manager = KernelSpecManager()
    if KERNEL_NAME not in manager.find_kernel_specs():
        raise FileNotFoundError(f"no kernel spec {KERNEL_NAME!r} where Jupyter looks")
    return Path(manager.remove_kernel_spec(KERNEL_NAME))


def command(uninstalling: bool, user: bool, prefix: str | None, prog: str) -> int:
    """``dlzero book --install-kernel`` / ``--uninstall-kernel``: do it, say where, return the
    exit status (0 done; 1 the folder could not be written or there was nothing to remove; 2
    the ``notebooks`` extra is missing)."""
    import importlib.util

    for needed in ("jupyter_client", "ipykernel"):
        if importlib.util.find_spec(needed) is None:
            print(
                f"{prog}: error: the kernel needs {needed} (the notebooks extra): "
                "pip install 'dlzero[notebooks]'",
                file=sys.stderr,
            )
            return 2
    try:
        if uninstalling:
            where = uninstall(user=user, prefix=prefix)
            print(f"removed the kernel spec {KERNEL_NAME!r} ({DISPLAY_NAME}) from {where}")
        else:
            where = install(user=user, prefix=prefix)
            print(
                f"installed the kernel spec {KERNEL_NAME!r} in {where}: pick "
                f"{DISPLAY_NAME!r} in Jupyter's kernel menu to run the book's notebooks on dlzero"
            )
    except FileNotFoundError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except PermissionError as exc:
        hint = "" if user or prefix else " (use --user, or --prefix PREFIX)"
        print(f"{prog}: error: cannot write {exc.filename or exc}{hint}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0
