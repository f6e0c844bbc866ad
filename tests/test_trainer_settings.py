"""Tests of the trainer's settings groups, ``train``'s flat keywords, and the loop's shape."""

import ast
import dataclasses
import inspect
import io
import textwrap

import numpy as np
import pytest

from dlzero.networks import TwoLayerNet
from dlzero.optimizers import SGD
from dlzero.training import (
    EarlyStopping,
    Evaluation,
    Output,
    Steps,
    Stopping,
    Trainer,
    train,
)
from dlzero.training.data import train_subset
from dlzero.training.settings import trainer_keywords

# Every keyword Trainer took before the settings were grouped, besides the data: train keeps
# taking each of them, flat (and train_eval_size, which came later).
FLAT_KEYWORDS = {
    "eval_sets", "batch_size", "iters", "epochs", "sampling", "gradient", "rng",
    "eval_batch_size", "evaluate_train", "verbose", "progress", "handle_sigint", "callbacks",
    "config", "log", "validation_fraction", "patience", "diagnostics", "seed",
    "background_eval", "augment", "train_eval_size",
}  # fmt: skip


def blobs(n=300, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n)
    centers = 3 * rng.standard_normal((c, d))
    return (centers[t] + rng.standard_normal((n, d))).astype(np.float32), t


def fields(group):
    return {f.name for f in dataclasses.fields(group)}


def test_every_old_keyword_is_a_trainer_keyword_or_a_field_of_one_group():
    groups = [Steps, Evaluation, Stopping, Output]
    own = {"rng", "callbacks"}
    names = [name for g in groups for name in fields(g)]
    assert len(names) == len(set(names))  # a flat keyword names one field only
    assert set(names) | own == FLAT_KEYWORDS


def test_train_takes_the_flat_keywords_as_before():
    x, t = blobs()
    log = io.StringIO()

    class Seen:
        background_safe = True

        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, trainer, history):
            self.epochs.append(history.epochs[-1])

    def net():
        return TwoLayerNet(6, 10, 3, weight_init_std=0.3, rng=0)

    flat_seen, grouped_seen = Seen(), Seen()
    flat = train(
        net(), SGD(0.1), x[:200], t[:200], x[200:], t[200:],
        batch_size=20, epochs=4, sampling="replacement", gradient="backprop", rng=3,
        eval_sets={"extra": (x[:30], t[:30])}, eval_batch_size=7, evaluate_train=False,
        validation_fraction=0.25, patience=2, diagnostics=10, background_eval=False,
        verbose=True, progress=False, log=log, handle_sigint=False, callbacks=[flat_seen],
        config={"note": "flat"}, seed=11, augment=None,
    )  # fmt: skip
    grouped = Trainer(
        net(), SGD(0.1), x[:200], t[:200], x[200:], t[200:],
        steps=Steps(batch_size=20, epochs=4, sampling="replacement", gradient="backprop"),
        rng=3,
        evaluation=Evaluation(
            eval_sets={"extra": (x[:30], t[:30])}, eval_batch_size=7, evaluate_train=False,
            validation_fraction=0.25, diagnostics=10, background_eval=False,
        ),
        stopping=Stopping(patience=2, handle_sigint=False),
        output=Output(verbose=False, progress=False, config={"note": "flat"}, seed=11),
        callbacks=[grouped_seen],
    ).fit()  # fmt: skip
    np.testing.assert_array_equal(flat.loss, grouped.loss)
    assert flat.accuracy == grouped.accuracy and set(flat.accuracy) == {"val", "test", "extra"}
    assert flat.epochs == grouped.epochs and flat_seen.epochs == grouped_seen.epochs
    assert flat.config == grouped.config
    assert flat.config["note"] == "flat" and flat.config["patience"] == 2
    assert flat.seed == 11 and len(flat.diagnostics) == len(grouped.diagnostics) > 0
    assert log.getvalue().splitlines()[0].startswith("epoch 0/4")


def test_iters_as_a_flat_keyword():
    x, t = blobs()
    h = train(TwoLayerNet(6, 5, 3, rng=0), SGD(0.1), x, t, iters=7, batch_size=50, verbose=False)
    assert h.iterations_done == 7 and h.epochs == [0, 1, 2]


def test_a_flat_keyword_changes_one_field_of_the_group_given_with_it():
    out = trainer_keywords({"steps": Steps(batch_size=10, epochs=3), "epochs": 5, "rng": 1})
    assert out == {"steps": Steps(batch_size=10, epochs=5), "rng": 1}
    out = trainer_keywords({"verbose": False, "patience": 2})
    assert out == {"output": Output(verbose=False), "stopping": Stopping(patience=2)}


def test_train_refuses_an_unknown_keyword():
    x, t = blobs()
    with pytest.raises(TypeError, match="train\\(\\) got an unexpected keyword argument 'epoch'"):
        train(TwoLayerNet(6, 5, 3, rng=0), SGD(0.1), x, t, epoch=3)


def test_the_groups_are_checked_when_made_and_then_frozen():
    steps = Steps(batch_size=np.int64(10), epochs=np.int64(2))
    assert type(steps.batch_size) is int and type(steps.epochs) is int
    with pytest.raises(dataclasses.FrozenInstanceError):
        steps.batch_size = 5
    assert Evaluation(validation_fraction=np.float32(0.5)).validation_fraction == 0.5
    assert Output(verbose=0, seed=np.int64(3)) == Output(verbose=False, seed=3)
    for make, message in [
        (lambda: Steps(batch_size=0), "batch_size must be a positive integer"),
        (lambda: Steps(iters=3, epochs=1), "not both"),
        (lambda: Steps(sampling="random"), "sampling must be one of"),
        (lambda: Evaluation(background_eval="yes"), "background_eval must be True, False"),
        (lambda: Evaluation(validation_fraction=1.0), "validation_fraction must be"),
        (lambda: Evaluation(diagnostics=-1), "diagnostics must be an integer >= 0"),
        (lambda: Evaluation(train_eval_size=0), "train_eval_size must be a positive integer"),
        (lambda: Evaluation(eval_sets={"a": (np.zeros((3, 2)), np.zeros(2))}), "eval set 'a'"),
        (lambda: Stopping(patience=0), "patience must be a positive integer"),
        (lambda: Output(progress="yes"), "progress must be True, False or 'auto'"),
    ]:
        with pytest.raises(ValueError, match=message):
            make()


def test_train_accuracy_on_a_fixed_random_sample_of_the_training_set():
    x, t = blobs(n=300)
    order = np.argsort(t, kind="stable")  # sorted by class: every class must get its share
    x, t = x[order], t[order]
    net = TwoLayerNet(6, 8, 3, rng=0)
    rng_state = np.random.default_rng(1).bit_generator.state
    history = train(
        net, SGD(lr=0.1), x, t, x[:50], t[:50], rng=1, epochs=2, batch_size=30,
        train_eval_size=70, verbose=False, progress=False, background_eval=False,
    )  # fmt: skip
    assert history.config["train_eval_size"] == 70 and history.config["train_size"] == 300
    sample_x, sample_t = train_subset(x, t, 70)
    assert len(sample_t) == 70 and np.bincount(sample_t).min() >= 15  # each class its share
    assert history.accuracy["train"][-1] == net.accuracy(sample_x, sample_t)
    # The same sample in every run and for every training seed, in the set's order, no repeats.
    index = [int(np.flatnonzero((x == row).all(axis=1))[0]) for row in sample_x]
    assert index == sorted(set(index)) and np.array_equal(train_subset(x, t, 70)[0], sample_x)
    # Nothing drawn from the training stream: the same mini-batches, so the same losses.
    whole = train(
        TwoLayerNet(6, 8, 3, rng=0), SGD(lr=0.1), x, t, x[:50], t[:50], rng=1, epochs=2,
        batch_size=30, verbose=False, progress=False, background_eval=False,
    )  # fmt: skip
    assert np.array_equal(history.loss, whole.loss)
    assert "train_eval_size" not in whole.config
    assert whole.accuracy["train"][-1] == net.accuracy(x, t)
    assert np.random.default_rng(1).bit_generator.state == rng_state


def test_the_sample_is_not_every_kth_image():
    """MNIST alternates its two groups of writers: every 6th image would take one group only.
    A set whose even samples are all 0 and odd ones all 1 must give a sample of both."""
    x = np.arange(600, dtype=np.float64).reshape(300, 2)
    t = np.arange(300) % 2
    _, sample_t = train_subset(x, t, 50)  # 300 // 50 = 6: every 6th would be all zeros
    assert 15 <= sample_t.sum() <= 35


def test_a_train_eval_size_of_the_whole_set_or_more_takes_it_all():
    x, t = blobs(n=60)
    trainer = Trainer(
        TwoLayerNet(6, 8, 3, rng=0), SGD(lr=0.1), x, t,
        evaluation=Evaluation(train_eval_size=60), steps=Steps(batch_size=20, epochs=1),
    )  # fmt: skip
    assert trainer.eval_sets["train"][0] is x
    assert "train_eval_size" not in trainer.config


def test_trainer_refuses_a_group_in_the_wrong_place():
    x, t = blobs()
    with pytest.raises(TypeError, match="expected a Steps"):
        Trainer(TwoLayerNet(6, 5, 3, rng=0), SGD(0.1), x, t, steps=Evaluation())


def test_trainer_takes_at_most_twelve_parameters():
    parameters = list(inspect.signature(Trainer).parameters)
    assert len(parameters) <= 12, parameters


def test_early_stopping_comes_from_the_stopping_group():
    x, t = blobs()
    trainer = Trainer(
        TwoLayerNet(6, 5, 3, rng=0), SGD(0.1), x, t,
        evaluation=Evaluation(validation_fraction=0.2), stopping=Stopping(patience=3),
    )  # fmt: skip
    (stopper,) = trainer.callbacks
    assert isinstance(stopper, EarlyStopping) and stopper.patience == 3


def _depth(node, depth=0):
    """The deepest nesting of compound statements (for, while, if, with, try) in ``node``."""
    compound = (ast.For, ast.While, ast.If, ast.With, ast.Try)
    deepest = depth
    for child in ast.iter_child_nodes(node):
        inner = depth + 1 if isinstance(child, compound) else depth
        deepest = max(deepest, _depth(child, inner))
    return deepest


def test_the_loop_reads_like_the_notes_loop():
    # for epoch -> for step -> if, and short enough to read against the notes in one screen:
    # the progress bar, Ctrl-C and the evaluations are beside it (loop_support), not in it.
    source = textwrap.dedent(inspect.getsource(Trainer._fit))
    tree = ast.parse(source).body[0]
    assert _depth(tree) <= 3
    assert len(source.splitlines()) <= 40
    assert not any(isinstance(n, (ast.Try, ast.With)) for n in ast.walk(tree))
