"""Tests of the ``dlzero`` command, run in-process through ``main`` (a subprocess for Ctrl-C).

Training runs use a few hundred images and iterations; MNIST is read once for the module.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dlzero import cli, datasets, training
from dlzero.cli import train as train_command
from dlzero.cli.network import streams
from dlzero.training import History

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMALL = ["--train-size", "500", "--test-size", "500"]


@pytest.fixture(autouse=True, scope="module")
def mnist_read_once():
    """The real loader, called once per set of arguments for the whole module."""
    real = datasets.load_mnist
    cache = {}

    def load(*args, **kwargs):
        key = repr((args, sorted(kwargs.items())))
        if key not in cache:
            cache[key] = real(*args, **kwargs)
        return cache[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(datasets, "load_mnist", load)
        yield


def run(argv, capsys):
    """Run ``dlzero argv``; return (status, stdout, stderr)."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


# -- dlzero train ----------------------------------------------------------------------------


def test_train_reaches_85_percent_on_2000_images(tmp_path, capsys):
    plot, hist = tmp_path / "acc.png", tmp_path / "run.json"
    argv = ["train", "--train-size", 2000, "--iters", 400, "--seed", 0, "--plot", plot]
    status, out, err = run([*argv, "--history", hist], capsys)
    assert status == 0, err
    h = History.load(hist)
    assert h.final("test") > 0.85 and h.final("train") > 0.85
    assert h.stop_reason == "completed" and h.iterations_done == 400 and h.seed == 0
    assert h.config["activation"] == "relu" and h.config["hidden_size"] == 50
    assert h.config["lr"] == 0.1 and h.config["batch_size"] == 100
    assert h.epochs == list(range(21))  # 2,000 / 100 = 20 steps an epoch, 400 steps
    lines = out.splitlines()
    epoch_lines = [ln for ln in lines if ln.startswith("epoch")]
    assert len(epoch_lines) == 21
    pattern = r"epoch +\d+/20  loss (\d\.\d{4}| +-)  train \d\.\d{4}  test \d\.\d{4}  \d+\.\d s"
    assert all(re.fullmatch(pattern, ln) for ln in epoch_lines)
    assert lines[-1].startswith("final (epoch 20, 400 iterations): ")
    assert f"test acc {h.final('test'):.4f}" in lines[-1]
    for path in (plot, tmp_path / "loss.png"):
        assert path.read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "run.csv").read_text().count("\n") == 22
    assert err == ""  # no progress bar when stderr is not a terminal


def test_same_seed_same_history(tmp_path, capsys):
    def history(seed, name):
        argv = ["train", *SMALL, "--iters", 60, "--seed", seed, "--no-plot", "-q"]
        status, _, _ = run([*argv, "--history", tmp_path / name], capsys)
        assert status == 0
        return History.load(tmp_path / name)

    a, b, c = history(3, "a.json"), history(3, "b.json"), history(4, "c.json")
    np.testing.assert_array_equal(a.loss, b.loss)
    assert a.accuracy == b.accuracy
    assert not np.array_equal(a.loss, c.loss)


def test_seed_is_drawn_printed_and_saved_when_not_given(tmp_path, capsys):
    argv = ["train", *SMALL, "--iters", 5, "--no-plot", "--history", tmp_path / "h.json"]
    status, out, _ = run(argv, capsys)
    seed = History.load(tmp_path / "h.json").seed
    assert status == 0 and isinstance(seed, int) and f"seed {seed}" in out


def test_divergence_is_detected_and_what_ran_is_written(tmp_path, capsys):
    argv = ["train", *SMALL, "--iters", 200, "--lr", "1e10", "--weight-init-std", 1, "--seed", 0]
    argv += ["--plot", tmp_path / "acc.png", "--history", tmp_path / "h.json"]
    status, out, err = run(argv, capsys)
    assert status == 1
    h = History.load(tmp_path / "h.json")
    assert h.stop_reason == "diverged" and h.iterations_done < 200
    assert np.isnan(h.loss[-1])  # written as null in the JSON
    message = [ln for ln in err.splitlines() if "diverged" in ln]
    assert len(message) == 1
    assert f"at iteration {h.iterations_done} " in message[0] and "smaller learning rate" in err
    assert "diverged after" in out
    assert (tmp_path / "acc.png").exists() and (tmp_path / "loss.png").exists()


def test_quiet_prints_only_the_summary(capsys):
    status, out, err = run(["train", *SMALL, "--iters", 10, "--no-plot", "-q"], capsys)
    assert status == 0 and err == ""
    assert len(out.splitlines()) == 1 and out.startswith("final (epoch 2, 10 iterations)")


def test_numerical_gradient_really_is_used_and_warns(tmp_path, capsys):
    common = ["train", "--train-size", 20, "--test-size", 50, "--batch-size", 10, "--iters", 2]
    common += ["--hidden", 2, "--seed", 1, "--no-plot", "-q"]
    runs = {}
    for method in ("numerical", "backprop"):
        path = tmp_path / f"{method}.json"
        status, _, err = run([*common, "--gradient", method, "--history", path], capsys)
        assert status == 0
        runs[method] = (History.load(path), err)
    numerical, warning = runs["numerical"]
    assert "numerical" in warning and "per iteration" in warning and "1,600 parameters" in warning
    assert numerical.config["gradient"] == "numerical" and numerical.config["dtype"] == "float64"
    assert runs["backprop"][1] == ""
    # Same start, same batches: the second loss shows the numerical step matched backprop's.
    np.testing.assert_allclose(numerical.loss, runs["backprop"][0].loss, rtol=1e-4)


BAD_ARGUMENTS = [
    (["--lr", "0"], "argument --lr: expected a positive finite number, got '0'"),
    (["--lr", "-1"], "argument --lr: expected a positive finite number"),
    (["--lr", "nan"], "argument --lr: expected a positive finite number"),
    (["--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
    (["--batch-size", "0"], "argument --batch-size: expected a positive integer"),
    (["--batch-size", "600", "--train-size", "500"], "600 is larger than --train-size 500"),
    (["--batch-size", "70000"], "70000 is larger than the 60000 training images"),
    (["--train-size", "70000"], "70000 is more than the 60000 images available"),
    (["--activation", "softplus"], "argument --activation: invalid choice: 'softplus'"),
    (["--sampling", "random"], "argument --sampling: invalid choice"),
    (["--dataset", "cifar"], "argument --dataset: invalid choice"),
    (["--gradient", "exact"], "argument --gradient: invalid choice"),
    (["--hidden", "0"], "argument --hidden: expected a positive integer"),
    (["--weight-init-std", "-0.1"], "argument --weight-init-std: expected a positive"),
    (["--seed", "-1"], "argument --seed: expected an integer >= 0"),
    (["--iters", "5", "--epochs", "2"], "argument --epochs: not allowed with argument --iters"),
    (["--iters", "0"], "argument --iters: expected a positive integer"),
    (["--plot", "{tmp}/missing/acc.png"], "folder '{tmp}/missing' does not exist"),
    (["--history", "{tmp}"], "'{tmp}' is a folder, expected a file name"),
    (["--plot", "{tmp}/acc.txt"], "needs a plot file suffix"),
    (["--loss-plot", "{tmp}/nope/l.png"], "argument --loss-plot: cannot write"),
    (["--plot", "{tmp}/a.png", "--loss-plot", "{tmp}/a.png"], "must differ from --plot"),
    (["--history", "{tmp}/missing/h.json"], "argument --history: cannot write"),
    (["--history", "{tmp}/h.csv"], "give a .json path"),
    (["--no-such-option"], "unrecognized arguments: --no-such-option"),
    # chapter 6 and the convolutional networks
    (["--optimizer", "adamw"], "argument --optimizer: invalid choice: 'adamw'"),
    (["--init", "lecun"], "argument --init: invalid choice: 'lecun'"),
    (["--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
    (["--hidden"], "argument --hidden: expected at least one argument"),
    (["--hidden", "100x0"], "argument --hidden: expected a positive integer"),
    (["--hidden", "100x"], "argument --hidden: expected a positive integer"),
    (["--hidden", "x4"], "argument --hidden: expected a positive integer"),
    (["--dropout", "1"], "argument --dropout: expected a number in [0, 1), got '1'"),
    (["--dropout", "-0.5"], "argument --dropout: expected a number in [0, 1)"),
    (["--weight-decay", "-1"], "argument --weight-decay: expected a finite number >= 0"),
    (["--validation-fraction", "1"], "argument --validation-fraction: expected a number in"),
    (["--patience", "3"], "argument --patience: early stopping needs --validation-fraction"),
    (["--init", "he", "--weight-init-std", "0.1"], "only with --init std, not --init he"),
    (["--batchnorm", "--batch-size", "1"], "batch normalization needs batch_size >= 2, got 1"),
    (["--batchnorm", "--train-size", "501"], "cannot train on a mini-batch of one sample"),
    (
        ["--batchnorm", "--train-size", "1001", "--validation-fraction", "0.1"],
        "901 training samples in batches of 100",
    ),
    (["--model", "cnn", "--batchnorm"], "--model cnn (SimpleConvNet) has no batch normalization"),
    (["--model", "cnn", "--hidden", "50", "50"], "takes one --hidden size"),
    (["--model", "cnn", "--activation", "sigmoid"], "argument --activation: --model cnn"),
    (["--model", "deep-cnn", "--weight-init-std", "0.1"], "(DeepConvNet) uses He init"),
    (["--model", "deep-cnn", "--weight-decay", "0.1"], "has no weight decay option"),
    (["--train-eval-size", "0"], "argument --train-eval-size: expected a positive integer"),
    (["--train-eval-size", "most"], "argument --train-eval-size: expected a positive integer"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGUMENTS)
def test_bad_argument_is_one_line_and_status_2_before_training(
    args, message, tmp_path, capsys, monkeypatch
):
    def no_training(self):
        raise AssertionError("training started despite a bad argument")

    monkeypatch.setattr(training.Trainer, "fit", no_training)
    args = [a.format(tmp=tmp_path) for a in args]
    status, out, err = run(["train", *args], capsys)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("dlzero train: error: ")
    assert message.format(tmp=tmp_path) in err
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_unwritable_folder_is_refused(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        status, _, err = run(["train", "--plot", folder / "a.png"], capsys)
    finally:
        folder.chmod(0o700)
    assert status == 2 and "cannot write" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "--lr", "0.1", "0"], "dlzero compare: error: argument --lr"),
        (["compare", "--activation", "relu", "elu"], "invalid choice: 'elu'"),
        (["gradcheck", "--images", "0"], "dlzero gradcheck: error: argument --images"),
        (["bench-gradient", "--batch-size", "-5"], "dlzero bench-gradient: error: argument"),
        (["fit"], "dlzero: error: argument COMMAND: invalid choice: 'fit'"),
        ([], "dlzero: error: the following arguments are required: COMMAND"),
    ],
)
def test_bad_arguments_of_other_commands(argv, message, capsys):
    status, _, err = run(argv, capsys)
    assert status == 2 and err.count("\n") == 1 and message in err


def test_data_that_cannot_be_loaded_is_one_line_and_status_1(capsys, monkeypatch):
    def missing(*args, **kwargs):
        raise datasets.DatasetError("no Fashion-MNIST files found")

    monkeypatch.setattr(datasets, "load_fashion_mnist", missing)
    status, out, err = run(["train", "--dataset", "fashion-mnist", "--no-plot"], capsys)
    assert status == 1 and out == ""
    assert err == "dlzero train: error: cannot load fashion-mnist: no Fashion-MNIST files found\n"


def test_a_plot_that_cannot_be_written_after_training_is_one_line_and_status_1(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    out.mkdir()
    real = training.Trainer.fit

    def fit_then_block_the_folder(self):
        history = real(self)
        out.rmdir()
        out.write_text("in the way")  # even root cannot write under a file
        return history

    monkeypatch.setattr(training.Trainer, "fit", fit_then_block_the_folder)
    argv = ["train", *SMALL, "--iters", 10, "--seed", 0, "-q", "--plot", out / "acc.png"]
    status, _, err = run(argv, capsys)
    assert status == 1
    assert err.startswith("dlzero train: error: cannot write results: ") and err.count("\n") == 1


def test_matplotlib_is_imported_only_when_plots_are_drawn():
    code = (
        "import sys\n"
        "from dlzero.cli import main\n"
        "assert not any(m.startswith('matplotlib') for m in sys.modules), 'on import'\n"
        "status = main(['train', '--train-size', '200', '--test-size', '100', '--iters', '2',\n"
        "               '--no-plot', '-q'])\n"
        "assert status == 0 and not any(m.startswith('matplotlib') for m in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_train_save_keeps_the_network_it_trained(tmp_path, capsys):
    from dlzero import TwoLayerNet, load

    model, hist = tmp_path / "model.npz", tmp_path / "run.json"
    argv = ["train", *SMALL, "--iters", 30, "--seed", 3, "--no-plot", "--history", hist]
    status, _, err = run([*argv, "--save", model], capsys)
    assert status == 0, err
    net = load(model)
    assert isinstance(net, TwoLayerNet) and net.config["hidden_size"] == 50
    (_, _), (x_test, t_test) = datasets.load_mnist()
    # The saved weights are the trained ones: they score what the run's last evaluation did.
    assert net.accuracy(x_test[:500], t_test[:500]) == History.load(hist).final("test")


def test_every_option_has_help():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._actions[-1])))
    assert set(sub.choices) == {
        "train",
        "gradcheck",
        "compare",
        "bench-gradient",
        "predict",
        "evaluate",
        "search",
        "activations",
        "export",
        "serve",
        "backprop",
        "book",
        "exercises",
    }
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"dlzero {name} {action.option_strings[0]} has no help"


def test_choices_come_from_the_library():
    from dlzero.networks import ACTIVATIONS

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._actions[-1])))
    options = {a.dest: a for a in sub.choices["train"]._actions}
    assert {"relu", "sigmoid"} <= set(options["activation"].choices) == set(ACTIVATIONS)
    assert tuple(options["sampling"].choices) == training.SAMPLING == ("shuffle", "replacement")


@pytest.mark.parametrize(
    "command",
    ["", "train", "gradcheck", "compare", "search", "activations", "bench-gradient", "predict",
     "evaluate", "book"],
)  # fmt: skip
def test_help_is_printed_as_written(command, capsys):
    # argparse %-formats help strings but prints a description as it is: "20%%" would show.
    status, out, _ = run([command, "--help"] if command else ["--help"], capsys)
    assert status == 0 and out.startswith("usage: dlzero")
    assert "%%" not in out and "%(" not in out


# -- the other commands ----------------------------------------------------------------------


def test_gradcheck_passes_on_real_images(capsys):
    status, out, _ = run(["gradcheck", "--hidden", 4, "--images", 2], capsys)
    assert status == 0
    for name in ("W1", "b1", "W2", "b2"):
        assert re.search(rf"^{name} .* ok$", out, re.MULTILINE)
    assert "PASS" in out and "first 2 mnist training images" in out


def test_gradcheck_fails_on_a_wrong_backward(capsys, monkeypatch):
    from dlzero.layers import Affine

    backward = Affine.backward

    def slightly_wrong(self, dout):
        dx = backward(self, dout)
        self.dW = self.dW * 1.01
        return dx

    monkeypatch.setattr(Affine, "backward", slightly_wrong)
    status, out, _ = run(["gradcheck", "--hidden", 4, "--images", 2], capsys)
    assert status == 1
    assert re.search(r"^W1 .* FAIL$", out, re.MULTILINE) and out.rstrip().endswith(")")
    assert "FAIL: relative error tolerance" in out


def test_compare_prints_a_table_and_draws_one_plot(tmp_path, capsys):
    plot = tmp_path / "cmp.png"
    argv = ["compare", "--activation", "sigmoid", "relu", "--train-size", 1000]
    argv += ["--test-size", 1000, "--iters", 150, "--seed", 0, "--plot", plot, "-q"]
    status, out, _ = run(argv, capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["activation", "train", "acc", "test", "acc", "time"]
    rows = {ln.split()[0]: float(ln.split()[2]) for ln in lines[1:3]}
    assert set(rows) == {"sigmoid", "relu"} and rows["relu"] > rows["sigmoid"]
    points = 100 * (rows["relu"] - rows["sigmoid"])
    assert f"test accuracy: relu is {points:.2f} points above sigmoid" in out
    assert plot.read_bytes()[:8] == PNG_MAGIC


def test_compare_uses_the_same_batches_for_every_configuration(capsys, monkeypatch):
    from dlzero.training import trainer as trainer_module

    seen, hidden = [], []
    real_fit, real_order = training.Trainer.fit, trainer_module.batch_order

    def spy_fit(self):
        hidden.append(self.config["hidden"])
        return real_fit(self)

    def spy_order(*args, **kwargs):
        order = real_order(*args, **kwargs)
        seen.append((hidden[-1], order.copy()))
        return order

    monkeypatch.setattr(training.Trainer, "fit", spy_fit)
    monkeypatch.setattr(trainer_module, "batch_order", spy_order)
    argv = ["compare", "--hidden", 5, 20, *SMALL, "--iters", 10, "--seed", 2, "--no-plot", "-q"]
    status, _, _ = run(argv, capsys)
    assert status == 0
    # 500 images, batch 100, 10 steps: two epochs for each of the two networks.
    assert [h for h, _ in seen] == [5, 5, 20, 20]
    np.testing.assert_array_equal(seen[0][1], seen[2][1])
    np.testing.assert_array_equal(seen[1][1], seen[3][1])
    assert not np.array_equal(seen[0][1], seen[1][1])


def test_bench_gradient_prints_both_times_and_the_ratio(capsys):
    argv = ["bench-gradient", "--batch-size", 5, "--hidden", 3, "--repeat", 3]
    status, out, _ = run(argv, capsys)
    assert status == 0
    backprop = re.search(r"^backprop: +([\d.]+) (µs|ms|s)", out, re.MULTILINE)
    numerical = re.search(r"^numerical: +([\d.]+) (µs|ms|s) +\(4,790 forward passes\)", out, re.M)
    ratio = re.search(r"^ratio: numerical / backprop = ([\d,]+)$", out, re.MULTILINE)
    assert backprop and numerical and ratio
    assert int(ratio.group(1).replace(",", "")) > 100


# -- as a process ----------------------------------------------------------------------------


def test_python_m_dlzero_runs_the_command():
    result = subprocess.run(
        [sys.executable, "-m", "dlzero", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.startswith("dlzero ")


def test_ctrl_c_stops_train_and_leaves_its_history(tmp_path):
    hist = tmp_path / "h.json"
    argv = [sys.executable, "-m", "dlzero", "train", "--train-size", "1000", "--test-size", "500"]
    argv += ["--iters", "1000000", "--seed", "0", "--no-plot", "--history", str(hist)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while len(lines) < 3:  # the header, epoch 0 and epoch 1: training is under way
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    data = json.loads(hist.read_text())
    assert data["stop_reason"] == "interrupted"
    assert 10 <= data["iterations_done"] < 1_000_000
    assert len(data["loss"]) == data["iterations_done"]
    assert "interrupted after" in out and "stopping after the current step" in err


def test_missing_matplotlib_is_reported_before_training(capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name)
    )
    monkeypatch.setattr(training.Trainer, "fit", lambda self: pytest.fail("training started"))
    status, out, err = run(["train", *SMALL], capsys)
    assert status == 2 and out == ""
    assert err.startswith("dlzero train: error: plots need matplotlib: pip install 'dlzero[cli]'")
    assert err.count("\n") == 1


# -- chapter 6: the network options, early stopping, diagnostics -----------------------------


def test_default_train_is_still_the_chapter_5_network_on_the_fused_path(
    tmp_path, capsys, monkeypatch
):
    """The default run builds a TwoLayerNet, trains it with the fused step, and gives the
    numbers the chapter-5 command gave: rebuilt here from the library, step by step."""
    from dlzero.fast.mlp import FusedMLP
    from dlzero.networks import TwoLayerNet
    from dlzero.optimizers import SGD
    from dlzero.training import Output, Steps, Trainer

    built, fused_calls = [], []
    real_init, real_step = TwoLayerNet.__init__, FusedMLP.loss_and_gradient

    def spy_init(self, *a, **k):
        built.append(self)
        real_init(self, *a, **k)

    def spy_step(self, x, t):
        fused_calls.append(len(x))
        return real_step(self, x, t)

    monkeypatch.setattr(TwoLayerNet, "__init__", spy_init)
    monkeypatch.setattr(FusedMLP, "loss_and_gradient", spy_step)
    hist = tmp_path / "h.json"
    status, _, err = run(["train", *SMALL, "--iters", 12, "--seed", 9, "--no-plot", "-q",
                          "--history", hist], capsys)  # fmt: skip
    assert status == 0, err
    # The steps, and the diagnostics' gradient on 200 images (of a copy) before and after.
    assert len(built) == 1 and fused_calls == [200] + [100] * 12 + [200]
    h = History.load(hist)
    assert h.config["optimizer"] == "SGD(lr=0.1)" and h.config["hidden_size"] == 50

    (x, t), (xt, tt) = datasets.load_mnist()
    init_rng, batch_rng = streams(9)
    net = TwoLayerNet(784, 50, 10, weight_init_std=0.01, rng=init_rng)
    ref = Trainer(
        net,
        SGD(0.1),
        x[:500],
        t[:500],
        xt[:500],
        tt[:500],
        steps=Steps(iters=12),
        rng=batch_rng,
        output=Output(verbose=False),
    ).fit()
    np.testing.assert_array_equal(h.loss, ref.loss)
    assert h.accuracy == ref.accuracy


def test_chapter_6_options_build_a_multilayer_net_and_save_it(tmp_path, capsys):
    from dlzero import MultiLayerNet, load

    model, hist = tmp_path / "m.npz", tmp_path / "h.json"
    argv = ["train", "--train-size", 1000, "--test-size", 500, "--epochs", 3, "--seed", 0]
    argv += ["--hidden", 40, "30", "--init", "he", "--optimizer", "adam", "--batchnorm"]
    argv += ["--dropout", 0.1, "--weight-decay", 1e-4, "--no-plot", "--history", hist]
    status, out, err = run([*argv, "--save", model], capsys)
    assert status == 0, err
    assert out.startswith("mnist: 784-40-30-10 relu, he init, batch norm, dropout 0.1, weight ")
    assert "Adam lr 0.001" in out.splitlines()[0]
    h = History.load(hist)
    assert h.config["hidden_size"] == [40, 30] and h.config["optimizer"].startswith("Adam(lr=0.001")
    assert h.config["batchnorm"] is True and h.config["init"] == "he"
    assert h.final("test") > 0.5  # 30 steps: it learns (chance is 0.1)
    net = load(model)
    assert isinstance(net, MultiLayerNet) and net.use_batchnorm and net.hidden_size_list == [40, 30]
    (_, _), (x_test, t_test) = datasets.load_mnist()
    assert net.accuracy(x_test[:500], t_test[:500]) == h.final("test")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--hidden", 50, 50], "784-50-50-10 relu, std 0.01 init"),
        (["--init", "xavier", "--activation", "tanh"], "784-50-10 tanh, xavier init"),
        (["--weight-decay", 0.1], "weight decay 0.1"),
        (["--optimizer", "momentum"], "784-50-10 relu, Momentum lr 0.01"),
        (["--optimizer", "adagrad", "--lr", 0.05], "AdaGrad lr 0.05"),
    ],
)
def test_which_network_and_optimizer(options, expected, capsys):
    status, out, _ = run(
        ["train", *SMALL, "--iters", 1, "--no-plot", "--seed", 0, *options], capsys
    )
    assert status == 0 and expected in out.splitlines()[0]


def test_cnn_trains_with_adam_on_images_and_saves(tmp_path, capsys):
    from dlzero import SimpleConvNet, load

    model, hist = tmp_path / "cnn.npz", tmp_path / "h.json"
    argv = ["train", "--model", "cnn", "--train-size", 300, "--test-size", 100, "--iters", 4]
    argv += ["--seed", 0, "--no-plot", "--history", hist, "--save", model]
    status, out, err = run(argv, capsys)
    assert status == 0, err
    assert "SimpleConvNet (30 5x5 filters, 100 hidden), Adam lr 0.001" in out
    h = History.load(hist)
    assert h.config["model"] == "cnn" and h.config["optimizer"].startswith("Adam(lr=0.001")
    net = load(model)
    assert isinstance(net, SimpleConvNet)
    (_, _), (x_test, t_test) = datasets.load_mnist()
    images = x_test[:100].reshape(100, 1, 28, 28)
    assert net.accuracy(images, t_test[:100]) == h.final("test")


def test_deep_cnn_is_built_with_its_dropout(tmp_path, capsys, monkeypatch):
    from dlzero.convnets import DeepConvNet

    built = []
    monkeypatch.setattr(training.Trainer, "fit", lambda self: built.append(self.network) or
                        pytest.skip("built"))  # fmt: skip
    argv = ["train", "--model", "deep-cnn", *SMALL, "--dropout", 0.3, "--hidden", 20]
    try:
        run([*argv, "--no-plot", "--seed", 0], capsys)
    except pytest.skip.Exception:
        pass
    net = built[0]
    assert isinstance(net, DeepConvNet) and net.dropout_ratio == 0.3 and net.hidden_size == 20
    assert type(net.last_layer).__name__ == "SoftmaxWithLoss"


@pytest.mark.parametrize(
    ("options", "measured"),
    [
        (["--model", "cnn"], 10_000),  # the convolutional networks: 10,000 by default
        (["--model", "deep-cnn", "--train-eval-size", "all"], 12_000),
        (["--model", "cnn", "--train-eval-size", "3000"], 3000),
        ([], 12_000),  # the MLP: every training image, as the notes do
    ],
)
def test_train_accuracy_is_measured_on_10000_images_for_the_cnns(options, measured, capsys,
                                                                 monkeypatch):  # fmt: skip
    seen = []
    monkeypatch.setattr(training.Trainer, "fit", lambda self: seen.append(self) or
                        pytest.skip("built"))  # fmt: skip
    try:
        run(["train", "--train-size", 12_000, *options, "--no-plot", "--seed", 0], capsys)
    except pytest.skip.Exception:
        pass
    x_eval, _ = seen[0].eval_sets["train"]
    assert len(x_eval) == measured and seen[0].train_size == 12_000
    assert (f"(accuracy on {measured:,})" in capsys.readouterr().out) == (measured < 12_000)


def test_early_stopping_keeps_the_best_epoch_and_says_so(tmp_path, capsys):
    from dlzero import load

    model, hist = tmp_path / "m.npz", tmp_path / "h.json"
    argv = ["train", "--train-size", 400, "--test-size", 300, "--epochs", 40, "--seed", 1]
    argv += ["--lr", 0.5, "--validation-fraction", 0.25, "--patience", 2, "--no-plot"]
    status, out, err = run([*argv, "--history", hist, "--save", model], capsys)
    assert status == 0, err
    h = History.load(hist)
    assert h.stop_reason == "stopped" and h.epochs[-1] < 40
    assert h.epochs[-1] == h.best_epoch + 2
    assert "100 validation" in out.splitlines()[0]
    assert f"restored the weights of epoch {h.best_epoch}" in out
    kept = f"kept the weights of epoch {h.best_epoch} (best val accuracy)"
    assert kept in out and f"test acc {h.at_best('test'):.4f}" in out.splitlines()[-1]
    (_, _), (x_test, t_test) = datasets.load_mnist()
    assert load(model).accuracy(x_test[:300], t_test[:300]) == h.at_best("test")


def test_diagnostics_flag_prints_a_line_per_epoch_and_warnings_go_to_stderr(tmp_path, capsys):
    argv = ["train", *SMALL, "--iters", 10, "--seed", 0, "--no-plot", "--history", tmp_path / "h"]
    status, out, err = run([*argv, "--diagnostics", "--hidden", 30, 30], capsys)
    assert status == 0 and err == ""
    lines = [ln for ln in out.splitlines() if ln.startswith("  layers at epoch")]
    assert len(lines) == 3 and re.fullmatch(
        r"  layers at epoch 0: dead \d+% \d+% \| \|dW\|/\|W\| W1 \S+ W2 \S+ W3 \S+", lines[0]
    )
    assert [d["epoch"] for d in History.load(tmp_path / "h").diagnostics] == [0, 1, 2]
    # A sigmoid network with std-10 weights saturates: reported before training, once.
    argv = ["train", *SMALL, "--iters", 5, "--no-plot", "-q", "--activation", "sigmoid"]
    status, out, err = run([*argv, "--weight-init-std", 10, "--hidden", 30, 30], capsys)
    assert status == 0
    warnings = err.splitlines()
    assert warnings and all(
        w.startswith("dlzero train: warning: before training: ") for w in warnings
    )
    assert "sigmoid outputs are saturated" in warnings[0]
    assert len(warnings) == len({w.split(": ")[3] for w in warnings})  # one per layer


# -- compare, search, activations -------------------------------------------------------------


def test_compare_optimizers_with_their_own_learning_rates(tmp_path, capsys, monkeypatch):
    used = []
    real = training.Trainer.fit

    def spy(self):
        used.append(repr(self.optimizer))
        return real(self)

    monkeypatch.setattr(training.Trainer, "fit", spy)
    argv = ["compare", "--optimizer", "sgd", "momentum", "adam", "--hidden", "20x2", *SMALL]
    argv += ["--iters", 20, "--init", "he", "--seed", 0, "-q", "--plot", tmp_path / "c.png"]
    status, out, err = run([*argv, "--loss-plot", tmp_path / "l.png"], capsys)
    assert status == 0, err
    rows = [ln.split()[0] for ln in out.splitlines()[1:4]]
    assert out.splitlines()[0].split()[0] == "optimizer" and rows == ["sgd", "momentum", "adam"]
    assert [u.split(",")[0].rstrip(")") for u in used] == [
        "SGD(lr=0.1", "Momentum(lr=0.01", "Adam(lr=0.001"
    ]  # fmt: skip
    for name in ("c.png", "l.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC


def test_compare_batchnorm_and_several_options_label_each_run(capsys, monkeypatch):
    configs = []
    real = training.Trainer.fit

    def spy(self):
        configs.append(dict(self.config))
        return real(self)

    monkeypatch.setattr(training.Trainer, "fit", spy)
    argv = ["compare", "--batchnorm", "off", "on", "--dropout", 0, 0.2, *SMALL, "--iters", 5]
    status, out, _ = run([*argv, "--seed", 0, "--no-plot", "-q"], capsys)
    assert status == 0
    labels = [ln.split("  ")[0].strip() for ln in out.splitlines()[1:5]]
    assert labels == ["dropout=0, batchnorm=off", "dropout=0, batchnorm=on",
                      "dropout=0.2, batchnorm=off", "dropout=0.2, batchnorm=on"]  # fmt: skip
    assert [(c["dropout"], c["batchnorm"]) for c in configs] == [
        (0.0, False), (0.0, True), (0.2, False), (0.2, True)
    ]  # fmt: skip


def test_compare_refuses_a_batch_norm_batch_of_one_before_any_run(capsys, monkeypatch):
    monkeypatch.setattr(training.Trainer, "fit", lambda self: pytest.fail("training started"))
    argv = ["compare", "--batchnorm", "off", "on", "--train-size", 501, "--no-plot"]
    status, out, err = run(argv, capsys)
    assert status == 2 and out == "" and "mini-batch of one sample" in err


def test_search_prints_ranked_trials_and_writes_csv_and_plot(tmp_path, capsys):
    argv = ["search", "--trials", 3, "--epochs", 2, "--train-size", 200, "--hidden", "20x2"]
    argv += ["--jobs", 1, "--seed", 0, "--plot", tmp_path / "s.png", "--csv", tmp_path / "s.csv"]
    status, out, err = run(argv, capsys)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("random search: 3 trials, mnist 200 images (40 for validation)")
    assert sum(ln.startswith("[") for ln in lines) == 3
    table = lines[lines.index(next(ln for ln in lines if ln.lstrip().startswith("rank"))) :]
    accs = [float(ln.split()[2]) for ln in table[1:4]]
    assert accs == sorted(accs, reverse=True)
    assert re.search(r"^best: val acc [\d.]+ with lr \S+, weight decay \S+ \(", out, re.M)
    assert (tmp_path / "s.csv").read_text().count("\n") == 4
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "--lr-range", "1e-2", "1e-4"], "argument --lr-range: LOW 0.01 is above HIGH"),
        (["search", "--trials", "0"], "argument --trials: expected a positive integer"),
        (["search", "--batch-size", "450"], "450 is larger than the 400 images left"),
        (["search", "--validation-fraction", "0"], "the search needs a validation split"),
        (["activations", "--init", "lecun"], "argument --init: expected a positive weight std"),
        (["activations", "--activation", "elu"], "argument --activation: invalid choice"),
    ],
)
def test_bad_arguments_of_search_and_activations(argv, message, capsys):
    status, out, err = run(argv, capsys)
    assert status == 2 and out == "" and err.count("\n") == 1 and message in err


def test_activations_prints_the_table_and_draws_the_histograms(tmp_path, capsys):
    argv = ["activations", "--activation", "relu", "--init", "0.01", "he", "--layers", 3]
    status, out, _ = run([*argv, "--samples", 200, "--plot", tmp_path / "a.png"], capsys)
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == 1 + 6 + 1 and lines[1].startswith("relu, std 0.01")
    assert lines[4].startswith("relu, he") and lines[-1] == f"wrote {tmp_path / 'a.png'}"
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG_MAGIC


def test_a_closed_pipe_ends_the_command_quietly():
    argv = [sys.executable, "-m", "dlzero", "train", "--train-size", "200", "--test-size", "100"]
    argv += ["--batch-size", "10", "--iters", "400", "--no-plot", "--seed", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()  # like `dlzero train | head -1`
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert first.startswith(b"mnist: 784-50-10")
    assert b"Traceback" not in err and b"BrokenPipeError" not in err
    assert proc.returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--history", "{d}/x.json", "--save", "{d}/x.json"], "is also the file of --history"),
        (["--plot", "{d}/p.png", "--save", "{d}/p.png"], "is also the file of --plot"),
        (["--gradient", "numerical", "--dropout", "0.5"], "needs the same loss at every"),
    ],
)
def test_outputs_that_collide_and_nondeterministic_numerical_runs_are_refused(
    tmp_path, capsys, args, message
):
    status, out, err = run(["train", *[a.format(d=tmp_path) for a in args]], capsys)
    assert status == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_running_out_of_memory_is_one_line_not_a_traceback(capsys, monkeypatch):
    def too_big(*args, **kwargs):
        raise MemoryError("Unable to allocate 584. GiB for an array with shape (784, 100000000)")

    monkeypatch.setattr(train_command, "build_network", too_big)
    status, _, err = run(["train", "--hidden", "100000000", "--iters", "1", "--no-plot"], capsys)
    assert status == 1
    assert err.strip().splitlines() == [
        "dlzero train: error: not enough memory: Unable to allocate 584. GiB for an array with "
        "shape (784, 100000000); try smaller sizes"
    ]


def test_train_augment_records_it_and_changes_the_training(tmp_path, capsys):
    common = ["train", "--model", "cnn", "--train-size", 200, "--test-size", 100]
    common += ["--iters", 4, "--seed", 3, "--no-plot", "-q"]
    histories = []
    for extra in ([], ["--augment"]):
        path = tmp_path / f"run{len(histories)}.json"
        status, _, err = run([*common, *extra, "--history", path], capsys)
        assert status == 0 and err == ""
        histories.append(History.load(path))
    plain, augmented = histories
    assert "augment" not in plain.config
    assert augmented.config["augment"] == {"max_shift": 2.0, "max_degrees": 10.0}
    assert not np.array_equal(plain.loss, augmented.loss)
