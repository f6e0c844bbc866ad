"""The book's notebooks on dlzero: ``%load_ext dlzero.book``, the kernel, ``dlzero book NB.ipynb``.

The notebooks here are written for these tests in the book's style (``sys.path.append(os.pardir)``
then ``from common... import``); none is the book's. They live in a book-like tree whose own
``common/`` would announce itself if it were imported instead of dlzero's. Each test that starts
a kernel (about 2-3 s) checks as much as one run can show.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dlzero
from dlzero import _rng
from dlzero.book import cuts
from dlzero.book import ipython as extension
from dlzero.book.hook import BookFinder

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

SRC = str(Path(dlzero.__file__).resolve().parents[1])


def _finders() -> int:
    return sum(isinstance(f, BookFinder) for f in sys.meta_path)


# -- the extension, in this process -------------------------------------------------------------


def test_load_answers_the_books_imports_and_unload_puts_everything_back(book_folder, capsys):
    meta_path, was_global = list(sys.meta_path), _rng._use_numpy_global
    extension.load_ipython_extension(None)
    try:
        line = capsys.readouterr().out
        assert line.count("\n") == 1 and "common.{functions," in line and "dataset.mnist" in line
        assert isinstance(sys.meta_path[0], BookFinder) and extension.is_loaded()
        import common.layers

        assert common.layers.Affine is dlzero.Affine  # ahead of the folder on sys.path
        assert _rng._use_numpy_global is True  # as under dlzero book SCRIPT.py
        extension.load_ipython_extension(None)  # a second load changes nothing
        assert _finders() == 1 and capsys.readouterr().out == ""
    finally:
        extension.unload_ipython_extension(None)
    assert sys.meta_path == meta_path and _rng._use_numpy_global is was_global
    assert sys.modules["common.layers"] is book_folder  # the folder's module, put back
    assert not extension.is_loaded()
    extension.unload_ipython_extension(None)  # a second unload does nothing
    assert sys.meta_path == meta_path


def test_load_reload_and_unload_through_ipythons_own_magics(capsys):
    shell_module = pytest.importorskip("IPython.core.interactiveshell")
    shell = shell_module.InteractiveShell.instance()
    try:
        meta_path = list(sys.meta_path)
        shell.run_line_magic("load_ext", "dlzero.book")
        shell.run_cell(
            "import common.trainer as t, dlzero.book as b\nok = t.Trainer is b.BookTrainer"
        )
        assert shell.user_ns["ok"] is True
        shell.run_line_magic("reload_ext", "dlzero.book")
        assert _finders() == 1 and "dlzero.book" in shell.extension_manager.loaded
        shell.run_cell(
            "from dataset.mnist import load_mnist\nimport dlzero.datasets as d\n"
            "ok = load_mnist is d.load_mnist"
        )
        assert shell.user_ns["ok"] is True
        assert capsys.readouterr().out.count("now come from dlzero") == 2
        shell.run_line_magic("unload_ext", "dlzero.book")
        assert sys.meta_path == meta_path and "common" not in sys.modules
        result = shell.run_cell("import common.trainer")
        assert isinstance(result.error_in_exec, ModuleNotFoundError)
    finally:
        if extension.is_loaded():
            extension.unload_ipython_extension(None)
        shell_module.InteractiveShell.clear_instance()


def test_nothing_of_jupyter_is_imported_until_used():
    code = (
        "import sys, dlzero, dlzero.book, dlzero.book.ipython, dlzero.book.kernel, "
        "dlzero.book.notebook, dlzero.book.cuts\n"
        "from dlzero.cli import build_parser\nbuild_parser()\n"
        "jupyter = {'IPython', 'ipykernel', 'jupyter_client', 'jupyter_core', 'nbclient', "
        "'nbformat', 'zmq', 'traitlets'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in jupyter))\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- the DLZERO_QUICK cuts ----------------------------------------------------------------------


def test_a_cut_shortens_the_books_line_and_says_so():
    source = "iters_num = 10000  # a comment\nprint(iters_num)"
    cut, notes = cuts.apply(source)
    assert cut.splitlines()[0].startswith("iters_num = 2000  # a comment  # DLZERO_QUICK")
    assert notes == ["2,000 iterations (the book: 10,000)"]
    assert cuts.apply(cut) == (cut, [])  # a cut line is not cut again
    assert cuts.apply("print(1)") == ("print(1)", [])


def test_a_cut_needs_its_cell_and_keeps_the_books_weights():
    # max_epochs = 20 is cut only in the cell of the batch-norm experiment.
    assert cuts.apply("max_epochs = 20\n")[1] == []
    cell = "weight_scale_list = np.logspace(0, -4, num=16)\nmax_epochs = 20\n"
    cut, notes = cuts.apply(cell)
    assert "num=4)" in cut and "max_epochs = 10" in cut and len(notes) == 2
    save = (
        'network.save_params("../ch08/deep_convnet_params.pkl")\nprint("Saved Network Parameters!")'
    )
    cut, notes = cuts.apply(save)
    assert "save_params" not in cut and "Saved" not in cut and "not saved over" in notes[0]
    compile(cut, "<cell>", "exec")


# -- notebooks on a kernel ----------------------------------------------------------------------


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A notebook in the book's style")]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    # The book's notebooks name a kernel nobody has: dlzero book runs its own.
    nb.metadata["kernelspec"] = {"name": "conda-env-dezero-py", "display_name": "dezero"}
    # ...and are saved with outputs: a cell not reached must not keep them.
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", text="an old output\n")]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def book_tree(tmp_path, monkeypatch):
    """``tmp/book``: notebooks/, ch03/weights.pkl, and a common/ that must not be imported."""
    root = tmp_path / "book"
    (root / "notebooks").mkdir(parents=True)
    (root / "common").mkdir()
    (root / "common" / "__init__.py").write_text("")
    (root / "common" / "layers.py").write_text("FROM_THE_FOLDER = True\n")
    (root / "ch03").mkdir()
    (root / "ch03" / "weights.txt").write_text("the book's weights\n")
    jupyter = tmp_path / "jupyter"
    jupyter.mkdir()
    # Connection files and IPython's profile in the temporary folder: no home folder needed.
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(jupyter / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(jupyter / "ipython"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the runner drops it: figures come inline
    return root


def _outputs(nb) -> list[str]:
    """Each code cell's stdout and errors, as one string per cell."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            parts = [o.get("text", "") for o in cell.outputs if o.output_type == "stream"]
            parts += [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
            parts += ["<figure>" for o in cell.outputs if "image/png" in o.get("data", {})]
            found.append("".join(parts))
    return found


def test_dlzero_book_runs_a_notebook_in_the_books_style(book_tree, run_dlzero, monkeypatch):
    monkeypatch.setenv("DLZERO_QUICK", "1")
    path = _notebook(
        book_tree / "notebooks" / "nb.ipynb",
        # The book's first lines; its own common/ is on the path, and loses.
        "import sys, os\nsys.path.append(os.pardir)\nfrom common.layers import *\n"
        "from dataset.mnist import load_mnist\nimport dlzero, dlzero.datasets\n"
        "print(Affine is dlzero.Affine, load_mnist is dlzero.datasets.load_mnist)",
        # np.random.seed repeats a run, as in the book.
        "import numpy as np\nfrom common.multi_layer_net import MultiLayerNet\n"
        "np.random.seed(3); a = MultiLayerNet(4, [3], 2).params['W1']\n"
        "np.random.seed(3); b = MultiLayerNet(4, [3], 2).params['W1']\n"
        "print(np.array_equal(a, b))",
        # The notebook's folder is the working directory: ../ch03 is the chapter's.
        "print(open('../ch03/weights.txt').read().strip())",
        "iters_num = 10000\nprint('iterations', iters_num)",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()",
        "",
        "%unload_ext dlzero.book\nimport common.layers\nprint(common.layers.FROM_THE_FOLDER)",
        "%load_ext dlzero.book",
        "%reload_ext dlzero.book\nimport common.layers\nprint(common.layers.Relu is dlzero.Relu)",
    )
    out_path = book_tree / "executed.ipynb"
    status, out, err = run_dlzero(["book", path, "--out", out_path, "--timeout", "60"])
    assert status == 0, out + err
    assert "DLZERO_QUICK cut, cell 4: 2,000 iterations (the book: 10,000)" in out
    lines = [line.split() for line in out.splitlines() if line.startswith("  cell ")]
    assert [w[1] for w in lines] == [f"{n}/9" for n in range(1, 10)]
    assert all(w[3] == "s" and w[4] in ("ok", "empty") for w in lines)
    assert lines[5][4] == "empty"
    assert "nb.ipynb: all 9 code cells ran in" in out and f"wrote {out_path}" in out
    executed = nbformat.read(out_path, as_version=4)
    outputs = _outputs(executed)
    assert outputs[:5] == [
        "True True\n",
        "True\n",
        "the book's weights\n",
        "iterations 2000\n",
        "<figure>",
    ]
    assert outputs[6] == "True\n"  # unloaded: the book's own folder answers
    assert "now come from dlzero" in outputs[7] and outputs[7].count("\n") == 1
    reloaded = outputs[8].splitlines()  # %reload_ext: unloaded, loaded again, its line again
    assert "now come from dlzero" in reloaded[0] and reloaded[1:] == ["True"]
    assert "DLZERO_QUICK" in executed.cells[4].source  # the code that ran
    assert executed.metadata.kernelspec.display_name == "Python 3 (dlzero book)"
    assert [c.execution_count for c in executed.cells if c.cell_type == "code"][:3] == [1, 2, 3]


def test_a_failing_cell_stops_the_run_exits_1_and_is_named(book_tree, run_dlzero):
    path = _notebook(
        book_tree / "notebooks" / "fails.ipynb",
        "x = 1",
        "def f():\n    return 1 / 0\nf()",
        "print('never')",
    )
    out_path = book_tree / "executed.ipynb"
    status, out, err = run_dlzero(["book", path, "--out", out_path])
    assert status == 1
    assert "cell 2/3" in out and "error: ZeroDivisionError: division by zero" in out
    assert "fails.ipynb: code cell 2 of 3 (notebook cell 3, `def f():`) raised " in err
    assert "ZeroDivisionError: division by zero; the 1 after it did not run" in err
    executed = nbformat.read(out_path, as_version=4)  # written, the traceback in it
    assert _outputs(executed) == ["", "ZeroDivisionError: division by zero", ""]
    assert executed.cells[3].execution_count is None  # the book's old output is gone


def test_a_cell_past_its_timeout_fails(book_tree, run_dlzero):
    path = _notebook(book_tree / "notebooks" / "slow.ipynb", "import time\ntime.sleep(60)")
    status, out, err = run_dlzero(["book", path, "--timeout", "1"])
    assert status == 1
    assert "timed out after 1 s" in out and "code cell 1 of 1" in err


def test_bad_input_exits_2_before_any_kernel(tmp_path, run_dlzero):
    status, _, err = run_dlzero(["book", tmp_path / "missing.ipynb"])
    assert status == 2 and "missing.ipynb: no such file" in err
    (tmp_path / "broken.ipynb").write_text("{not json")
    status, _, err = run_dlzero(["book", tmp_path / "broken.ipynb"])
    assert status == 2 and "broken.ipynb: not a Jupyter notebook" in err
    path = _notebook(tmp_path / "nb.ipynb", "print(1)")
    status, _, err = run_dlzero(["book", path, "--timeout", "0"])
    assert status == 2 and "--timeout must be" in err
    status, _, err = run_dlzero(["book", path, "--out", tmp_path / "no" / "such" / "x.ipynb"])
    assert status == 2 and "does not exist" in err
    status, _, err = run_dlzero(["book", path, "extra"])
    assert status == 2 and "a notebook takes no arguments: extra" in err
    (tmp_path / "script.py").write_text("print('ran')\n")
    status, out, err = run_dlzero(["book", "--out", tmp_path / "x.ipynb", tmp_path / "script.py"])
    assert status == 2 and "--out and --timeout are for a notebook" in err and "ran" not in out
    status, _, err = run_dlzero(["book", "--user", tmp_path / "script.py"])
    assert status == 2 and "--user and --prefix go with --install-kernel" in err


def test_a_missing_extra_is_a_one_line_hint(tmp_path, run_dlzero, monkeypatch):
    path = _notebook(tmp_path / "nb.ipynb", "print(1)")
    monkeypatch.setitem(sys.modules, "nbclient", None)  # import nbclient now fails
    status, out, err = run_dlzero(["book", path])
    assert status == 2 and out == ""
    assert err.strip().count("\n") == 0
    assert "needs nbclient" in err and "pip install 'dlzero[notebooks]'" in err


def test_the_kernel_installs_runs_the_books_imports_and_uninstalls(
    book_tree, run_dlzero, monkeypatch
):
    from nbclient import NotebookClient

    prefix = book_tree.parent / "prefix"
    status, out, err = run_dlzero(["book", "--install-kernel", "--prefix", prefix])
    assert status == 0, err
    spec_dir = prefix / "share" / "jupyter" / "kernels" / "dlzero-book"
    assert f"in {spec_dir}" in out
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert spec["display_name"] == "Python 3 (dlzero book)"
    assert spec["argv"][0] == sys.executable
    assert "--IPKernelApp.extensions=dlzero.book" in spec["argv"]
    # Jupyter finds it there and runs a notebook on it, no %load_ext in sight.
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    path = _notebook(
        book_tree / "notebooks" / "k.ipynb",
        "import sys, os\nsys.path.append(os.pardir)\nimport common.layers, dlzero\n"
        "print(common.layers.Affine is dlzero.Affine, type(sys.meta_path[0]).__name__)",
    )
    nb = nbformat.read(path, as_version=4)
    where = {"metadata": {"path": str(path.parent)}}
    NotebookClient(nb, kernel_name="dlzero-book", timeout=60, resources=where).execute()
    assert _outputs(nb) == ["True BookFinder\n"]
    status, out, _ = run_dlzero(["book", "--uninstall-kernel", "--prefix", prefix])
    assert status == 0 and not spec_dir.exists() and "removed" in out
    status, _, err = run_dlzero(["book", "--uninstall-kernel", "--prefix", prefix])
    assert status == 1 and "no kernel spec 'dlzero-book'" in err


def test_installing_where_one_may_not_write_says_what_to_do(run_dlzero, monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager

    def refuse(self, source, name, user=False, replace=None, prefix=None):
        raise PermissionError(13, "Permission denied", "/usr/local/share/jupyter/kernels/x")

    monkeypatch.setattr(KernelSpecManager, "install_kernel_spec", refuse)
    status, out, err = run_dlzero(["book", "--install-kernel"])
    assert status == 1 and out == ""
    assert "cannot write /usr/local/share/jupyter/kernels/x (use --user, or --prefix" in err


# -- the book's own notebooks -------------------------------------------------------------------

BOOK = Path(os.environ.get("DLZERO_BOOK_REPO") or "/tmp/book")
needs_book = pytest.mark.skipif(
    not (BOOK / "notebooks" / "ch03.ipynb").is_file(),
    reason=f"the book's repository is not at {BOOK} (set DLZERO_BOOK_REPO to a checkout of "
    "oreilly-japan/deep-learning-from-scratch)",
)


@pytest.fixture
def book_without_common(tmp_path, book_tree, monkeypatch):
    """A copy of the book's tree without common/ and dataset/mnist.py: only dlzero can run it
    (book_tree's settings: temporary Jupyter folders, this dlzero on the kernel's path)."""
    root = tmp_path / "deep-learning-from-scratch"

    def leave_out(folder, names):
        here = Path(folder)
        return [n for n in names if (here == BOOK and n == "common") or n == "mnist.py"]

    shutil.copytree(BOOK, root, ignore=leave_out)
    monkeypatch.setenv("DLZERO_QUICK", "1")
    return root


def _book_run(root: Path, name: str, run_dlzero) -> tuple[list[str], list[str]]:
    """Run the book's ``notebooks/NAME.ipynb``; each code cell's outputs here, and as the book
    saved them."""
    out_path = root / f"{name}.executed.ipynb"
    status, out, err = run_dlzero(["book", root / "notebooks" / f"{name}.ipynb", "--out", out_path])
    assert status == 0, out + err
    saved = nbformat.read(BOOK / "notebooks" / f"{name}.ipynb", as_version=4)
    return _outputs(nbformat.read(out_path, as_version=4)), _outputs(saved)


@needs_book
def test_the_books_chapter_3_notebook_gives_the_books_accuracy(book_without_common, run_dlzero):
    ours, books = _book_run(book_without_common, "ch03", run_dlzero)
    assert ours[:4] == ["<figure>"] * 4
    assert ours[4].startswith("5\n(784,)\n(28, 28)\n")
    assert ours[5:] == ["Accuracy:0.9352\n"] * 2 == books[5:]  # the book's pretrained weights


@needs_book
@pytest.mark.slow
def test_the_books_chapter_5_and_8_notebooks(book_without_common, run_dlzero):
    ours, books = _book_run(book_without_common, "ch05", run_dlzero)
    assert ours[1:3] == books[1:3]  # the apples and oranges, to the last digit
    # The gradient check: backprop and numerical agree at least as closely as the book's.
    for line in ours[4].splitlines():
        assert float(line.split(":")[1]) < 1e-6
    ours, books = _book_run(book_without_common, "ch08", run_dlzero)
    assert "Not saved" in ours[2]  # the cut run kept the book's weights
    assert "test accuracy:0.976\n" in ours[3]  # 1,000 images, as the book's own code gives

    def pairs(text):
        return re.findall(r"(\d+)\)?, (?:np\.int64\()?(\d+)\)?\)", text.split("inference")[-1])

    # The images misclassified: the same as in the book's saved run (its first 20 are in the
    # first 1,000 test images).
    assert pairs(ours[3]) == pairs(books[3]) and len(pairs(ours[3])) == 20
    assert ours[4].split() == [
        "caluculate", "accuracy", "(float64)", "...", "0.976",
        "caluculate", "accuracy", "(float16)", "...", "0.976",
    ]  # fmt: skip


def test_the_benchmark_runs_both_sides_and_prints_the_table(book_tree, tmp_path):
    # Two one-cell trees: the book's (its own common/ answers) and one that only dlzero runs.
    own, ours = tmp_path / "own", tmp_path / "ours"
    cell = (
        "import sys, os\nsys.path.append(os.pardir)\nimport common.layers\n"
        "print(getattr(common.layers, 'FROM_THE_FOLDER', 'dlzero'))"
    )
    for root in (own, ours):
        (root / "notebooks").mkdir(parents=True)
        _notebook(root / "notebooks" / "ch01.ipynb", cell)
    shutil.copytree(book_tree / "common", own / "common")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "book_notebooks.py"
    table = tmp_path / "table.md"
    out = subprocess.run(
        [sys.executable, script, "--book", own, "--dlzero", ours, "--only", "ch01",
         "--out-dir", tmp_path / "executed", "--markdown", table],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    row = table.read_text().splitlines()[2].split(" | ")
    assert row[:5] == ["| ch01.ipynb", "1", "1", "0", row[4]] and row[5:7] == ["1", "0"]
    sides = {
        p.name: _outputs(nbformat.read(p, as_version=4)) for p in (tmp_path / "executed").iterdir()
    }
    assert sides == {"ch01.book.ipynb": ["True\n"], "ch01.dlzero.ipynb": ["dlzero\n"]}


def test_a_kernel_that_does_not_load_the_extension_or_start_is_reported(
    book_tree, run_dlzero, monkeypatch
):
    from dlzero.book import kernel

    path = _notebook(book_tree / "notebooks" / "nb.ipynb", "print(1)")
    # ipykernel logs a failed extension and goes on: the runner must not run the book's cells
    # on a plain kernel.
    monkeypatch.setattr(kernel, "EXTENSION_ARGUMENT", "--IPKernelApp.extensions=dlzero.nothing")
    status, out, err = run_dlzero(["book", path])
    assert status == 1 and "cell 1/1" not in out
    assert "the kernel did not load dlzero.book: is dlzero importable by" in err
    monkeypatch.setattr(kernel, "make_argv", lambda extra: [sys.executable, "-c", "exit(3)"])
    status, out, err = run_dlzero(["book", path])
    assert status == 1 and "the kernel did not start" in err


def test_a_kernel_that_dies_after_starting_is_one_line_and_exit_1(
    book_tree, run_dlzero, monkeypatch
):
    from nbclient.exceptions import DeadKernelError

    from dlzero.book import notebook

    path = _notebook(book_tree / "notebooks" / "nb.ipynb", "print(1)")

    def dies(client):
        raise DeadKernelError("Kernel died")

    monkeypatch.setattr(notebook, "_check_extension", dies)
    status, out, err = run_dlzero(["book", path])
    assert status == 1 and "the kernel failed: Kernel died" in err and "Traceback" not in err
    assert "cell 1/1" not in out
