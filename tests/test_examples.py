"""The examples (the notes' chapter-4 and chapter-5 scripts on dlzero) run, learn and plot."""

import re
import runpy
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_example(name, args, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [name, *map(str, args)])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


def final_accuracies(out):
    match = re.search(r"^final train acc (\d\.\d{4}), test acc (\d\.\d{4})$", out, re.MULTILINE)
    assert match, out
    return float(match.group(1)), float(match.group(2))


def test_ch04_formula_sigmoid_network_learns(tmp_path, monkeypatch, capsys):
    plot = tmp_path / "ch04.png"
    args = ["--iters", 200, "--train-size", 2000, "--plot", plot]
    out = run_example("ch04_train_neuralnet.py", args, monkeypatch, capsys)
    evaluations = re.findall(r"^train acc, test acc \| (\d\.\d{4}), (\d\.\d{4})$", out, re.M)
    assert len(evaluations) == 10  # i = 0, 20, ..., 180: 2,000 / 100 = 20 steps an epoch
    first_test = float(evaluations[0][1])
    _, test = final_accuracies(out)
    assert test > first_test + 0.1  # slow with the sigmoid, but learning
    assert plot.read_bytes()[:8] == PNG_MAGIC


def test_ch05_layered_relu_network_learns(tmp_path, monkeypatch, capsys):
    plot = tmp_path / "ch05.png"
    args = ["--iters", 200, "--train-size", 2000, "--plot", plot]
    out = run_example("ch05_train_neuralnet.py", args, monkeypatch, capsys)
    assert "Affine1" in out and "Relu1" in out and "Affine2" in out
    assert len(re.findall(r"^epoch +\d+/10 ", out, re.MULTILINE)) == 11
    train, test = final_accuracies(out)
    assert test > 0.75 and train > 0.75
    assert plot.read_bytes()[:8] == PNG_MAGIC
