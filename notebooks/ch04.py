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
# # Chapter 4: learning from numerical gradients
#
# Learning means adjusting the weights to make a loss smaller, by following its gradient
# downhill. This notebook computes derivatives numerically (nudge a number, watch the function
# move), descends a simple function, and trains chapter 4's two-layer network on MNIST.

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
# ## A derivative, numerically
#
# `dlzero.numerical_gradient(f, x)` nudges each element of `x` by `h = 1e-4` up and down and
# divides the change in `f` by `2h` (a central difference). For f(x) = 0.01x² + 0.1x the true
# derivative at x = 5 is 0.2.

# %%
from dlzero.plotting import new_figure


def f1(x):
    return 0.01 * x**2 + 0.1 * x


slope = dlzero.numerical_gradient(lambda p: f1(p[0]), np.array([5.0]))[0]
print(f"numerical derivative at 5: {slope:.10f} (exact 0.2, error {abs(slope - 0.2):.1e})")

# A one-sided difference with the same h is much less accurate, and a tiny h loses everything
# to rounding:
forward = (f1(5.0 + 1e-4) - f1(5.0)) / 1e-4
print(f"forward difference: error {abs(forward - 0.2):.1e}")
print("h = 1e-50 in float32:", np.float32(5.0) + np.float32(1e-50) == np.float32(5.0))

x = np.arange(0.0, 20.0, 0.1)
fig = new_figure((5, 3.5))
ax = fig.add_subplot()
ax.plot(x, f1(x), label="f(x)")
ax.plot(x, slope * (x - 5) + f1(5), "--", label="tangent at x = 5")
ax.set_xlabel("x")
ax.legend()
fig


# %% [markdown]
# ## A gradient
#
# For f(x0, x1) = x0² + x1², the gradient is (2 x0, 2 x1). Drawn as arrows pointing downhill
# (minus the gradient), it points to the minimum from everywhere, longer where the function is
# steeper.


# %%
def f2(x):
    return np.sum(x**2)


for point in ([3.0, 4.0], [0.0, 2.0], [3.0, 0.0]):
    print(point, "->", dlzero.numerical_gradient(f2, np.array(point)))

grid = np.arange(-2, 2.5, 0.25)
X, Y = np.meshgrid(grid, grid)
points = np.stack([X.ravel(), Y.ravel()], axis=1)
G = np.array([dlzero.numerical_gradient(f2, p.copy()) for p in points])
fig = new_figure((4.5, 4.5))
ax = fig.add_subplot()
ax.quiver(X.ravel(), Y.ravel(), -G[:, 0], -G[:, 1], angles="xy", color="#666666")
ax.set_xlabel("x0")
ax.set_ylabel("x1")
fig


# %% [markdown]
# ## Gradient descent
#
# Start somewhere, step against the gradient, repeat: `x -= lr * gradient`. The learning rate
# `lr` matters: too large and the steps overshoot and explode, too small and nothing moves.


# %%
def gradient_descent(f, init_x, lr=0.01, step_num=100):
    x = np.array(init_x, dtype=float)
    path = [x.copy()]
    for _ in range(step_num):
        x -= lr * dlzero.numerical_gradient(f, x)
        path.append(x.copy())
    return x, np.array(path)


x, path = gradient_descent(f2, [-3.0, 4.0], lr=0.1, step_num=20)
fig = new_figure((4.5, 4.5))
ax = fig.add_subplot()
ax.plot(path[:, 0], path[:, 1], "o-")
ax.axhline(0, color="0.8")
ax.axvline(0, color="0.8")
ax.set_xlim(-3.5, 3.5)
ax.set_ylim(-4.5, 4.5)
ax.set_xlabel("x0")
ax.set_ylabel("x1")

for lr in (0.1, 10.0, 1e-10):
    end, _ = gradient_descent(f2, [-3.0, 4.0], lr=lr, step_num=100)
    print(f"lr {lr:g}: after 100 steps x = {end}")
fig

# %% [markdown]
# With lr 0.1 the point reaches the minimum (0, 0) to within 1e-9; with lr 10 it is thrown
# far away; with lr 1e-10 it has hardly left (-3, 4).
#
# ## Training a two-layer network
#
# Chapter 4's network: 784 inputs, 50 sigmoid units, 10 softmax outputs. Its `gradient`
# method is the formula backpropagation arrives at in chapter 5 (dlzero's
# `FormulaTwoLayerNet`); computing it numerically works too, but takes seconds for every step
# (see `ch05_notes.ipynb`). The loop is the chapter's: draw a mini-batch of 100, take the
# gradient, step, and measure the accuracy once per epoch.

# %%
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
if QUICK:
    x_train, t_train, x_test, t_test = x_train[:6000], t_train[:6000], x_test[:2000], t_test[:2000]

network = dlzero.FormulaTwoLayerNet(input_size=784, hidden_size=50, output_size=10, rng=0)
iters_num = 600 if QUICK else 10_000
batch_size, learning_rate = 100, 0.1
iter_per_epoch = -(-len(x_train) // batch_size)
rng = np.random.default_rng(0)
train_loss, train_acc, test_acc = [], [], []

for i in range(iters_num):
    batch = rng.choice(len(x_train), batch_size)
    grads = network.gradient(x_train[batch], t_train[batch])
    for key in ("W1", "b1", "W2", "b2"):
        network.params[key] -= learning_rate * grads[key]
    train_loss.append(network.loss(x_train[batch], t_train[batch]))
    if i % iter_per_epoch == 0:
        train_acc.append(network.accuracy(x_train, t_train))
        test_acc.append(network.accuracy(x_test, t_test))
        print(f"epoch {len(train_acc) - 1:2d}: train {train_acc[-1]:.4f}  test {test_acc[-1]:.4f}")

fig = new_figure((10, 3.5))
ax = fig.add_subplot(1, 2, 1)
ax.plot(train_loss)
ax.set_xlabel("iteration")
ax.set_ylabel("loss")
ax = fig.add_subplot(1, 2, 2)
ax.plot(train_acc, label="train")
ax.plot(test_acc, "--", label="test")
ax.set_ylim(0, 1)
ax.set_xlabel("epoch")
ax.set_ylabel("accuracy")
ax.legend(loc="lower right")
fig

# %% [markdown]
# The loss falls quickly and then slowly; train and test accuracy rise together, so the network
# is not memorising its training images. The full run (10,000 steps) ends near 95%, as in the
# chapter's figure.
