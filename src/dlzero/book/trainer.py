"""The book's ``Trainer`` (``common/trainer.py``, chapters 6-8), on dlzero's own :class:`Trainer`.

The book's scripts build it with the optimizer by name and read three lists when it is done::

    trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=20,
                      mini_batch_size=100, optimizer='Adam', optimizer_param={'lr': 0.001},
                      evaluate_sample_num_per_epoch=1000)
    trainer.train()
    plt.plot(np.arange(20), trainer.train_acc_list)   # one point per epoch

:class:`BookTrainer` takes those arguments and fills those lists, and the training itself is
:meth:`dlzero.training.Trainer.fit` (one loop in the package, not two). What it keeps from the
book, and what it changes:

- **The lists.** ``train_loss_list`` has one loss per iteration; ``train_acc_list`` and
  ``test_acc_list`` have one accuracy per epoch, ``epochs`` of them, the first for the network
  before training (the book's is after its first step), the last after ``epochs - 1`` epochs.
  The accuracy after the last epoch is printed at the end as the book prints it
  ("Final Test Accuracy", on the whole test set).
- **Mini-batches drawn with replacement**, ``batch_size`` samples at random for each step, as
  the book's ``np.random.choice`` does (dlzero's own default shuffles once per epoch).
- **Integer epochs.** An epoch is ``ceil(train_size / batch_size)`` steps; the book's float
  test ``i % (train_size / batch_size) == 0`` skips epochs when the division is not exact.
- **The recorded loss is the one the step computed**, before the update (the book runs the
  network forward a second time, after it).
- **Quieter.** ``verbose`` prints one line per epoch, not one per iteration.
- **A diverging run does not stop the script.** The book's trainer carries on with NaN weights
  (a hyperparameter search, ch06/hyperparameter_optimization.py, meets a few); here training
  stops at the first NaN loss, a line says so, and the epochs left are filled with the accuracy
  of the network as it is then.

Networks: dlzero's (:class:`~dlzero.networks.MultiLayerNet`, the convnets, ...) or any object
with the book's ``params``, ``gradient(x, t)``, ``loss(x, t)`` and ``accuracy(x, t)``, such as
the book's own ``SimpleConvNet`` written on dlzero's layers.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._rng import RngLike
from dlzero.optimizers import OPTIMIZERS
from dlzero.training.history import TrainingDiverged
from dlzero.training.settings import Evaluation, Output, Steps
from dlzero.training.trainer import Trainer

__all__ = ["BookTrainer"]

# The evaluation chunk for a network that does not name its own: the book's convnets'
# ``accuracy(x, t, batch_size=100)``. Small enough for any network's memory.
_DEFAULT_EVAL_BATCH = 100


class _BookAccuracy:
    """A network whose ``accuracy(x, t)`` takes no ``batch_size`` (the book's MLPs), given the
    ``accuracy(x, t, batch_size=...)`` that dlzero's trainer calls; everything else is the
    network's own."""

    def __init__(self, network: Any) -> None:
        self._network = network

    def __getattr__(self, name: str) -> Any:
        return getattr(self._network, name)

    def accuracy(self, x: NDArray, t: NDArray, batch_size: int | None = None) -> float:
        return float(self._network.accuracy(x, t))


def _for_trainer(network: Any) -> tuple[Any, int | None]:
    """``network`` as dlzero's :class:`Trainer` can use it, and the evaluation chunk to give."""
    for name in ("params", "gradient", "loss", "accuracy"):
        if not hasattr(network, name):
            raise TypeError(
                f"the network needs params, gradient(x, t), loss(x, t) and accuracy(x, t); "
                f"{type(network).__name__} has no {name}"
            )
    if hasattr(network, "eval_batch_size"):
        return network, None  # a dlzero network: the trainer knows its chunk
    try:
        takes_batch = "batch_size" in inspect.signature(network.accuracy).parameters
    except (TypeError, ValueError):  # a builtin or C callable: no signature to read
        takes_batch = False
    if takes_batch:
        return network, _DEFAULT_EVAL_BATCH
    return _BookAccuracy(network), _DEFAULT_EVAL_BATCH


class BookTrainer:
    """The book's ``Trainer``: its arguments and lists, dlzero's training loop.

    Parameters
    ----------
    network : dlzero network or the book's
        Needs ``params``, ``gradient(x, t)``, ``loss(x, t)`` and ``accuracy(x, t)``.
    x_train : ndarray, shape (N, ...)
    t_train : ndarray, shape (N,) labels or (N, C) one-hot
    x_test, t_test : ndarray
        Evaluated once per epoch, as the training data is.
    epochs : int, default 20
    mini_batch_size : int, default 100
    optimizer : str, default "SGD"
        One of the book's names, any case: ``SGD``, ``Momentum``, ``Nesterov``, ``AdaGrad``,
        ``RMSprop``, ``Adam``.
    optimizer_param : dict, default ``{"lr": 0.01}``
        Keyword arguments for the optimizer (``lr``, ``momentum``, ``beta1``, ...).
    evaluate_sample_num_per_epoch : int, optional
        Evaluate each epoch on the first this many training and test samples only (faster);
        the final test accuracy uses the whole test set.
    verbose : bool, default True
        Print a line per epoch and the final test accuracy.
    rng : Generator, int or None, keyword-only
        Source of the mini-batches. None draws a seed from NumPy's global random state, so
        ``np.random.seed(...)`` in a script makes the run repeatable, as in the book.

    Attributes
    ----------
    train_loss_list : list of float
        The loss of every step.
    train_acc_list, test_acc_list : list of float
        One accuracy per epoch, ``epochs`` long after :meth:`train`.
    trainer : dlzero.training.Trainer
        The trainer doing the work; ``trainer.history`` is the full record after :meth:`train`.
    """

    def __init__(
        self,
        network: Any,
        x_train: NDArray,
        t_train: NDArray,
        x_test: NDArray,
        t_test: NDArray,
        epochs: int = 20,
        mini_batch_size: int = 100,
        optimizer: str = "SGD",
        optimizer_param: Mapping[str, Any] | None = None,
        evaluate_sample_num_per_epoch: int | None = None,
        verbose: bool = True,
        *,
        rng: RngLike = None,
    ) -> None:
        self.network = network
        self.x_test, self.t_test = x_test, t_test
        self.epochs = epochs
        self.verbose = bool(verbose)
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.optimizer = _book_optimizer(optimizer, optimizer_param)
        if rng is None:
            # The book's trainer draws from NumPy's global state: take the seed from there.
            rng = int(np.random.randint(0, 2**31 - 1))  # noqa: NPY002 (the global state, on purpose)
        n = evaluate_sample_num_per_epoch
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
            raise ValueError(f"evaluate_sample_num_per_epoch must be a positive int, got {n!r}")
        eval_network, eval_batch = _for_trainer(network)
        self.trainer = Trainer(
            eval_network,
            self.optimizer,
            x_train,
            t_train,
            steps=Steps(batch_size=mini_batch_size, epochs=epochs, sampling="replacement"),
            rng=rng,
            evaluation=Evaluation(
                evaluate_train=False,  # the sample below, named as the book's lists
                eval_sets={
                    "train": (x_train[:n], t_train[:n]),
                    "test": (x_test[:n], t_test[:n]),
                },
                eval_batch_size=eval_batch,
            ),
            output=Output(verbose=False),  # the book's lines instead (_BookLines)
            callbacks=[_BookLines()] if self.verbose else (),
        )
        self.batch_size = self.trainer.batch_size
        self.train_size = self.trainer.train_size
        self.iter_per_epoch = self.trainer.iterations_per_epoch
        self.max_iter = self.trainer.iters
        self.current_iter = 0
        self.current_epoch = 0
        self.train_loss_list: list[float] = []
        self.train_acc_list: list[float] = []
        self.test_acc_list: list[float] = []

    def train_step(self) -> float:
        """One step as the book's ``train_step``: a mini-batch, an update, and at the start of
        each epoch an evaluation (after this step, as the book has it). Returns the loss."""
        trainer = self.trainer
        idx = trainer.rng.integers(0, self.train_size, self.batch_size)
        loss = trainer.step(trainer.x_train[idx], trainer.t_train[idx])
        self.train_loss_list.append(loss)
        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1
            acc = trainer.evaluate()
            self.train_acc_list.append(acc["train"])
            self.test_acc_list.append(acc["test"])
            if self.verbose:
                print(
                    f"=== epoch:{self.current_epoch}, train acc:{acc['train']}, "
                    f"test acc:{acc['test']} ===",
                    flush=True,
                )
        self.current_iter += 1
        return loss

    def train(self) -> float:
        """Train for ``epochs`` epochs with :meth:`dlzero.training.Trainer.fit`, fill the
        lists, and return (and, with ``verbose``, print) the test accuracy on the whole test
        set."""
        try:
            history = self.trainer.fit()
        except TrainingDiverged as exc:
            history = exc.history
            print(f"dlzero: {exc}; the epochs left are given the accuracy now", file=sys.stderr)
        train_acc, test_acc = history.accuracy["train"], history.accuracy["test"]
        if len(train_acc) <= self.epochs:  # stopped early: the network as it is, to the end
            acc = self.trainer.evaluate()
            missing = self.epochs + 1 - len(train_acc)
            train_acc = train_acc + [acc["train"]] * missing
            test_acc = test_acc + [acc["test"]] * missing
        self.train_loss_list.extend(float(v) for v in history.loss)
        # Epoch 0 (before training) to epochs - 1: the book's length. The last evaluation,
        # after the final epoch, is the final accuracy below.
        self.train_acc_list.extend(train_acc[: self.epochs])
        self.test_acc_list.extend(test_acc[: self.epochs])
        self.current_iter += history.iterations_done
        self.current_epoch += self.epochs
        if self.evaluate_sample_num_per_epoch is None:
            final = test_acc[-1]
        else:
            final = float(
                self.trainer.network.accuracy(
                    self.x_test, self.t_test, batch_size=self.trainer.eval_batch_size
                )
            )
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print(f"test acc:{final}", flush=True)
        return final


class _BookLines:
    """Print what the book's verbose ``Trainer`` prints: ``train loss:...`` for every step and
    ``=== epoch:1, train acc:..., test acc:... ===`` for every evaluation.

    The loss lines of an epoch come together at its end, before the epoch's line (the loop
    stays free of per-step printing); the text is the book's. The first epoch line is the
    untrained network's, as dlzero's history has it (docs/book.md).
    """

    background_safe = True  # it only prints: the evaluation may run beside the next epoch

    def __init__(self) -> None:
        self._printed = 0  # loss lines printed so far

    def on_epoch_end(self, trainer: Any, history: Any) -> bool:
        losses = history.loss[self._printed : history.epoch_iterations[-1]]
        lines = [f"train loss:{float(loss)}" for loss in losses]
        acc, epoch = history.accuracy, len(history.epochs)
        if epoch <= trainer.num_epochs:  # the book's lists hold `epochs` values; the last
            lines.append(  # evaluation is its "Final Test Accuracy", printed by train()
                f"=== epoch:{epoch}, train acc:{acc['train'][-1]}, test acc:{acc['test'][-1]} ==="
            )
        print("\n".join(lines), flush=True)
        self._printed += len(losses)
        return False

    def on_train_end(self, trainer: Any, history: Any) -> None:
        rest = history.loss[self._printed :]  # a last partial epoch's, or a stop's
        if len(rest):
            print("\n".join(f"train loss:{float(loss)}" for loss in rest), flush=True)
        self._printed = 0


def _book_optimizer(name: Any, params: Mapping[str, Any] | None) -> Any:
    """The optimizer the book's trainer builds from its name and keyword arguments."""
    cls = OPTIMIZERS.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        expected = ", ".join(c.__name__ for c in OPTIMIZERS.values())
        raise ValueError(f"optimizer must be one of {expected} (any case), got {name!r}")
    params = {"lr": 0.01} if params is None else dict(params)
    try:
        return cls(**params)
    except TypeError as exc:
        raise TypeError(f"optimizer_param for {cls.__name__}: {exc}") from None
