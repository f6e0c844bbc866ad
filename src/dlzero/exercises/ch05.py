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
# # Chapter 5 exercises: backpropagation
#
# Write the book's layers yourself, then a two-layer network of them that learns MNIST. Each
# exercise is a method with a line `raise NotImplementedError("your code here")`: replace that
# line by your code, run the cell, then run the check below it.
#
# The checks are `dlzero.check_layer`: it runs your `forward` and `backward` on small random
# arrays (in float64, on copies) and compares every gradient your `backward` gives with the
# numerical one, from central differences of the output. It prints **PASS**, or **FAIL** with
# the gradient that is wrong, the element where it is worst, and a hint when a usual mistake
# fits the numbers. It never stops the notebook.
#
# (`dlzero exercises 5 --solutions` writes the solved notebook, if you are stuck.)

# %%
import os

import numpy as np

import dlzero
from dlzero import check_function, check_layer, numerical_gradient, softmax
from dlzero.datasets import load_mnist

# DLZERO_QUICK=1 (what the tests set) trains on a little data in a second or two; otherwise
# the network trains as the book's train_neuralnet.py does (10,000 steps, about 10 s).
QUICK = os.environ.get("DLZERO_QUICK", "0") == "1"
print("quick mode" if QUICK else "full mode", "- dlzero", dlzero.__version__)

rng = np.random.default_rng(0)  # the check inputs below

# %% [markdown]
# ## 1. The multiplication node
#
# `forward(x, y)` returns `x * y`; `backward(dout)` returns the gradients of both inputs, as a
# tuple `(dx, dy)`. Each is `dout` times the *other* input (section 5.4.1).


# %%
class MulLayer:
    def __init__(self):
        self.x = None
        self.y = None

    def forward(self, x, y):
        ### BEGIN SOLUTION
        self.x = x
        self.y = y
        return x * y
        ### END SOLUTION

    def backward(self, dout):
        ### BEGIN SOLUTION
        dx = dout * self.y
        dy = dout * self.x
        return dx, dy
        ### END SOLUTION


# %%
check_layer(MulLayer(), rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))

# %% [markdown]
# ## 2. The addition node
#
# `forward(x, y)` returns `x + y`; `backward` passes `dout` on to both inputs unchanged.


# %%
class AddLayer:
    def forward(self, x, y):
        ### BEGIN SOLUTION
        return x + y
        ### END SOLUTION

    def backward(self, dout):
        ### BEGIN SOLUTION
        return dout * 1, dout * 1
        ### END SOLUTION


# %%
check_layer(AddLayer(), rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))

# %% [markdown]
# ## 3. ReLU
#
# `forward` keeps the positive values and sets the rest to 0, remembering where in a boolean
# `mask`; `backward` lets `dout` through where the input was positive and stops it elsewhere
# (section 5.5.1).


# %%
class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        ### BEGIN SOLUTION
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out
        ### END SOLUTION

    def backward(self, dout):
        ### BEGIN SOLUTION
        dx = dout.copy()  # (the book writes into dout itself; the check would warn)
        dx[self.mask] = 0
        return dx
        ### END SOLUTION


# %%
check_layer(Relu(), rng.standard_normal((3, 4)))

# %% [markdown]
# ## 4. Sigmoid
#
# `forward` returns `1 / (1 + exp(-x))` and keeps it as `self.out`; the derivative needs only
# that output (section 5.5.2).


# %%
class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        ### BEGIN SOLUTION
        self.out = 1 / (1 + np.exp(-x))
        return self.out
        ### END SOLUTION

    def backward(self, dout):
        ### BEGIN SOLUTION
        return dout * (1.0 - self.out) * self.out
        ### END SOLUTION


# %%
check_layer(Sigmoid(), rng.standard_normal((3, 4)))

# %% [markdown]
# ## 5. Affine
#
# `forward(x)` returns `x @ W + b` for a batch `x` of shape (N, D); `backward(dout)` returns
# `dx` and keeps the gradients of the parameters in `self.dW` and `self.db` (section 5.6.2).
# Mind the shapes: `dW` has the shape of `W`, `db` that of `b`.


# %%
class Affine:
    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.dW = None
        self.db = None

    def forward(self, x):
        ### BEGIN SOLUTION
        self.x = x
        return x @ self.W + self.b
        ### END SOLUTION

    def backward(self, dout):
        ### BEGIN SOLUTION
        dx = dout @ self.W.T
        self.dW = self.x.T @ dout
        self.db = np.sum(dout, axis=0)
        return dx
        ### END SOLUTION


# %%
W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
check_layer(Affine(W, b), rng.standard_normal((5, 4)))

# %% [markdown]
# ## 6. Softmax with loss
#
# `forward(x, t)` turns the scores `x` into probabilities `y` with `softmax` (dlzero's here)
# and returns the mean cross-entropy loss against the one-hot labels `t`,
# `-sum(t * log(y)) / batch_size`; `backward(dout=1)` returns `dx`, the famously simple
# `(y - t) / batch_size` (section 5.6.3). A loss layer is checked with its labels:
# `check_layer(layer, x, labels=t)`.
#
# (Take the log of `y` itself. The book's `cross_entropy_error` adds 1e-7 inside the log, so
# that a probability of 0 gives no `log(0)`; its loss is then not exactly the function whose
# gradient is `(y - t) / batch_size`, and a check sees the difference wherever a probability
# is small.)


# %%
class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        ### BEGIN SOLUTION
        self.t = t
        self.y = softmax(x)
        self.loss = -np.sum(t * np.log(self.y)) / x.shape[0]
        return self.loss
        ### END SOLUTION

    def backward(self, dout=1):
        ### BEGIN SOLUTION
        batch_size = self.t.shape[0]
        return dout * (self.y - self.t) / batch_size
        ### END SOLUTION


# %%
labels = np.eye(3)[[0, 2, 1, 2]]  # one-hot: four samples of three classes
check_layer(SoftmaxWithLoss(), rng.standard_normal((4, 3)), labels=labels)

# %% [markdown]
# ## 7. A two-layer network of your layers
#
# The book's `TwoLayerNet` (section 5.7.2), built from *your* `Affine`, `Relu` and
# `SoftmaxWithLoss`. `predict`, `loss`, `accuracy` and `numerical_gradient` are written;
# write `gradient`: the loss forward, then `backward` through the last layer and the other
# layers in reverse order, and the parameters' gradients collected from the layers.


# %%
class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, seed=0):
        gen = np.random.default_rng(seed)
        self.params = {
            "W1": weight_init_std * gen.standard_normal((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * gen.standard_normal((hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }
        # The layers hold the very arrays of params: an in-place update trains them.
        self.layers = {
            "Affine1": Affine(self.params["W1"], self.params["b1"]),
            "Relu1": Relu(),
            "Affine2": Affine(self.params["W2"], self.params["b2"]),
        }
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x, t):
        y = np.argmax(self.predict(x), axis=1)
        return np.mean(y == np.argmax(t, axis=1))

    def numerical_gradient(self, x, t):
        def loss_w(_):
            return self.loss(x, t)

        return {key: numerical_gradient(loss_w, self.params[key]) for key in self.params}

    def gradient(self, x, t):
        ### BEGIN SOLUTION
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return {
            "W1": self.layers["Affine1"].dW,
            "b1": self.layers["Affine1"].db,
            "W2": self.layers["Affine2"].dW,
            "b2": self.layers["Affine2"].db,
        }
        ### END SOLUTION


# %% [markdown]
# The check is the book's gradient check (`gradient_check.py`), on a network small enough for
# numerical differentiation to take no time: your `gradient` against `numerical_gradient`.

# %%
small = TwoLayerNet(input_size=5, hidden_size=4, output_size=3, weight_init_std=1.0)
x_small, t_small = rng.standard_normal((3, 5)), np.eye(3)[[0, 1, 2]]
check_function(small.gradient, x_small, t_small, expected=small.numerical_gradient)

# %% [markdown]
# ## 8. Training on MNIST
#
# Nothing to write here: the book's `train_neuralnet.py` with your network, mini-batches of
# 100 and SGD with learning rate 0.1. Your layers should reach about 97% test accuracy, as the
# book's do.

# %%
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
if QUICK:
    x_train, t_train, x_test, t_test = x_train[:2000], t_train[:2000], x_test[:500], t_test[:500]
x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
iters, batch_size, lr = (300 if QUICK else 10_000), 100, 0.1
network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
batches = np.random.default_rng(0)
try:
    for i in range(iters):
        batch = batches.choice(len(x_train), batch_size)
        grads = network.gradient(x_train[batch], t_train[batch])
        for key in network.params:
            network.params[key] -= lr * grads[key]  # in place: the layers see it
        if i % 1000 == 0 or i == iters - 1:
            train_acc = network.accuracy(x_train, t_train)
            test_acc = network.accuracy(x_test, t_test)
            print(f"step {i:>5}: train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f}")
except NotImplementedError:
    print("not written yet: complete the exercises above, then run this cell again")
