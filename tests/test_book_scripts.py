"""A few of the book's own scripts through ``python -m dlzero.book``, unchanged.

They need the book's repository (oreilly-japan/deep-learning-from-scratch), a checkout or an
extracted tree, named by ``DLZERO_BOOK_REPO`` (default ``/tmp/book``), and skip when it is
absent. Each runs on a copy of its chapter folder, so nothing is written into the checkout.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dlzero

BOOK = Path(os.environ.get("DLZERO_BOOK_REPO") or "/tmp/book")
pytestmark = pytest.mark.skipif(
    not (BOOK / "ch03" / "sample_weight.pkl").is_file(),
    reason=f"the book's repository is not at {BOOK} (set DLZERO_BOOK_REPO to a checkout of "
    "oreilly-japan/deep-learning-from-scratch)",
)


def _run_book_script(tmp_path, script):
    chapter, name = script.split("/")
    shutil.copytree(BOOK / chapter, tmp_path / chapter)
    src = os.path.dirname(os.path.dirname(dlzero.__file__))
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "dlzero.book", name],
        cwd=tmp_path / chapter,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_chapter_3_inference_with_the_books_weights_gives_the_books_accuracy(tmp_path):
    out = _run_book_script(tmp_path, "ch03/neuralnet_mnist.py")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Accuracy:0.9352"]


def test_chapter_7_gradient_check_on_the_books_own_convnet(tmp_path):
    # The book's SimpleConvNet class (ch07/simple_convnet.py) built from dlzero's layers,
    # checked on one image with labels of shape (1, 1).
    out = _run_book_script(tmp_path, "ch07/gradient_check.py")
    assert out.returncode == 0, out.stderr
    diffs = dict(line.split() for line in out.stdout.splitlines())
    assert set(diffs) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    # The script's input is random (unseeded), and the numerical gradient of a parameter
    # before a ReLU or a max pooling jumps when its step of 1e-4 crosses a kink: those
    # differences reach 1e-4 now and then, with the book's own code too. The last layer's
    # parameters come after every kink: there the two gradients must agree to rounding.
    assert float(diffs["W3"]) < 1e-8 and float(diffs["b3"]) < 1e-8, diffs
    assert all(float(v) < 1e-2 for v in diffs.values()), diffs


def test_chapter_6_optimizers_on_plain_numbers_run_to_the_end(tmp_path):
    pytest.importorskip("matplotlib")
    out = _run_book_script(tmp_path, "ch06/optimizer_compare_naive.py")
    assert out.returncode == 0, out.stderr
    assert not re.search(r"Traceback|Error", out.stderr)
