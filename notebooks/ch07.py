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
# # Chapter 7: convolutional networks
#
# A convolution slides small filters over an image and keeps its 2-D shape; pooling shrinks it.
# dlzero, like the book, turns every filter window into a row of a matrix (`im2col`) so that a
# convolution is one matrix product. Then `SimpleConvNet` learns MNIST, and its filters change
# from noise into edge and blob detectors.

# %%
import os

import numpy as np

import dlzero
from dlzero.datasets import load_mnist

# DLZERO_QUICK=1 (what the tests set) runs everything on a little data in seconds;
# otherwise the notebook runs the chapter's experiments at full size.
QUICK = os.environ.get("DLZERO_QUICK", "0") == "1"
print("quick mode" if QUICK else "full mode", "- dlzero", dlzero.__version__)

# %% [markdown]
# ## im2col
#
# One image of 3 channels, 7 x 7, and a 5 x 5 filter with stride 1: 3 x 3 = 9 window positions,
# each of 3 x 5 x 5 = 75 values. Ten images give ten times the rows.

# %%
rng = np.random.default_rng(0)
x1 = rng.random((1, 3, 7, 7))
print("one image:", dlzero.im2col(x1, 5, 5, stride=1, pad=0).shape)
x2 = rng.random((10, 3, 7, 7))
print("ten images:", dlzero.im2col(x2, 5, 5, stride=1, pad=0).shape)
print("output size of a 28-pixel side, 5-pixel filter, no padding:", dlzero.conv_output_size(28, 5))

# %% [markdown]
# ## A convolution and a pooling layer on a digit
#
# Two hand-made 3 x 3 filters, one responding to vertical edges and one to horizontal edges,
# then 2 x 2 max pooling, which keeps the strongest response of each block.

# %%
from dlzero.plotting import new_figure

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False)
image = x_train[:1]  # shape (1, 1, 28, 28)
edges = np.array([[[[1, 0, -1]] * 3], [[[1, 1, 1], [0, 0, 0], [-1, -1, -1]]]], dtype=np.float32)
conv = dlzero.Convolution(edges, np.zeros(2, dtype=np.float32), stride=1, pad=1)
pool = dlzero.Pooling(2, 2, stride=2)
feature_maps = conv.forward(image)
pooled = pool.forward(feature_maps)
print("image", image.shape, "-> convolution", feature_maps.shape, "-> pooling", pooled.shape)

fig = new_figure((8, 2.2))
panels = [
    ("digit", image[0, 0]),
    ("vertical edges", feature_maps[0, 0]),
    ("horizontal edges", feature_maps[0, 1]),
    ("pooled (vertical)", pooled[0, 0]),
]
for i, (title, picture) in enumerate(panels):
    ax = fig.add_subplot(1, 4, i + 1)
    ax.imshow(picture, cmap="gray")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig

# %% [markdown]
# ## SimpleConvNet
#
# Convolution (30 filters of 5 x 5) - ReLU - pooling - Affine (100) - ReLU - Affine (10), trained
# with Adam (lr 0.001) on batches of 100. Quick mode trains on 2,000 images for 60 steps; full
# mode runs the chapter's 20 epochs on all 60,000 (a few minutes on a laptop).

# %%
if QUICK:
    x_train, t_train, x_test, t_test = x_train[:2_000], t_train[:2_000], x_test[:500], t_test[:500]
network = dlzero.SimpleConvNet(rng=0)
filters_before = network.params["W1"].copy()
network

# %%
history = dlzero.train(
    network,
    dlzero.Adam(lr=0.001),
    x_train,
    t_train,
    x_test,
    t_test,
    iters=60 if QUICK else None,
    epochs=None if QUICK else 20,
    batch_size=100,
    rng=0,
    evaluate_train=False,
)
print(f"test accuracy {history.final('test'):.4f}")

# %% [markdown]
# The first layer's 30 filters, before training (random noise) and after (smooth patterns that
# respond to edges and blobs in particular directions):

# %%
dlzero.plotting.plot_filters_before_after(filters_before, network.params["W1"])

# %%
dlzero.plotting.plot_accuracy(history)

# %% [markdown]
# In full mode the test accuracy passes 98.8% within 10 epochs (the chapter reports about 98.9%
# after 20): a network with one convolution already beats every fully connected network of
# chapters 5 and 6.
