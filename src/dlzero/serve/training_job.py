"""A short training run the page starts and watches: the notes' loop, reporting as it goes.

The loop is chapter 5's (draw a mini-batch, backpropagate, update), written out here rather
than run through :class:`~dlzero.training.Trainer` because the page needs what the trainer
only gives once an epoch: the loss and the accuracy many times within the first epoch (a run
from the page is often shorter than one), and a stop button that works between two steps.
Accuracy is measured on fixed subsets of 1,000 training and 1,000 test images, so a
measurement takes milliseconds; the final test accuracy is on the whole test set.

:class:`TrainingJob` runs :func:`train` in a thread; every reader (the server's request
threads) takes a snapshot under a lock, so a poll never sees a half-written step.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_int
from dlzero.fast import accuracy, training_step
from dlzero.networks import ACTIVATIONS, MultiLayerNet, Sequential, TwoLayerNet
from dlzero.optimizers import OPTIMIZERS, get_optimizer
from dlzero.training.data import batch_order

__all__ = ["MAX_ITERS", "MAX_WORK", "Progress", "TrainingJob", "TrainingSettings", "train"]

MAX_ITERS = 20_000  # a run from the page is short: a minute at most on a small machine
# The steps alone do not bound a run: 20,000 steps of batch 1,000 through three hidden layers of
# 1,000 units took about an hour of CPU. What a run costs is about steps x batch x weights
# (each weight is used once forward, twice backward, per image); this many such products is
# about a minute on the project's 2-core machine, twice the chapter-5 run's 20,000 steps.
MAX_WORK = 2 * 10**11
MAX_HIDDEN_LAYERS = 3
MAX_HIDDEN_SIZE = 1000
MONITOR_SIZE = 1000  # training and test images on which accuracy is followed during a run


@dataclass(frozen=True)
class TrainingSettings:
    """What to train: the chapter-5 network by default (784-50-10 ReLU, SGD lr 0.1, batch 100).

    One hidden layer builds the chapter-5 ``TwoLayerNet`` (weights drawn with std 0.01, as the
    notes do); more build a ``MultiLayerNet`` with He (ReLU) or Xavier (sigmoid, tanh)
    initialization, without which a deeper network barely starts to learn (section 6.2).
    """

    activation: str = "relu"
    hidden: tuple[int, ...] = (50,)
    optimizer: str = "sgd"
    lr: float = 0.1
    iters: int = 10_000
    batch_size: int = 100
    seed: int = 0

    @classmethod
    def from_json(cls, body: Any) -> TrainingSettings:
        """Settings from a request's JSON object; a missing key keeps its default.

        Raises
        ------
        ValueError
            A key that is not a setting, or a value out of range, with what was expected.
        """
        if not isinstance(body, Mapping):
            raise ValueError("expected a JSON object of training settings")
        known = {"activation", "hidden", "optimizer", "lr", "iters", "batch_size", "seed"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(
                f"unknown setting {unknown[0]!r}; the settings are {', '.join(sorted(known))}"
            )
        d = cls()
        activation = body.get("activation", d.activation)
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}"
            )
        optimizer = body.get("optimizer", d.optimizer)
        if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        hidden = body.get("hidden", list(d.hidden))
        if isinstance(hidden, int) and not isinstance(hidden, bool):
            hidden = [hidden]
        if not isinstance(hidden, list) or not 1 <= len(hidden) <= MAX_HIDDEN_LAYERS:
            raise ValueError(
                f"hidden must be a list of 1 to {MAX_HIDDEN_LAYERS} layer sizes, got {hidden!r}"
            )
        for n in hidden:
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_HIDDEN_SIZE:
                raise ValueError(f"each hidden size must be an integer in 1..{MAX_HIDDEN_SIZE}")
        lr = body.get("lr", d.lr)
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr <= 10:
            raise ValueError(f"lr must be a number in (0, 10], got {lr!r}")
        iters = check_int("iters", body.get("iters", d.iters), 1)
        if iters > MAX_ITERS:
            raise ValueError(f"iters must be at most {MAX_ITERS:,} from the page, got {iters}")
        batch_size = check_int("batch_size", body.get("batch_size", d.batch_size), 1)
        if batch_size > 1000:
            raise ValueError(f"batch_size must be at most 1000, got {batch_size}")
        seed = check_int("seed", body.get("seed", d.seed), 0)
        settings = cls(
            activation, tuple(hidden), optimizer.lower(), float(lr), iters, batch_size, seed
        )
        if settings.work > MAX_WORK:
            raise ValueError(
                f"this run is too large for the page: {iters:,} iterations x batch {batch_size:,}"
                f" x {settings.parameters:,} weights = {settings.work:.2g}; at most "
                f"{MAX_WORK:.2g} (fewer iterations, a smaller batch or smaller layers)"
            )
        return settings

    @property
    def parameters(self) -> int:
        """Weights and biases of the network these settings build (784 inputs, 10 classes)."""
        sizes = (784, *self.hidden, 10)
        return sum((n_in + 1) * n_out for n_in, n_out in itertools.pairwise(sizes))

    @property
    def work(self) -> int:
        """What the run costs, about: steps x images per step x weights per image."""
        return self.iters * self.batch_size * self.parameters

    def describe(self) -> str:
        """``784-50-10 relu, sgd lr 0.1, batch 100, 10,000 iterations``."""
        sizes = "-".join(str(n) for n in (784, *self.hidden, 10))
        return (
            f"{sizes} {self.activation}, {self.optimizer} lr {self.lr:g}, batch "
            f"{self.batch_size}, {self.iters:,} iterations"
        )

    def build(self, input_size: int, output_size: int) -> Sequential:
        """A new network with these settings, its weights drawn from ``seed``."""
        rng = np.random.default_rng(self.seed)
        if len(self.hidden) == 1:
            return TwoLayerNet(
                input_size, self.hidden[0], output_size, activation=self.activation, rng=rng
            )
        init = "he" if self.activation == "relu" else "xavier"
        return MultiLayerNet(
            input_size,
            list(self.hidden),
            output_size,
            activation=self.activation,
            weight_init_std=init,
            rng=rng,
        )


@dataclass
class Progress:
    """A run so far: the loss every few steps, the accuracy every few more."""

    iters: int
    iteration: int = 0
    # (iteration, mean loss since the previous point), (iteration, train, test accuracy)
    loss: list[tuple[int, float]] = field(default_factory=list)
    accuracy: list[tuple[int, float, float]] = field(default_factory=list)


def _accuracy(network: Sequential, x: NDArray, t: NDArray) -> float:
    return float(accuracy(network, x, t))


def train(
    settings: TrainingSettings,
    data: tuple[tuple[NDArray, NDArray], tuple[NDArray, NDArray]],
    *,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[Sequential, Progress, float | None]:
    """Train a network with ``settings`` on ``data``, reporting as it goes.

    Parameters
    ----------
    settings : TrainingSettings
    data : ((x_train, t_train), (x_test, t_test))
        Flattened images in [0, 1] (N, 784) and integer labels, as ``load_mnist`` gives them.
    on_progress : callable, optional
        Called with the :class:`Progress` (the same object, grown) after each new point, from
        the training thread.
    should_stop : callable, optional
        Asked between steps; True ends the run early (the network keeps what it learned).

    Returns
    -------
    network : Sequential
    progress : Progress
    test_accuracy : float or None
        On the whole test set; None when the loss became NaN or infinite (the run stops there;
        usually the learning rate is too large).
    """
    (x_train, t_train), (x_test, t_test) = data
    n_classes = int(max(t_train.max(), t_test.max())) + 1
    network = settings.build(x_train.shape[1], n_classes)
    optimizer = get_optimizer(settings.optimizer, lr=settings.lr)
    rng = np.random.default_rng(settings.seed + 1)  # the batches: another stream than the weights
    monitor = [
        (x[:MONITOR_SIZE], t[:MONITOR_SIZE]) for x, t in ((x_train, t_train), (x_test, t_test))
    ]
    b = min(settings.batch_size, len(x_train))
    loss_every = max(1, settings.iters // 200)  # about 200 points on the loss curve
    eval_every = max(1, settings.iters // 25)  # and 25 on the accuracy curves
    progress = Progress(settings.iters)

    def measure(iteration: int) -> None:
        acc = [_accuracy(network, x, t) for x, t in monitor]
        progress.accuracy.append((iteration, acc[0], acc[1]))

    measure(0)
    if on_progress:
        on_progress(progress)
    done, running, since = 0, 0.0, 0
    per_epoch = math.ceil(len(x_train) / b)
    step = training_step(network)
    while done < settings.iters:
        order = batch_order(rng, len(x_train), b, per_epoch, "shuffle")
        for j in range(min(per_epoch, settings.iters - done)):
            idx = order[j * b : (j + 1) * b]
            loss, grads = step(x_train[idx], t_train[idx])
            optimizer.update(network.params, grads)
            done += 1
            running, since = running + loss, since + 1
            if not math.isfinite(loss):
                progress.iteration = done
                progress.loss.append((done, float("nan")))
                return network, progress, None
            new_point = False
            if done % loss_every == 0 or done == settings.iters:
                progress.loss.append((done, running / since))
                running, since, new_point = 0.0, 0, True
            if done % eval_every == 0 or done == settings.iters:
                measure(done)
                new_point = True
            progress.iteration = done
            if new_point and on_progress:
                on_progress(progress)
            if should_stop():
                if not progress.accuracy or progress.accuracy[-1][0] != done:
                    measure(done)
                return network, progress, _accuracy(network, x_test, t_test)
    return network, progress, _accuracy(network, x_test, t_test)


class TrainingJob:
    """One run of :func:`train` in a background thread, watched by polling :meth:`snapshot`.

    Parameters
    ----------
    settings : TrainingSettings
    data : ((x_train, t_train), (x_test, t_test))
    on_done : callable, optional
        Called from the training thread with the trained network and its test accuracy when
        the run ends without diverging (completed or stopped): the server serves it from then.
    """

    def __init__(
        self,
        settings: TrainingSettings,
        data: tuple[tuple[NDArray, NDArray], tuple[NDArray, NDArray]],
        on_done: Callable[[Sequential, float], None] | None = None,
    ) -> None:
        self.settings = settings
        self._data = data
        self._on_done = on_done
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._state = "running"
        self._message = f"training {settings.describe()}"
        self._progress = Progress(settings.iters)
        self._started = time.perf_counter()
        self._seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="dlzero-train", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        with self._lock:
            return self._state == "running"

    def stop(self) -> None:
        """Ask the run to end after the current step."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _publish(self, progress: Progress) -> None:
        with self._lock:  # copies: readers never see a list being appended to
            self._progress = Progress(
                progress.iters, progress.iteration, list(progress.loss), list(progress.accuracy)
            )
            self._seconds = time.perf_counter() - self._started

    def _run(self) -> None:
        try:
            self._train_and_hand_over()
        except Exception as exc:  # reported on the page; the server keeps serving
            with self._lock:  # and a new run can start: the state is no longer "running"
                self._state, self._message = "failed", f"training failed: {exc}"

    def _train_and_hand_over(self) -> None:
        network, progress, test_acc = train(
            self.settings, self._data, on_progress=self._publish, should_stop=self._stop.is_set
        )
        self._publish(progress)
        if test_acc is None:
            with self._lock:
                self._state = "diverged"
                self._message = (
                    f"the loss became NaN or infinite at iteration {progress.iteration} (is the "
                    "learning rate too large?); the page keeps the previous network"
                )
            return
        stopped = self._stop.is_set()
        if self._on_done is not None:
            self._on_done(network, test_acc)
        with self._lock:
            self._state = "stopped" if stopped else "done"
            what = f"stopped after {progress.iteration:,} iterations" if stopped else "done"
            self._message = (
                f"{what}: test accuracy {test_acc:.2%} on the 10,000 test images; "
                "the draw tab now uses this network"
            )

    def snapshot(self) -> dict[str, Any]:
        """The run as the page reads it (plain JSON values)."""
        with self._lock:
            p = self._progress
            return {
                "state": self._state,
                "message": self._message,
                "settings": {
                    "activation": self.settings.activation,
                    "hidden": list(self.settings.hidden),
                    "optimizer": self.settings.optimizer,
                    "lr": self.settings.lr,
                    "iters": self.settings.iters,
                    "batch_size": self.settings.batch_size,
                    "seed": self.settings.seed,
                },
                "iteration": p.iteration,
                "iters": p.iters,
                "seconds": round(self._seconds, 2),
                "loss": [[i, _finite_or_none(v)] for i, v in p.loss],
                "accuracy": [[i, a, b] for i, a, b in p.accuracy],
            }


def _finite_or_none(value: float) -> float | None:
    # JSON has no NaN: a diverged loss is sent as null.
    return value if math.isfinite(value) else None
