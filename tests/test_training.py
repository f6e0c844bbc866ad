"""Tests of dlzero.training: epoch arithmetic, sampling, the recorded loss, stops, History."""

import json
import math
import os
import re
import signal
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlzero.networks import TwoLayerNet
from dlzero.optimizers import SGD, get_optimizer
from dlzero.training import (
    Evaluation,
    History,
    Output,
    Steps,
    Trainer,
    TrainingDiverged,
    TrainingInterrupted,
    iterations_per_epoch,
    train,
)
from dlzero.training.settings import trainer_keywords


def blobs(n=200, d=6, c=3, seed=0):
    """Separable Gaussian blobs: a problem a two-layer net learns in a few hundred steps."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n)
    centers = 3 * rng.standard_normal((c, d))
    x = (centers[t] + rng.standard_normal((n, d))).astype(np.float32)
    return x, t


class RecordingNet:
    """A stand-in network: records the batches it is given and returns scripted losses.

    Column 0 of ``x`` is the sample's index, so tests can see which samples each step used.
    """

    def __init__(self, losses=None, dim=2):
        self.params = {"W": np.zeros(dim)}
        self.batches = []
        self.losses = losses
        self.loss_calls = 0
        self.eval_batch_sizes = []

    def loss_and_gradient(self, x, t):
        self.batches.append(x[:, 0].astype(int).copy())
        k = len(self.batches) - 1
        loss = 1.0 / (k + 1) if self.losses is None else self.losses[k]
        return loss, {"W": np.zeros_like(self.params["W"])}

    def loss(self, x, t):  # must not be called by a backprop step
        self.loss_calls += 1
        return 0.0

    def accuracy(self, x, t, batch_size=None):
        self.eval_batch_sizes.append(batch_size)
        return 0.5


def indexed_data(n, dim=2):
    x = np.zeros((n, dim), dtype=np.float32)
    x[:, 0] = np.arange(n)
    return x, np.zeros(n, dtype=np.int64)


# -- epoch arithmetic ------------------------------------------------------------------------


@given(n=st.integers(1, 10_000), b=st.integers(1, 10_000))
def test_iterations_per_epoch_is_the_integer_ceiling(n, b):
    k = iterations_per_epoch(n, b)
    assert k == math.ceil(n / b)
    assert k * b >= n > (k - 1) * b


def test_evaluates_at_zero_every_epoch_boundary_and_the_end():
    # 1,000 samples, batch 300: 4 steps an epoch (the book's float test 1000/300 would
    # evaluate only at i = 0). 10 steps: epochs of 4, 4 and 2.
    x, t = indexed_data(1000)
    net = RecordingNet()
    trainer = Trainer(
        net,
        SGD(0.1),
        x,
        t,
        x,
        t,
        steps=Steps(batch_size=300, iters=10),
        rng=0,
        output=Output(verbose=False),
    )
    h = trainer.fit()
    assert trainer.iterations_per_epoch == 4 and trainer.num_epochs == 3
    assert h.epochs == [0, 1, 2, 3]
    assert h.epoch_iterations == [0, 4, 8, 10]
    assert h.iterations_done == 10 and len(h.loss) == 10
    assert set(h.accuracy) == {"train", "test"} and len(h.accuracy["test"]) == 4
    assert len(h.train_time) == len(h.eval_time) == 4
    assert h.stop_reason == "completed"


def test_epochs_option_gives_whole_epochs():
    x, t = indexed_data(250)
    h = train(RecordingNet(), SGD(0.1), x, t, batch_size=100, epochs=2, verbose=False, rng=0)
    assert h.iterations == 6 and h.epoch_iterations == [0, 3, 6]


def test_evaluation_is_chunked_with_the_given_batch_size():
    x, t = indexed_data(100)
    net = RecordingNet()
    train(net, SGD(0.1), x, t, x, t, batch_size=10, iters=10, eval_batch_size=7, verbose=False)
    assert net.eval_batch_sizes and set(net.eval_batch_sizes) == {7}


# -- sampling --------------------------------------------------------------------------------


def test_shuffle_visits_every_sample_exactly_once_per_epoch():
    n, b = 103, 10  # 11 steps an epoch, the last one of 3 samples
    x, t = indexed_data(n)
    net = RecordingNet()
    train(net, SGD(0.1), x, t, batch_size=b, epochs=3, sampling="shuffle", verbose=False, rng=1)
    assert len(net.batches) == 33
    assert [len(batch) for batch in net.batches[:11]] == [10] * 10 + [3]
    epochs = [np.concatenate(net.batches[i : i + 11]) for i in (0, 11, 22)]
    for seen in epochs:
        assert sorted(seen) == list(range(n))
    assert not np.array_equal(epochs[0], epochs[1])  # a fresh permutation each epoch


def test_replacement_draws_independent_full_batches():
    n, b = 100, 20
    x, t = indexed_data(n)
    net = RecordingNet()
    train(net, SGD(0.1), x, t, batch_size=b, epochs=4, sampling="replacement", verbose=False, rng=2)
    assert all(len(batch) == b for batch in net.batches)
    per_epoch = [np.concatenate(net.batches[i : i + 5]) for i in range(0, 20, 5)]
    # 100 draws of 100 with replacement: repeats (and misses) are all but certain.
    assert all(len(set(seen)) < n for seen in per_epoch)
    assert all(seen.min() >= 0 and seen.max() < n for seen in per_epoch)


# -- the recorded loss -----------------------------------------------------------------------


def test_recorded_loss_is_the_steps_own_without_an_extra_forward_pass():
    x, t = indexed_data(50)
    scripted = np.linspace(2.0, 0.5, 20)
    net = RecordingNet(losses=scripted)
    h = train(net, SGD(0.1), x, t, batch_size=10, iters=20, verbose=False)
    np.testing.assert_array_equal(h.loss, scripted)
    assert net.loss_calls == 0


class LayersOnly:
    """A TwoLayerNet seen without loss_and_gradient: the trainer's fallback path."""

    def __init__(self, net):
        self.net = net
        self.params = net.params
        self.last_layer = net.last_layer
        self.weight_decay_lambda = 0.0

    def gradient(self, x, t):
        return self.net.gradient(x, t)

    def accuracy(self, x, t, batch_size=None):
        return self.net.accuracy(x, t, batch_size=batch_size)


def test_fallback_reads_the_loss_layer_and_matches_loss_and_gradient():
    x, t = blobs()
    runs = []
    for wrap in (lambda n: n, LayersOnly):
        net = TwoLayerNet(6, 8, 3, weight_init_std=0.5, rng=3, dtype=np.float64)
        runs.append(train(wrap(net), SGD(0.1), x, t, batch_size=20, iters=30, verbose=False, rng=4))
    np.testing.assert_allclose(runs[0].loss, runs[1].loss, rtol=1e-10)


def test_recorded_loss_equals_the_loss_before_the_update():
    # Replay the same mini-batches by hand: loss() before each update must be what was recorded.
    x, t = blobs()
    net = TwoLayerNet(6, 8, 3, weight_init_std=0.5, rng=3, dtype=np.float64)
    replay = TwoLayerNet(6, 8, 3, weight_init_std=0.5, rng=3, dtype=np.float64)
    recorder = RecordingNet()
    h = train(net, SGD(0.1), x, t, batch_size=20, iters=10, verbose=False, rng=5)
    train(recorder, SGD(0.1), *indexed_data(len(x)), batch_size=20, iters=10, verbose=False, rng=5)
    for k, idx in enumerate(recorder.batches):
        assert replay.loss(x[idx], t[idx]) == pytest.approx(h.loss[k], rel=1e-12)
        SGD(0.1).update(replay.params, replay.gradient(x[idx], t[idx]))


def test_weight_decay_is_part_of_the_fallback_loss():
    x, t = blobs()
    net = TwoLayerNet(6, 8, 3, weight_init_std=0.5, rng=3, dtype=np.float64)
    net.weight_decay_lambda = 0.1
    wrapped = LayersOnly(net)
    wrapped.weight_decay_lambda = 0.1
    wrapped.weight_decay_loss = net.weight_decay_loss
    idx = np.arange(20)
    expected = net.loss(x[idx], t[idx])
    h = train(wrapped, SGD(0.1), x[idx], t[idx], batch_size=20, iters=1, verbose=False, rng=0)
    assert h.loss[0] == pytest.approx(expected, rel=1e-12)
    assert expected > net.last_layer.loss  # the decay term is really there


def test_numerical_gradient_mode_trains_like_backprop():
    x, t = blobs(n=40, d=3, c=2)
    runs = {}
    for method in ("backprop", "numerical"):
        net = TwoLayerNet(3, 4, 2, weight_init_std=0.5, rng=0, dtype=np.float64)
        runs[method] = train(
            net, SGD(0.5), x, t, batch_size=10, iters=8, gradient=method, verbose=False, rng=1
        )
    np.testing.assert_allclose(runs["numerical"].loss, runs["backprop"].loss, rtol=1e-6)


def test_any_optimizer_object_works():
    class HalfStep:
        def __init__(self):
            self.calls = 0

        def update(self, params, grads):
            self.calls += 1
            for k in params:
                params[k] -= 0.05 * grads[k]

    x, t = blobs()
    net = TwoLayerNet(6, 10, 3, weight_init_std=0.5, rng=0)
    opt = HalfStep()
    h = train(net, opt, x, t, x, t, batch_size=20, iters=40, verbose=False, rng=0)
    assert opt.calls == 40
    assert h.final("test") > h.accuracy["test"][0]


def test_two_layer_net_learns_blobs_with_a_library_optimizer():
    x, t = blobs(n=300)
    net = TwoLayerNet(6, 16, 3, weight_init_std=0.1, rng=0)
    h = train(net, get_optimizer("sgd", lr=0.1), x, t, x, t, batch_size=30, epochs=20, rng=0,
              verbose=False)  # fmt: skip
    assert h.final("test") > 0.9
    assert h.loss[-10:].mean() < h.loss[:10].mean() / 3


def test_same_seed_same_history_bit_for_bit():
    x, t = blobs()

    def run(seed):
        net = TwoLayerNet(6, 8, 3, rng=seed)
        return train(net, SGD(0.1), x, t, x, t, batch_size=16, iters=50, rng=seed, verbose=False)

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a.loss, b.loss)
    assert a.accuracy == b.accuracy and a.seed == 7
    assert not np.array_equal(a.loss, c.loss)


# -- stopping --------------------------------------------------------------------------------


def test_divergence_stops_at_once_and_names_the_iteration():
    x, t = blobs()
    net = TwoLayerNet(6, 8, 3, weight_init_std=1.0, rng=0)
    trainer = Trainer(
        net,
        SGD(1e10),
        x,
        t,
        x,
        t,
        steps=Steps(batch_size=20, iters=500),
        rng=0,
        output=Output(verbose=False),
    )
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    h = info.value.history
    k = h.iterations_done
    assert 1 <= k < 500
    assert not math.isfinite(h.loss[-1]) and np.isfinite(h.loss[:-1]).all()
    assert f"iteration {k} " in str(info.value) and "smaller learning rate" in str(info.value)
    assert h.stop_reason == "diverged" and h.message == str(info.value)


def test_ctrl_c_stops_after_the_current_step_and_restores_the_handler():
    class Interrupter(RecordingNet):
        def loss_and_gradient(self, x, t):
            result = super().loss_and_gradient(x, t)
            if len(self.batches) == 5:
                os.kill(os.getpid(), signal.SIGINT)
            return result

    before = signal.getsignal(signal.SIGINT)
    x, t = indexed_data(100)
    net = Interrupter()
    trainer = Trainer(
        net,
        SGD(0.1),
        x,
        t,
        steps=Steps(batch_size=10, iters=1000),
        rng=0,
        output=Output(verbose=False),
    )
    with pytest.raises(TrainingInterrupted) as info:
        trainer.fit()
    h = info.value.history
    assert h.iterations_done == 5 and len(net.batches) == 5  # the step in flight finished
    assert h.stop_reason == "interrupted" and "iteration 5 " in h.message
    assert isinstance(info.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_callback_can_stop_training():
    class StopAtEpoch2:
        def __init__(self):
            self.ended = False

        def on_epoch_end(self, trainer, history):
            return history.epochs[-1] == 2

        def on_train_end(self, trainer, history):
            self.ended = True

    x, t = indexed_data(100)
    cb = StopAtEpoch2()
    h = train(RecordingNet(), SGD(0.1), x, t, batch_size=10, epochs=5, callbacks=[cb],
              verbose=False)  # fmt: skip
    assert h.epochs == [0, 1, 2] and h.iterations_done == 20
    assert h.stop_reason == "stopped" and cb.ended


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 101}, "batch_size must be at most"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"iters": 5, "epochs": 1}, "not both"),
        ({"iters": 0}, "iters must be a positive integer"),
        ({"sampling": "random"}, "sampling must be one of"),
        ({"gradient": "finite"}, "gradient must be one of"),
        ({"progress": "yes"}, "progress must be"),
    ],
)
def test_bad_settings_are_refused_before_training(kwargs, message):
    x, t = indexed_data(100)
    with pytest.raises(ValueError, match=message):
        Trainer(RecordingNet(), SGD(0.1), x, t, **trainer_keywords(kwargs))


def test_bad_data_is_refused():
    x, t = indexed_data(100)
    with pytest.raises(ValueError, match="100 samples but t_train has 99"):
        Trainer(RecordingNet(), SGD(0.1), x, t[:99])
    with pytest.raises(ValueError, match="update"):
        Trainer(RecordingNet(), object(), x, t)
    with pytest.raises(ValueError, match="both x_test and t_test"):
        Trainer(RecordingNet(), SGD(0.1), x, t, x_test=x)


# -- output ----------------------------------------------------------------------------------


def test_one_line_per_epoch_in_the_documented_format(capsys):
    x, t = indexed_data(100)
    train(RecordingNet(), SGD(0.1), x, t, x, t, batch_size=10, iters=25, rng=0)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4  # epochs 0..3
    assert re.fullmatch(r"epoch 0/3  loss      -  train 0\.5000  test 0\.5000  \d+\.\d s", lines[0])
    pattern = r"epoch [1-3]/3  loss \d\.\d{4}  train 0\.5000  test 0\.5000  \d+\.\d s"
    assert all(re.fullmatch(pattern, line) for line in lines[1:])
    # The epoch loss is the mean of that epoch's steps: 1/(k+1) for k = 10..19 in epoch 2.
    assert lines[2].split()[3] == f"{np.mean(1 / np.arange(11, 21)):.4f}"


def test_no_progress_bar_when_not_a_terminal(capsys):
    x, t = indexed_data(100)
    train(RecordingNet(), SGD(0.1), x, t, batch_size=10, iters=20, rng=0)
    assert capsys.readouterr().err == ""


def test_progress_bar_on_request_goes_to_stderr(capsys):
    x, t = indexed_data(100)
    train(RecordingNet(), SGD(0.1), x, t, batch_size=10, iters=20, rng=0, progress=True)
    captured = capsys.readouterr()
    assert "epoch 1/2" in captured.err and "it" in captured.err
    assert "epoch 1/2" in captured.out  # the epoch lines still go to stdout


def test_progress_bar_without_tqdm_is_a_plain_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    x, t = indexed_data(100)
    train(RecordingNet(), SGD(0.1), x, t, batch_size=10, iters=20, rng=0, progress=True)
    err = capsys.readouterr().err
    assert "epoch 2/2: 100% (10 it of 10 it)" in err and "\r" in err


# -- History ---------------------------------------------------------------------------------


def test_history_json_and_csv_round_trip(tmp_path):
    x, t = indexed_data(100)
    h = train(RecordingNet(), SGD(0.1), x, t, x, t, batch_size=10, iters=25, rng=3, verbose=False,
              config={"dataset": "indexed"})  # fmt: skip
    h.save(tmp_path / "h.json", csv_path=tmp_path / "h.csv")
    assert sorted(os.listdir(tmp_path)) == ["h.csv", "h.json"]  # no temporary files left
    back = History.load(tmp_path / "h.json")
    np.testing.assert_array_equal(back.loss, h.loss)
    for name in ("epochs", "epoch_iterations", "accuracy", "epoch_loss", "train_time", "seed"):
        assert getattr(back, name) == getattr(h, name)
    assert back.wall_time == h.wall_time
    assert sum(h.train_time) <= h.wall_time < 60
    assert back.config["dataset"] == "indexed" and back.config["batch_size"] == 10
    rows = (tmp_path / "h.csv").read_text().splitlines()
    assert rows[0] == "epoch,iteration,train_acc,test_acc,loss,train_s,eval_s"
    assert len(rows) == 1 + len(h.epochs)
    assert rows[2].startswith("1,10,0.500000,0.500000,")


def test_history_from_before_wall_time_loads(tmp_path):
    h = History(iterations=1, loss=np.array([1.0]), iterations_done=1)
    data = h.to_dict()
    del data["wall_time"]
    assert History.from_dict(data).wall_time is None


def test_history_with_a_nan_loss_is_valid_json(tmp_path):
    h = History(iterations=3, loss=np.array([1.0, np.nan, np.inf]), iterations_done=3)
    path = tmp_path / "h.json"
    h.save(path)
    data = json.loads(path.read_text())  # strict JSON: no NaN tokens
    assert data["loss"] == [1.0, None, None]
    assert "NaN" not in path.read_text()


def test_history_load_refuses_other_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a dlzero history"):
        History.load(path)


def test_book_names_for_the_lists():
    x, t = indexed_data(100)
    h = train(RecordingNet(), SGD(0.1), x, t, x, t, batch_size=10, iters=20, verbose=False)
    assert h.train_acc_list == h.accuracy["train"] and h.test_acc_list == h.accuracy["test"]
    assert h.train_loss_list == list(h.loss)


def test_trainer_evaluates_in_the_networks_own_chunks():
    class Net(TwoLayerNet):
        eval_batch_size = 7

    net = Net(4, 3, 2, rng=0)
    x = np.zeros((20, 4), dtype=np.float32)
    t = np.zeros(20, dtype=np.int64)
    kw = {"steps": Steps(iters=1, batch_size=10), "output": Output(verbose=False)}
    assert Trainer(net, SGD(0.1), x, t, **kw).eval_batch_size == 7
    five = Evaluation(eval_batch_size=5)
    assert Trainer(net, SGD(0.1), x, t, **kw, evaluation=five).eval_batch_size == 5
