"""Write the chapter notebooks (``python notebooks/build_notebooks.py``).

The notebooks are generated from the cells below so that they stay small, reviewable and free of
outputs; edit a notebook here and run this script again, then commit both. Each notebook reads
``DLZERO_QUICK=1`` from the environment (the tests set it) to run on a little data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
import os

import numpy as np

import dlzero
from dlzero.datasets import load_mnist

# DLZERO_QUICK=1 (what the tests set) runs everything on a little data in seconds;
# otherwise the notebook runs the chapter's experiments at full size.
QUICK = os.environ.get("DLZERO_QUICK", "0") == "1"
print("quick mode" if QUICK else "full mode", "- dlzero", dlzero.__version__)"""
# The notebooks that time something import time too.
SETUP_TIMED = SETUP.replace("import os\n", "import os\nimport time\n", 1)


def md(text: str) -> tuple[str, str]:
    return ("md", text.strip("\n"))


def code(text: str) -> tuple[str, str]:
    return ("code", text.strip("\n"))


# -- chapter 3 -------------------------------------------------------------------------------

CH03 = [
    md("""
# Chapter 3: the forward pass

A network's prediction is a chain of matrix products, each followed by an activation function.
This notebook draws the activations, runs a tiny three-layer network by hand, and then
classifies MNIST digits with weights trained by dlzero: one image at a time, and then a batch
of 100 at once, which gives the same answers much faster.
"""),
    code(SETUP_TIMED),
    md("""
## Three activation functions

The step function jumps from 0 to 1; the sigmoid does the same smoothly, so its slope is never
zero; ReLU passes positive inputs unchanged and cuts the rest to 0.
"""),
    code("""
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
"""),
    md("""
## A three-layer network by hand

Two inputs, hidden layers of 3 and 2 sigmoid units, two outputs with the identity function.
The weights are the small example values of the chapter. Each layer is `x @ W + b`, then the
activation.
"""),
    code("""
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
"""),
    md("""
For classification the last layer uses softmax instead: the outputs become positive and sum
to 1. dlzero's `softmax` subtracts the largest score first, so huge scores do not overflow.
"""),
    code("""
print(dlzero.softmax(np.array([0.3, 2.9, 4.0])))
print(dlzero.softmax(np.array([1010.0, 1000.0, 990.0])))  # no overflow
"""),
    md("""
## MNIST

60,000 training and 10,000 test images of handwritten digits, 28 x 28 pixels; the copy
bundled with dlzero is checked by SHA-256 when it loads.
"""),
    code("""
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True)
print(x_train.shape, t_train.shape, x_test.shape, x_train.dtype)

fig = new_figure((8, 1.4))
for i in range(8):
    ax = fig.add_subplot(1, 8, i + 1)
    ax.imshow(x_train[i].reshape(28, 28), cmap="gray_r")
    ax.set_title(int(t_train[i]))
    ax.axis("off")
fig
"""),
    md("""
## Weights that have learned

The chapter's network has 784 inputs, hidden layers of 50 and 100 sigmoid units and 10
outputs, and reads its trained weights from a file. Here dlzero trains the same shape of
network for a moment instead (learning itself is the subject of chapters 4 and 5).
"""),
    code("""
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
"""),
    md("""
The forward pass below uses only the weight arrays, NumPy and dlzero's activation functions:
it is the whole of what "prediction" means.
"""),
    code("""
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
"""),
    md("""
The same accuracy three ways, and batching is many times faster: one product of a
(100, 784) matrix does the work of 100 vector products, and NumPy's BLAS does it in one call.
(The chapter's own weights give 93.52%; these were trained here for a few seconds.)
"""),
]

# -- chapter 4 -------------------------------------------------------------------------------

CH04 = [
    md("""
# Chapter 4: learning from numerical gradients

Learning means adjusting the weights to make a loss smaller, by following its gradient
downhill. This notebook computes derivatives numerically (nudge a number, watch the function
move), descends a simple function, and trains chapter 4's two-layer network on MNIST.
"""),
    code(SETUP),
    md("""
## A derivative, numerically

`dlzero.numerical_gradient(f, x)` nudges each element of `x` by `h = 1e-4` up and down and
divides the change in `f` by `2h` (a central difference). For f(x) = 0.01x² + 0.1x the true
derivative at x = 5 is 0.2.
"""),
    code("""
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
"""),
    md("""
## A gradient

For f(x0, x1) = x0² + x1², the gradient is (2 x0, 2 x1). Drawn as arrows pointing downhill
(minus the gradient), it points to the minimum from everywhere, longer where the function is
steeper.
"""),
    code("""
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
"""),
    md("""
## Gradient descent

Start somewhere, step against the gradient, repeat: `x -= lr * gradient`. The learning rate
`lr` matters: too large and the steps overshoot and explode, too small and nothing moves.
"""),
    code("""
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
"""),
    md("""
With lr 0.1 the point reaches the minimum (0, 0) to within 1e-9; with lr 10 it is thrown
far away; with lr 1e-10 it has hardly left (-3, 4).

## Training a two-layer network

Chapter 4's network: 784 inputs, 50 sigmoid units, 10 softmax outputs. Its `gradient`
method is the formula backpropagation arrives at in chapter 5 (dlzero's
`FormulaTwoLayerNet`); computing it numerically works too, but takes seconds for every step
(see `ch05_notes.ipynb`). The loop is the chapter's: draw a mini-batch of 100, take the
gradient, step, and measure the accuracy once per epoch.
"""),
    code("""
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
"""),
    md("""
The loss falls quickly and then slowly; train and test accuracy rise together, so the network
is not memorising its training images. The full run (10,000 steps) ends near 95%, as in the
chapter's figure.
"""),
]

# -- chapter 5 -------------------------------------------------------------------------------

CH05 = [
    md("""
# Chapter 5: backpropagation

A computational graph breaks a calculation into small nodes. Going forward, each node computes
its output; going backward, each multiplies the gradient arriving from above by its own local
derivative. dlzero's layers are exactly such nodes, each with `forward` and `backward`.
"""),
    code(SETUP),
    md("""
## Buying apples

Two apples at 100 each, with a tax factor of 1.1. Two multiplication nodes: forward gives the
price; backward, starting from 1, gives how much the price changes per unit of each input.
"""),
    code("""
apple, apple_num, tax = 100, 2, 1.1
mul_apple, mul_tax = dlzero.MulLayer(), dlzero.MulLayer()

apple_price = mul_apple.forward(apple, apple_num)
price = mul_tax.forward(apple_price, tax)

dapple_price, dtax = mul_tax.backward(1)
dapple, dapple_num = mul_apple.backward(dapple_price)
print(f"price {price:g}")
print(f"dapple {dapple:g}, dapple_num {dapple_num:g}, dtax {dtax:g}")
"""),
    md("""
A multiplication node swaps its inputs on the way back (d(xy)/dx = y); an addition node
passes the gradient through unchanged. Apples and oranges together:
"""),
    code("""
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
"""),
    md("""
## The layers of a network

`Relu` remembers which inputs were negative and blocks their gradient; `Affine` computes
`x @ W + b` and, backward, the gradients for `W`, `b` and `x` (the bias gradient sums over
the batch); `SoftmaxWithLoss` returns the remarkably simple `(y - t) / N`.
"""),
    code("""
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
"""),
    md("""
## Checking the gradient

Backpropagation is fast but easy to get wrong; the numerical gradient of chapter 4 is slow but
hard to get wrong. `dlzero.gradient_check` computes both on a few images, in float64, and
reports the relative error per parameter.
"""),
    code("""
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
# Two loss evaluations per weight: 80,000 for this network (quick mode checks a narrower one).
checked = dlzero.TwoLayerNet(input_size=784, hidden_size=5 if QUICK else 50, output_size=10, rng=0)
report = dlzero.gradient_check(checked, x_train[:3], t_train[:3])
print(f"gradient check: largest relative error {max(c.relative_error for c in report.checks):.1e}")
report
"""),
    md("""
Every parameter agrees to better than 1e-7: the backward passes are right.

## Training with backpropagation

The same network, now trained with backpropagation by `dlzero.train` (mini-batch SGD, lr
0.1, batches of 100, one evaluation per epoch).
"""),
    code("""
if QUICK:
    x_train, t_train, x_test, t_test = x_train[:6000], t_train[:6000], x_test[:2000], t_test[:2000]
network = dlzero.TwoLayerNet(input_size=784, hidden_size=50, output_size=10, rng=0)
network
"""),
    code("""
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
"""),
    code("""
dlzero.plotting.plot_accuracy(history)
"""),
    md("""
The full run (10,000 steps) ends at about 98% on the training set and 97% on the test set;
the ReLU network learns faster than chapter 4's sigmoid one.
"""),
]

# -- the chapter-5 notes ---------------------------------------------------------------------

CH05_NOTES = [
    md("""
# The chapter-5 notes, measured

The notes that started this project read chapter 5 with a notebook open: first the two-layer
network with its gradient written as formulas, then the same network built from layers, a
gradient check, the remark that backpropagation beats numerical differentiation "as heaven and
earth", and a claim that ReLU beats the sigmoid by about 3 points. Each is measured here.
"""),
    code(SETUP_TIMED),
    code("""
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
if QUICK:
    x_train, t_train = x_train[:6_000], t_train[:6_000]
    x_test, t_test = x_test[:2_000], t_test[:2_000]
"""),
    md("""
## Formulas and layers, side by side

`FormulaTwoLayerNet` computes the gradient with the matrix formulas the notes derive on the
computational graph (`dy = (y - t) / N`, `dW2 = z1.T @ dy`, ...). `TwoLayerNet` gets it by
running each layer's `backward` in reverse order. Given the same weights (and the sigmoid in
both), the two must give the same gradient.
"""),
    code("""
formula = dlzero.FormulaTwoLayerNet(784, 50, 10, rng=0)
layered = dlzero.TwoLayerNet(784, 50, 10, activation="sigmoid", rng=0, dtype=np.float64)
for key in formula.params:
    layered.params[key][...] = formula.params[key]  # in place: the layers share these arrays

x, t = x_train[:100].astype(np.float64), t_train[:100]
g_formula, g_layered = formula.gradient(x, t), layered.gradient(x, t)
difference = max(float(np.max(np.abs(g_formula[k] - g_layered[k]))) for k in g_formula)
print(f"largest difference between the two gradients: {difference:.1e}")
layered
"""),
    md("""
## The gradient check

Backpropagation against numerical differentiation, per parameter, on three images.
"""),
    code("""
network = dlzero.TwoLayerNet(784, 5 if QUICK else 50, 10, rng=0)  # quick: a narrow one
report = dlzero.gradient_check(network, x_train[:3], t_train[:3])
print(f"gradient check: largest relative error {max(c.relative_error for c in report.checks):.1e}")
report
"""),
    md("""
## Heaven and earth

One gradient by backpropagation against one by numerical differentiation, on the same batch.
The numerical one evaluates the loss twice per weight (39,760 weights here, in full mode on
the notes' batch of 100 images; quick mode uses a tiny network and batch).
"""),
    code("""
hidden, batch = (2, 10) if QUICK else (50, 100)
net = dlzero.TwoLayerNet(784, hidden, 10, rng=0)
x, t = x_train[:batch], t_train[:batch]

start = time.perf_counter()
for _ in range(20):
    net.gradient(x, t)
backprop = (time.perf_counter() - start) / 20

start = time.perf_counter()
net.numerical_gradient(x, t)
numerical = time.perf_counter() - start
print(
    f"backprop {backprop * 1e6:.0f} us, numerical {numerical:.2f} s: "
    f"backprop is {numerical / backprop:,.0f} times faster"
)
"""),
    md("""
## Sigmoid against ReLU

The same data, seed, initial weights scale and mini-batches; only the activation differs.
"""),
    code("""
iters = 600 if QUICK else 10_000
histories = {}
for activation in ("sigmoid", "relu"):
    net = dlzero.TwoLayerNet(784, 50, 10, activation=activation, rng=0)
    histories[activation] = dlzero.train(
        net,
        dlzero.SGD(lr=0.1),
        x_train,
        t_train,
        x_test,
        t_test,
        iters=iters,
        batch_size=100,
        rng=0,
        verbose=False,
    )
for name, h in histories.items():
    print(f"{name:>7}: train {h.final('train'):.4f}  test {h.final('test'):.4f}")
gap = histories["relu"].final("test") - histories["sigmoid"].final("test")
print(f"ReLU ahead by {100 * gap:.1f} points")
dlzero.plotting.plot_comparison(histories)
"""),
    md("""
## The notes' accuracy figure

Train accuracy solid, test dashed, y from 0 to 1. The curves stay together: no overfitting.
In full mode (10,000 steps on all 60,000 images) this notebook measured ReLU ahead by 2.2
points on the test set (0.9698 against 0.9473; `dlzero compare --activation sigmoid relu`
measured 2.5), a little less than the notes' "about 3".
"""),
    code("""
dlzero.plotting.plot_accuracy(histories["relu"], title="ReLU, lr 0.1, batch 100")
"""),
]

# -- chapter 6 -------------------------------------------------------------------------------

CH06 = [
    md("""
# Chapter 6: making learning work

Better update rules than plain SGD, the scale of the initial weights, batch normalization,
overfitting and two cures for it, and a random search for hyperparameters.
"""),
    code(SETUP),
    md("""
## Four optimizers on f(x, y) = x²/20 + y²

The function is a long, shallow valley: steep across (y), nearly flat along (x). Each
optimizer starts at (-7, 2) and takes 30 steps. The parameters are NumPy arrays updated in
place, exactly as a network's weights are.
"""),
    code("""
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
"""),
    md("""
SGD zigzags across the valley and crawls along it; Momentum rolls like a ball, overshooting
but gathering speed along x; AdaGrad damps the steep direction quickly; Adam combines both.
All four end far closer to the minimum than they started (f = 6.45 at the start).

## The optimizers on MNIST

A five-layer network of 100 ReLU units per layer, the same initial weights and mini-batches
for each optimizer (the book's learning rates: SGD 0.01, the others their defaults).
"""),
    code("""
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
"""),
    md("""
## Initial weights and what the layers output

Feed 1,000 random inputs through five layers of 100 units and histogram each layer's
outputs. With the sigmoid and weights of std 1, outputs pile up at 0 and 1 (where the
gradient vanishes); with std 0.01 they all sit near 0.5 (every unit says the same thing);
Xavier's std of 1/sqrt(n) keeps them spread. ReLU wants He's sqrt(2/n).
"""),
    code("""
from dlzero import activations_study

studies = [
    activations_study.activation_study("sigmoid", init, rng=0) for init in (1.0, 0.01, "xavier")
] + [activations_study.activation_study("relu", "he", rng=0)]
print(activations_study.format_table([studies[-1]]))
dlzero.plotting.plot_activation_histograms(studies)
"""),
    md("""
## Batch normalization

Normalizing each layer's inputs over the mini-batch makes training far less sensitive to the
initial weights. Five layers of 100 units, 1,000 training images, weights of std 0.05 (small
enough that the plain network barely learns), with and without batch norm.
"""),
    code("""
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
"""),
    md("""
## Overfitting, weight decay and dropout

300 training images and a deep network (six hidden layers of 100 units): the network learns
its training set by heart while the test accuracy stays far lower. Weight decay (penalising
large weights) and dropout (switching off random units while training) both narrow the gap.
In full mode (200 epochs) the gap goes from 25 points to 18 with weight decay and 16 with
dropout; at these strengths both also cost some test accuracy, dropout most: a cure has its
dose.
"""),
    code("""
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
"""),
    md("""
## Random search for the learning rate and weight decay

Draw both at random on a log scale, train briefly on part of 500 training images, and score
each on the held-out rest (never on the test set, which would tune to it). The good learning
rates form a narrow band.
"""),
    code("""
result = dlzero.search.random_search(
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
"""),
]

# -- chapter 7 -------------------------------------------------------------------------------

CH07 = [
    md("""
# Chapter 7: convolutional networks

A convolution slides small filters over an image and keeps its 2-D shape; pooling shrinks it.
dlzero, like the book, turns every filter window into a row of a matrix (`im2col`) so that a
convolution is one matrix product. Then `SimpleConvNet` learns MNIST, and its filters change
from noise into edge and blob detectors.
"""),
    code(SETUP),
    md("""
## im2col

One image of 3 channels, 7 x 7, and a 5 x 5 filter with stride 1: 3 x 3 = 9 window positions,
each of 3 x 5 x 5 = 75 values. Ten images give ten times the rows.
"""),
    code("""
rng = np.random.default_rng(0)
x1 = rng.random((1, 3, 7, 7))
print("one image:", dlzero.im2col(x1, 5, 5, stride=1, pad=0).shape)
x2 = rng.random((10, 3, 7, 7))
print("ten images:", dlzero.im2col(x2, 5, 5, stride=1, pad=0).shape)
print("output size of a 28-pixel side, 5-pixel filter, no padding:", dlzero.conv_output_size(28, 5))
"""),
    md("""
## A convolution and a pooling layer on a digit

Two hand-made 3 x 3 filters, one responding to vertical edges and one to horizontal edges,
then 2 x 2 max pooling, which keeps the strongest response of each block.
"""),
    code("""
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
"""),
    md("""
## SimpleConvNet

Convolution (30 filters of 5 x 5) - ReLU - pooling - Affine (100) - ReLU - Affine (10), trained
with Adam (lr 0.001) on batches of 100. Quick mode trains on 2,000 images for 60 steps; full
mode runs the chapter's 20 epochs on all 60,000 (a few minutes on a laptop).
"""),
    code("""
if QUICK:
    x_train, t_train, x_test, t_test = x_train[:2_000], t_train[:2_000], x_test[:500], t_test[:500]
network = dlzero.SimpleConvNet(rng=0)
filters_before = network.params["W1"].copy()
network
"""),
    code("""
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
"""),
    md("""
The first layer's 30 filters, before training (random noise) and after (smooth patterns that
respond to edges and blobs in particular directions):
"""),
    code("""
dlzero.plotting.plot_filters_before_after(filters_before, network.params["W1"])
"""),
    code("""
dlzero.plotting.plot_accuracy(history)
"""),
    md("""
In full mode the test accuracy passes 98.8% within 10 epochs (the chapter reports about 98.9%
after 20): a network with one convolution already beats every fully connected network of
chapters 5 and 6.
"""),
]

# -- chapter 8 -------------------------------------------------------------------------------

CH08 = [
    md("""
# Chapter 8: a deeper network

`DeepConvNet`: six 3 x 3 convolutions in three pairs, each pair followed by 2 x 2 pooling, then
two affine layers with dropout; He initialization, Adam. The book reports 99.35% test accuracy
for it, and that its mistakes are digits that people too would find ambiguous. It also shows
that the trained weights survive being stored in half precision.

Training it for the book's 20 epochs (12,000 steps) takes hours on a CPU: a third of a second
to a second per batch of 100 on this project's busy 2-core machine, one to three hours in all.
Quick mode trains it for a few steps, enough to run every cell; full mode trains it once and
saves the result to `deep_convnet.npz`, which later runs load instead of training again.
"""),
    code(SETUP),
    code("""
from pathlib import Path

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False)
if QUICK:
    x_train, t_train, x_test, t_test = x_train[:1_000], t_train[:1_000], x_test[:300], t_test[:300]
network = dlzero.DeepConvNet(rng=0)
network
"""),
    code("""
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
        network.save(MODEL)
evaluation = dlzero.evaluation.evaluate(network, x_test, t_test)
print(f"test accuracy {evaluation.accuracy:.4f} (the book: 0.9935)")
evaluation
"""),
    md("""
## Its mistakes

The test images it gets wrong with the most confidence, with the true label and its answer.
(After the full training there are only a few dozen mistakes in 10,000, and many of them are
hard to read; after quick mode's few steps there are many more, and they are not.)
"""),
    code("""
worst = evaluation.mistakes(20)
dlzero.plotting.plot_mistakes(
    x_test[worst],
    evaluation.labels[worst],
    evaluation.predicted[worst],
    evaluation.proba[worst, evaluation.predicted[worst]],
)
"""),
    code("""
dlzero.plotting.plot_confusion_matrix(evaluation.confusion)
"""),
    md("""
## Half precision

Deep learning needs few significant digits. Store every weight in float16 (half the memory
of float32) and the accuracy does not change: at most a handful of the 10,000 answers do,
images on which two classes were nearly tied. NumPy has no fast float16 matrix product, so
the check is done two ways: the float16 weights read back into float32 on the whole test set,
and the network computing entirely in float16 on a small batch.
"""),
    code("""
half = network.astype(np.float16)
print(
    "weights:",
    half.dtype,
    f"{sum(p.nbytes for p in half.params.values()):,} bytes, against",
    f"{sum(p.nbytes for p in network.params.values()):,} in float32",
)
rounded = half.astype(np.float32)  # the float16 values, computed in float32
evaluation16 = dlzero.evaluation.evaluate(rounded, x_test, t_test)
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
"""),
]

NOTEBOOKS = {
    "ch03": CH03,
    "ch04": CH04,
    "ch05": CH05,
    "ch05_notes": CH05_NOTES,
    "ch06": CH06,
    "ch07": CH07,
    "ch08": CH08,
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook without outputs, with stable cell ids (regenerating it changes nothing)."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, text) in enumerate(cells):
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell["id"] = f"{name}-{i:02d}".replace("_", "-")
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(names: list[str]) -> None:
    for name in names or NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        nbformat.write(build(name, NOTEBOOKS[name]), path)
        print("wrote", path)


if __name__ == "__main__":
    main(sys.argv[1:])
