"""The chapter notebooks: each runs without error in quick mode, shows a figure, and prints the
numbers its prose claims; the committed files carry no outputs, and each ``chNN.ipynb`` has the
same cells as its jupytext pair ``chNN.py`` (percent format, what ruff and editors read).

Each notebook is executed once per test session, by nbclient on an ipykernel kernel that runs
this interpreter with the same ``dlzero`` the tests import, with ``DLZERO_QUICK=1`` (little
data, few steps). The whole set takes about 90 s on 2 cores.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import dlzero

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NAMES = ["ch03", "ch04", "ch05", "ch05_notes", "ch06", "ch07", "ch08"]
KERNEL = "dlzero-tests"


def read(name: str):
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def test_every_chapter_has_a_notebook_and_its_pair():
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NAMES)
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.py")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_have_no_outputs(name):
    nb = read(name)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}.ipynb is saved with outputs: clear them (in Jupyter, Edit > Clear "
                "Outputs of All Cells, then save; or jupyter nbconvert --clear-output --inplace "
                f"notebooks/{name}.ipynb) and commit it again"
            )
    assert "QUICK" in nb.cells[1].source  # the parameter cell comes first


def test_the_notebooks_folder_pairs_ipynb_with_percent_scripts():
    """notebooks/jupytext.toml pairs every notebook there, and nothing outside notebooks/."""
    config = pytest.importorskip("jupytext.config")
    found = config.find_jupytext_configuration_file(NOTEBOOK_DIR)
    assert found and Path(found).resolve() == NOTEBOOK_DIR / "jupytext.toml"
    for name in NAMES:
        path = str(NOTEBOOK_DIR / f"{name}.ipynb")
        assert config.load_jupytext_config(path).default_formats(path) == "ipynb,py:percent"
    for elsewhere in (ROOT, ROOT / "src" / "dlzero", ROOT / "examples"):
        found = config.find_jupytext_configuration_file(elsewhere)  # or one in the home folder
        assert found is None or not Path(found).resolve().is_relative_to(ROOT), found


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_match_their_pair(name):
    jupytext = pytest.importorskip("jupytext")
    script = jupytext.read(NOTEBOOK_DIR / f"{name}.py")
    assert [(c.cell_type, c.source) for c in script.cells] == [
        (c.cell_type, c.source) for c in read(name).cells
    ], (
        f"notebooks/{name}.ipynb and notebooks/{name}.py differ: run "
        f"jupytext --sync notebooks/{name}.ipynb (it updates the older of the two from the newer)"
    )


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """``executed(name)``: the notebook run in quick mode (once per session), and its text."""
    pytest.importorskip("nbclient")
    kernelspec = pytest.importorskip("ipykernel.kernelspec")
    from nbclient import NotebookClient

    jupyter_dir = tmp_path_factory.mktemp("jupyter")
    # A kernel spec of our own, running this interpreter: a "python3" kernel registered
    # elsewhere on the machine could run another Python, without dlzero.
    kernelspec.write_kernel_spec(jupyter_dir / "kernels" / KERNEL)
    work_dir = tmp_path_factory.mktemp("notebooks")  # where the notebooks may write files
    dlzero_src = str(Path(dlzero.__file__).resolve().parents[1])
    cache = {}

    def run(name: str):
        if name not in cache:
            nb = read(name)
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("JUPYTER_PATH", str(jupyter_dir))
                # Connection files and IPython's profile in the temporary directory too, so
                # that the tests need no writable home directory.
                mp.setenv("JUPYTER_RUNTIME_DIR", str(jupyter_dir / "runtime"))
                mp.setenv("IPYTHONDIR", str(jupyter_dir / "ipython"))
                mp.setenv("DLZERO_QUICK", "1")
                # The kernel imports the dlzero these tests import.
                mp.setenv(
                    "PYTHONPATH", os.pathsep.join([dlzero_src, os.environ.get("PYTHONPATH", "")])
                )
                # One BLAS thread: on 2 busy cores, OpenBLAS's spinning threads make the small
                # products of quick mode several times slower.
                mp.setenv("OPENBLAS_NUM_THREADS", "1")
                mp.setenv("OMP_NUM_THREADS", "1")
                client = NotebookClient(
                    nb,
                    kernel_name=KERNEL,
                    timeout=300,
                    resources={"metadata": {"path": str(work_dir)}},
                )
                client.execute()  # raises CellExecutionError, with the traceback, on an error
            text = "\n".join(
                o.get("text", "")
                for cell in nb.cells
                if cell.cell_type == "code"
                for o in cell.outputs
                if o.output_type == "stream" and o.name == "stdout"
            )
            cache[name] = (nb, text)
        return cache[name]

    return run


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"no match for {pattern!r} in:\n{text}"
    return float(found.group(1).replace(",", ""))


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_shows_a_figure(executed, name):
    nb, _ = executed(name)
    kinds = [
        mime
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        for mime in o.get("data", {})
    ]
    assert "image/png" in kinds, f"{name}: no figure displayed"
    assert not any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", []))


def test_ch03_batches_give_the_same_answers_faster(executed):
    _, text = executed("ch03")
    assert "output: [0.31682708 0.69627909]" in text
    single = number(r"one image at a time:\s+accuracy (\S+)", text)
    assert single == number(r"batches of 100:\s+accuracy (\S+)", text)
    assert single == number(r"net\.accuracy: (\S+)", text)
    assert single > 0.5  # it has learned
    assert number(r"batching is (\S+) times faster", text) >= 2


def test_ch04_derivatives_and_gradient_descent(executed):
    _, text = executed("ch04")
    assert number(r"exact 0\.2, error (\S+)\)", text) < 1e-9
    assert "[3.0, 4.0] -> [6. 8.]" in text
    end = re.search(r"lr 0\.1: after 100 steps x = \[(.*)\]", text).group(1).split()
    assert all(abs(float(v)) < 1e-8 for v in end)
    far = re.search(r"lr 10: after 100 steps x = \[(.*)\]", text).group(1).split()
    assert max(abs(float(v)) for v in far) > 1e6
    last_test = re.findall(r"epoch\s+\d+: train \S+\s+test (\S+)", text)[-1]
    assert float(last_test) > 0.3  # it learns


def test_ch05_graph_and_gradient_check(executed):
    _, text = executed("ch05")
    assert "price 220\n" in text and "dapple 2.2, dapple_num 110, dtax 200" in text
    assert "price 715\n" in text
    assert "dapple 2.2, dapple_num 110, dorange 3.3, dorange_num 165, dtax 650" in text
    assert number(r"largest relative error (\S+)", text) < 1e-7
    # the learner's own layer, checked: the fault named, dlzero's own Affine passing
    assert "FAIL MyAffine: db is wrong" in text and "hint: db is the sum of dout" in text
    assert "PASS Affine: dx, dW and db match" in text
    # One test image traced through the trained network, node by node.
    assert re.search(r"^prediction 7 \(.*\), label 7 \(.*\), loss \S+$", text, re.M)
    nodes = re.findall(r"^(Affine1|Relu1|Affine2|SoftmaxWithLoss) +(\S+) ", text, re.M)
    assert nodes == [
        ("Affine1", "1x50"),
        ("Relu1", "1x50"),
        ("Affine2", "1x10"),
        ("SoftmaxWithLoss", "()"),
    ]


def test_ch05_notes_findings(executed):
    _, text = executed("ch05_notes")
    assert number(r"between the two gradients: (\S+)", text) < 1e-12
    assert number(r"largest relative error (\S+)", text) < 1e-7
    assert number(r"backprop is (\S+) times faster", text) > 100
    assert number(r"ReLU ahead by (\S+) points", text) > 0


def test_ch06_optimizers_batch_norm_and_overfitting(executed):
    _, text = executed("ch06")
    for name in ("SGD", "Momentum", "AdaGrad", "Adam"):
        assert number(rf"{name}: ends at .*f = (\S+)", text) < 0.2  # 6.45 at the start
    assert number(r"with batch norm: train accuracy (\S+)", text) > number(
        r"without: train accuracy (\S+)", text
    )
    plain = number(r"plain: .*gap (\S+) points", text)
    assert plain > 0
    assert number(r"weight decay 0\.1: .*gap (\S+) points", text) < plain
    assert number(r"dropout 0\.2: .*gap (\S+) points", text) < plain
    assert number(r"best of \d+: validation (\S+)", text) > 0


def test_ch07_im2col_and_the_convnet(executed):
    _, text = executed("ch07")
    assert "one image: (9, 75)" in text and "ten images: (90, 75)" in text
    assert number(r"test accuracy (\S+)", text) > 0.5


def test_ch08_half_precision_keeps_the_accuracy(executed):
    _, text = executed("ch08")
    assert number(r"test accuracy (\S+) \(the book: 0\.9935\)", text) > 0.1
    accuracy32 = number(r"with float32 weights (\S+),", text)
    assert abs(accuracy32 - number(r"with float16 weights (\S+);", text)) <= 0.001
    changed, total = re.search(r"(\d+) of ([\d,]+) answers changed", text).groups()
    assert int(changed) <= 0.001 * int(total.replace(",", ""))
    assert "same answers as float32: True" in text
