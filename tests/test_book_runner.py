"""``dlzero book``: the import hook and the runner that run the book's scripts on dlzero.

The scripts here are written for these tests, in the book's style (``sys.path.append(os.pardir)``
then ``common.*`` imports); none is the book's.
"""

import importlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dlzero
from dlzero.book import runner as book
from dlzero.book.hook import BOOK_MODULES, BookFinder, book_imports
from dlzero.cli import main as dlzero_main


def _attr(module, name):
    return getattr(importlib.import_module(module), name)


# Each book module, one name it must have, and the dlzero object that name must be.
EXPECTED = {
    "common.functions": ("softmax", "dlzero.functions", "softmax"),
    "common.gradient": ("numerical_gradient", "dlzero.gradient", "numerical_gradient"),
    "common.layers": ("SoftmaxWithLoss", "dlzero.layers", "SoftmaxWithLoss"),
    "common.optimizer": ("Adam", "dlzero.optimizers", "Adam"),
    "common.multi_layer_net": ("MultiLayerNet", "dlzero.networks", "MultiLayerNet"),
    "common.multi_layer_net_extend": (
        "MultiLayerNetExtend",
        "dlzero.book.networks",
        "MultiLayerNetExtend",
    ),
    "common.trainer": ("Trainer", "dlzero.book", "BookTrainer"),
    "common.util": ("smooth_curve", "dlzero.plotting", "smooth_curve"),
    "dataset.mnist": ("load_mnist", "dlzero.datasets", "load_mnist"),
}


def test_every_book_module_has_an_expectation():
    assert set(EXPECTED) | {"common", "dataset"} == set(BOOK_MODULES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_book_module_resolves_to_dlzero(name):
    book_name, module, ours = EXPECTED[name]
    with book_imports():
        module_obj = importlib.import_module(name)
        assert getattr(module_obj, book_name) is _attr(module, ours)
        # The book's modules hand on numpy to a star import; scripts use it.
        namespace: dict = {}
        exec(f"from {name} import *", namespace)
        assert namespace[book_name] is _attr(module, ours)
        assert namespace["np"] is np
        assert importlib.import_module(name.split(".")[0]).__path__ == []


def test_common_layers_also_gives_what_the_books_layers_imports():
    namespace: dict = {}
    with book_imports():
        exec("from common.layers import *", namespace)
    assert namespace["Affine"] is dlzero.Affine
    # The book's classes load the book's weights themselves: they get the book's dropout.
    assert namespace["Dropout"] is dlzero.book.BookDropout
    assert namespace["sigmoid"] is dlzero.sigmoid
    assert namespace["im2col"] is dlzero.im2col


def test_common_util_keeps_the_books_float_output_size():
    with book_imports():
        import common.util as util

        assert util.conv_output_size(7, 2, stride=2) == 3.5
        assert util.conv_output_size(28, 5, stride=1, pad=0) == 24.0
        assert util.shuffle_dataset is dlzero.training.shuffle_dataset
        assert util.col2im is dlzero.col2im


def test_a_name_the_book_does_not_have_is_refused_clearly():
    with book_imports(), pytest.raises(ModuleNotFoundError, match=r"common.nothing.*answers"):
        importlib.import_module("common.nothing")


def test_the_hook_wins_over_the_books_own_folder_and_leaves_no_trace(book_folder):
    folder_layers = book_folder  # the folder's common.layers, imported before the hook
    assert folder_layers.FROM_THE_FOLDER
    meta_path = list(sys.meta_path)
    with book_imports():
        import common.layers as hooked

        assert hooked.Affine is dlzero.Affine and not hasattr(hooked, "FROM_THE_FOLDER")
        assert isinstance(sys.meta_path[0], BookFinder)
    assert sys.meta_path == meta_path
    assert sys.modules["common.layers"] is folder_layers  # put back as it was


def _write_book_tree(root, script_body):
    """``root/chXX/script.py`` (with ``script_body``) beside ``root/chXX/neighbour.py``, which
    imports common.trainer as the book's ch07/simple_convnet.py imports common.layers; and a
    ``root/common`` folder that would announce itself if the hook lost to it."""
    (root / "common").mkdir()
    (root / "common" / "__init__.py").write_text("")
    (root / "common" / "trainer.py").write_text("raise ImportError('the folder won')\n")
    chapter = root / "chXX"
    chapter.mkdir()
    (chapter / "neighbour.py").write_text(
        "import sys, os\nsys.path.append(os.pardir)\nfrom common.trainer import Trainer\n"
    )
    script = chapter / "script.py"
    script.write_text(textwrap.dedent(script_body))
    return script


def test_a_script_runs_through_python_m_dlzero_book(tmp_path):
    script = _write_book_tree(
        tmp_path,
        """
        import sys, os
        sys.path.append(os.pardir)
        import common.trainer
        from neighbour import Trainer
        import dlzero.training
        print("resolved", common.trainer.Trainer is dlzero.book.BookTrainer is Trainer)
        print("name", __name__)
        print("argv", sys.argv[1:])
        """,
    )
    # The dlzero being tested, wherever the child starts.
    src = os.path.dirname(os.path.dirname(dlzero.__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-m", "dlzero.book", str(script), "--epochs", "3"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "resolved True",
        "name __main__",
        "argv ['--epochs', '3']",
    ]


def test_run_script_puts_everything_back(tmp_path):
    script = _write_book_tree(
        tmp_path,
        """
        import sys, os
        sys.path.append(os.pardir)
        from neighbour import Trainer
        seen_argv = list(sys.argv)
        """,
    )
    argv, path, meta_path = list(sys.argv), list(sys.path), list(sys.meta_path)
    result = book.run_script(script, ["a"])
    assert result["Trainer"] is dlzero.book.BookTrainer
    assert result["seen_argv"] == [str(script), "a"]
    assert (sys.argv, sys.path, sys.meta_path) == (argv, path, meta_path)
    assert not any(n == "common" or n.startswith("common.") for n in sys.modules)
    assert "neighbour" not in sys.modules


def test_run_script_forgets_the_scripts_subpackages_too(tmp_path):
    """Issue 25: ``chXX/mypkg/util.py`` and a namespace package stayed in sys.modules, so a
    later run (of an edited copy, or another chapter's namesake) got the stale modules."""
    folder = tmp_path / "chXX"
    (folder / "mypkg").mkdir(parents=True)
    (folder / "mypkg" / "__init__.py").write_text("")
    (folder / "mypkg" / "util.py").write_text("VALUE = 1\n")
    (folder / "nspkg").mkdir()
    (folder / "nspkg" / "mod.py").write_text("VALUE = 2\n")
    script = folder / "script.py"
    script.write_text("import mypkg.util, nspkg.mod\nvalues = mypkg.util.VALUE, nspkg.mod.VALUE\n")
    assert book.run_script(script)["values"] == (1, 2)
    left = [n for n in sys.modules if n.split(".")[0] in ("mypkg", "nspkg")]
    assert left == []
    (folder / "mypkg" / "util.py").write_text("VALUE = 10\n")
    importlib.invalidate_caches()
    assert book.run_script(script)["values"] == (10, 2)  # read afresh
    assert "numpy" in sys.modules  # library modules imported on the way stay


def _run_main(tmp_path, body, capsys, *args):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    status = book.main([str(script), *args])
    return status, capsys.readouterr()


def test_a_script_that_raises_shows_its_own_traceback_and_exits_1(tmp_path, capsys):
    status, out = _run_main(tmp_path, "def f():\n    return 1 / 0\nf()\n", capsys)
    assert status == 1
    assert out.err.startswith("Traceback (most recent call last):")
    assert f'File "{tmp_path / "script.py"}", line 3, in <module>' in out.err
    assert "ZeroDivisionError" in out.err
    assert "runpy" not in out.err and "dlzero" not in out.err


def test_ctrl_c_in_a_script_exits_130(tmp_path, capsys):
    status, out = _run_main(tmp_path, "raise KeyboardInterrupt\n", capsys)
    assert status == 130
    assert "interrupted" in out.err and "Traceback" not in out.err


def test_a_scripts_own_exit_status_passes_through(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        _run_main(tmp_path, "import sys\nsys.exit(3)\n", capsys)
    assert info.value.code == 3
    assert not any(isinstance(f, BookFinder) for f in sys.meta_path)


def test_a_missing_script_is_a_usage_error(tmp_path, capsys):
    assert book.main([str(tmp_path / "nope.py")]) == 2
    assert "nope.py: no such file" in capsys.readouterr().err
    assert book.main([str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_the_dlzero_command_passes_the_scripts_arguments_on(tmp_path, capsys):
    script = tmp_path / "script.py"
    script.write_text("import sys\nprint(sys.argv[1:])\n")
    assert dlzero_main(["book", str(script), "--help", "-x"]) == 0
    assert capsys.readouterr().out.strip() == "['--help', '-x']"
    with pytest.raises(SystemExit):
        dlzero_main(["book", "--help"])
    assert "SCRIPT.py" in capsys.readouterr().out


def test_the_scripts_folder_comes_first_and_the_script_sees_its_own_file(tmp_path):
    (tmp_path / "sys_path_probe.py").write_text("VALUE = 'from the folder'\n")
    script = tmp_path / "script.py"
    script.write_text("import os, sys_path_probe\nfile = __file__\nv = sys_path_probe.VALUE\n")
    result = book.run_script(os.path.relpath(script))
    assert result["v"] == "from the folder"
    assert result["file"] == str(script)


def test_numpy_global_seed_makes_a_book_run_repeatable_and_the_mode_is_undone(tmp_path):
    from dlzero import _rng

    script = tmp_path / "script.py"
    script.write_text(
        "import numpy as np\nfrom dlzero.networks import MultiLayerNet\n"
        "np.random.seed(4)\nW = MultiLayerNet(5, [4], 3).params['W1']\n"
    )
    first, second = (book.run_script(script)["W"] for _ in range(2))
    assert np.array_equal(first, second)
    assert _rng._use_numpy_global is False
    np.random.seed(4)  # noqa: NPY002 (outside book mode the global seed is not used)
    assert not np.array_equal(dlzero.MultiLayerNet(5, [4], 3).params["W1"], first)


def test_no_script_is_a_usage_error_that_names_only_the_script(capsys):
    with pytest.raises(SystemExit) as info:
        book.main([])
    assert info.value.code == 2
    assert capsys.readouterr().err.rstrip().endswith("required: SCRIPT.py")


def test_the_books_multi_layer_net_extend_trains_with_the_books_dropout(tmp_path):
    from dlzero.book.networks import MultiLayerNetExtend

    kwargs = {"use_dropout": True, "dropout_ration": 0.2, "rng": 0}
    net = MultiLayerNetExtend(6, [5, 5], 3, **kwargs)
    kinds = [type(layer).__name__ for layer in net.layers.values()]
    assert kinds.count("BookDropout") == 2 and "Dropout" not in kinds
    assert isinstance(net, dlzero.networks.MultiLayerNet)
    x = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    # In training the kept units are not scaled up (inverted dropout would give 1.25x).
    hidden = net.layers["Activation_function1"].forward(net.layers["Affine1"].forward(x))
    kept = net.layers["Dropout1"].forward(hidden, train_flg=True)
    assert np.all((kept == hidden) | (kept == 0))
    # Its parameters round-trip; a model file, which would load with inverted dropout, is refused.
    net.save_params(tmp_path / "p.npz")
    again = MultiLayerNetExtend(6, [5, 5], 3, **{**kwargs, "rng": 2})
    again.load_params(tmp_path / "p.npz")
    assert np.array_equal(again.predict(x, train_flg=False), net.predict(x, train_flg=False))
    with pytest.raises(ValueError, match="cannot save a MultiLayerNetExtend"):
        dlzero.save(net, tmp_path / "model.npz")
