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
# # Chapter 3: the forward pass
#
# A network's prediction is a chain of matrix products, each followed by an activation function.
# This notebook draws the activations, runs a tiny three-layer network by hand, and then
# classifies MNIST digits with weights trained by dlzero: one image at a time, and then a batch
# of 100 at once, which gives the same answers much faster.

# %%
import os
import time

import numpy as np

import dlzero
from dlzero.datasets import load_mnist

# DLZERO_QUICK=1 (what the tests set) runs everything on a little data in seconds;
# otherwise the notebook runs the chapter's experiments at full size.
QUICK = os.environ.get("DLZERO_QUICK", "0") == "1"
print("quick mode" if QUICK else "full mode", "- dlzero", dlzero.__version__)

# %% [markdown]
# ## Three activation functions
#
# The step function jumps from 0 to 1; the sigmoid does the same smoothly, so its slope is never
# zero; ReLU passes positive inputs unchanged and cuts the rest to 0.

# %%
from dlzero.plotting import new_figure

x = np.linspace(-5, 5, 201)
fig = new_figure((9, 3))
for i, (name, f) in enumerate(
    [("step", dlzero.step_function), ("sigmoid", dlzero.sigmoid), ("ReLU", dlzero.relu)]
):
    ax = fig.add_subplot(1, 3, i + 1)
    ax.plot(x, f(x))
    ax.set_title(name)
    ax.set_ylim(-0.1, 1.1 if name != "ReLU" else 5.1)
fig

# %% [markdown]
# ## A three-layer network by hand
#
# Two inputs, hidden layers of 3 and 2 sigmoid units, two outputs with the identity function.
# The weights are the small example values of the chapter. Each layer is `x @ W + b`, then the
# activation.

# %%
W1 = np.array([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]])
b1 = np.array([0.1, 0.2, 0.3])
W2 = np.array([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]])
b2 = np.array([0.1, 0.2])
W3 = np.array([[0.1, 0.3], [0.2, 0.4]])
b3 = np.array([0.1, 0.2])

x = np.array([1.0, 0.5])
z1 = dlzero.sigmoid(x @ W1 + b1)
z2 = dlzero.sigmoid(z1 @ W2 + b2)
y = dlzero.identity_function(z2 @ W3 + b3)
print("output:", y)

# %% [markdown]
# For classification the last layer uses softmax instead: the outputs become positive and sum
# to 1. dlzero's `softmax` subtracts the largest score first, so huge scores do not overflow.

# %%
print(dlzero.softmax(np.array([0.3, 2.9, 4.0])))
print(dlzero.softmax(np.array([1010.0, 1000.0, 990.0])))  # no overflow

# %% [markdown]
# ## MNIST
#
# 60,000 training and 10,000 test images of handwritten digits, 28 x 28 pixels; the copy
# bundled with dlzero is checked by SHA-256 when it loads.

# %%
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True)
print(x_train.shape, t_train.shape, x_test.shape, x_train.dtype)

fig = new_figure((8, 1.4))
for i in range(8):
    ax = fig.add_subplot(1, 8, i + 1)
    ax.imshow(x_train[i].reshape(28, 28), cmap="gray_r")
    ax.set_title(int(t_train[i]))
    ax.axis("off")
fig

# %% [markdown]
# ## Weights that have learned
#
# The chapter's network has 784 inputs, hidden layers of 50 and 100 sigmoid units and 10
# outputs, and reads its trained weights from a file. Here dlzero trains the same shape of
# network for a moment instead (learning itself is the subject of chapters 4 and 5).

# %%
n_train = 10_000 if QUICK else 60_000
net = dlzero.MultiLayerNet(
    784, [50, 100], 10, activation="sigmoid", weight_init_std="xavier", rng=0
)
history = dlzero.train(
    net,
    dlzero.Adam(lr=0.001),
    x_train[:n_train],
    t_train[:n_train],
    iters=300 if QUICK else 1200,
    batch_size=100,
    rng=0,
    verbose=False,
)
net

# %% [markdown]
# The forward pass below uses only the weight arrays, NumPy and dlzero's activation functions:
# it is the whole of what "prediction" means.

# %%
W1, b1, W2, b2, W3, b3 = (net.params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))


def predict(x):
    a1 = x @ W1 + b1
    z1 = dlzero.sigmoid(a1)
    a2 = z1 @ W2 + b2
    z2 = dlzero.sigmoid(a2)
    a3 = z2 @ W3 + b3
    return dlzero.softmax(a3)


n_test = 2_000 if QUICK else 10_000
x, t = x_test[:n_test], t_test[:n_test]

start = time.perf_counter()
correct = sum(int(np.argmax(predict(x[i])) == t[i]) for i in range(len(x)))
one_by_one = time.perf_counter() - start
accuracy_single = correct / len(x)

start = time.perf_counter()
correct = 0
for i in range(0, len(x), 100):
    correct += int(np.sum(np.argmax(predict(x[i : i + 100]), axis=1) == t[i : i + 100]))
in_batches = time.perf_counter() - start
accuracy_batch = correct / len(x)

print(f"one image at a time:  accuracy {accuracy_single:.4f} in {one_by_one:.3f} s")
print(f"batches of 100:       accuracy {accuracy_batch:.4f} in {in_batches:.3f} s")
print(f"dlzero's net.accuracy: {net.accuracy(x, t):.4f}")
print(f"batching is {one_by_one / in_batches:.0f} times faster")

# %% [markdown]
# The same accuracy three ways, and batching is many times faster: one product of a
# (100, 784) matrix does the work of 100 vector products, and NumPy's BLAS does it in one call.
# (The chapter's own weights give 93.52%; these were trained here for a few seconds.)
