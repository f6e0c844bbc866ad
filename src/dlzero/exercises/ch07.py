# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# # Chapter 7 exercises: convolution and pooling
#
# Write `im2col` and the book's `Convolution` and `Pooling` layers yourself. Each exercise has
# a line `raise NotImplementedError("your code here")`: replace that line by your code, run the
# cell, then run the check below it. `im2col` is checked against dlzero's, the layers by
# `dlzero.check_layer`, as in chapter 5. Each check prints **PASS**, or **FAIL** with what is
# wrong, and never stops the notebook.
#
# (`dlzero exercises 7 --solutions` writes the solved notebook, if you are stuck.)

# %%
import os

import numpy as np

import dlzero
from dlzero import check_function, check_layer, col2im

# DLZERO_QUICK=1 (what the tests set); every cell here takes well under a second anyway.
QUICK = os.environ.get("DLZERO_QUICK", "0") == "1"
print("quick mode" if QUICK else "full mode", "- dlzero", dlzero.__version__)

rng = np.random.default_rng(0)  # the check inputs below

# %% [markdown]
# ## 1. im2col
#
# `im2col(input_data, filter_h, filter_w, stride, pad)` unfolds every filter window of a batch
# of images, shape (N, C, H, W), into one row of a matrix of shape
# (N * out_h * out_w, C * filter_h * filter_w) (section 7.4.2). Pad the images first
# (`np.pad`); then, for each offset `(y, x)` inside the window, one strided slice of the
# padded images gives that offset's value in every window at once.


# %%
def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    ### BEGIN SOLUTION
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)
    ### END SOLUTION


# %% [markdown]
# Two checks against `dlzero.im2col`: 3x3 windows with stride 1 and padding 1, then stride 2
# and no padding.

# %%
images = rng.standard_normal((2, 3, 5, 5))
check_function(im2col, images, 3, 3, 1, 1, expected=dlzero.im2col)

# %%
check_function(im2col, images, 3, 3, 2, 0, expected=dlzero.im2col)

# %% [markdown]
# ## 2. Convolution
#
# `forward` unfolds the input with your `im2col`, multiplies by the filters flattened to
# columns, adds the bias and brings the result back to shape (N, FN, out_h, out_w).
# `backward` undoes each step: `db` and `dW` from `dout` laid out as the product's result, and
# `dx` folded back from the columns by `col2im` (dlzero's, given here; it adds where windows
# overlap). Keep `self.dW` in the shape of `W`, (FN, C, FH, FW) (section 7.4.3).


# %%
class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None
        self.col = None
        self.col_W = None
        self.dW = None
        self.db = None

    def forward(self, x):
        FN, _, FH, FW = self.W.shape
        N, _, H, W = x.shape
        out_h = (H + 2 * self.pad - FH) // self.stride + 1
        out_w = (W + 2 * self.pad - FW) // self.stride + 1
        ### BEGIN SOLUTION
        col = im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T
        out = col @ col_W + self.b
        self.x, self.col, self.col_W = x, col, col_W
        return out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)
        ### END SOLUTION

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        ### BEGIN SOLUTION
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = (self.col.T @ dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)
        ### END SOLUTION


# %%
W, b = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
check_layer(Convolution(W, b, stride=1, pad=1), rng.standard_normal((2, 3, 5, 5)))

# %% [markdown]
# ## 3. Max pooling
#
# `forward` unfolds the input with `im2col`, one row per window *and channel*, keeps each
# row's maximum and where it was (`np.argmax`), and brings the result back to shape
# (N, C, out_h, out_w). `backward` sends each `dout` value to the one input that was the
# maximum of its window, and 0 to the others (section 7.4.4).


# %%
class Pooling:
    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self.arg_max = None

    def forward(self, x):
        N, C, H, W = x.shape
        out_h = (H + 2 * self.pad - self.pool_h) // self.stride + 1
        out_w = (W + 2 * self.pad - self.pool_w) // self.stride + 1
        ### BEGIN SOLUTION
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        self.x, self.arg_max = x, np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)
        ### END SOLUTION

    def backward(self, dout):
        ### BEGIN SOLUTION
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)
        ### END SOLUTION


# %%
check_layer(Pooling(2, 2, stride=2), rng.standard_normal((2, 3, 4, 4)))
