"""What the trainer does with the training data: hold out a validation split, draw mini-batches.

Two ways to draw the mini-batches of an epoch (``SAMPLING``):

- ``"shuffle"`` (the default): a fresh permutation each epoch, so every sample is seen exactly
  once per epoch and an "epoch" means one pass over the data, as the word says. The last
  mini-batch of an epoch is smaller when the batch size does not divide the training size.
- ``"replacement"``: each mini-batch drawn independently, with replacement, as the notes'
  ``np.random.choice(train_size, batch_size)`` does; in one "epoch" about 37% of the images are
  never seen and others twice. Both reach the same accuracy on MNIST within noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlzero._rng import RngLike, as_rng
from dlzero.layers import BatchNormalization

__all__ = [
    "SAMPLING",
    "batch_order",
    "check_batch_norm_batches",
    "check_training_data",
    "shuffle_dataset",
    "train_subset",
    "validation_size",
    "validation_split",
]

SAMPLING = ("shuffle", "replacement")


def check_training_data(x: Any, t: Any) -> tuple[NDArray, NDArray]:
    """``(x, t)`` as arrays, checked: x of shape (N, ...), t of shape (N,) labels or (N, C)
    one-hot, N >= 1."""
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim < 2 or t.ndim not in (1, 2):
        raise ValueError(
            "expected x_train of shape (N, ...) and t_train of shape (N,) labels or (N, C) "
            f"one-hot, got shapes {x.shape} and {t.shape}"
        )
    if len(x) != len(t):
        raise ValueError(f"x_train has {len(x)} samples but t_train has {len(t)} labels")
    if len(x) == 0:
        raise ValueError("x_train is empty")
    return x, t


SUBSET_SEED = 0  # the train-accuracy sample's own generator: the same sample in every run


def train_subset(x: NDArray, t: NDArray, size: int | None) -> tuple[NDArray, NDArray]:
    """The training samples the train accuracy is measured on: all of them (``size`` None or
    at least N), or a random sample of ``size`` of them, in their order in the set.

    The sample is drawn from a generator of its own (seed ``SUBSET_SEED``): the same samples
    every epoch and in every run, whatever the training seed, and no random stream of the
    training moves. Not every k-th sample: MNIST's training set alternates between its two
    groups of writers, and every 6th image (60,000 / 10,000) comes from one group only (a
    trained DeepConvNet: 0.9953 on those, 0.9973 on all 60,000, 0.9967-0.9980 on random
    samples of 10,000). The sample is a copy (a view cannot pick at random).
    """
    if size is None or size >= len(x):
        return x, t
    index = np.sort(np.random.default_rng(SUBSET_SEED).choice(len(x), size, replace=False))
    return x[index], t[index]


def batch_order(
    rng: np.random.Generator, train_size: int, batch_size: int, n_steps: int, sampling: str
) -> NDArray:
    """Sample indices of one epoch's mini-batches, batch after batch.

    Returns
    -------
    ndarray of int, shape (n_steps * batch_size,) or less
        Mini-batch ``j`` is ``order[j * batch_size : (j + 1) * batch_size]``. With "shuffle",
        an epoch cut short (the run's last) takes the first ``n_steps`` batches of a
        permutation.
    """
    if sampling == "replacement":
        return rng.integers(0, train_size, n_steps * batch_size)
    return rng.permutation(train_size)[: n_steps * batch_size]


def shuffle_dataset(x: Any, t: Any, rng: RngLike = None) -> tuple[NDArray, NDArray]:
    """``x`` and ``t`` in one random order, the same for both (the book's ``shuffle_dataset``).

    The book shuffles before it holds out a validation set (chapter 6.5), so that the held-out
    samples are a random sample rather than the last ones in the file.

    Parameters
    ----------
    x : array_like, shape (N, ...)
        Samples: rows, images, anything indexed by its first axis.
    t : array_like, shape (N,) or (N, C)
        Their labels.
    rng : Generator, int or None
        Source of the permutation (see :func:`dlzero._rng.as_rng`).

    Returns
    -------
    (x, t) : tuple of ndarray
        New arrays (the inputs are left alone), ``x[p]`` and ``t[p]`` for one permutation ``p``.
    """
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0 or len(x) != len(t):
        raise ValueError(
            "shuffle_dataset needs x and t with the same number of samples along the first "
            f"axis, got shapes {x.shape} and {t.shape}"
        )
    order = as_rng(rng).permutation(len(x))
    return x[order], t[order]


def validation_size(n: int, fraction: float) -> int:
    """How many of ``n`` training samples ``validation_fraction=fraction`` holds out:
    ``round(fraction * n)``, at least one and at most ``n - 1`` (0 when ``fraction`` is 0)."""
    if not fraction:
        return 0
    if n < 2:
        raise ValueError(f"validation_fraction needs at least 2 training samples, got {n}")
    return min(max(1, round(fraction * n)), n - 1)


def validation_split(
    x: NDArray, t: NDArray, fraction: float, rng: np.random.Generator
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Split off :func:`validation_size` random samples: ``(x_train, t_train, x_val, t_val)``.

    Both parts keep the original order of the samples (the indices are sorted), so the split
    depends only on the Generator, and the data are copied once, here, not per step.
    """
    n = len(x)
    n_val = validation_size(n, fraction)
    perm = rng.permutation(n)
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return x[train_idx], t[train_idx], x[val_idx], t[val_idx]


def check_batch_norm_batches(network: Any, train_size: int, batch_size: int, sampling: str) -> None:
    """Batch normalization cannot normalize a batch of one (its variance is 0): refuse a run
    in which a training mini-batch would hold a single sample, before it starts."""
    layers = getattr(network, "layers", None)
    if not isinstance(layers, Mapping) or not any(
        isinstance(layer, BatchNormalization) for layer in layers.values()
    ):
        return
    if batch_size == 1:
        raise ValueError("a network with batch normalization needs batch_size >= 2, got 1")
    if sampling == "shuffle" and train_size % batch_size == 1:
        raise ValueError(
            f"a network with batch normalization cannot train on a mini-batch of one sample, "
            f"but {train_size} training samples in batches of {batch_size} leave one sample "
            "for the last mini-batch of each epoch; change the batch size or the training size"
        )
