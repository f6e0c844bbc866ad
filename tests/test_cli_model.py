"""Tests of the ``dlzero predict`` and ``dlzero evaluate`` commands and ``train --save``.

The commands are run through a parser built here with ``add_parsers``, as ``dlzero``'s own
parser adds them, and their handlers' exit status is checked.
"""

import argparse

import numpy as np
import pytest
from PIL import Image, ImageDraw

import dlzero
from dlzero.cli.model import add_parsers, add_save_option, check_save_path, save_trained
from dlzero.datasets import load_mnist
from dlzero.files.serialization import load
from dlzero.networks import TwoLayerNet
from dlzero.optimizers import get_optimizer


def run(*argv):
    parser = argparse.ArgumentParser(prog="dlzero")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args, args.parser)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A TwoLayerNet trained for a fraction of a second on MNIST (94.7%), saved."""
    (x, t), _ = load_mnist()
    net = TwoLayerNet(784, 50, 10, rng=0)
    opt = get_optimizer("sgd", lr=0.5)
    rng = np.random.default_rng(0)
    for _ in range(600):
        batch = rng.integers(0, len(x), 50)
        _, grads = net.loss_and_gradient(x[batch], t[batch])
        opt.update(net.params, grads)
    path = tmp_path_factory.mktemp("model") / "model.npz"
    dlzero.save(net, path, metadata={"dataset": "mnist"})
    return path, net


def draw_seven(path, size=(600, 450)):
    """A dark 7 on light paper, off centre in a large picture."""
    im = Image.new("RGB", size, (240, 240, 230))
    ImageDraw.Draw(im).line(
        [(150, 100), (380, 100), (240, 420)], fill=(20, 20, 60), width=34, joint="curve"
    )
    im.save(path)
    return path


def test_predict_a_drawn_seven(model, tmp_path, capsys):
    path, _ = model
    seven = draw_seven(tmp_path / "my7.jpg")
    assert run("predict", path, seven) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    name, digit, *top = out[0].split()
    assert name.endswith("my7.jpg")
    assert digit == "7"
    assert top[0] == "(7"  # listed first with its probability, then two more classes
    assert out[0].count("%") == 3


def test_predict_show_writes_a_picture(model, tmp_path, capsys, monkeypatch):
    path, _ = model
    monkeypatch.chdir(tmp_path)
    seven = draw_seven(tmp_path / "seven.png")
    assert run("predict", path, seven, seven, "--show", "--top", "2") == 0
    out = capsys.readouterr().out
    assert out.count("%") == 4
    assert "wrote prediction.png" in out
    with Image.open(tmp_path / "prediction.png") as im:
        assert im.format == "PNG"


def test_predict_bad_images_exit_2_and_the_good_ones_are_still_predicted(model, tmp_path, capsys):
    path, _ = model
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    seven = draw_seven(tmp_path / "seven.png")
    status = run("predict", path, text, blank, tmp_path / "missing.png", seven)
    assert status == 2
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert len(errors) == 3
    assert all(line.startswith("dlzero predict: error: ") for line in errors)
    assert "notes.png: not an image" in errors[0]
    assert "blank.png: no digit found" in errors[1]
    assert "missing.png" in errors[2]
    assert captured.out.split()[1] == "7"


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04truncated"])
def test_bad_model_file_exits_2(tmp_path, capsys, content):
    bad = tmp_path / "model.npz"
    bad.write_bytes(content)
    seven = draw_seven(tmp_path / "seven.png")
    assert run("predict", bad, seven) == 2
    assert run("evaluate", bad, "--no-plot") == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("dlzero predict: error: ")
    assert "model.npz" in errors[0]
    assert errors[1].startswith("dlzero evaluate: error: ")


def test_missing_model_exits_2(tmp_path, capsys):
    assert run("predict", tmp_path / "nothing.npz", tmp_path / "x.png") == 2
    assert "cannot read model" in capsys.readouterr().err


def test_model_that_does_not_take_digits(tmp_path, capsys):
    path = tmp_path / "small.npz"
    dlzero.save(TwoLayerNet(10, 3, 2), path)
    assert run("predict", path, draw_seven(tmp_path / "7.png")) == 2
    assert "not 28x28 images" in capsys.readouterr().err


def test_evaluate_prints_the_numbers_and_draws_the_pictures(model, tmp_path, capsys):
    path, net = model
    (_, _), (x, t) = load_mnist()
    pictures = {name: tmp_path / f"{name}.png" for name in ("confusion", "mistakes", "weights")}
    argv = [f"--{name}={p}" for name, p in pictures.items()]
    assert run("evaluate", path, "--test-size", 500, *argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "TwoLayerNet on the mnist test set (500 images)" in lines[0]
    assert lines[1].startswith(f"accuracy: {net.accuracy(x[:500], t[:500]):.4f}")
    assert [line.split()[0] for line in lines[3:13]] == [str(d) for d in range(10)]
    for p in pictures.values():
        with Image.open(p) as im:
            assert im.format == "PNG"


def test_evaluate_no_plot_writes_nothing(model, tmp_path, monkeypatch, capsys):
    path, _ = model
    monkeypatch.chdir(tmp_path)
    assert run("evaluate", path, "--test-size", 100, "--no-plot") == 0
    assert "accuracy:" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_evaluate_rejects_a_bad_picture_name_before_work(model, tmp_path, capsys):
    path, _ = model
    with pytest.raises(SystemExit) as exit_info:
        run("evaluate", path, "--confusion", tmp_path / "cm.txt")
    assert exit_info.value.code == 2
    assert "plot file suffix" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run("evaluate", path, "--confusion", tmp_path / "a.png", "--mistakes", tmp_path / "a.png")


# -- dlzero train --save -----------------------------------------------------------------------


def test_save_option_and_save_trained(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="dlzero train")
    add_save_option(parser)
    args = parser.parse_args(["--save", str(tmp_path / "m.npz")])
    check_save_path(parser, args.save)  # writable: no error
    net = TwoLayerNet(784, 5, 10, rng=0)
    save_trained(net, args.save, metadata={"dataset": "mnist"})
    assert "saved the model to" in capsys.readouterr().out
    x = np.random.default_rng(0).random((3, 784)).astype(np.float32)
    np.testing.assert_array_equal(load(args.save).predict(x), net.predict(x))

    with pytest.raises(SystemExit) as exit_info:
        check_save_path(parser, str(tmp_path / "no-such-folder" / "m.npz"))
    assert exit_info.value.code == 2


def test_save_trained_failure_is_a_command_error(tmp_path):
    from dlzero.cli.options import CommandError

    with pytest.raises(CommandError, match="cannot save the model") as info:
        save_trained(TwoLayerNet(4, 2, 2), tmp_path / "no-such-folder" / "m.npz")
    assert info.value.status == 1
