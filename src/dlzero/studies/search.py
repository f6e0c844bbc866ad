"""Random hyperparameter search on a validation split (the book's section 6.5).

The book's recipe: hold out part of the training data for validation (never tune on the test
set); draw the learning rate and the weight decay at random on a log scale, e.g.
``lr = 10 ** uniform(-6, -2)`` and ``weight_decay = 10 ** uniform(-8, -4)``; train a few
epochs each; look at the best trials and narrow the ranges. :func:`random_search` does exactly
that, with the trials run in parallel across the machine's cores through joblib (imported
only here, only when ``n_jobs`` is not 1), or on a Dask cluster
(:func:`dlzero.interop.dask.connect`, then ``random_search(..., client=client)``;
``distributed`` is imported only then).

Reproducible by construction: the validation split, every trial's hyperparameters and every
trial's own seed (initial weights, mini-batches, dropout masks) are derived from the search's
``seed`` before any trial runs, so the results are the same whatever ``n_jobs`` is, on one
machine or a cluster, and in whatever order the workers finish.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from dlzero._checks import check_positive_int
from dlzero.interop.dask import as_they_finish, send_to_cluster
from dlzero.networks import MultiLayerNet
from dlzero.optimizers import get_optimizer
from dlzero.training import Evaluation, Output, Steps, Stopping, Trainer, TrainingDiverged
from dlzero.training.data import validation_size, validation_split

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["SearchResult", "Trial", "random_search", "run_trial"]


@dataclass
class Trial:
    """One trial of a search: its hyperparameters and how it did.

    Attributes
    ----------
    index : int
        Position in the search (0, 1, ...), fixed before the trials run.
    seed : int
        The trial's own seed (initial weights, mini-batches, dropout masks).
    lr, weight_decay : float
    val_acc, train_acc : float
        Final accuracy on the validation split and on the training part.
    epochs : list of int
    val_curve : list of float
        Validation accuracy at each epoch.
    status : {"completed", "diverged", "failed"}
        ``"failed"``: the trial never finished on the cluster (see ``error``).
    seconds : float
    error : str
        Why a failed trial failed, e.g. ``"KilledWorker: ..."``; empty otherwise.
    """

    index: int
    seed: int
    lr: float
    weight_decay: float
    val_acc: float = math.nan
    train_acc: float = math.nan
    epochs: list[int] = field(default_factory=list)
    val_curve: list[float] = field(default_factory=list)
    status: str = "completed"
    seconds: float = 0.0
    error: str = ""

    def short(self) -> str:
        """``val 0.81 lr 3.2e-03 wd 1.1e-07``: a legend entry."""
        return f"val {self.val_acc:.2f} lr {self.lr:.1e} wd {self.weight_decay:.1e}"


@dataclass
class SearchResult:
    """All the trials of a search, in the order they were drawn, and its settings."""

    trials: list[Trial]
    settings: dict[str, Any]

    def ranked(self) -> list[Trial]:
        """Trials by validation accuracy, best first; diverged and failed trials last.

        A diverged trial's ``val_acc`` is its last evaluation before the loss blew up: a
        learning rate that good for a few epochs and then fatal is not a good one, so it ranks
        below every trial that finished.
        """
        return sorted(
            self.trials,
            key=lambda t: (
                t.status != "completed",
                -(t.val_acc if math.isfinite(t.val_acc) else -1.0),
                t.index,
            ),
        )

    def best(self, k: int = 1) -> list[Trial]:
        return self.ranked()[:k]

    def table(self, top: int | None = None) -> str:
        """The trials ranked by validation accuracy, one line each (the best ``top``)."""
        rows = self.ranked()[:top]
        lines = [
            f"{'rank':>4}  {'trial':>5}  {'val acc':>7}  {'train acc':>9}  {'lr':>9}  "
            f"{'weight decay':>12}"
        ]
        for rank, t in enumerate(rows, 1):
            note = "" if t.status == "completed" else f"  ({t.status})"
            lines.append(
                f"{rank:>4}  {t.index:>5}  {t.val_acc:>7.4f}  {t.train_acc:>9.4f}  {t.lr:>9.2e}  "
                f"{t.weight_decay:>12.2e}{note}"
            )
        return "\n".join(lines)

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["trial", "seed", "lr", "weight_decay", "val_acc", "train_acc", "status"])
        for t in self.trials:
            writer.writerow(
                [t.index, t.seed, repr(t.lr), repr(t.weight_decay), t.val_acc, t.train_acc,
                 t.status]
            )  # fmt: skip
        return buf.getvalue()

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "trials": [asdict(t) for t in self.trials]}


def _log_range(name: str, bounds: Sequence[float]) -> tuple[float, float]:
    if len(bounds) != 2:
        raise ValueError(f"{name} must be (low, high), got {bounds!r}")
    low, high = (float(b) for b in bounds)
    if not (0 < low <= high and math.isfinite(high)):
        raise ValueError(f"{name} must be 0 < low <= high, got {bounds!r}")
    return low, high


def run_trial(
    trial: Trial,
    x_train: NDArray,
    t_train: NDArray,
    x_val: NDArray,
    t_val: NDArray,
    settings: dict[str, Any],
) -> Trial:
    """Train one network with ``trial``'s hyperparameters and fill in its results.

    Runs in a worker process when the search is parallel: everything it needs comes in its
    arguments, and it returns the filled-in trial.
    """
    init, batches = np.random.SeedSequence(trial.seed).spawn(2)
    net = MultiLayerNet(
        x_train.shape[1],
        settings["hidden_size_list"],
        settings["output_size"],
        activation=settings["activation"],
        weight_init_std=settings["weight_init_std"],
        weight_decay_lambda=trial.weight_decay,
        rng=np.random.default_rng(init),
    )
    trainer = Trainer(
        net,
        get_optimizer(settings["optimizer"], lr=trial.lr),
        x_train,
        t_train,
        steps=Steps(batch_size=settings["batch_size"], epochs=settings["epochs"]),
        rng=np.random.default_rng(batches),
        evaluation=Evaluation(
            eval_sets={"val": (x_val, t_val)},
            # Parallel trials already keep every core busy, and a trial's few hundred images
            # evaluate in milliseconds: a second thread per trial would only compete.
            background_eval=False,
        ),
        stopping=Stopping(handle_sigint=False),
        output=Output(verbose=False, progress=False),
    )
    t0 = time.perf_counter()
    try:
        history = trainer.fit()
    except TrainingDiverged as exc:
        history = exc.history
        trial.status = "diverged"
    trial.seconds = time.perf_counter() - t0
    trial.epochs = list(history.epochs)
    trial.val_curve = list(history.accuracy["val"])
    trial.val_acc = history.accuracy["val"][-1]
    trial.train_acc = history.accuracy["train"][-1]
    return trial


def random_search(
    x_train: NDArray,
    t_train: NDArray,
    *,
    n_trials: int = 100,
    lr_range: Sequence[float] = (1e-6, 1e-2),
    weight_decay_range: Sequence[float] = (1e-8, 1e-4),
    validation_fraction: float = 0.2,
    epochs: int = 50,
    batch_size: int = 100,
    hidden_size_list: Sequence[int] = (100, 100, 100, 100, 100, 100),
    activation: str = "relu",
    weight_init_std: str | float = "he",
    optimizer: str = "sgd",
    n_jobs: int | None = None,
    seed: int | None = None,
    on_trial: Any = None,
    client: Client | None = None,
) -> SearchResult:
    """Random search over learning rate and weight decay, as in the book's section 6.5.

    The defaults are the book's ``hyperparameter_optimization.py``: a 6-hidden-layer network
    of 100 ReLU units (He initialization), SGD, 50 epochs of batch 100, 20% of the given
    training data for validation, ``lr`` in [1e-6, 1e-2] and ``weight_decay`` in [1e-8, 1e-4],
    both drawn uniformly on a log scale. (The book trains on the first 500 MNIST images.)

    Parameters
    ----------
    x_train : ndarray, shape (N, D)
    t_train : ndarray, shape (N,) labels
        The validation split is taken from these, once, the same for every trial.
    n_trials : int
    lr_range, weight_decay_range : (low, high)
    validation_fraction : float in (0, 1)
    epochs, batch_size : int
    hidden_size_list, activation, weight_init_std, optimizer
        The network and optimizer of every trial (see :class:`~dlzero.networks.MultiLayerNet`
        and :func:`~dlzero.optimizers.get_optimizer`).
    n_jobs : int, optional
        Trials run at once, one process each (joblib's loky backend, one BLAS thread per
        worker so the processes do not fight over cores); default: every core. 1 runs them
        here, one after the other, without joblib. Not with ``client``.
    seed : int, optional
        Everything random derives from it; the same seed gives the same trials and results,
        whatever ``n_jobs``, here or on a cluster.
    on_trial : callable, optional
        ``on_trial(trial)`` as each trial finishes (in the order they finish).
    client : distributed.Client, optional
        Run the trials on this Dask cluster instead (see :func:`dlzero.interop.dask.connect`),
        as many at once as its workers have threads. A trial whose worker dies is run again on
        another one; a trial that still cannot finish, or raises, comes back with status
        ``"failed"`` and its ``error``, and the others still count.

    Returns
    -------
    SearchResult
    """
    n_trials = check_positive_int("n_trials", n_trials)
    lr_low, lr_high = _log_range("lr_range", lr_range)
    wd_low, wd_high = _log_range("weight_decay_range", weight_decay_range)
    if (
        isinstance(validation_fraction, bool)
        or not isinstance(validation_fraction, (int, float, np.integer, np.floating))
        or not 0.0 < validation_fraction < 1.0
    ):
        # (0 is refused too: the trials are scored on the validation split)
        raise ValueError(
            f"validation_fraction must be a number in (0, 1), got {validation_fraction!r}"
        )
    x_train, t_train = np.asarray(x_train), np.asarray(t_train)
    if x_train.ndim != 2 or t_train.shape != (len(x_train),):
        raise ValueError(
            "expected x_train of shape (N, D) and labels t_train of shape (N,), got "
            f"{x_train.shape} and {t_train.shape}"
        )
    n_val = validation_size(len(x_train), validation_fraction)
    if batch_size > len(x_train) - n_val:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {len(x_train) - n_val} training "
            "samples left after the validation split"
        )
    if client is not None and n_jobs is not None:
        raise ValueError(
            "n_jobs is for local processes: on a cluster, as many trials run at once as its "
            "workers have threads"
        )
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    n_jobs = check_positive_int("n_jobs", n_jobs)

    # Split, hyperparameters and trial seeds, all from the search seed, before any trial.
    root = np.random.SeedSequence(seed)
    split_seq, draw_seq, trials_seq = root.spawn(3)
    x_tr, t_tr, x_val, t_val = validation_split(
        x_train, t_train, validation_fraction, np.random.default_rng(split_seq)
    )
    draw = np.random.default_rng(draw_seq)
    lrs = 10.0 ** draw.uniform(math.log10(lr_low), math.log10(lr_high), n_trials)
    wds = 10.0 ** draw.uniform(math.log10(wd_low), math.log10(wd_high), n_trials)
    seeds = [int(s.generate_state(1)[0]) for s in trials_seq.spawn(n_trials)]
    trials = [
        Trial(index=i, seed=seeds[i], lr=float(lrs[i]), weight_decay=float(wds[i]))
        for i in range(n_trials)
    ]
    settings: dict[str, Any] = {
        "n_trials": int(n_trials),
        "lr_range": [lr_low, lr_high],
        "weight_decay_range": [wd_low, wd_high],
        "validation_fraction": float(validation_fraction),
        "train_size": len(x_tr),
        "val_size": len(x_val),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "hidden_size_list": [int(h) for h in hidden_size_list],
        "output_size": int(max(t_train.max() + 1, 2)),
        "activation": activation,
        "weight_init_std": weight_init_std,
        "optimizer": optimizer,
        "n_jobs": int(n_jobs) if client is None else sum(client.nthreads().values()),
        "scheduler": None if client is None else client.scheduler.address,
        "seed": seed,
    }
    # Fail on a bad network or optimizer setting here, not in every worker.
    MultiLayerNet(
        x_train.shape[1],
        settings["hidden_size_list"],
        settings["output_size"],
        activation=activation,
        weight_init_std=weight_init_std,
        rng=0,
    )
    get_optimizer(optimizer, lr=lr_low)

    t0 = time.perf_counter()
    if client is not None:
        done = _run_on_cluster(client, trials, (x_tr, t_tr, x_val, t_val), settings, on_trial)
    elif n_jobs == 1:
        done = []
        for trial in trials:
            done.append(run_trial(trial, x_tr, t_tr, x_val, t_val, settings))
            if on_trial is not None:
                on_trial(done[-1])
    else:
        try:
            from joblib import Parallel, delayed
        except ImportError:
            raise ImportError(
                "a parallel search needs joblib: pip install 'dlzero[cli]' (or joblib), or "
                "use n_jobs=1"
            ) from None
        # One BLAS thread per worker: n_jobs processes each running a multithreaded matrix
        # product would oversubscribe the cores and run slower than one process.
        parallel = Parallel(
            n_jobs=n_jobs,
            backend="loky",
            inner_max_num_threads=1,
            return_as="generator_unordered",
        )
        done = []
        for trial in parallel(
            delayed(run_trial)(trial, x_tr, t_tr, x_val, t_val, settings) for trial in trials
        ):
            done.append(trial)
            if on_trial is not None:
                on_trial(trial)
        done.sort(key=lambda t: t.index)
    settings["seconds"] = time.perf_counter() - t0
    return SearchResult(done, settings)


def _run_on_cluster(
    client: Client,
    trials: list[Trial],
    data: tuple[NDArray, NDArray, NDArray, NDArray],
    settings: dict[str, Any],
    on_trial: Any,
) -> list[Trial]:
    """Run every trial on ``client``'s cluster; the trials in index order, failed ones too."""
    remote = send_to_cluster(client, data)
    pending = {
        client.submit(run_trial, trial, *remote, settings, pure=False): trial for trial in trials
    }
    done = []
    for trial, result, error in as_they_finish(client, pending):
        if error is None:
            trial = result
        else:
            trial.status, trial.error = "failed", f"{type(error).__name__}: {error}"
        done.append(trial)
        if on_trial is not None:
            on_trial(trial)
    return sorted(done, key=lambda t: t.index)
