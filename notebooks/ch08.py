# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 8: a deeper network
#
# `DeepConvNet`: six 3 x 3 convolutions in three pairs, each pair followed by 2 x 2 pooling, then
# two affine layers with dropout; He initialization, Adam. The book reports 99.35% test accuracy
# for it, and that its mistakes are digits that people too would find ambiguous. It also shows
# that the trained weights survive being stored in half precision.
#
# Training it for the book's 20 epochs (12,000 steps) takes hours on a CPU: a third of a second
# to a second per batch of 100 on this project's busy 2-core machine, one to three hours in all.
# Quick mode trains it for a few steps, enough to run every cell; full mode trains it once and
# saves the result to `deep_convnet.npz`, which later runs load instead of training again.

# %%
import os

import numpy as np

import dlzero
from dlzero.datasets import load_mnist

# DLZERO_QUICK=1 (what the tests set) runs everything on a little data in seconds;
# otherwise the notebook runs the chapter's experiments at full size.
QUICK = os.environ.get("DLZERO_QUICK", "0") == "1"
print("quick mode" if QUICK else "full mode", "- dlzero", dlzero.__version__)

# %%
from pathlib import Path

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False)
if QUICK:
    x_train, t_train, x_test, t_test = x_train[:1_000], t_train[:1_000], x_test[:300], t_test[:300]
network = dlzero.DeepConvNet(rng=0)
network

# %%
MODEL = Path("deep_convnet.npz")
if not QUICK and MODEL.exists():
    network = dlzero.load(MODEL)
    print(f"loaded {MODEL}")
else:
    history = dlzero.train(
        network,
        dlzero.Adam(lr=0.001),
        x_train,
        t_train,
        x_test,
        t_test,
        iters=15 if QUICK else None,
        epochs=None if QUICK else 20,
        batch_size=32 if QUICK else 100,
        rng=0,
        evaluate_train=False,
    )
    if not QUICK:
        dlzero.save(network, MODEL)
evaluation = dlzero.studies.evaluation.evaluate(network, x_test, t_test)
print(f"test accuracy {evaluation.accuracy:.4f} (the book: 0.9935)")
evaluation

# %% [markdown]
# ## Its mistakes
#
# The test images it gets wrong with the most confidence, with the true label and its answer.
# (After the full training there are only a few dozen mistakes in 10,000, and many of them are
# hard to read; after quick mode's few steps there are many more, and they are not.)

# %%
worst = evaluation.mistakes(20)
dlzero.plotting.plot_mistakes(
    x_test[worst],
    evaluation.labels[worst],
    evaluation.predicted[worst],
    evaluation.proba[worst, evaluation.predicted[worst]],
)

# %%
dlzero.plotting.plot_confusion_matrix(evaluation.confusion)

# %% [markdown]
# ## Half precision
#
# Deep learning needs few significant digits. Store every weight in float16 (half the memory
# of float32) and the accuracy does not change: at most a handful of the 10,000 answers do,
# images on which two classes were nearly tied. NumPy has no fast float16 matrix product, so
# the check is done two ways: the float16 weights read back into float32 on the whole test set,
# and the network computing entirely in float16 on a small batch.

# %%
half = network.astype(np.float16)
print(
    "weights:",
    half.dtype,
    f"{sum(p.nbytes for p in half.params.values()):,} bytes, against",
    f"{sum(p.nbytes for p in network.params.values()):,} in float32",
)
rounded = half.astype(np.float32)  # the float16 values, computed in float32
evaluation16 = dlzero.studies.evaluation.evaluate(rounded, x_test, t_test)
changed = np.count_nonzero(evaluation16.predicted != evaluation.predicted)
print(
    f"accuracy with float32 weights {evaluation.accuracy:.4f}, "
    f"with float16 weights {evaluation16.accuracy:.4f}; "
    f"{changed} of {len(x_test):,} answers changed"
)

n = 8 if QUICK else 200
same = np.array_equal(
    network.predict(x_test[:n]).argmax(axis=1),
    half.predict(x_test[:n].astype(np.float16)).argmax(axis=1),
)
print(f"computing in float16 on {n} images: same answers as float32: {same}")
