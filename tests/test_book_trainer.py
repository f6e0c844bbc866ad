"""The book's ``Trainer`` (:class:`BookTrainer`), ``smooth_curve`` and ``shuffle_dataset``."""

import numpy as np
import pytest

from dlzero.book import BookTrainer
from dlzero.networks import MultiLayerNet
from dlzero.optimizers import OPTIMIZERS
from dlzero.plotting import smooth_curve
from dlzero.training import shuffle_dataset


def _blobs(n=160, seed=0):
    """Three separable clusters in 8 dimensions: a run of a few epochs learns them."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, n)
    x = (rng.normal(size=(3, 8)) * 3)[t] + rng.normal(size=(n, 8))
    return x.astype(np.float32), t


def _book_trainer(epochs=6, batch=40, **kwargs):
    x, t = _blobs()
    net = MultiLayerNet(8, [16], 3, rng=1)
    kwargs.setdefault("optimizer_param", {"lr": 0.1})
    kwargs.setdefault("verbose", False)
    return BookTrainer(net, x[:120], t[:120], x[120:], t[120:], epochs, batch, **kwargs)


def test_train_fills_the_lists_with_the_books_lengths_and_learns():
    trainer = _book_trainer(epochs=6, batch=40)  # 120 samples: 3 steps per epoch
    final = trainer.train()
    assert len(trainer.train_loss_list) == 6 * 3
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 6  # np.arange(epochs)
    losses = trainer.train_loss_list
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    assert trainer.test_acc_list[-1] > trainer.test_acc_list[0]
    history = trainer.trainer.history
    # The lists are the evaluations of epochs 0..5; the one after epoch 6 is the final number.
    assert trainer.test_acc_list == history.accuracy["test"][:6]
    assert final == history.accuracy["test"][6] > 0.9


def test_an_uneven_last_batch_still_gives_one_point_per_epoch():
    trainer = _book_trainer(epochs=4, batch=50)  # 120 / 50: 3 steps per epoch, not 2.4
    trainer.train()
    assert len(trainer.train_acc_list) == 4
    assert len(trainer.train_loss_list) == 4 * 3


def test_verbose_prints_the_books_lines(capsys):
    trainer = _book_trainer(epochs=2, verbose=True)
    trainer.train()
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == "=============== Final Test Accuracy ==============="
    assert lines[-1] == f"test acc:{trainer.test_acc_list[-1]}" or lines[-1].startswith("test acc:")
    # The book's lines: one "train loss:" per step, one "=== epoch:k ..." per list entry.
    losses = [line for line in lines if line.startswith("train loss:")]
    assert [float(line.split(":")[1]) for line in losses] == trainer.train_loss_list
    epochs = [line for line in lines if line.startswith("=== epoch:")]
    assert epochs == [
        f"=== epoch:{k + 1}, train acc:{a}, test acc:{b} ==="
        for k, (a, b) in enumerate(zip(trainer.train_acc_list, trainer.test_acc_list, strict=True))
    ]
    assert not any(line.startswith("epoch ") for line in lines)  # not dlzero's own lines


def test_evaluating_a_sample_per_epoch_and_the_whole_test_set_at_the_end():
    trainer = _book_trainer(epochs=2, evaluate_sample_num_per_epoch=10)
    assert {k: len(x) for k, (x, _) in trainer.trainer.eval_sets.items()} == {
        "train": 10,
        "test": 10,
    }
    final = trainer.train()
    x_test, t_test = trainer.x_test, trainer.t_test
    assert final == trainer.network.accuracy(x_test, t_test)
    with pytest.raises(ValueError, match="evaluate_sample_num_per_epoch"):
        _book_trainer(evaluate_sample_num_per_epoch=0)


@pytest.mark.parametrize("name", ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"])
def test_optimizers_by_the_books_names_any_case(name):
    trainer = _book_trainer(optimizer=name.upper(), optimizer_param={"lr": 0.05})
    assert type(trainer.optimizer) is OPTIMIZERS[name.lower()]
    assert trainer.optimizer.lr == 0.05


def test_bad_optimizer_arguments_are_named():
    with pytest.raises(ValueError, match=r"one of SGD, Momentum.*got 'Adamax'"):
        _book_trainer(optimizer="Adamax")
    with pytest.raises(TypeError, match="optimizer_param for Adam"):
        _book_trainer(optimizer="adam", optimizer_param={"lr": 0.1, "momentum": 0.9})


def test_numpy_global_seed_makes_a_run_repeatable():
    runs = []
    for _ in range(2):
        np.random.seed(5)  # noqa: NPY002 (the book's global seed is the point)
        trainer = _book_trainer(epochs=2)
        trainer.train()
        runs.append(trainer.train_loss_list)
    assert runs[0] == runs[1]
    np.random.seed(6)  # noqa: NPY002
    other = _book_trainer(epochs=2)
    other.train()
    assert other.train_loss_list != runs[0]


def test_train_step_is_the_books_step():
    trainer = _book_trainer(epochs=3, batch=40)
    for _ in range(7):  # steps 0, 3 and 6 start an epoch: evaluated after them
        trainer.train_step()
    assert len(trainer.train_loss_list) == 7
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 3
    assert trainer.current_epoch == 3 and trainer.current_iter == 7


class _BookStyleNet:
    """A network written as the book writes one: a params dict, gradient, loss and an
    ``accuracy(x, t)`` without ``batch_size``; softmax regression, so the test is short."""

    def __init__(self):
        self.params = {"W": np.zeros((8, 3)), "b": np.zeros(3)}
        self.loss_calls_with_nan = 0
        self.poison_after = None

    def _probs(self, x):
        a = x @ self.params["W"] + self.params["b"]
        e = np.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def loss(self, x, t):
        if self.poison_after is not None:
            self.poison_after -= 1
            if self.poison_after < 0:
                return float("nan")
        return -np.mean(np.log(self._probs(x)[np.arange(len(t)), t] + 1e-7))

    def gradient(self, x, t):
        d = self._probs(x)
        d[np.arange(len(t)), t] -= 1
        d /= len(t)
        return {"W": x.T @ d, "b": d.sum(axis=0)}

    def accuracy(self, x, t):
        return float(np.mean(self._probs(x).argmax(axis=1) == t))


def test_a_network_written_the_books_way_trains():
    x, t = _blobs()
    net = _BookStyleNet()
    trainer = BookTrainer(net, x[:120], t[:120], x[120:], t[120:], epochs=5, verbose=False)
    final = trainer.train()
    assert len(trainer.test_acc_list) == 5
    assert final > 0.9 > trainer.test_acc_list[0]


def test_a_diverging_run_ends_the_lists_with_the_network_as_it_is(capsys):
    x, t = _blobs()
    net = _BookStyleNet()
    net.poison_after = 4  # the fifth step's loss is NaN (the book's trainer would go on)
    trainer = BookTrainer(
        net, x[:120], t[:120], x[120:], t[120:], epochs=5, mini_batch_size=40, verbose=False
    )
    trainer.train()
    assert "diverged" in capsys.readouterr().err
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 5
    assert len(trainer.train_loss_list) == 5
    # Epochs 0 and 1 were evaluated; the rest repeat the accuracy of the weights at the stop.
    assert trainer.test_acc_list[2:] == [net.accuracy(x[120:], t[120:])] * 3


def test_smooth_curve_keeps_the_length_and_averages_with_a_kaiser_window():
    x = np.random.default_rng(0).normal(size=30)
    y = smooth_curve(x)
    assert y.shape == x.shape
    w = np.kaiser(11, 2)
    w /= w.sum()
    assert y[12] == pytest.approx(w @ x[7:18])
    # Mirrored about the first point, and after the last point with that point repeated.
    left = x[[5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5]]
    right = x[[-6, -5, -4, -3, -2, -1, -1, -2, -3, -4, -5]]
    assert y[0] == pytest.approx(w @ left)
    assert y[-1] == pytest.approx(w @ right)
    assert np.allclose(smooth_curve(np.full(20, 3.0)), 3.0)
    # Three points leave room for a window of five: mirrored, x[2], x[1], x[0], x[1], x[2].
    assert np.allclose(smooth_curve([1.0, 2.0, 4.0]), smooth_curve([1.0, 2.0, 4.0], 5))
    with pytest.raises(ValueError, match="1-D"):
        smooth_curve(np.zeros((3, 3)))


def test_shuffle_dataset_moves_samples_and_labels_together():
    x = np.arange(40, dtype=float).reshape(10, 1, 2, 2)
    t = np.arange(10) * 7
    xs, ts = shuffle_dataset(x, t, rng=3)
    assert sorted(ts) == sorted(t) and not np.array_equal(ts, t)
    assert np.array_equal(xs[:, 0, 0, 0] / 4 * 7, ts)  # each image still with its label
    assert np.array_equal(x, np.arange(40.0).reshape(10, 1, 2, 2))  # the input is untouched
    again = shuffle_dataset(x, t, rng=3)
    assert np.array_equal(again[1], ts)
    with pytest.raises(ValueError, match="same number of samples"):
        shuffle_dataset(x, t[:5])
