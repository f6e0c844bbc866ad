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
# # Chapter 5: backpropagation
#
# A computational graph breaks a calculation into small nodes. Going forward, each node computes
# its output; going backward, each multiplies the gradient arriving from above by its own local
# derivative. dlzero's layers are exactly such nodes, each with `forward` and `backward`.

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
# ## Buying apples
#
# Two apples at 100 each, with a tax factor of 1.1. Two multiplication nodes: forward gives the
# price; backward, starting from 1, gives how much the price changes per unit of each input.

# %%
apple, apple_num, tax = 100, 2, 1.1
mul_apple, mul_tax = dlzero.MulLayer(), dlzero.MulLayer()

apple_price = mul_apple.forward(apple, apple_num)
price = mul_tax.forward(apple_price, tax)

dapple_price, dtax = mul_tax.backward(1)
dapple, dapple_num = mul_apple.backward(dapple_price)
print(f"price {price:g}")
print(f"dapple {dapple:g}, dapple_num {dapple_num:g}, dtax {dtax:g}")

# %% [markdown]
# A multiplication node swaps its inputs on the way back (d(xy)/dx = y); an addition node
# passes the gradient through unchanged. Apples and oranges together:

# %%
orange, orange_num = 150, 3
mul_apple, mul_orange = dlzero.MulLayer(), dlzero.MulLayer()
add_fruit, mul_tax = dlzero.AddLayer(), dlzero.MulLayer()

price = mul_tax.forward(
    add_fruit.forward(mul_apple.forward(apple, apple_num), mul_orange.forward(orange, orange_num)),
    tax,
)
dall, dtax = mul_tax.backward(1)
dapple_price, dorange_price = add_fruit.backward(dall)
dapple, dapple_num = mul_apple.backward(dapple_price)
dorange, dorange_num = mul_orange.backward(dorange_price)
print(f"price {price:g}")
print(
    f"dapple {dapple:g}, dapple_num {dapple_num:g}, dorange {dorange:g}, "
    f"dorange_num {dorange_num:g}, dtax {dtax:g}"
)

# %% [markdown]
# ## The layers of a network
#
# `Relu` remembers which inputs were negative and blocks their gradient; `Affine` computes
# `x @ W + b` and, backward, the gradients for `W`, `b` and `x` (the bias gradient sums over
# the batch); `SoftmaxWithLoss` returns the remarkably simple `(y - t) / N`.

# %%
rng = np.random.default_rng(0)
relu = dlzero.Relu()
x = np.array([[1.0, -0.5], [-2.0, 3.0]])
print("relu forward:", relu.forward(x).tolist())
print("relu backward of ones:", relu.backward(np.ones_like(x)).tolist())

affine = dlzero.Affine(rng.standard_normal((2, 3)), np.zeros(3))
out = affine.forward(x)
dx = affine.backward(np.ones_like(out))
print("affine: out", out.shape, " dW", affine.dW.shape, " db", affine.db, " dx", dx.shape)

loss_layer = dlzero.SoftmaxWithLoss()
scores = np.array([[2.0, 1.0, 0.1]])
print(
    "loss",
    round(float(loss_layer.forward(scores, np.array([0]))), 4),
    " dscores",
    loss_layer.backward().round(4),
)

# %% [markdown]
# ## Checking the gradient
#
# Backpropagation is fast but easy to get wrong; the numerical gradient of chapter 4 is slow but
# hard to get wrong. `dlzero.gradient_check` computes both on a few images, in float64, and
# reports the relative error per parameter.

# %%
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
# Two loss evaluations per weight: 80,000 for this network (quick mode checks a narrower one).
checked = dlzero.TwoLayerNet(input_size=784, hidden_size=5 if QUICK else 50, output_size=10, rng=0)
report = dlzero.gradient_check(checked, x_train[:3], t_train[:3])
print(f"gradient check: largest relative error {max(c.relative_error for c in report.checks):.1e}")
report

# %% [markdown]
# Every parameter agrees to better than 1e-7: the backward passes are right.

# %% [markdown]
# ## Check your own layer
#
# The check above covers a whole network. When you write a layer yourself, as the book asks,
# `dlzero.check_layer` checks that one layer: its `backward` against central differences, each
# gradient on its own, with a hint when a usual mistake fits the numbers. Here is an `Affine`
# whose `backward` forgets to sum `db` over the batch, then dlzero's own.


# %%
class MyAffine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout  # the mistake: db = dout.sum(axis=0)
        return dout @ self.W.T


rng = np.random.default_rng(0)
W, b, x = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((5, 4))
print(dlzero.check_layer(MyAffine(W, b), x))
print(dlzero.check_layer(dlzero.Affine(W, b), x))

# %% [markdown]
# `dlzero exercises 5` hands out a notebook with each of chapter 5's layers to write, and a
# check after each (docs/check_layer.md).
#
# ## Training with backpropagation
#
# The same network, now trained with backpropagation by `dlzero.train` (mini-batch SGD, lr
# 0.1, batches of 100, one evaluation per epoch).

# %%
if QUICK:
    x_train, t_train, x_test, t_test = x_train[:6000], t_train[:6000], x_test[:2000], t_test[:2000]
network = dlzero.TwoLayerNet(input_size=784, hidden_size=50, output_size=10, rng=0)
network

# %%
history = dlzero.train(
    network,
    dlzero.SGD(lr=0.1),
    x_train,
    t_train,
    x_test,
    t_test,
    iters=600 if QUICK else 10_000,
    batch_size=100,
    rng=0,
)
history

# %%
dlzero.plotting.plot_accuracy(history)

# %% [markdown]
# The full run (10,000 steps) ends at about 98% on the training set and 97% on the test set;
# the ReLU network learns faster than chapter 4's sigmoid one.

# %% [markdown]
# ## Seeing it: the graphs with their numbers
#
# The two shopping graphs, computed by the `MulLayer` and `AddLayer` above and drawn as the
# book draws them: each edge's value going forward above its arrow, and the derivative of the
# price coming back below it, in red.

# %%
from dlzero.studies import apples

dlzero.plotting.plot_computational_graph(apples.buy_apples())

# %%
dlzero.plotting.plot_computational_graph(apples.buy_apples_and_oranges())

# %% [markdown]
# The network is the same kind of graph, with arrays on its edges. `dlzero.trace_backprop`
# runs one test image forward and backward through the trained network (the layers' own
# `forward` and `backward`) and keeps what passes every node: its output, the gradient
# arriving from above (`dout`), the gradient it passes down (`dx`), and its parameters'
# gradients. The last node's `dout` is 1, and its `dx` is `y - t`.

# %%
trace = dlzero.trace_backprop(network, x_test[0], t_test[0])
print("\n".join(trace.lines()))
dlzero.plotting.plot_backprop_graph(trace)

# %% [markdown]
# Each picture of `dW1` is `x` times the gradient arriving at `Affine1`: only the weights on
# the digit's ink get a gradient. `dlzero backprop my7.png --label 7` prints the same lines
# for a picture of your own, and `dlzero serve` steps through them in its "backprop" tab.
