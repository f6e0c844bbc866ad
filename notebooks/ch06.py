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
# # Chapter 6: making learning work
#
# Better update rules than plain SGD, the scale of the initial weights, batch normalization,
# overfitting and two cures for it, and a random search for hyperparameters.

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
# ## Four optimizers on f(x, y) = x²/20 + y²
#
# The function is a long, shallow valley: steep across (y), nearly flat along (x). Each
# optimizer starts at (-7, 2) and takes 30 steps. The parameters are NumPy arrays updated in
# place, exactly as a network's weights are.

# %%
from dlzero.plotting import new_figure


def f(x, y):
    return x**2 / 20.0 + y**2


def df(x, y):
    return x / 10.0, 2.0 * y


optimizers = {
    "SGD": dlzero.SGD(lr=0.95),
    "Momentum": dlzero.Momentum(lr=0.1),
    "AdaGrad": dlzero.AdaGrad(lr=1.5),
    "Adam": dlzero.Adam(lr=0.3),
}
X, Y = np.meshgrid(np.arange(-10, 10, 0.05), np.arange(-5, 5, 0.05))
fig = new_figure((10, 7))
for i, (name, optimizer) in enumerate(optimizers.items()):
    params = {"x": np.array([-7.0]), "y": np.array([2.0])}
    path = [(-7.0, 2.0)]
    for _ in range(30):
        gx, gy = df(params["x"], params["y"])
        optimizer.update(params, {"x": gx, "y": gy})
        path.append((params["x"][0], params["y"][0]))
    path = np.array(path)
    ax = fig.add_subplot(2, 2, i + 1)
    ax.contour(X, Y, f(X, Y), levels=np.linspace(0.5, 30, 8), colors="0.7")
    ax.plot(path[:, 0], path[:, 1], "o-", color="red", markersize=3)
    ax.plot(0, 0, "+", color="black")
    ax.set_title(name)
    ax.set_xlim(-10, 10)
    ax.set_ylim(-5, 5)
    print(f"{name:>8}: ends at ({path[-1, 0]:7.3f}, {path[-1, 1]:7.3f}), f = {f(*path[-1]):.4f}")
fig

# %% [markdown]
# SGD zigzags across the valley and crawls along it; Momentum rolls like a ball, overshooting
# but gathering speed along x; AdaGrad damps the steep direction quickly; Adam combines both.
# All four end far closer to the minimum than they started (f = 6.45 at the start).
#
# ## The optimizers on MNIST
#
# A five-layer network of 100 ReLU units per layer, the same initial weights and mini-batches
# for each optimizer (the book's learning rates: SGD 0.01, the others their defaults).

# %%
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
if QUICK:
    x_test, t_test = x_test[:1_000], t_test[:1_000]
n = 2_000 if QUICK else 60_000
histories = {}
for name, optimizer in {
    "SGD": dlzero.SGD(lr=0.01),
    "Momentum": dlzero.Momentum(lr=0.01),
    "AdaGrad": dlzero.AdaGrad(lr=0.01),
    "Adam": dlzero.Adam(lr=0.001),
}.items():
    net = dlzero.MultiLayerNet(784, [100] * 4, 10, weight_init_std="he", rng=0)
    histories[name] = dlzero.train(
        net,
        optimizer,
        x_train[:n],
        t_train[:n],
        x_test,
        t_test,
        iters=60 if QUICK else 2_000,
        batch_size=128,
        rng=0,
        verbose=False,
    )
    print(
        f"{name:>8}: final loss {np.mean(histories[name].loss[-20:]):.3f}, "
        f"test accuracy {histories[name].final('test'):.4f}"
    )
dlzero.plotting.plot_loss_comparison(histories)

# %% [markdown]
# ## Initial weights and what the layers output
#
# Feed 1,000 random inputs through five layers of 100 units and histogram each layer's
# outputs. With the sigmoid and weights of std 1, outputs pile up at 0 and 1 (where the
# gradient vanishes); with std 0.01 they all sit near 0.5 (every unit says the same thing);
# Xavier's std of 1/sqrt(n) keeps them spread. ReLU wants He's sqrt(2/n).

# %%
from dlzero.studies import activations_study

studies = [
    activations_study.activation_study("sigmoid", init, rng=0) for init in (1.0, 0.01, "xavier")
] + [activations_study.activation_study("relu", "he", rng=0)]
print(activations_study.format_table([studies[-1]]))
dlzero.plotting.plot_activation_histograms(studies)

# %% [markdown]
# ## Batch normalization
#
# Normalizing each layer's inputs over the mini-batch makes training far less sensitive to the
# initial weights. Five layers of 100 units, 1,000 training images, weights of std 0.05 (small
# enough that the plain network barely learns), with and without batch norm.

# %%
n, epochs = 1_000, 6 if QUICK else 20
histories = {}
for use_bn in (False, True):
    net = dlzero.MultiLayerNet(
        784, [100] * 5, 10, weight_init_std=0.05, use_batchnorm=use_bn, rng=0
    )
    label = "with batch norm" if use_bn else "without"
    histories[label] = dlzero.train(
        net,
        dlzero.SGD(lr=0.01),
        x_train[:n],
        t_train[:n],
        epochs=epochs,
        batch_size=100,
        rng=0,
        verbose=False,
    )
    print(f"{label:>16}: train accuracy {histories[label].final('train'):.4f}")
dlzero.plotting.plot_comparison(histories)

# %% [markdown]
# ## Overfitting, weight decay and dropout
#
# 300 training images and a deep network (six hidden layers of 100 units): the network learns
# its training set by heart while the test accuracy stays far lower. Weight decay (penalising
# large weights) and dropout (switching off random units while training) both narrow the gap.
# In full mode (200 epochs) the gap goes from 25 points to 18 with weight decay and 16 with
# dropout; at these strengths both also cost some test accuracy, dropout most: a cure has its
# dose.

# %%
epochs = 30 if QUICK else 200
x_small, t_small = x_train[:300], t_train[:300]
settings = {
    "plain": {},
    "weight decay 0.1": {"weight_decay_lambda": 0.1},
    "dropout 0.2": {"use_dropout": True, "dropout_ratio": 0.2},
}
histories = {}
for label, extra in settings.items():
    net = dlzero.MultiLayerNet(784, [100] * 6, 10, weight_init_std="he", rng=0, **extra)
    h = dlzero.train(
        net,
        dlzero.SGD(lr=0.01),
        x_small,
        t_small,
        x_test,
        t_test,
        epochs=epochs,
        batch_size=100,
        rng=0,
        verbose=False,
    )
    histories[label] = h
    gap = h.final("train") - h.final("test")
    print(
        f"{label:>17}: train {h.final('train'):.4f}  test {h.final('test'):.4f}  "
        f"gap {100 * gap:.1f} points"
    )
dlzero.plotting.plot_comparison(histories)

# %% [markdown]
# ## Random search for the learning rate and weight decay
#
# Draw both at random on a log scale, train briefly on part of 500 training images, and score
# each on the held-out rest (never on the test set, which would tune to it). The good learning
# rates form a narrow band.

# %%
result = dlzero.studies.search.random_search(
    x_train[:500],
    t_train[:500],
    n_trials=4 if QUICK else 100,
    epochs=3 if QUICK else 50,
    n_jobs=1,
    seed=0,
)
best = result.best()[0]
print(
    f"best of {len(result.trials)}: validation {best.val_acc:.2f} at lr {best.lr:.1e}, "
    f"weight decay {best.weight_decay:.1e}"
)
print(result.table(top=5))
dlzero.plotting.plot_search(result)
