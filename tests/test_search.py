"""Tests of dlzero.studies.search: the book's random search, reproducible and parallel."""

import math

import numpy as np
import pytest

from dlzero.studies.search import SearchResult, Trial, random_search


def blobs(n=150, d=8, c=3, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n)
    centers = 3 * rng.standard_normal((c, d))
    return (centers[t] + rng.standard_normal((n, d))).astype(np.float32), t


SMALL = {"n_trials": 4, "epochs": 3, "batch_size": 20, "hidden_size_list": [10, 10]}


def test_hyperparameters_are_drawn_log_uniformly_within_the_ranges():
    x, t = blobs()
    result = random_search(
        x, t, **{**SMALL, "n_trials": 12}, lr_range=(1e-4, 1e-1), weight_decay_range=(1e-6, 1e-3),
        n_jobs=1, seed=0,
    )  # fmt: skip
    lrs = np.array([tr.lr for tr in result.trials])
    wds = np.array([tr.weight_decay for tr in result.trials])
    assert np.all((1e-4 <= lrs) & (lrs <= 1e-1)) and np.all((1e-6 <= wds) & (wds <= 1e-3))
    # Log-uniform: some values in every decade, not all bunched near the top.
    assert len(set(np.floor(np.log10(lrs)).tolist())) >= 2
    assert [tr.index for tr in result.trials] == list(range(12))
    assert len({tr.seed for tr in result.trials}) == 12  # every trial its own seed
    assert result.settings["train_size"] == 120 and result.settings["val_size"] == 30


def test_the_same_seed_gives_the_same_search_serial_or_parallel():
    x, t = blobs()
    serial = random_search(x, t, **SMALL, n_jobs=1, seed=5)
    parallel = random_search(x, t, **SMALL, n_jobs=2, seed=5)
    other = random_search(x, t, **SMALL, n_jobs=1, seed=6)
    for a, b in zip(serial.trials, parallel.trials, strict=True):
        assert (a.index, a.seed, a.lr, a.weight_decay) == (b.index, b.seed, b.lr, b.weight_decay)
        assert a.val_curve == b.val_curve and a.train_acc == b.train_acc
    assert [a.lr for a in serial.trials] != [a.lr for a in other.trials]


def test_a_good_learning_rate_learns_and_a_tiny_one_does_not():
    x, t = blobs(300)
    result = random_search(
        x, t, n_trials=8, epochs=8, batch_size=30, hidden_size_list=[20],
        lr_range=(1e-6, 1.0), weight_decay_range=(1e-8, 1e-8), n_jobs=1, seed=2,
    )  # fmt: skip
    ranked = result.ranked()
    assert ranked[0].val_acc > 0.9
    assert ranked[0].lr > 1e-2 and min(result.trials, key=lambda t: t.lr).val_acc < 0.8
    assert [t.val_acc for t in ranked] == sorted((t.val_acc for t in ranked), reverse=True)
    assert ranked[0].val_curve[-1] == ranked[0].val_acc and ranked[0].epochs == list(range(9))


def test_table_and_csv_list_every_trial():
    result = SearchResult(
        [
            Trial(0, 1, 1e-3, 1e-6, val_acc=0.5, train_acc=0.6),
            Trial(1, 2, 1e-2, 1e-7, val_acc=0.9, train_acc=0.95),
            Trial(2, 3, 5.0, 1e-5, val_acc=math.nan, train_acc=math.nan, status="diverged"),
        ],
        {},
    )
    lines = result.table().splitlines()
    assert lines[0].split()[:3] == ["rank", "trial", "val"]
    assert [ln.split()[1] for ln in lines[1:]] == ["1", "0", "2"]  # best first, diverged last
    assert lines[-1].endswith("(diverged)")
    assert len(result.table(top=1).splitlines()) == 2
    csv = result.to_csv().splitlines()
    assert csv[0] == "trial,seed,lr,weight_decay,val_acc,train_acc,status" and len(csv) == 4
    assert result.best(1)[0].index == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_trials": 0}, "n_trials must be a positive integer"),
        ({"lr_range": (1e-2, 1e-4)}, "lr_range must be 0 < low <= high"),
        ({"weight_decay_range": (0, 1e-4)}, "weight_decay_range must be 0 < low <= high"),
        ({"validation_fraction": 0.0}, r"validation_fraction must be a number in \(0, 1\)"),
        ({"validation_fraction": 1.5}, r"validation_fraction must be a number in \(0, 1\)"),
        ({"validation_fraction": "0.2"}, r"validation_fraction must be a number in \(0, 1\)"),
        ({"batch_size": 200}, "batch_size 200 is larger than the 120 training samples"),
        ({"n_jobs": 0}, "n_jobs must be a positive integer"),
        ({"optimizer": "adamw"}, "unknown optimizer 'adamw'"),
        ({"hidden_size_list": []}, "hidden_size_list is empty"),
    ],
)
def test_bad_settings_are_refused_before_any_trial(kwargs, message):
    x, t = blobs()
    with pytest.raises(ValueError, match=message):
        random_search(x, t, **{**SMALL, **kwargs})


def test_a_diverged_trial_ranks_below_every_finished_one():
    from dlzero.studies.search import SearchResult, Trial

    trials = [
        Trial(0, 0, 1e-3, 1e-6, val_acc=0.50),
        Trial(1, 1, 9e-1, 1e-6, val_acc=0.90, status="diverged"),  # good, then NaN
        Trial(2, 2, 1e-2, 1e-6, val_acc=0.80),
        Trial(3, 3, 1e-6, 1e-6),  # never evaluated
    ]
    ranked = [t.index for t in SearchResult(trials, {}).ranked()]
    assert ranked == [2, 0, 3, 1]


def test_a_failed_trial_ranks_last_and_keeps_its_reason():
    # (A trial fails only on a Dask cluster: see tests/test_search_dask.py.)
    trials = [
        Trial(0, 0, 1e-3, 1e-6, status="failed", error="KilledWorker: it died four times"),
        Trial(1, 1, 9e-1, 1e-6, val_acc=0.90, status="diverged"),
        Trial(2, 2, 1e-2, 1e-6, val_acc=0.80, train_acc=0.85),
    ]
    result = SearchResult(trials, {})
    assert [t.index for t in result.ranked()] == [2, 1, 0]
    assert result.table().splitlines()[-1].endswith("(failed)")
    assert result.to_csv().splitlines()[1].endswith(",failed")
    assert result.to_dict()["trials"][0]["error"] == "KilledWorker: it died four times"
