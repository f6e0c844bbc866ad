"""``dlzero exercises`` and the exercise notebooks of chapters 4-7.

The command copies jupytext pairs and never replaces a learner's file without ``--force``. The
notebooks are executed both ways, in quick mode, as the chapter notebooks are in
``tests/test_notebooks.py``: handed out, each runs to the end and every check says FAIL, "not
written yet"; solved, every check says PASS. The eight runs take about 10 s on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

import dlzero
from dlzero.cli.exercises import BEGIN, BLANK, END, hand_out

EXERCISES = Path(dlzero.__file__).resolve().parent / "exercises"
CHAPTERS = [4, 5, 6, 7]
KERNEL = "dlzero-tests"
# A check cell: one whose code calls a check at the start of a line.
CHECK = re.compile(r"^check_(layer|function|optimizer)\(", re.MULTILINE)


def names(kind: str, chapters=CHAPTERS) -> list[str]:
    return sorted(f"ch{n:02d}_{kind}.{ext}" for n in chapters for ext in ("ipynb", "py"))


# -- the command -----------------------------------------------------------------------------


def test_every_chapter_is_copied_as_a_pair(run_dlzero, tmp_path):
    status, out, err = run_dlzero(["exercises", "--dir", tmp_path / "work"])
    assert status == 0 and err == ""
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == names("exercises")
    assert "chapter 5, backpropagation" in out and "jupyter lab" in out
    py = (tmp_path / "work" / "ch05_exercises.py").read_text()
    assert BLANK in py and BEGIN not in py and END not in py
    nb = json.loads((tmp_path / "work" / "ch05_exercises.ipynb").read_text())
    assert nb["metadata"]["jupytext"]["formats"] == "ipynb,py:percent"
    cells = "".join("".join(c["source"]) for c in nb["cells"])
    assert cells.count(BLANK) == py.count(BLANK) > 10 and BEGIN not in cells


@pytest.mark.parametrize("kind", ["exercises", "solutions"])
def test_each_copy_is_a_jupytext_pair(run_dlzero, tmp_path, kind):
    jupytext = pytest.importorskip("jupytext")
    flags = ["--solutions"] if kind == "solutions" else []
    assert run_dlzero(["exercises", "--dir", tmp_path, *flags])[0] == 0
    for py in sorted(tmp_path.glob("*.py")):
        text, nb = jupytext.read(py), jupytext.read(py.with_suffix(".ipynb"))
        assert [(c.cell_type, c.source) for c in text.cells] == [
            (c.cell_type, c.source) for c in nb.cells
        ], py.name
        # jupytext takes the .py as the source of the pair when it is the newer file.
        assert py.stat().st_mtime >= py.with_suffix(".ipynb").stat().st_mtime


def test_one_chapter_and_the_solutions(run_dlzero, tmp_path):
    assert run_dlzero(["exercises", "ch05", "--dir", tmp_path])[0] == 0
    assert run_dlzero(["exercises", "5", "--solutions", "--dir", tmp_path])[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        names("exercises", [5]) + names("solutions", [5])
    )
    solved = (tmp_path / "ch05_solutions.py").read_text()
    assert f"    {BLANK}" not in solved and BEGIN not in solved and "self.db = np.sum" in solved


def test_without_dir_it_writes_to_the_current_folder(run_dlzero, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_dlzero(["exercises", "07"])[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == names("exercises", [7])


def test_a_learners_file_is_never_replaced_without_force(run_dlzero, tmp_path):
    mine = tmp_path / "ch06_exercises.py"
    mine.write_text("# my work\n")
    status, out, err = run_dlzero(["exercises", "--dir", tmp_path])
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and "ch06_exercises.py already in" in err and "--force" in err
    assert [p.name for p in tmp_path.iterdir()] == ["ch06_exercises.py"]  # nothing written
    assert mine.read_text() == "# my work\n"
    assert run_dlzero(["exercises", "6", "--dir", tmp_path, "--force"])[0] == 0
    assert BLANK in mine.read_text()


@pytest.mark.parametrize("chapter", ["3", "8", "ch09", "five", "4.5"])
def test_a_bad_chapter_is_a_one_line_error(run_dlzero, tmp_path, chapter):
    status, out, err = run_dlzero(["exercises", chapter, "--dir", tmp_path])
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "expected a chapter with exercises, 4, 5, 6, 7" in err
    assert list(tmp_path.iterdir()) == []


def test_a_dir_that_is_a_file_is_a_one_line_error(run_dlzero, tmp_path):
    (tmp_path / "f").write_text("")
    status, _, err = run_dlzero(["exercises", "--dir", tmp_path / "f"])
    assert status == 2 and err.count("\n") == 1 and "is a file, not a folder" in err


def test_hand_out_blanks_each_solution_at_its_indentation():
    source = f"def f(x):\n    y = 1\n    {BEGIN}\n    y += x\n    {END}\n    return y\n"
    assert hand_out(source, solutions=False) == f"def f(x):\n    y = 1\n    {BLANK}\n    return y\n"
    assert hand_out(source, solutions=True) == "def f(x):\n    y = 1\n    y += x\n    return y\n"


# -- the notebooks in the package ------------------------------------------------------------


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_package_holds_each_chapter_as_a_pair_without_outputs(chapter):
    jupytext = pytest.importorskip("jupytext")
    py = EXERCISES / f"ch{chapter:02d}.py"
    text, nb = jupytext.read(py), jupytext.read(py.with_suffix(".ipynb"))
    assert [(c.cell_type, c.source) for c in text.cells] == [
        (c.cell_type, c.source) for c in nb.cells
    ], f"{py.name} and its .ipynb differ: run jupytext --to ipynb --update {py}"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    source = py.read_text()
    assert source.count(BEGIN) == source.count(END) > 0
    assert "QUICK = os.environ.get(" in source


def test_the_notebooks_are_package_data():
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["dlzero"]
    found = {p.name for pattern in patterns for p in EXERCISES.parent.glob(pattern)}
    assert found == {f"ch{n:02d}.{ext}" for n in CHAPTERS for ext in ("py", "ipynb")}


# -- executed, both ways ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """``executed(chapter, kind)``: the copied notebook run in quick mode, and its check texts."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    kernelspec = pytest.importorskip("ipykernel.kernelspec")
    from nbclient import NotebookClient

    from dlzero import cli

    jupyter_dir = tmp_path_factory.mktemp("jupyter")
    kernelspec.write_kernel_spec(jupyter_dir / "kernels" / KERNEL)
    work = tmp_path_factory.mktemp("exercises")
    for flags in ([], ["--solutions"]):
        assert cli.main(["exercises", "--dir", str(work), *flags]) == 0
    dlzero_src = str(Path(dlzero.__file__).resolve().parents[1])

    def run(chapter: int, kind: str):
        nb = nbformat.read(work / f"ch{chapter:02d}_{kind}.ipynb", as_version=4)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("JUPYTER_PATH", str(jupyter_dir))
            mp.setenv("JUPYTER_RUNTIME_DIR", str(jupyter_dir / "runtime"))
            mp.setenv("IPYTHONDIR", str(jupyter_dir / "ipython"))
            mp.setenv("DLZERO_QUICK", "1")
            mp.setenv("PYTHONPATH", os.pathsep.join([dlzero_src, os.environ.get("PYTHONPATH", "")]))
            mp.setenv("OPENBLAS_NUM_THREADS", "1")
            mp.setenv("OMP_NUM_THREADS", "1")
            client = NotebookClient(
                nb, kernel_name=KERNEL, timeout=120, resources={"metadata": {"path": str(work)}}
            )
            client.execute()  # raises CellExecutionError on an error in any cell
        checks, printed = [], []
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            results = [o for o in cell.outputs if o.output_type == "execute_result"]
            if CHECK.search(cell.source):
                assert len(results) == 1, cell.source
                checks.append(results[0]["data"]["text/plain"])
            printed += [o.text for o in cell.outputs if o.output_type == "stream"]
        return checks, "".join(printed)

    return run


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_handed_out_every_check_says_not_written_yet(executed, chapter):
    checks, printed = executed(chapter, "exercises")
    assert len(checks) >= 3
    for text in checks:
        assert text.startswith("FAIL ") and "not written yet" in text.splitlines()[0], text
    if chapter == 5:
        assert "not written yet: complete the exercises above" in printed


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solved_every_check_passes(executed, chapter):
    checks, printed = executed(chapter, "solutions")
    assert len(checks) >= 3
    for text in checks:
        assert text.startswith("PASS "), text
        assert "warning" not in text
    if chapter == 5:  # the learner's network learns MNIST (quick mode: 300 steps)
        accuracy = re.findall(r"test accuracy (\S+)", printed)
        assert len(accuracy) == 2 and float(accuracy[-1]) > 0.7, printed


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
