"""Tests of evaluation in a second thread while training goes on (Trainer background_eval)."""

import copy
import io
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from dlzero.cli.train import _print_summary
from dlzero.networks import MultiLayerNet, TwoLayerNet
from dlzero.optimizers import SGD
from dlzero.training import (
    EarlyStopping,
    Evaluation,
    History,
    Output,
    RecordDiagnostics,
    Steps,
    Trainer,
    TrainingDiverged,
    TrainingInterrupted,
    background,
)
from dlzero.training.diagnostics import layer_diagnostics


def digits_like(n=3000, d=64, c=10, seed=0):
    """Noisy class prototypes: accuracy moves a lot from epoch to epoch early on."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n).astype(np.uint8)
    prototypes = rng.random((c, d))
    x = (prototypes[t] + 0.6 * rng.standard_normal((n, d))).astype(np.float32)
    return x, t


def make_trainer(background_eval, *, epochs=6, callbacks=(), optimizer=None, net=None):
    x, t = digits_like()
    net = net or TwoLayerNet(64, 20, 10, weight_init_std=0.01, rng=1)
    return Trainer(
        net,
        optimizer or SGD(lr=0.3),
        x[:2000],
        t[:2000],
        x[2000:],
        t[2000:],
        steps=Steps(batch_size=50, epochs=epochs, sampling="replacement"),
        rng=2,
        evaluation=Evaluation(background_eval=background_eval),
        output=Output(verbose=False, progress=False),
        callbacks=callbacks,
    )


def blas_threads():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_background_evaluation_records_the_same_history_as_the_foreground():
    # On one BLAS thread both ways, so the products, and so the accuracies, agree bit for bit:
    # the background evaluation saw each epoch's own weights, not later ones.
    with threadpool_limits(1, user_api="blas"):
        fg = make_trainer(False).fit()
        bg = make_trainer(True).fit()
    assert fg.config["background_eval"] is False
    assert bg.config["background_eval"] is True
    assert np.array_equal(fg.loss, bg.loss)
    assert bg.epochs == fg.epochs == list(range(7))
    assert bg.epoch_iterations == fg.epoch_iterations
    assert bg.epoch_loss == fg.epoch_loss
    assert bg.accuracy == fg.accuracy
    # and the curve did move, so a snapshot from the wrong epoch would have shown
    assert len(set(bg.accuracy["test"])) >= 4
    assert bg.stop_reason == "completed" and bg.iterations_done == 6 * 40


def test_only_the_last_evaluation_runs_in_the_foreground(monkeypatch):
    # The initial weights are evaluated alongside the first epoch, the others alongside the
    # next; the last one has no epoch to overlap and runs in the caller's thread.
    calls = []
    foreground = Trainer.evaluate
    monkeypatch.setattr(Trainer, "evaluate", lambda self: calls.append(1) or foreground(self))
    history = make_trainer(True).fit()
    assert history.epochs == list(range(7))
    assert len(calls) == 1
    calls.clear()
    make_trainer(False).fit()
    assert len(calls) == 7


def test_a_background_safe_callback_stopping_at_epoch_0_stops_soon_after():
    class StopAtOnce:
        background_safe = True

        def on_epoch_end(self, trainer, history):
            return True

    with threadpool_limits(1, user_api="blas"):
        history = make_trainer(True, callbacks=[StopAtOnce()]).fit()
    # epoch 0's accuracies may come in before the first step is taken (a quick evaluation
    # thread) or after a few: the message says which, and either way nothing more is recorded
    assert history.stop_reason == "stopped"
    assert history.message in (
        "stopped by a callback after epoch 0",
        "stopped by a callback before the first step",
    )
    assert history.epochs == [0]
    # it acted when epoch 0's accuracies came in: during the first epoch's 40 steps, or at
    # their end at the latest, before epoch 1 was recorded
    assert history.iterations_done <= 40


def test_blas_threads_are_restored_after_training():
    with threadpool_limits(3, user_api="blas"):  # (not 1: restoring 1 would prove nothing)
        make_trainer(True).fit()
        assert blas_threads() and set(blas_threads()) == {3}


def test_blas_threads_are_restored_and_history_kept_when_interrupted(monkeypatch):
    limit = threadpool_limits(3, user_api="blas")
    before = blas_threads()
    assert set(before) == {3}
    evaluate = background.BackgroundEvaluator._evaluate

    def slow_evaluate(self, snapshot):
        time.sleep(0.2)  # still running when the stop comes, at the next epoch's first step
        return evaluate(self, snapshot)

    monkeypatch.setattr(background.BackgroundEvaluator, "_evaluate", slow_evaluate)

    class StopDuringEpoch4(SGD):
        def update(self, params, grads):
            super().update(params, grads)
            self.n = getattr(self, "n", 0) + 1
            if self.n == 3 * 40 + 1:
                trainer._stop_requested = True

    trainer = make_trainer(True, optimizer=StopDuringEpoch4(lr=0.3))
    with pytest.raises(TrainingInterrupted) as err:
        trainer.fit()
    history = err.value.history
    # Epoch 3 was being evaluated in the background when the stop came: it is kept.
    assert history.epochs == [0, 1, 2, 3]
    assert all(len(acc) == 4 for acc in history.accuracy.values())
    assert history.iterations_done == 121
    assert blas_threads() == before
    limit.restore_original_limits()


def test_an_interrupt_keeps_its_reason_when_a_callback_says_stop_on_the_epoch_in_flight(
    monkeypatch,
):
    evaluate = background.BackgroundEvaluator._evaluate

    def slow_evaluate(self, snapshot):
        time.sleep(0.2)  # still running when the stop comes
        return evaluate(self, snapshot)

    monkeypatch.setattr(background.BackgroundEvaluator, "_evaluate", slow_evaluate)

    class StopAtEpoch1:
        background_safe = True

        def on_epoch_end(self, trainer, history):
            if history.epochs[-1] == 1:
                history.message = "the callback's own reason"
                return True
            return False

    class StopDuringEpoch2(SGD):
        def update(self, params, grads):
            super().update(params, grads)
            self.n = getattr(self, "n", 0) + 1
            if self.n == 40 + 1:
                trainer._stop_requested = True

    trainer = make_trainer(True, callbacks=[StopAtEpoch1()], optimizer=StopDuringEpoch2(lr=0.3))
    trainer.verbose, trainer.log = True, io.StringIO()
    with pytest.raises(TrainingInterrupted) as err:
        trainer.fit()
    history = err.value.history
    assert history.epochs == [0, 1]  # epoch 1 came in after the stop, and is kept
    assert history.stop_reason == "interrupted"
    assert history.message.startswith("interrupted at iteration 41")
    # The log has the two epoch lines and nothing about a stop (the exception reports it).
    lines = trainer.log.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["0/6", "1/6"]


def test_no_overflow_warning_from_the_worker_on_a_diverging_run(recwarn):
    class Explode(SGD):
        def update(self, params, grads):
            super().update(params, grads)
            self.n = getattr(self, "n", 0) + 1
            if self.n == 40:  # end of epoch 1: its evaluation sees huge weights
                params["W1"] *= np.float32(1e30)
                params["W2"] *= np.float32(1e30)

    with pytest.raises(TrainingDiverged):
        make_trainer(True, optimizer=Explode(lr=0.3)).fit()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_history_kept_when_training_diverges():
    class BreakDuringEpoch3(SGD):
        def update(self, params, grads):
            super().update(params, grads)
            self.n = getattr(self, "n", 0) + 1
            if self.n == 2 * 40 + 5:
                params["W1"][...] = np.nan

    with pytest.raises(TrainingDiverged) as err:
        make_trainer(True, optimizer=BreakDuringEpoch3(lr=0.3)).fit()
    history = err.value.history
    assert history.epochs == [0, 1, 2]
    assert history.stop_reason == "diverged"


def test_an_error_in_the_evaluation_reaches_the_caller(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("evaluation broke")

    monkeypatch.setattr(background.BackgroundEvaluator, "_evaluate", broken)
    with pytest.raises(RuntimeError, match="evaluation broke"):
        make_trainer(True).fit()


def test_auto_uses_it_for_the_chapter5_shape_of_run(monkeypatch):
    monkeypatch.setattr(background, "available_cpus", lambda: 2)
    x = np.zeros((6000, 784), np.float32)
    t = np.zeros(6000, np.uint8)
    trainer = Trainer(
        TwoLayerNet(784, 50, 10, rng=0),
        SGD(lr=0.1),
        x,
        t,
        x[:1000],
        t[:1000],
        steps=Steps(iters=200),
        output=Output(verbose=False),
    )
    assert trainer.background_eval == "auto"
    assert trainer.background_eval_problem() is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"cpus": 1}, "one CPU"),
        ({"epochs": 1}, "one epoch"),
        ({"callbacks": [EarlyStopping(2, monitor="test")]}, "EarlyStopping"),
        ({"callbacks": [RecordDiagnostics(np.zeros((5, 64)), np.zeros(5, int))]}, "Record"),
        ({"net": "dropout"}, "plain MLP"),
        ({"background_eval": False}, "is False"),
    ],
)
def test_auto_declines_when_it_cannot_or_would_not_pay(monkeypatch, change, reason):
    monkeypatch.setattr(background, "available_cpus", lambda: change.get("cpus", 2))
    net = None
    if change.get("net") == "dropout":
        net = MultiLayerNet(64, [20], 10, use_dropout=True, rng=0)
    trainer = make_trainer(
        change.get("background_eval", "auto"),
        epochs=change.get("epochs", 6),
        callbacks=change.get("callbacks", ()),
        net=net,
    )
    problem = trainer.background_eval_problem()
    assert problem is not None and reason in problem
    if "cpus" not in change and change.get("background_eval") is not False:
        # and insisting is an error, not a silent foreground run
        trainer.background_eval = True
        with pytest.raises(ValueError, match="background_eval=True"):
            trainer.fit()


def test_auto_declines_when_evaluation_outweighs_an_epoch(monkeypatch):
    monkeypatch.setattr(background, "available_cpus", lambda: 2)
    x, t = digits_like(n=3000)
    # 100 samples to train on per epoch, 2,900 to evaluate
    trainer = Trainer(
        TwoLayerNet(64, 20, 10, rng=0),
        SGD(lr=0.1),
        x[:100],
        t[:100],
        x[100:],
        t[100:],
        steps=Steps(batch_size=50, epochs=3),
        output=Output(verbose=False),
    )
    assert "shorter than its evaluation" in trainer.background_eval_problem()
    assert trainer.fit().config["background_eval"] is False


def test_auto_leaves_a_convolutional_networks_evaluation_in_the_foreground(monkeypatch):
    # Its two lanes keep both cores busy: an image evaluated beside them costs the steps
    # about as much as one evaluated in the foreground, or more (BENCHMARKS.md, issue 26).
    from dlzero.convnets import SimpleConvNet
    from dlzero.fast import fused_step
    from dlzero.optimizers import Adam

    monkeypatch.setattr(background, "available_cpus", lambda: 2)
    x, t = digits_like(n=1200)
    net = SimpleConvNet((1, 8, 8), {"filter_num": 4, "filter_size": 3}, 16, 10, rng=1)
    trainer = Trainer(
        net, Adam(lr=0.01), x[:1000].reshape(-1, 1, 8, 8), t[:1000],
        x[1000:].reshape(-1, 1, 8, 8), t[1000:], steps=Steps(batch_size=50, epochs=3),
        output=Output(verbose=False, progress=False),
    )  # fmt: skip
    fused_step(net).lanes = 2
    assert trainer.background_eval_problem() == "the steps already keep every core busy (two lanes)"
    fused_step(net).lanes = 1
    if background.can_limit_blas_threads():
        assert trainer.background_eval_problem() is None


def test_diagnostics_before_and_after_only_allow_it():
    x, t = digits_like(n=10)
    assert RecordDiagnostics(x, t, every_epoch=False).background_safe
    assert not RecordDiagnostics(x, t).background_safe
    with threadpool_limits(1, user_api="blas"):
        net = TwoLayerNet(64, 20, 10, weight_init_std=0.01, rng=1)
        before = layer_diagnostics(copy.deepcopy(net), x, t).to_dict()
        callback = RecordDiagnostics(x, t, every_epoch=False)
        history = make_trainer(True, callbacks=[callback], net=net).fit()
    assert history.config["background_eval"] is True
    assert [d["epoch"] for d in history.diagnostics] == [0, 6]
    # epoch 0's measurement is of the initial weights, not of weights some steps later
    first = {k: v for k, v in history.diagnostics[0].items() if k not in ("epoch", "problems")}
    assert first == before


def test_a_line_printed_under_a_progress_bar_clears_and_redraws_it(monkeypatch):
    events = []

    class FakeBar:
        def __init__(self, epoch, total):
            self.epoch = epoch

        def update(self, n):
            pass

        def clear(self):
            events.append(("clear", self.epoch))

        def refresh(self):
            events.append(("refresh", self.epoch))

        def close(self):
            events.append(("close", self.epoch))

    class Log:
        def write(self, text):
            if text.strip():
                events.append(("print", text.split()[1]))

        def flush(self):
            pass

    evaluate = background.BackgroundEvaluator._evaluate

    def slow_evaluate(self, snapshot):
        time.sleep(0.05)  # done mid-epoch, while the next epoch's bar is up
        return evaluate(self, snapshot)

    monkeypatch.setattr(background.BackgroundEvaluator, "_evaluate", slow_evaluate)
    monkeypatch.setattr(Trainer, "_progress_bar_factory", lambda self: FakeBar)
    trainer = make_trainer(True, epochs=3)
    trainer.verbose, trainer.log = True, Log()

    class SlowSGD(SGD):
        def update(self, params, grads):
            super().update(params, grads)
            time.sleep(0.01)  # 40 steps: 0.4 s an epoch

    trainer.optimizer = SlowSGD(lr=0.3)
    trainer.fit()
    # epoch 1's line comes during epoch 2, between a clear and a redraw of epoch 2's bar
    i = events.index(("print", "1/3"))
    assert events[i - 1] == ("clear", 2) and events[i + 1] == ("refresh", 2)
    # lines printed with no bar up touch no bar
    j = events.index(("print", "3/3"))
    assert events[j - 1] == ("close", 3)


def test_a_background_safe_callback_can_still_stop_training():
    class StopAfterEpoch2:
        background_safe = True

        def on_epoch_end(self, trainer, history):
            return history.epochs[-1] == 2

    with threadpool_limits(1, user_api="blas"):
        history = make_trainer(True, callbacks=[StopAfterEpoch2()]).fit()
    assert history.stop_reason == "stopped"
    assert "after epoch 2" in history.message
    assert history.epochs == [0, 1, 2]
    # it acted when epoch 2's accuracies came in, some steps into epoch 3: those steps count
    assert 80 <= history.iterations_done <= 120
    assert np.isfinite(history.loss).all() and len(history.loss) == history.iterations_done


def test_background_eval_must_be_true_false_or_auto():
    with pytest.raises(ValueError, match="background_eval"):
        make_trainer("yes")


def test_summary_says_the_evaluation_overlapped(capsys):
    history = History(iterations=10, iterations_done=10, seed=0, stop_reason="completed")
    history.epochs, history.accuracy = [0, 1], {"test": [0.1, 0.9]}
    history.train_time, history.eval_time = [0.0, 2.0], [0.5, 1.0]
    history.config["background_eval"] = True
    _print_summary(history, None)
    assert "2.0 s training, alongside it 1.5 s evaluating" in capsys.readouterr().out
    history.config["background_eval"] = False
    _print_summary(history, None)
    assert "2.0 s training + 1.5 s evaluating" in capsys.readouterr().out


def test_on_train_begin_runs_once_before_the_first_step():
    seen = []

    class Watch:
        background_safe = True

        def on_train_begin(self, trainer, history):
            seen.append(("begin", history.iterations_done, np.isnan(history.loss).all()))

        def on_epoch_end(self, trainer, history):
            seen.append(("epoch", history.epochs[-1]))

    make_trainer(True, epochs=2, callbacks=[Watch()]).fit()
    assert seen[0] == ("begin", 0, True)
    assert [s for s in seen if s[0] == "begin"] == [seen[0]]
    assert [s[1] for s in seen[1:]] == [0, 1, 2]


class _NaNAtStep3(SGD):
    def update(self, params, grads):
        super().update(params, grads)
        self.steps = getattr(self, "steps", 0) + 1
        if self.steps == 3:
            params["W1"][...] = np.nan


def test_callbacks_see_epoch_0_when_training_diverges_in_the_first_epoch():
    seen = []

    class Log:
        background_safe = True

        def on_epoch_end(self, trainer, history):
            seen.append(history.epochs[-1])

    trainer = make_trainer(True, callbacks=[Log()], optimizer=_NaNAtStep3(lr=0.3))
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    assert info.value.history.epochs == [0]
    assert seen == [0]


def test_on_train_end_runs_even_when_on_train_begin_fails():
    ended = []

    class Broken:
        background_safe = True

        def on_train_begin(self, trainer, history):
            raise ValueError("broken callback")

    class End:
        background_safe = True

        def on_train_end(self, trainer, history):
            ended.append(history.iterations_done)

    with pytest.raises(ValueError, match="broken callback"):
        make_trainer(True, callbacks=[Broken(), End()]).fit()
    assert ended == [0]


def test_a_convolutional_network_is_evaluated_in_the_background_alike():
    from dlzero.convnets import SimpleConvNet
    from dlzero.optimizers import Adam

    x, t = digits_like(n=1200)
    x = x.reshape(-1, 1, 8, 8)

    def run(background_eval):
        net = SimpleConvNet((1, 8, 8), {"filter_num": 4, "filter_size": 3}, 16, 10, rng=1)
        trainer = Trainer(
            net,
            Adam(lr=0.01),
            x[:1000],
            t[:1000],
            x[1000:],
            t[1000:],
            steps=Steps(batch_size=50, epochs=3),
            rng=2,
            evaluation=Evaluation(background_eval=background_eval),
            output=Output(verbose=False, progress=False),
        )
        if background_eval == "auto":
            # Two lanes where BLAS may use two threads: the steps keep both cores busy.
            lanes = trainer.background_eval_problem() == (
                "the steps already keep every core busy (two lanes)"
            )
            assert lanes or trainer.background_eval_problem() == "one CPU"
        return trainer.fit()

    with threadpool_limits(1, user_api="blas"):
        fg, bg = run(False), run(True)
    assert bg.config["background_eval"] is True
    assert np.array_equal(fg.loss, bg.loss)
    assert bg.accuracy == fg.accuracy
    assert len(set(bg.accuracy["test"])) >= 3  # the curve moved: a wrong snapshot would show
    run("auto")
