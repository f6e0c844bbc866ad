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
# # Chapter 6 exercises: learning techniques
#
# Write the book's optimizers, dropout and batch normalization yourself. Each exercise is a
# method with a line `raise NotImplementedError("your code here")`: replace that line by your
# code, run the cell, then run the check below it.
#
# An optimizer is checked by `dlzero.check_optimizer`: a copy of it and dlzero's optimizer of
# the same name (the book's formulas, with your hyperparameters) take three steps side by side
# from the same parameters with the same gradients. A layer is checked by `dlzero.check_layer`,
# as in chapter 5. Each prints **PASS**, or **FAIL** with what is wrong, and never stops the
# notebook.
#
# (`dlzero exercises 6 --solutions` writes the solved notebook, if you are stuck.)

# %%
import os

import numpy as np

import dlzero
from dlzero import check_layer, check_optimizer

# DLZERO_QUICK=1 (what the tests set); every cell here takes well under a second anyway.
QUICK = os.environ.get("DLZERO_QUICK", "0") == "1"
print("quick mode" if QUICK else "full mode", "- dlzero", dlzero.__version__)

rng = np.random.default_rng(0)  # the check inputs below

# %% [markdown]
# Every optimizer has the book's interface: `update(params, grads)`, where both are dicts of
# arrays by parameter name (`"W1"`, `"b1"`, ...). Change each `params[key]` **in place**
# (`params[key] -= ...`): the network's layers hold those very arrays.
#
# ## 1. SGD
#
# `W <- W - lr * dW` (section 6.1.2).


# %%
class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        ### BEGIN SOLUTION
        for key in params:
            params[key] -= self.lr * grads[key]
        ### END SOLUTION


# %%
check_optimizer(SGD(lr=0.1), "sgd")

# %% [markdown]
# ## 2. Momentum
#
# `v <- momentum * v - lr * dW`, then `W <- W + v`, with `v` starting at zero (section 6.1.4).
# `v` is the optimizer's memory: one array per parameter, created at the first update and kept
# from one update to the next.


# %%
class Momentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        ### BEGIN SOLUTION
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]
        ### END SOLUTION


# %%
check_optimizer(Momentum(lr=0.1, momentum=0.9), "momentum")

# %% [markdown]
# ## 3. AdaGrad
#
# `h <- h + dW * dW`, then `W <- W - lr * dW / (sqrt(h) + 1e-7)` (section 6.1.5): each
# element's step shrinks with the sum of its squared gradients.


# %%
class AdaGrad:
    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        ### BEGIN SOLUTION
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)
        ### END SOLUTION


# %%
check_optimizer(AdaGrad(lr=0.1), "adagrad")

# %% [markdown]
# ## 4. Adam
#
# The book's form (section 6.1.6): with `t` the number of updates so far (counting this one),
#
#     lr_t = lr * sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
#     m <- m + (1 - beta1) * (dW - m)
#     v <- v + (1 - beta2) * (dW ** 2 - v)
#     W <- W - lr_t * m / (sqrt(v) + 1e-7)


# %%
class Adam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params, grads):
        ### BEGIN SOLUTION
        if self.m is None:
            self.m = {key: np.zeros_like(val) for key, val in params.items()}
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key in params:
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)
        ### END SOLUTION


# %%
check_optimizer(Adam(lr=0.01), "adam")

# %% [markdown]
# ## 5. Dropout
#
# The book's dropout (section 6.4.3): in training, `forward` keeps each value with probability
# `1 - dropout_ratio` (draw the mask with `np.random.rand(*x.shape) > self.dropout_ratio`) and
# sets the others to 0; at inference it multiplies everything by `1 - dropout_ratio`.
# `backward` lets `dout` through where the value was kept. (`check_layer` calls `forward` with
# `train_flg=True` and holds the random draws the same in every call.)


# %%
class Dropout:
    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        ### BEGIN SOLUTION
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio  # noqa: NPY002 (the book's)
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)
        ### END SOLUTION

    def backward(self, dout):
        ### BEGIN SOLUTION
        return dout * self.mask
        ### END SOLUTION


# %%
check_layer(Dropout(0.5), rng.standard_normal((4, 5)))

# %% [markdown]
# ## 6. Batch normalization
#
# For a batch `x` of shape (N, D), in training (section 6.3.1):
#
#     mu = mean of x over the batch          xc = x - mu
#     var = mean of xc ** 2 over the batch   std = sqrt(var + 1e-7)
#     xn = xc / std                          out = gamma * xn + beta
#
# and moving averages of `mu` and `var` for inference. `backward` goes back through these
# steps one at a time, in reverse: keep the gradients of the parameters in `self.dgamma` and
# `self.dbeta`, and return `dx`. The paths through `mu` and `var` matter: every `x` moves the
# mean and the variance of its whole batch.


# %%
class BatchNormalization:
    def __init__(self, gamma, beta, momentum=0.9):
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.running_mean = None
        self.running_var = None
        self.dgamma = None
        self.dbeta = None

    def forward(self, x, train_flg=True):
        if self.running_mean is None:
            self.running_mean = np.zeros(x.shape[1])
            self.running_var = np.zeros(x.shape[1])
        if not train_flg:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + 1e-7)
            return self.gamma * xn + self.beta
        ### BEGIN SOLUTION
        mu = x.mean(axis=0)
        xc = x - mu
        var = np.mean(xc**2, axis=0)
        std = np.sqrt(var + 1e-7)
        xn = xc / std
        self.batch_size, self.xc, self.xn, self.std = x.shape[0], xc, xn, std
        self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
        self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        return self.gamma * xn + self.beta
        ### END SOLUTION

    def backward(self, dout):
        ### BEGIN SOLUTION
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        return dxc - dmu / self.batch_size
        ### END SOLUTION


# %%
gamma, beta = rng.uniform(0.5, 1.5, 3), rng.standard_normal(3)
check_layer(BatchNormalization(gamma, beta), rng.standard_normal((5, 3)))
