"""The trainer: the loop at the end of chapter 5, for any network, optimizer and data.

The notes' loop, step by step::

    for i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)   # draw a mini-batch
        grad = network.gradient(x_batch, t_batch)               # backpropagation
        network.params[key] -= learning_rate * grad[key]        # SGD
        train_loss_list.append(network.loss(x_batch, t_batch))  # record the loss
        if i % iter_per_epoch == 0: ...                          # evaluate once per epoch

:meth:`Trainer.fit` is that loop (read ``_fit``), with these differences, each for a reason:

- **Epochs in integers.** One epoch is ``ceil(train_size / batch_size)`` iterations. The book's
  trainer tests ``i % (train_size / batch_size) == 0`` with a float, which is never true when
  the division is not exact, so epochs are silently skipped.
- **Evaluation schedule.** Train and test accuracy are measured for the weights before the
  first step (epoch 0, the untrained network) and after the last step of every epoch; a final
  partial epoch is evaluated when training ends. The default run (60,000 images, batch 100,
  10,000 iterations) has 600 iterations per epoch and 17 epochs, the last one 400 iterations
  long: 18 points, epoch 0 to 17. Evaluation runs in chunks (``eval_batch_size``), so memory
  stays bounded whatever the size of the data.
- **No extra forward pass.** The loss recorded for an iteration is the one the gradient step
  computed (the notes run the network forward a second time, after the update, to get it).
- **Sampling, named.** ``sampling="shuffle"`` (the default) visits every sample once per
  epoch; ``"replacement"`` draws each batch independently, as the notes do
  (:mod:`dlzero.training.data`).
- **Stops you can trust.** A NaN or infinite loss stops training at once
  (:class:`TrainingDiverged`, naming the iteration); Ctrl-C stops after the current step
  (:class:`TrainingInterrupted`). Both carry the :class:`History` so far.
- **Both cores.** For a small MLP each epoch's evaluation can run on a copy of the weights
  while the next epoch trains (:mod:`dlzero.training.background`); the loop reads the same.
- **Nothing added to a step.** The mini-batches are gathered into buffers made once; the
  progress bar and the evaluation under way are looked at between chunks of steps. Those, and
  Ctrl-C, are handled beside the loop (:mod:`dlzero.training.loop_support`), not in it.

Chapter 6 adds three things a learner needs to see *why* a network does (not) learn, each
costing nothing unless asked for (none of them adds work to a gradient step): a validation
split (``validation_fraction``, evaluated each epoch as ``"val"``; hyperparameters are tuned
on it, never on the test set), early stopping (``patience``, :class:`EarlyStopping`) and
per-layer diagnostics (``diagnostics``, :class:`RecordDiagnostics`).

Every random choice comes from the Generator given as ``rng``: the same seed gives the same
history, bit for bit, on the same machine.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_fraction, check_int, check_positive_int
from dlzero._rng import RngLike, as_rng
from dlzero.training import background
from dlzero.training.background import BackgroundEvaluator, ForegroundEvaluator
from dlzero.training.callbacks import EarlyStopping, RecordDiagnostics
from dlzero.training.data import (
    SAMPLING,
    batch_order,
    check_batch_norm_batches,
    check_training_data,
    validation_split,
)
from dlzero.training.history import History, iterations_per_epoch
from dlzero.training.loop_support import (
    Epochs,
    MiniBatches,
    ProgressBars,
    StopOnCtrlC,
    progress_bar_factory,
)

__all__ = ["GRADIENT_METHODS", "Trainer", "train"]

# How gradients are computed: by backpropagation, or by numerical differentiation (chapter 4).
GRADIENT_METHODS = ("backprop", "numerical")

StepFunction = Callable[[NDArray, NDArray], tuple[float, Mapping[str, NDArray]]]


class Trainer:
    """Train a network by mini-batch gradient descent, evaluating once per epoch.

    Parameters
    ----------
    network : Sequential or alike
        Needs ``params`` (dict of arrays updated in place), ``gradient(x, t)`` (or
        ``loss_and_gradient(x, t) -> (loss, grads)``), ``loss(x, t)`` and
        ``accuracy(x, t, batch_size=...)``.
    optimizer : object with ``update(params, grads)``
        E.g. ``dlzero.optimizers.get_optimizer("sgd", lr=0.1)``.
    x_train : ndarray, shape (N, ...)
    t_train : ndarray, shape (N,) labels or (N, C) one-hot
    x_test, t_test : ndarray, optional
        Evaluated at each epoch as ``"test"``.
    eval_sets : mapping of str to (x, t), optional
        More data sets to evaluate each epoch (e.g. a validation split), by name.
    batch_size : int, default 100
    iters : int, optional
        Number of gradient steps (default 10,000, the notes' ``iters_num``).
    epochs : int, optional
        Alternatively, the number of epochs; ``iters = epochs * iterations_per_epoch``.
    sampling : {"shuffle", "replacement"}, default "shuffle"
        How mini-batches are drawn; see the module docstring for why shuffle is the default.
    gradient : {"backprop", "numerical"}, default "backprop"
        ``"numerical"`` uses ``network.numerical_gradient``: thousands of times slower, for
        seeing why backpropagation matters.
    rng : Generator, int or None
        Source of the mini-batches.
    eval_batch_size : int, optional
        Evaluate accuracy in chunks of this many samples; by default the network's own
        ``eval_batch_size`` (10,000 for an MLP, less for a CNN, whose im2col matrices for
        10,000 images would take gigabytes).
    evaluate_train : bool, default True
        Also measure accuracy on the whole training set at each epoch, as the notes do.
    verbose : bool, default True
        Print one line per epoch to ``log``.
    progress : bool or "auto", default "auto"
        A progress bar on stderr while an epoch runs (tqdm's if it is installed, else a plain
        line); "auto" shows it only when ``verbose`` is on and someone watches: stderr is a
        terminal, or the code runs in a Jupyter notebook (where tqdm draws a widget).
    handle_sigint : bool, default True
        When training in the main thread, let Ctrl-C finish the current step and stop
        cleanly (a second Ctrl-C interrupts at once).
    callbacks : sequence of Callback
    config : dict, optional
        Extra settings to record in the history (the network's description, the data set).
    log : text stream, optional
        Where the epoch lines go (default ``sys.stdout``).
    validation_fraction : float, default 0
        In [0, 1): hold out this share of the training set (rounded, at least one sample),
        drawn with ``rng`` before training, and evaluate it each epoch as ``"val"``. The
        held-out samples are not trained on; ``x_train`` then means the rest.
    patience : int, optional
        Early stopping on the ``"val"`` accuracy (:class:`EarlyStopping`, best weights
        restored); needs ``validation_fraction`` or an eval set named ``"val"``.
    diagnostics : int, default 0
        Record per-layer diagnostics after every evaluation on the first ``diagnostics``
        training samples (:class:`RecordDiagnostics`, which also measures less often); 0
        records none.
    seed : int, optional
        The seed to record in the history; by default ``rng`` when it is an int. Give it when
        ``rng`` is a Generator made from a seed.
    background_eval : bool or "auto", default "auto"
        Evaluate each epoch's weights on a copy, in a second thread, while the next epoch
        trains: both cores work, each on one BLAS thread, and the accuracies are those of the
        weights at the epoch's end. Needs a network with a fused step (a plain MLP:
        ``Affine`` layers, ReLU or sigmoid, ``SoftmaxWithLoss``; or ``SimpleConvNet`` and
        ``DeepConvNet``), threadpoolctl, and callbacks that all say
        ``background_safe`` (early stopping does not: it must act at the epoch's end). The
        initial weights are evaluated alongside the first epoch; the last epoch's evaluation
        runs in the foreground, with every BLAS thread. "auto" uses it when it can and
        it pays: at least 2 CPUs, steps small enough to run on one BLAS thread anyway, and an
        epoch's training work (about 3 x iterations x batch size samples' worth) at least the
        evaluation's. True insists (ValueError at ``fit`` if it cannot); False never.
    augment : callable, optional
        ``augment(x, rng, out=...)`` returns a changed copy of each training mini-batch, e.g.
        :class:`dlzero.augment.Augmentation` (random shifts and rotations). It draws from its
        own generator, seeded from ``rng`` once at the start, so a seeded run stays
        repeatable. Evaluation sets are never augmented.
    """

    def __init__(
        self,
        network: Any,
        optimizer: Any,
        x_train: NDArray,
        t_train: NDArray,
        x_test: NDArray | None = None,
        t_test: NDArray | None = None,
        *,
        eval_sets: Mapping[str, tuple[NDArray, NDArray]] | None = None,
        batch_size: int = 100,
        iters: int | None = None,
        epochs: int | None = None,
        sampling: str = "shuffle",
        gradient: str = "backprop",
        rng: RngLike = None,
        eval_batch_size: int | None = None,
        evaluate_train: bool = True,
        verbose: bool = True,
        progress: bool | str = "auto",
        handle_sigint: bool = True,
        callbacks: Sequence[Any] = (),
        config: Mapping[str, Any] | None = None,
        log: TextIO | None = None,
        validation_fraction: float = 0.0,
        patience: int | None = None,
        diagnostics: int = 0,
        seed: int | None = None,
        background_eval: bool | str = "auto",
        augment: Callable[..., NDArray] | None = None,
    ) -> None:
        if not hasattr(optimizer, "update"):
            raise ValueError(
                f"optimizer must have an update(params, grads) method, got {optimizer!r}"
            )
        x_train, t_train = check_training_data(x_train, t_train)
        self.rng = as_rng(rng)
        x_val = t_val = None
        validation_fraction = check_fraction("validation_fraction", validation_fraction)
        if validation_fraction:
            x_train, t_train, x_val, t_val = validation_split(
                x_train, t_train, validation_fraction, self.rng
            )
        train_size = len(x_train)
        batch_size = check_positive_int("batch_size", batch_size)
        if batch_size > train_size:
            raise ValueError(
                f"batch_size must be at most the number of training samples ({train_size}), "
                f"got {batch_size}"
            )
        if iters is not None and epochs is not None:
            raise ValueError("give iters or epochs, not both")
        ipe = iterations_per_epoch(train_size, batch_size)
        if epochs is not None:
            iters = check_positive_int("epochs", epochs) * ipe
        elif iters is None:
            iters = 10_000
        iters = check_positive_int("iters", iters)
        if sampling not in SAMPLING:
            raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
        if gradient not in GRADIENT_METHODS:
            raise ValueError(f"gradient must be one of {GRADIENT_METHODS}, got {gradient!r}")
        if progress not in (True, False, "auto"):
            raise ValueError(f"progress must be True, False or 'auto', got {progress!r}")
        if background_eval not in (True, False, "auto"):
            raise ValueError(
                f"background_eval must be True, False or 'auto', got {background_eval!r}"
            )
        check_batch_norm_batches(network, train_size, batch_size, sampling)
        diagnostics = check_int("diagnostics", diagnostics, 0)
        if augment is not None and not callable(augment):
            raise ValueError(
                f"augment must be callable as augment(x, rng, out=...), got {augment!r}"
            )

        self.network = network
        self.optimizer = optimizer
        self.x_train, self.t_train = x_train, t_train
        self.eval_sets: dict[str, tuple[NDArray, NDArray]] = {}
        if evaluate_train:
            self.eval_sets["train"] = (x_train, t_train)
        if x_val is not None:
            if eval_sets and "val" in eval_sets:
                raise ValueError("give validation_fraction or an eval set named 'val', not both")
            self.eval_sets["val"] = (x_val, t_val)
        if (x_test is None) != (t_test is None):
            raise ValueError("give both x_test and t_test, or neither")
        if x_test is not None:
            self.eval_sets["test"] = (x_test, t_test)
        for name, (x, t) in (eval_sets or {}).items():
            if len(x) != len(t):
                raise ValueError(f"eval set {name!r}: {len(x)} samples but {len(t)} labels")
            self.eval_sets[name] = (x, t)

        self.train_size = train_size
        self.batch_size = batch_size
        self.iters = iters
        self.iterations_per_epoch = ipe
        self.num_epochs = iterations_per_epoch(iters, ipe)
        self.sampling = sampling
        self.gradient_method = gradient
        if seed is None and isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            seed = int(rng)
        self.seed = None if seed is None else int(seed)
        if eval_batch_size is None:
            eval_batch_size = getattr(network, "eval_batch_size", 10_000)
        self.eval_batch_size = check_positive_int("eval_batch_size", eval_batch_size)
        self.verbose = bool(verbose)
        self.progress = progress
        self.background_eval = background_eval
        self.handle_sigint = bool(handle_sigint)
        self.callbacks = list(callbacks)
        # Diagnostics first: at the end they describe the last epoch's weights, before early
        # stopping puts the best epoch's back.
        if diagnostics:
            self.callbacks.append(RecordDiagnostics(samples=diagnostics))
        if patience is not None:
            if "val" not in self.eval_sets:
                raise ValueError(
                    "patience (early stopping) needs a validation set: give "
                    "validation_fraction > 0 or an eval set named 'val'"
                )
            self.callbacks.append(EarlyStopping(patience))
        self.log = log
        self.augment = augment
        self.augment_rng = (
            np.random.default_rng(int(self.rng.integers(2**63))) if augment is not None else None
        )
        self.config: dict[str, Any] = {
            "batch_size": batch_size,
            "iters": iters,
            "sampling": sampling,
            "gradient": gradient,
            "optimizer": repr(optimizer),
            "network": type(network).__name__,
            "train_size": train_size,
            **({"validation_fraction": validation_fraction} if validation_fraction else {}),
            **({"patience": patience} if patience is not None else {}),
            **({"augment": getattr(augment, "config", repr(augment))} if augment else {}),
            **{
                f"{name}_size": len(x) for name, (x, _) in self.eval_sets.items() if name != "train"
            },
            **(dict(config) if config else {}),
        }
        self._stop_requested = False  # set by the first Ctrl-C (StopOnCtrlC)
        self._bars = ProgressBars()  # the epoch's progress bar, while fit runs
        self._step: StepFunction | None = None

    # -- one step ----------------------------------------------------------------------------

    def step(self, x_batch: NDArray, t_batch: NDArray) -> float:
        """One gradient step on one mini-batch, outside :meth:`fit`: backpropagate, update.

        The step :meth:`fit` takes for each of its mini-batches, for a caller that draws its own
        (the book's ``Trainer.train_step``, :class:`~dlzero.training.book_trainer.BookTrainer`).
        Nothing is recorded in a history, and the batch is used as given: ``augment`` applies
        to the batches :meth:`fit` draws, not to this one.

        Parameters
        ----------
        x_batch : ndarray, shape (B, ...)
        t_batch : ndarray, shape (B,) labels or (B, C) one-hot

        Returns
        -------
        float
            The mini-batch loss, computed with the gradient (before the update).
        """
        if self._step is None:
            self._step = self._step_function()
        loss, grads = self._step(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)
        return float(loss)

    def _step_function(self) -> StepFunction:
        """Return ``step(x, t) -> (loss, grads)`` computing the loss with the gradient, once."""
        net = self.network
        if self.gradient_method == "numerical":

            def numerical_step(x: NDArray, t: NDArray) -> tuple[float, Mapping[str, NDArray]]:
                # Numerical gradients are thousands of forward passes; one more is noise.
                loss = float(net.loss(x, t))
                return loss, net.numerical_gradient(x, t)

            return numerical_step
        if hasattr(net, "loss_and_gradient"):
            return net.loss_and_gradient
        last = getattr(net, "last_layer", None)
        if last is None or not hasattr(last, "loss"):

            def generic_step(x: NDArray, t: NDArray) -> tuple[float, Mapping[str, NDArray]]:
                grads = net.gradient(x, t)
                return float(net.loss(x, t)), grads  # no cached loss: one extra forward

            return generic_step
        weight_decay = getattr(net, "weight_decay_loss", None)

        def backprop_step(x: NDArray, t: NDArray) -> tuple[float, Mapping[str, NDArray]]:
            # gradient() ran the forward pass; its loss layer kept the data loss. Weight decay
            # is added from the parameters before the update, as loss() would have.
            grads = net.gradient(x, t)
            loss = last.loss
            if weight_decay is not None and net.weight_decay_lambda:
                loss += weight_decay()
            return loss, grads

        return backprop_step

    # -- evaluation --------------------------------------------------------------------------

    def evaluate(self) -> dict[str, float]:
        """Accuracy on every evaluation set, by name."""
        return {
            name: float(self.network.accuracy(x, t, batch_size=self.eval_batch_size))
            for name, (x, t) in self.eval_sets.items()
        }

    def epoch_line(self, history: History, index: int = -1) -> str:
        """``epoch  3/17  loss 0.2412  train 0.9352  test 0.9368  1.1 s`` for one evaluation."""
        width = len(str(self.num_epochs))
        epoch = history.epochs[index]
        loss = history.epoch_loss[index]
        parts = [f"epoch {epoch:>{width}}/{self.num_epochs}"]
        parts.append("loss      -" if loss is None else f"loss {loss:.4f}")
        parts += [f"{name} {acc[index]:.4f}" for name, acc in history.accuracy.items()]
        parts.append(f"{history.train_time[index] + history.eval_time[index]:.1f} s")
        return "  ".join(parts)

    def log_line(self, line: str) -> None:
        """Print ``line`` to the trainer's log, above the progress bar if one is drawn."""
        self._bars.print(line, self.log if self.log is not None else sys.stdout)

    def background_eval_problem(self) -> str | None:
        """Why this run's evaluation would not run in the background, or None if it would
        (see :func:`dlzero.training.background.background_eval_problem`)."""
        return background.background_eval_problem(self)

    def _evaluator(self) -> ForegroundEvaluator | BackgroundEvaluator:
        problem = self.background_eval_problem()
        if problem is None:
            return BackgroundEvaluator(
                self.network.fused_step(), self.eval_sets, self.eval_batch_size
            )
        if self.background_eval is True:
            raise ValueError(f"background_eval=True, but {problem}")
        return ForegroundEvaluator(self.evaluate)

    def _progress_bar_factory(self) -> Callable[[int, int], Any] | None:
        return progress_bar_factory(self.progress, self.verbose, self.num_epochs)

    # -- the loop ----------------------------------------------------------------------------

    def fit(self) -> History:
        """Train for ``iters`` steps and return the :class:`History`.

        Raises
        ------
        TrainingDiverged
            The loss became NaN or infinite; ``.history`` has the run until then.
        TrainingInterrupted
            Ctrl-C (SIGINT); training stopped after the current step. ``.history`` too.
        """
        history = self.history = History(
            iterations=self.iters,
            iterations_per_epoch=self.iterations_per_epoch,
            config=dict(self.config),
            seed=self.seed,
        )
        start = time.perf_counter()
        try:
            with StopOnCtrlC(self):
                for cb in self.callbacks:
                    if hasattr(cb, "on_train_begin"):
                        cb.on_train_begin(self, history)
                # A diverging run overflows before its loss turns NaN; the trainer reports that
                # itself (TrainingDiverged), so NumPy's overflow warnings would only be noise.
                with np.errstate(over="ignore", invalid="ignore"), self._epochs(history) as epochs:
                    self._fit(history, epochs)
        finally:
            history.wall_time = time.perf_counter() - start
            for cb in self.callbacks:
                if hasattr(cb, "on_train_end"):
                    cb.on_train_end(self, history)
        return history

    def _epochs(self, history: History) -> Epochs:
        """What runs beside the loop: the evaluations, the progress bars, the losses."""
        self._bars = ProgressBars(self._progress_bar_factory())
        return Epochs(self, history, self._evaluator(), self._bars)

    def _fit(self, history: History, epochs: Epochs) -> None:
        """The notes' loop: draw a mini-batch, backpropagate, update, record the loss; evaluate
        once an epoch. ``epochs`` looks at the progress bar and at an evaluation on the other
        core between chunks of steps, never inside one."""
        step, opt, params = self._step_function(), self.optimizer, self.network.params
        batches = MiniBatches(
            self.x_train, self.t_train, self.batch_size, self.augment, self.augment_rng
        )
        losses, done = epochs.losses, 0  # one loss per step, filled in place
        if epochs.end(0, done):  # the initial weights: epoch 0
            return
        for epoch in range(1, self.num_epochs + 1):
            n_steps = min(self.iterations_per_epoch, self.iters - done)
            order = batch_order(self.rng, self.train_size, self.batch_size, n_steps, self.sampling)
            for j in epochs.steps(epoch, n_steps, done):
                x_batch, t_batch = batches.take(order, j)  # draw a mini-batch
                loss, grads = step(x_batch, t_batch)  # backpropagation
                opt.update(params, grads)  # SGD, Adam, ...
                losses[done] = loss  # record the loss
                done += 1
                if not math.isfinite(loss) or self._stop_requested:
                    epochs.stop(done, epoch)  # diverged, or Ctrl-C: raises
            if epochs.end(epoch, done):  # evaluate once per epoch; True: a callback says stop
                return
        history.stop_reason = "completed"


def train(
    network: Any,
    optimizer: Any,
    x_train: NDArray,
    t_train: NDArray,
    x_test: NDArray | None = None,
    t_test: NDArray | None = None,
    **kwargs: Any,
) -> History:
    """Train ``network`` and return its :class:`History`: ``Trainer(...).fit()`` in one call.

    Takes the same arguments as :class:`Trainer`.
    """
    return Trainer(network, optimizer, x_train, t_train, x_test, t_test, **kwargs).fit()
