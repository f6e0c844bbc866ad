"""The trainer's settings, in four small groups, and how ``train``'s flat keywords map onto them.

:class:`~dlzero.training.Trainer` takes the network, the optimizer, the data, ``rng`` and
``callbacks`` itself; everything else comes in one of these groups, each checked when it is made:

- :class:`Steps`: how many gradient steps, on which mini-batches, computed how.
- :class:`Evaluation`: what is measured at each epoch's end, and where (now, or on the other core).
- :class:`Stopping`: when training may end before its last step (early stopping, Ctrl-C).
- :class:`Output`: what the run prints while it trains, and what its history records besides.

A field has the name of the keyword :func:`dlzero.train` takes for it (``epochs=5`` is
``Steps(epochs=5)``, ``patience=3`` is ``Stopping(patience=3)``), so ``train`` keeps its flat
keywords (:func:`trainer_keywords`) and an error message names the setting the same way in both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from numpy.typing import NDArray

from dlzero._checks import check_fraction, check_int, check_positive_int
from dlzero.training.callbacks import EarlyStopping, RecordDiagnostics
from dlzero.training.data import SAMPLING, train_subset

__all__ = [
    "GRADIENT_METHODS",
    "Evaluation",
    "Output",
    "Steps",
    "Stopping",
    "as_group",
    "asked_callbacks",
    "evaluation_sets",
    "run_config",
    "trainer_keywords",
]

# How gradients are computed: by backpropagation, or by numerical differentiation (chapter 4).
GRADIENT_METHODS = ("backprop", "numerical")

_TRI_STATE = (True, False, "auto")


def _normalize(group: Any, **values: Any) -> None:
    """Store checked values (``int(np.int64(5))``, ``bool(1)``) in a frozen group."""
    for name, value in values.items():
        object.__setattr__(group, name, value)


@dataclass(frozen=True)
class Steps:
    """How many gradient steps, on which mini-batches, computed how.

    Parameters
    ----------
    batch_size : int, default 100
        Samples per mini-batch (at most the number of training samples).
    iters : int, optional
        Number of gradient steps (default 10,000, the notes' ``iters_num``).
    epochs : int, optional
        Alternatively, the number of epochs; ``iters = epochs * iterations_per_epoch``.
    sampling : {"shuffle", "replacement"}, default "shuffle"
        How mini-batches are drawn (:mod:`dlzero.training.data`): a fresh permutation each
        epoch, or each batch independently, as the notes' ``np.random.choice`` does.
    gradient : {"backprop", "numerical"}, default "backprop"
        ``"numerical"`` uses ``network.numerical_gradient``: thousands of times slower, for
        seeing why backpropagation matters.
    augment : callable, optional
        ``augment(x, rng, out=...)`` returns a changed copy of each training mini-batch, e.g.
        :class:`dlzero.studies.augment.Augmentation` (random shifts and rotations). It draws from
        its own generator, seeded from the trainer's ``rng`` once at the start, so a seeded run
        stays repeatable. Evaluation sets are never augmented.
    """

    batch_size: int = 100
    iters: int | None = None
    epochs: int | None = None
    sampling: str = "shuffle"
    gradient: str = "backprop"
    augment: Callable[..., NDArray] | None = None

    def __post_init__(self) -> None:
        batch_size = check_positive_int("batch_size", self.batch_size)
        if self.iters is not None and self.epochs is not None:
            raise ValueError("give iters or epochs, not both")
        epochs = None if self.epochs is None else check_positive_int("epochs", self.epochs)
        iters = None if self.iters is None else check_positive_int("iters", self.iters)
        if self.sampling not in SAMPLING:
            raise ValueError(f"sampling must be one of {SAMPLING}, got {self.sampling!r}")
        if self.gradient not in GRADIENT_METHODS:
            raise ValueError(f"gradient must be one of {GRADIENT_METHODS}, got {self.gradient!r}")
        if self.augment is not None and not callable(self.augment):
            raise ValueError(
                f"augment must be callable as augment(x, rng, out=...), got {self.augment!r}"
            )
        _normalize(self, batch_size=batch_size, iters=iters, epochs=epochs)


@dataclass(frozen=True)
class Evaluation:
    """What is measured at each epoch's end, and where.

    Accuracy is measured for the weights before the first step (epoch 0) and after the last
    step of every epoch, on each evaluation set: ``"train"`` (the whole training set, as the
    notes do, or ``train_eval_size`` samples of it), ``"val"``, ``"test"`` (the trainer's
    ``x_test``, ``t_test``) and ``eval_sets``.

    Parameters
    ----------
    eval_sets : mapping of str to (x, t), optional
        More data sets to evaluate each epoch, by name.
    evaluate_train : bool, default True
        Also measure accuracy on the training set at each epoch, as the notes do.
    train_eval_size : int, optional
        Measure the train accuracy on a random sample of this many training samples, the
        same one every epoch and every run (:func:`dlzero.training.data.train_subset`); by
        default on all of them. For a
        convolutional network a forward pass costs about a third of a training step per
        sample, so the whole training set costs about a third of an epoch's training time
        at every epoch's end; 10,000 samples give the train accuracy within a few tenths of
        a point (its standard error at 97% is 0.17 points), and ``dlzero train --model cnn``
        and ``deep-cnn`` use that many.
    eval_batch_size : int, optional
        Evaluate accuracy in chunks of this many samples; by default the network's own
        ``eval_batch_size`` (10,000 for an MLP, less for a CNN, whose im2col matrices for
        10,000 images would take gigabytes).
    validation_fraction : float, default 0
        In [0, 1): hold out this share of the training set (rounded, at least one sample),
        drawn with the trainer's ``rng`` before training, and evaluate it each epoch as
        ``"val"``. The held-out samples are not trained on; ``x_train`` then means the rest.
        Hyperparameters are tuned on it, never on the test set.
    diagnostics : int, default 0
        Record per-layer diagnostics after every evaluation on the first ``diagnostics``
        training samples (:class:`~dlzero.training.RecordDiagnostics`, which also measures
        less often); 0 records none.
    background_eval : bool or "auto", default "auto"
        Evaluate each epoch's weights on a copy, in a second thread, while the next epoch
        trains: both cores work, each on one BLAS thread, and the accuracies are those of the
        weights at the epoch's end. Needs a network with a fused step (a plain MLP:
        ``Affine`` layers, ReLU or sigmoid, ``SoftmaxWithLoss``; or ``SimpleConvNet`` and
        ``DeepConvNet``), threadpoolctl, and callbacks that all say ``background_safe``
        (early stopping does not: it must act at the epoch's end). The initial weights are
        evaluated alongside the first epoch; the last epoch's evaluation runs in the
        foreground, with every BLAS thread. "auto" uses it when it can and it pays: at least 2
        CPUs, steps small enough to run on one BLAS thread anyway, and an epoch's training work
        (about 3 x iterations x batch size samples' worth) at least the evaluation's. True
        insists (ValueError at ``fit`` if it cannot); False never.
    """

    eval_sets: Mapping[str, tuple[NDArray, NDArray]] | None = None
    evaluate_train: bool = True
    train_eval_size: int | None = None
    eval_batch_size: int | None = None
    validation_fraction: float = 0.0
    diagnostics: int = 0
    background_eval: bool | str = "auto"

    def __post_init__(self) -> None:
        fraction = check_fraction("validation_fraction", self.validation_fraction)
        if fraction and self.eval_sets and "val" in self.eval_sets:
            raise ValueError("give validation_fraction or an eval set named 'val', not both")
        for name, (x, t) in (self.eval_sets or {}).items():
            if len(x) != len(t):
                raise ValueError(f"eval set {name!r}: {len(x)} samples but {len(t)} labels")
        batch = self.eval_batch_size
        if batch is not None:
            batch = check_positive_int("eval_batch_size", batch)
        size = self.train_eval_size
        if size is not None:
            size = check_positive_int("train_eval_size", size)
        if self.background_eval not in _TRI_STATE:
            raise ValueError(
                f"background_eval must be True, False or 'auto', got {self.background_eval!r}"
            )
        _normalize(
            self,
            evaluate_train=bool(self.evaluate_train),
            train_eval_size=size,
            eval_batch_size=batch,
            validation_fraction=fraction,
            diagnostics=check_int("diagnostics", self.diagnostics, 0),
        )


@dataclass(frozen=True)
class Stopping:
    """When training may end before its last step.

    Whatever these say, a NaN or infinite loss stops training at once
    (:class:`~dlzero.training.TrainingDiverged`), and a callback may stop it at an epoch's end.

    Parameters
    ----------
    patience : int, optional
        Early stopping on the ``"val"`` accuracy (:class:`~dlzero.training.EarlyStopping`,
        best weights restored); needs ``Evaluation(validation_fraction=...)`` or an eval set
        named ``"val"``.
    handle_sigint : bool, default True
        When training in the main thread, let Ctrl-C finish the current step and stop
        cleanly (:class:`~dlzero.training.TrainingInterrupted`; a second Ctrl-C interrupts at
        once).
    """

    patience: int | None = None
    handle_sigint: bool = True

    def __post_init__(self) -> None:
        patience = None if self.patience is None else check_positive_int("patience", self.patience)
        _normalize(self, patience=patience, handle_sigint=bool(self.handle_sigint))


@dataclass(frozen=True)
class Output:
    """What the run prints while it trains, and what its history records besides.

    Parameters
    ----------
    verbose : bool, default True
        Print one line per epoch to ``log``.
    progress : bool or "auto", default "auto"
        A progress bar on stderr while an epoch runs (tqdm's if it is installed, else a plain
        line); "auto" shows it only when ``verbose`` is on and someone watches: stderr is a
        terminal, or the code runs in a Jupyter notebook (where tqdm draws a widget).
    log : text stream, optional
        Where the epoch lines go (default ``sys.stdout``).
    config : dict, optional
        Extra settings to record in the history (the network's description, the data set).
    seed : int, optional
        The seed to record in the history; by default the trainer's ``rng`` when it is an int.
        Give it when ``rng`` is a Generator made from a seed.
    """

    verbose: bool = True
    progress: bool | str = "auto"
    log: TextIO | None = None
    config: Mapping[str, Any] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.progress not in _TRI_STATE:
            raise ValueError(f"progress must be True, False or 'auto', got {self.progress!r}")
        seed = None if self.seed is None else int(self.seed)
        _normalize(self, verbose=bool(self.verbose), seed=seed)


def as_group(value: Any, cls: type) -> Any:
    """``value``, a ``cls``; or ``cls()``, the group's defaults, when it is None."""
    if value is None:
        return cls()
    if not isinstance(value, cls):
        raise TypeError(f"expected a {cls.__name__}, got {value!r}")
    return value


def evaluation_sets(
    evaluation: Evaluation,
    train: tuple[NDArray, NDArray],
    val: Sequence[NDArray] | None,
    x_test: NDArray | None,
    t_test: NDArray | None,
) -> dict[str, tuple[NDArray, NDArray]]:
    """The sets to evaluate each epoch, by name, in the order of the epoch line: ``"train"``
    (if ``evaluation.evaluate_train``; ``evaluation.train_eval_size`` samples of it if set),
    ``"val"`` (if held out), ``"test"``, then ``evaluation.eval_sets``."""
    sets: dict[str, tuple[NDArray, NDArray]] = {}
    if evaluation.evaluate_train:
        sets["train"] = train_subset(*train, evaluation.train_eval_size)
    if val is not None:
        sets["val"] = (val[0], val[1])
    if (x_test is None) != (t_test is None):
        raise ValueError("give both x_test and t_test, or neither")
    if x_test is not None and t_test is not None:
        sets["test"] = (x_test, t_test)
    sets.update(evaluation.eval_sets or {})
    return sets


def asked_callbacks(
    evaluation: Evaluation, stopping: Stopping, eval_sets: Mapping[str, Any]
) -> list[Any]:
    """The callbacks the settings ask for: :class:`RecordDiagnostics`, then
    :class:`EarlyStopping` (in this order, so that at the end the diagnostics describe the last
    epoch's weights, before early stopping puts the best epoch's back)."""
    asked: list[Any] = []
    if evaluation.diagnostics:
        asked.append(RecordDiagnostics(samples=evaluation.diagnostics))
    if stopping.patience is not None:
        if "val" not in eval_sets:
            raise ValueError(
                "patience (early stopping) needs a validation set: give "
                "validation_fraction > 0 or an eval set named 'val'"
            )
        asked.append(EarlyStopping(stopping.patience))
    return asked


def run_config(
    trainer: Any, evaluation: Evaluation, stopping: Stopping, output: Output
) -> dict[str, Any]:
    """The settings a :class:`~dlzero.training.Trainer`'s history records (its ``config``)."""
    fraction, patience, augment = evaluation.validation_fraction, stopping.patience, trainer.augment
    return {
        "batch_size": trainer.batch_size,
        "iters": trainer.iters,
        "sampling": trainer.sampling,
        "gradient": trainer.gradient_method,
        "optimizer": repr(trainer.optimizer),
        "network": type(trainer.network).__name__,
        "train_size": trainer.train_size,
        **_train_eval_size(trainer),
        **({"validation_fraction": fraction} if fraction else {}),
        **({"patience": patience} if patience is not None else {}),
        **({"augment": getattr(augment, "config", repr(augment))} if augment else {}),
        **{f"{name}_size": len(x) for name, (x, _) in trainer.eval_sets.items() if name != "train"},
        **(dict(output.config) if output.config else {}),
    }


def _train_eval_size(trainer: Any) -> dict[str, int]:
    """``{"train_eval_size": n}`` when the train accuracy is measured on n < train_size."""
    train = trainer.eval_sets.get("train")
    if train is None or len(train[0]) == trainer.train_size:
        return {}
    return {"train_eval_size": len(train[0])}


# The groups by the name of the Trainer keyword that takes each.
GROUPS: dict[str, type] = {
    "steps": Steps,
    "evaluation": Evaluation,
    "stopping": Stopping,
    "output": Output,
}
# The Trainer's keywords that are not groups.
_OWN_KEYWORDS = ("rng", "callbacks")


def trainer_keywords(kwargs: Mapping[str, Any], caller: str = "train") -> dict[str, Any]:
    """:class:`~dlzero.training.Trainer`'s keyword arguments from flat ones.

    Each flat keyword goes to the group with a field of that name (``epochs=5`` to
    ``steps=Steps(epochs=5)``), on top of that group if it is given too. ``rng``,
    ``callbacks`` and the groups themselves pass through.

    Parameters
    ----------
    kwargs : mapping of str to object
        E.g. ``{"epochs": 5, "verbose": False, "patience": 3, "rng": 0}``.
    caller : str
        The function to name in the error for an unknown keyword.

    Raises
    ------
    TypeError
        A keyword that is neither a Trainer keyword nor a field of a group.
    """
    fields = {key: {f.name for f in dataclasses.fields(group)} for key, group in GROUPS.items()}
    for name in kwargs:
        if (
            name not in _OWN_KEYWORDS
            and name not in GROUPS
            and not any(name in names for names in fields.values())
        ):
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")
    grouped = {k: v for k, v in kwargs.items() if k in _OWN_KEYWORDS or k in GROUPS}
    for key, group in GROUPS.items():
        flat = {k: v for k, v in kwargs.items() if k in fields[key]}
        if flat:
            base = grouped.get(key)
            grouped[key] = group(**flat) if base is None else dataclasses.replace(base, **flat)
    return grouped
