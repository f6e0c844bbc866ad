"""Tests of the chapter-6 training features: validation split, early stopping, diagnostics."""

import json
import time

import numpy as np
import pytest

from dlzero.networks import MultiLayerNet, TwoLayerNet
from dlzero.optimizers import SGD, get_optimizer
from dlzero.training import (
    EarlyStopping,
    Evaluation,
    History,
    Output,
    RecordDiagnostics,
    Steps,
    Stopping,
    Trainer,
    validation_size,
)
from dlzero.training import trainer as trainer_module


def blobs(n=300, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n)
    centers = 3 * rng.standard_normal((c, d))
    x = (centers[t] + rng.standard_normal((n, d))).astype(np.float32)
    return x, t


class Snapshots:
    """A callback keeping a copy of every parameter and batch-norm state after each epoch."""

    def __init__(self):
        self.by_epoch = {}

    def on_epoch_end(self, trainer, history):
        net = trainer.network
        saved = {k: p.copy() for k, p in net.params.items()}
        for name, layer in net.layers.items():
            for s in layer.state_names:
                saved[f"{name}.{s}"] = getattr(layer, s).copy()
        self.by_epoch[history.epochs[-1]] = saved


def scripted_val_accuracy(monkeypatch, net, n_val, values):
    """Make ``net.accuracy`` on the validation set (the only set of ``n_val`` samples) return
    ``values`` one evaluation after another; other sets get 0.5."""
    script = iter(values)
    real = net.accuracy

    def accuracy(x, t, batch_size=None):
        if len(x) == n_val:
            return next(script)
        real(x, t, batch_size)  # still run the network, as a real evaluation would
        return 0.5

    monkeypatch.setattr(net, "accuracy", accuracy)
    # The trainer evaluates through dlzero.fast, which predicts by the fused path: let it ask
    # the network's own (scripted) accuracy instead.
    monkeypatch.setattr(
        trainer_module, "accuracy", lambda network, x, t, batch_size=None: network.accuracy(x, t)
    )


# -- validation split ------------------------------------------------------------------------


def test_validation_split_is_disjoint_complete_and_seeded():
    x = np.arange(200, dtype=np.float32).reshape(100, 2)  # row i holds 2i, 2i + 1
    t = np.arange(100) % 3

    def split(seed):
        net = TwoLayerNet(2, 3, 3, rng=0)
        tr = Trainer(
            net,
            SGD(),
            x,
            t,
            steps=Steps(batch_size=10),
            rng=seed,
            evaluation=Evaluation(validation_fraction=0.25),
        )
        return tr.x_train[:, 0] // 2, tr.eval_sets["val"][0][:, 0] // 2, tr

    train_rows, val_rows, trainer = split(7)
    assert len(val_rows) == 25 and len(train_rows) == 75 == trainer.train_size
    assert sorted(np.concatenate([train_rows, val_rows]).tolist()) == list(range(100))
    # Labels travel with their samples; the "train" eval set is the reduced set.
    np.testing.assert_array_equal(trainer.eval_sets["val"][1], t[val_rows.astype(int)])
    assert trainer.eval_sets["train"][0] is trainer.x_train
    assert list(trainer.eval_sets) == ["train", "val"]
    np.testing.assert_array_equal(split(7)[1], val_rows)
    assert not np.array_equal(split(8)[1], val_rows)


def test_validation_accuracy_is_recorded_and_config_says_so():
    x, t = blobs()
    h = Trainer(
        TwoLayerNet(6, 10, 3, weight_init_std=0.3, rng=0),
        SGD(0.1),
        x,
        t,
        steps=Steps(epochs=3),
        rng=0,
        evaluation=Evaluation(validation_fraction=0.2),
        output=Output(verbose=False),
    ).fit()
    assert len(h.accuracy["val"]) == 4 and h.accuracy["val"][-1] > 0.8
    assert h.config["validation_fraction"] == 0.2 and h.config["val_size"] == 60


@pytest.mark.parametrize(
    ("n", "fraction", "expected"), [(100, 0.2, 20), (10, 0.01, 1), (3, 0.99, 2), (5, 0.0, 0)]
)
def test_validation_size_keeps_at_least_one_on_each_side(n, fraction, expected):
    assert validation_size(n, fraction) == expected


@pytest.mark.parametrize("fraction", [1.0, -0.1, 2, "0.2", True])
def test_bad_validation_fraction_is_refused(fraction):
    x, t = blobs(20)
    with pytest.raises(ValueError, match="validation_fraction must be a number in"):
        Trainer(
            TwoLayerNet(6, 3, 3, rng=0),
            SGD(),
            x,
            t,
            evaluation=Evaluation(validation_fraction=fraction),
        )


# -- early stopping --------------------------------------------------------------------------


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch(monkeypatch):
    x, t = blobs(100)
    net = TwoLayerNet(6, 8, 3, weight_init_std=0.3, rng=0)
    params_before = dict(net.params)
    # Epochs 0..: val accuracy peaks at epoch 2, then 3 epochs without improvement (a tie
    # with the best does not count as one).
    scripted_val_accuracy(monkeypatch, net, 20, [0.1, 0.5, 0.8, 0.7, 0.8, 0.6, 0.9, 0.9])
    snaps = Snapshots()
    trainer = Trainer(
        net,
        SGD(0.1),
        x,
        t,
        steps=Steps(epochs=10, batch_size=20),
        rng=0,
        evaluation=Evaluation(validation_fraction=0.2),
        stopping=Stopping(patience=3),
        output=Output(verbose=False),
        callbacks=[snaps],
    )
    h = trainer.fit()
    assert h.epochs == [0, 1, 2, 3, 4, 5] and h.stop_reason == "stopped"
    assert h.best_epoch == 2 and h.at_best("val") == 0.8
    assert "has not improved for 3 epochs since epoch 2" in h.message
    for key, p in net.params.items():
        np.testing.assert_array_equal(p, snaps.by_epoch[2][key])
        assert not np.array_equal(p, snaps.by_epoch[5][key])
        # Restored in place: the layers and params still share the very same arrays.
        assert p is params_before[key]
    assert net.layers["Affine1"].W is net.params["W1"]


def test_early_stopping_restores_batch_norm_running_statistics(monkeypatch):
    x, t = blobs(120, d=5)
    net = MultiLayerNet(5, [6, 6], 3, use_batchnorm=True, rng=0)
    scripted_val_accuracy(monkeypatch, net, 24, [0.2, 0.6, 0.4, 0.3, 0.9])
    snaps = Snapshots()
    h = Trainer(
        net,
        get_optimizer("adam", lr=0.01),
        x,
        t,
        steps=Steps(epochs=8, batch_size=32),
        rng=1,
        evaluation=Evaluation(validation_fraction=0.2),
        stopping=Stopping(patience=2),
        output=Output(verbose=False),
        callbacks=[snaps],
    ).fit()
    assert h.best_epoch == 1 and h.epochs[-1] == 3
    for key, saved in snaps.by_epoch[1].items():
        if "." in key:
            layer, state = key.split(".")
            now = getattr(net.layers[layer], state)
        else:
            now = net.params[key]
        np.testing.assert_array_equal(now, saved)
    assert not np.array_equal(snaps.by_epoch[1]["BatchNorm1.running_mean"],
                              snaps.by_epoch[3]["BatchNorm1.running_mean"])  # fmt: skip


def test_best_epoch_at_the_end_leaves_the_weights_alone():
    x, t = blobs()
    net = TwoLayerNet(6, 10, 3, weight_init_std=0.3, rng=0)
    snaps = Snapshots()
    stopper = EarlyStopping(patience=50)
    h = Trainer(
        net,
        SGD(0.1),
        x,
        t,
        steps=Steps(epochs=3),
        rng=0,
        evaluation=Evaluation(validation_fraction=0.2),
        output=Output(verbose=False),
        callbacks=[snaps, stopper],
    ).fit()
    assert h.stop_reason == "completed"
    best = h.best_epoch
    assert h.at_best("val") == max(h.accuracy["val"])
    for key, p in net.params.items():
        np.testing.assert_array_equal(p, snaps.by_epoch[best][key])


def test_patience_needs_a_validation_set_and_a_positive_count():
    x, t = blobs(50)
    net = TwoLayerNet(6, 3, 3, rng=0)
    with pytest.raises(ValueError, match=r"patience .* needs a validation set"):
        Trainer(net, SGD(), x, t, x, t, steps=Steps(batch_size=10), stopping=Stopping(patience=2))
    with pytest.raises(ValueError, match="patience must be a positive integer"):
        Trainer(
            net,
            SGD(),
            x,
            t,
            steps=Steps(batch_size=10),
            evaluation=Evaluation(validation_fraction=0.2),
            stopping=Stopping(patience=0),
        )


def test_early_stopping_on_a_missing_set_names_the_sets():
    x, t = blobs(50)
    trainer = Trainer(
        TwoLayerNet(6, 3, 3, rng=0),
        SGD(),
        x,
        t,
        steps=Steps(batch_size=10),
        output=Output(verbose=False),
        callbacks=[EarlyStopping(2)],
    )
    with pytest.raises(ValueError, match=r"no eval set named 'val'.*'train'"):
        trainer.fit()


# -- batch normalization and a batch of one --------------------------------------------------


@pytest.mark.parametrize(("n", "batch", "sampling"), [(101, 10, "shuffle"), (50, 1, "shuffle")])
def test_batch_norm_refuses_a_mini_batch_of_one_before_training(n, batch, sampling):
    x, t = blobs(n, d=4)
    net = MultiLayerNet(4, [5], 3, use_batchnorm=True, rng=0)
    with pytest.raises(ValueError, match="batch normalization"):
        Trainer(net, SGD(), x, t, steps=Steps(batch_size=batch, sampling=sampling))


def test_batch_norm_with_full_batches_is_accepted():
    x, t = blobs(101, d=4)
    net = MultiLayerNet(4, [5], 3, use_batchnorm=True, rng=0)
    Trainer(
        net, SGD(), x, t, steps=Steps(batch_size=10, sampling="replacement")
    )  # always full batches
    Trainer(net, SGD(), x, t, steps=Steps(batch_size=30))  # epochs of 30, 30, 30, 11
    Trainer(
        MultiLayerNet(4, [5], 3, rng=0), SGD(), x, t, steps=Steps(batch_size=10)
    )  # no batch norm


# -- diagnostics -----------------------------------------------------------------------------


def test_diagnostics_are_recorded_each_epoch_and_do_not_change_training(tmp_path):
    x, t = blobs()

    def run(diagnostics):
        net = MultiLayerNet(6, [8, 8], 3, activation="sigmoid", use_dropout=True, rng=3)
        return Trainer(
            net,
            SGD(0.5),
            x,
            t,
            steps=Steps(epochs=3),
            rng=4,
            evaluation=Evaluation(diagnostics=diagnostics),
            output=Output(verbose=False),
        ).fit()

    plain, with_diag = run(0), run(50)
    np.testing.assert_array_equal(plain.loss, with_diag.loss)  # bit for bit
    assert plain.diagnostics == []
    assert [d["epoch"] for d in with_diag.diagnostics] == [0, 1, 2, 3]
    first = with_diag.diagnostics[0]
    assert [p["name"] for p in first["params"]] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert all(p["grad_norm"] > 0 for p in first["params"] if p["name"].startswith("W"))
    acts = first["activations"]
    assert [a["kind"] for a in acts] == ["sigmoid", "sigmoid"]
    assert all(0 <= a["saturated_share"] <= 1 for a in acts)
    with_diag.save(tmp_path / "h.json")
    again = History.load(tmp_path / "h.json")
    assert again.diagnostics == json.loads(json.dumps(with_diag.diagnostics))


def test_diagnostics_report_dead_relu_units():
    x, t = blobs(60)
    net = TwoLayerNet(6, 10, 3, weight_init_std=0.5, rng=0)
    net.params["b1"][:6] = -1e3  # six of ten units output 0 for every input: dead
    seen = []
    cb = RecordDiagnostics(x[:40], t[:40], every_epoch=False, on_record=lambda e, r: seen.append(e))
    h = Trainer(
        net,
        SGD(0.01),
        x,
        t,
        steps=Steps(batch_size=20, epochs=2),
        rng=0,
        output=Output(verbose=False),
        callbacks=[cb],
    ).fit()
    assert seen == [0, 2]  # before and after training only
    dead = h.diagnostics[0]["activations"][0]["dead_share"]
    assert dead == pytest.approx(0.6)
    assert any("60% of the ReLU units are dead" in p for p in h.diagnostics[0]["problems"])


def test_diagnostics_take_the_first_training_samples_after_the_split():
    x, t = blobs(60)
    net = TwoLayerNet(6, 10, 3, weight_init_std=0.5, rng=0)
    cb = RecordDiagnostics(samples=7, every_epoch=False)
    trainer = Trainer(
        net,
        SGD(0.01),
        x,
        t,
        steps=Steps(batch_size=10, epochs=1),
        rng=0,
        evaluation=Evaluation(validation_fraction=0.5),
        output=Output(verbose=False),
        callbacks=[cb],
    )
    trainer.fit()
    assert len(cb.x) == 7
    np.testing.assert_array_equal(cb.x, trainer.x_train[:7])  # not x[:7]: that may be held out
    np.testing.assert_array_equal(cb.t, trainer.t_train[:7])
    assert not np.array_equal(trainer.x_train[:7], x[:7])


def test_callbacks_run_outside_the_timed_steps_and_a_stop_draws_no_more_batches():
    x, t = blobs(60)

    class SlowThenStop:
        def on_epoch_end(self, trainer, history):
            time.sleep(0.2)
            return history.epochs[-1] == 2

    def run(epochs, callbacks=()):
        rng = np.random.default_rng(5)
        net = TwoLayerNet(6, 10, 3, weight_init_std=0.5, rng=0)
        h = Trainer(
            net, SGD(0.01), x, t, steps=Steps(batch_size=20, epochs=epochs), rng=rng,
            evaluation=Evaluation(background_eval=False), output=Output(verbose=False),
            callbacks=callbacks,
        ).fit()  # fmt: skip
        return h, rng.integers(1 << 30)

    stopped, after_stop = run(epochs=5, callbacks=[SlowThenStop()])
    assert stopped.stop_reason == "stopped" and stopped.epochs == [0, 1, 2]
    assert max(stopped.train_time) < 0.1  # the callbacks' 0.2 s are not the steps' time
    _, after_two_epochs = run(epochs=2)
    assert after_stop == after_two_epochs  # no third epoch's batches were drawn


def test_diagnostics_need_both_x_and_t_or_neither():
    x, _ = blobs(10)
    with pytest.raises(ValueError, match="both x and t"):
        RecordDiagnostics(x)
    with pytest.raises(ValueError, match="samples must be a positive integer"):
        RecordDiagnostics(samples=0)


def test_history_of_version_1_still_loads():
    h = History(iterations=2, loss=np.array([1.0, 0.5]), iterations_done=2)
    data = h.to_dict()
    data["version"] = 1
    del data["best_epoch"], data["diagnostics"]
    again = History.from_dict(data)
    assert again.best_epoch is None and again.diagnostics == []


class StopAfter(SGD):
    """SGD that asks the trainer to stop (as Ctrl-C does) after ``n`` updates."""

    def __init__(self, n, trainer_box):
        super().__init__(0.1)
        self.n, self.box, self.count = n, trainer_box, 0

    def update(self, params, grads):
        super().update(params, grads)
        self.count += 1
        if self.count == self.n:
            self.box[0]._stop_requested = True


def test_a_stop_mid_epoch_still_restores_the_best_epoch():
    from dlzero.training import TrainingInterrupted

    x, t = blobs(100)
    net = TwoLayerNet(6, 8, 3, weight_init_std=0.3, rng=0)
    box = []
    snaps = Snapshots()
    # 80 training samples, batch 20: 4 steps an epoch; stop after 2 steps of epoch 2.
    trainer = Trainer(
        net,
        StopAfter(6, box),
        x,
        t,
        steps=Steps(epochs=10, batch_size=20),
        rng=0,
        evaluation=Evaluation(validation_fraction=0.2),
        stopping=Stopping(patience=5, handle_sigint=False),
        output=Output(verbose=False),
        callbacks=[snaps],
    )
    box.append(trainer)
    with pytest.raises(TrainingInterrupted) as info:
        trainer.fit()
    h = info.value.history
    assert h.iterations_done == 6 and h.epochs[-1] == 1
    best = h.best_epoch
    for key, p in net.params.items():  # not the weights of the two steps after epoch 1
        np.testing.assert_array_equal(p, snaps.by_epoch[best][key])


def test_a_second_fit_starts_early_stopping_afresh(monkeypatch):
    x, t = blobs(100)
    net = TwoLayerNet(6, 8, 3, weight_init_std=0.3, rng=0)
    scripted_val_accuracy(monkeypatch, net, 20, [0.1, 0.9, 0.5, 0.5, 0.2, 0.3, 0.4, 0.5])
    trainer = Trainer(
        net,
        SGD(0.1),
        x,
        t,
        steps=Steps(epochs=3, batch_size=20),
        rng=0,
        evaluation=Evaluation(validation_fraction=0.2),
        stopping=Stopping(patience=2),
        output=Output(verbose=False),
    )
    first = trainer.fit()
    assert first.best_epoch == 1
    second = trainer.fit()  # its own epochs 0..3: accuracy 0.2 to 0.5, always improving
    assert second.epochs == [0, 1, 2, 3] and second.best_epoch == 3
