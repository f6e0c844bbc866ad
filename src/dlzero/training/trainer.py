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
split (``Evaluation(validation_fraction=...)``, evaluated each epoch as ``"val"``;
hyperparameters are tuned on it, never on the test set), early stopping
(``Stopping(patience=...)``, :class:`EarlyStopping`) and per-layer diagnostics
(``Evaluation(diagnostics=...)``, :class:`RecordDiagnostics`).

The settings come in four small groups (:mod:`dlzero.training.settings`): :class:`Steps`,
:class:`Evaluation`, :class:`Stopping` and :class:`Output`; :func:`train` takes them as flat
keywords too (``epochs=5, patience=3``).

Every random choice comes from the Generator given as ``rng``: the same seed gives the same
history, bit for bit, on the same machine.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_positive_int
from dlzero._rng import RngLike, as_rng
from dlzero.fast import accuracy, fused_step, training_step
from dlzero.training import background
from dlzero.training.background import BackgroundEvaluator, ForegroundEvaluator
from dlzero.training.data import (
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
from dlzero.training.settings import (
    GRADIENT_METHODS,
    Evaluation,
    Output,
    Steps,
    Stopping,
    as_group,
    asked_callbacks,
    evaluation_sets,
    run_config,
    trainer_keywords,
)

__all__ = ["GRADIENT_METHODS", "Trainer", "train"]

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
    steps : Steps, optional
        Batch size, number of steps (``iters`` or ``epochs``), sampling, gradient method,
        augmentation; by default 10,000 steps of 100 shuffled samples, by backpropagation.
    rng : Generator, int or None
        Source of the validation split, the augmentation's seed and the mini-batches, drawn in
        that order.
    evaluation : Evaluation, optional
        What is measured at each epoch's end (train, validation, test and other sets), in
        chunks of how many samples, and whether on the other core.
    stopping : Stopping, optional
        Early stopping (``patience``) and Ctrl-C handling.
    output : Output, optional
        Epoch lines, progress bar, log stream, and the config and seed the history records.
    callbacks : sequence of Callback
        Called at the start and end of training and after each evaluation
        (:class:`~dlzero.training.Callback`).
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
        steps: Steps | None = None,
        rng: RngLike = None,
        evaluation: Evaluation | None = None,
        stopping: Stopping | None = None,
        output: Output | None = None,
        callbacks: Sequence[Any] = (),
    ) -> None:
        steps, evaluation = as_group(steps, Steps), as_group(evaluation, Evaluation)
        stopping, output = as_group(stopping, Stopping), as_group(output, Output)
        if not hasattr(optimizer, "update"):
            raise ValueError(
                f"optimizer must have an update(params, grads) method, got {optimizer!r}"
            )
        x_train, t_train = check_training_data(x_train, t_train)
        # The random draws, in this order: the validation split, the augmentation's seed, and
        # at each epoch, its mini-batches.
        self.rng = as_rng(rng)
        val = None
        if evaluation.validation_fraction:
            x_train, t_train, *val = validation_split(
                x_train, t_train, evaluation.validation_fraction, self.rng
            )
        self.train_size = train_size = len(x_train)
        self.batch_size = batch_size = steps.batch_size
        if batch_size > train_size:
            raise ValueError(
                f"batch_size must be at most the number of training samples ({train_size}), "
                f"got {batch_size}"
            )
        self.iterations_per_epoch = ipe = iterations_per_epoch(train_size, batch_size)
        self.iters = steps.epochs * ipe if steps.epochs is not None else steps.iters or 10_000
        self.num_epochs = iterations_per_epoch(self.iters, ipe)
        self.sampling, self.gradient_method = steps.sampling, steps.gradient
        check_batch_norm_batches(network, train_size, batch_size, steps.sampling)

        self.network, self.optimizer = network, optimizer
        self.x_train, self.t_train = x_train, t_train
        self.eval_sets = evaluation_sets(evaluation, (x_train, t_train), val, x_test, t_test)
        self.eval_batch_size = check_positive_int(
            "eval_batch_size",
            evaluation.eval_batch_size or getattr(network, "eval_batch_size", 10_000),
        )
        self.background_eval = evaluation.background_eval
        self.callbacks = [*callbacks, *asked_callbacks(evaluation, stopping, self.eval_sets)]
        self.handle_sigint = stopping.handle_sigint
        self.verbose, self.progress, self.log = output.verbose, output.progress, output.log
        self.seed = output.seed
        if self.seed is None and isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            self.seed = int(rng)
        self.augment, self.augment_rng = steps.augment, None
        if steps.augment is not None:
            self.augment_rng = np.random.default_rng(int(self.rng.integers(2**63)))
        self.config = run_config(self, evaluation, stopping, output)
        self._stop_requested = False  # set by the first Ctrl-C (StopOnCtrlC)
        self._bars = ProgressBars()  # the epoch's progress bar, while fit runs
        self._step: StepFunction | None = None

    # -- one step ----------------------------------------------------------------------------

    def step(self, x_batch: NDArray, t_batch: NDArray) -> float:
        """One gradient step on one mini-batch, outside :meth:`fit`: backpropagate, update.

        The step :meth:`fit` takes for each of its mini-batches, for a caller that draws its own
        (the book's ``Trainer.train_step``, :class:`~dlzero.book.BookTrainer`).
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
            return training_step(net)  # the fused step where one covers the network
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
            name: float(accuracy(self.network, x, t, batch_size=self.eval_batch_size))
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
        """This run's evaluator: on a copy of the weights in a second thread, when
        :meth:`background_eval_problem` finds nothing against it; else in this thread."""
        problem = self.background_eval_problem()
        if problem is None:
            return BackgroundEvaluator(
                fused_step(self.network), self.eval_sets, self.eval_batch_size
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

    Takes :class:`Trainer`'s arguments, and each setting of a group also as a flat keyword:
    ``train(net, opt, x, t, xt, tt, epochs=5, verbose=False, patience=3,
    validation_fraction=0.1)`` is ``Trainer(net, opt, x, t, xt, tt, steps=Steps(epochs=5),
    output=Output(verbose=False), stopping=Stopping(patience=3),
    evaluation=Evaluation(validation_fraction=0.1)).fit()``. A flat keyword changes that one
    field of the group given with it, if any.

    Parameters
    ----------
    network, optimizer, x_train, t_train, x_test, t_test
        As for :class:`Trainer`.
    **kwargs
        ``rng``, ``callbacks``, ``steps``, ``evaluation``, ``stopping``, ``output``, and the
        fields of :class:`Steps`, :class:`Evaluation`, :class:`Stopping` and :class:`Output`.

    Raises
    ------
    TypeError
        An unknown keyword.
    """
    grouped = trainer_keywords(kwargs)
    return Trainer(network, optimizer, x_train, t_train, x_test, t_test, **grouped).fit()
