"""Tests of ``dlzero export``: a saved model in, an ONNX file out, errors in one line.

The command is run through ``dlzero.cli.main``, as the ``dlzero`` script runs it; the models are
built and saved here (``dlzero train --save`` would take seconds).
"""

import re
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import dlzero  # noqa: E402
from dlzero.cli import build_parser, main  # noqa: E402
from dlzero.convnets import SimpleConvNet  # noqa: E402
from dlzero.datasets import load_mnist  # noqa: E402
from dlzero.files.serialization import load  # noqa: E402
from dlzero.functions import softmax  # noqa: E402
from dlzero.networks import TwoLayerNet  # noqa: E402


@pytest.fixture(scope="module")
def test_images():
    _, (x_test, _) = load_mnist(normalize=True, flatten=True)
    return x_test[:1000]


def one_error_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("dlzero export: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("network", "layout"),
    [
        (TwoLayerNet(784, 50, 10, weight_init_std=0.1, rng=0), "(N, 784)"),
        (
            SimpleConvNet(conv_param={"filter_num": 6}, hidden_size=20, weight_init_std=0.1, rng=0),
            "(N, 1, 28, 28)",
        ),
    ],
)
def test_export_round_trip(network, layout, tmp_path, capsys, test_images):
    saved, exported = tmp_path / "model.npz", tmp_path / "model.onnx"
    dlzero.save(network, saved)
    assert main(["export", str(saved), str(exported)]) == 0
    assert capsys.readouterr().out == (
        f"wrote {exported} (input 'images' {layout}, output 'probabilities' (N, 10))\n"
    )
    onnx.checker.check_model(str(exported), full_check=True)

    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape[1:]
    (got,) = session.run(None, {"images": test_images.reshape(-1, *shape)})
    expected = softmax(load(saved).predict(test_images.reshape(-1, *shape)))
    assert np.max(np.abs(got - expected)) < 1e-5


def test_quiet_prints_nothing(tmp_path, capsys):
    dlzero.save(TwoLayerNet(4, 3, 2, rng=0), tmp_path / "model.npz")
    argv = ["export", "--quiet", str(tmp_path / "model.npz"), str(tmp_path / "model.onnx")]
    assert main(argv) == 0
    assert capsys.readouterr() == ("", "")
    assert (tmp_path / "model.onnx").stat().st_size > 0


def test_export_is_listed_in_the_help():
    assert re.search(r"^\s+export\s+write a saved model", build_parser().format_help(), re.M)


def test_a_missing_model_is_a_usage_error(tmp_path, capsys):
    status = main(["export", str(tmp_path / "nope.npz"), str(tmp_path / "model.onnx")])
    assert status == 2
    assert "cannot read model" in one_error_line(capsys)
    assert not (tmp_path / "model.onnx").exists()


def test_a_file_that_is_not_a_model_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "notes.npz").write_text("not a model")
    assert main(["export", str(tmp_path / "notes.npz"), str(tmp_path / "model.onnx")]) == 2
    assert "not a dlzero model" in one_error_line(capsys)


@pytest.mark.parametrize("output", ["missing-folder/model.onnx", "."])
def test_an_output_that_cannot_be_written_is_refused_first(output, tmp_path, capsys):
    dlzero.save(TwoLayerNet(4, 3, 2, rng=0), tmp_path / "model.npz")
    with pytest.raises(SystemExit) as exc:
        main(["export", str(tmp_path / "model.npz"), str(tmp_path / output)])
    assert exc.value.code == 2
    assert "argument OUTPUT" in one_error_line(capsys)


def test_a_failed_write_is_exit_status_1_and_keeps_the_old_file(tmp_path, capsys, monkeypatch):
    import dlzero._io

    dlzero.save(TwoLayerNet(4, 3, 2, rng=0), tmp_path / "model.npz")
    (tmp_path / "model.onnx").write_bytes(b"previous")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dlzero._io.os, "fsync", full_disk)
    assert main(["export", str(tmp_path / "model.npz"), str(tmp_path / "model.onnx")]) == 1
    assert "No space left on device" in one_error_line(capsys)
    assert (tmp_path / "model.onnx").read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "model.onnx"]


def test_without_onnx_the_error_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    dlzero.save(TwoLayerNet(4, 3, 2, rng=0), tmp_path / "model.npz")
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now fails
    assert main(["export", str(tmp_path / "model.npz"), str(tmp_path / "model.onnx")]) == 2
    line = one_error_line(capsys)
    assert line == (
        "dlzero export: error: ONNX export needs the onnx package: pip install 'dlzero[onnx]'"
    )
    assert not (tmp_path / "model.onnx").exists()


def test_every_export_option_has_help():
    # (tests/test_cli.py checks the other commands the same way)
    parser = build_parser()
    export = parser._subparsers._group_actions[0].choices["export"]
    for action in export._actions:
        assert action.help, f"dlzero export {action.dest} has no help"
