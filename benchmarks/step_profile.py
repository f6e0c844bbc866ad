"""Where a chapter-5 training step's time goes: each NumPy call of the fused step, timed alone.

Times, on one BLAS thread, the mini-batch gather and every call that
``dlzero.fast.mlp.FusedMLP`` and ``SGD.update`` make for W's step (784-50-10, ReLU, batch 100),
each with ``timeit`` on arrays of the step's shapes, and the whole step for comparison.

Run: ``python benchmarks/step_profile.py`` (about 20 seconds).
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np
from threadpoolctl import threadpool_limits

from dlzero.datasets import load_mnist
from dlzero.fast import fused_step
from dlzero.networks import TwoLayerNet
from dlzero.optimizers import SGD


def best_us(fn, number: int) -> float:
    """Best of 5 repeats, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="calls per repeat")
    args = parser.parse_args(argv)
    (x, t), _ = load_mnist()
    rng = np.random.default_rng(0)
    batches = rng.integers(0, len(x), (args.number, 100))
    net = TwoLayerNet(784, 50, 10, rng=0)
    W1, b1, W2, b2 = (net.params[k] for k in ("W1", "b1", "W2", "b2"))
    xb = np.take(x, batches[0], axis=0)
    tb = np.take(t, batches[0], axis=0)
    rows = np.arange(100)
    z1, d1 = np.empty((100, 50), np.float32), np.empty((100, 50), np.float32)
    s2, d2 = np.empty((10, 100), np.float32), np.empty((10, 100), np.float32)
    b2c = b2.reshape(-1, 1)
    np.maximum(np.matmul(xb, W1, out=z1), 0, out=z1)
    np.matmul(W2.T, z1.T, out=s2)
    norm = np.add.reduce(np.exp(s2), axis=0)
    col_max = np.maximum.reduce(s2, axis=0)
    gW1, gb1, gW2, gb2 = (np.zeros_like(p) for p in (W1, b1, W2, b2))
    i = iter(range(10**9))

    def gather():
        idx = batches[next(i) % args.number]
        np.take(x, idx, axis=0, out=xb, mode="clip")
        np.take(t, idx, axis=0, out=tb, mode="clip")

    calls = {
        "gather x and t (100 random rows)": gather,
        "x @ W1": lambda: np.matmul(xb, W1, out=z1),
        "+ b1": lambda: np.add(z1, b1, out=z1),
        "relu": lambda: np.maximum(z1, 0, out=z1),
        # the last affine runs transposed: scores and their gradient are (10, 100)
        "h @ W2 (as W2.T @ h.T)": lambda: np.matmul(W2.T, z1.T, out=s2),
        "+ b2": lambda: np.add(s2, b2c, out=s2),
        "max over classes (softmax shift)": lambda: np.maximum.reduce(s2, axis=0),
        "subtract the max": lambda: np.subtract(s2, col_max, out=s2),
        "pick the labels' scores": lambda: s2[tb, rows],
        "exp": lambda: np.exp(s2, out=d2),
        "sums over classes": lambda: np.add.reduce(d2, axis=0),
        "loss: log and sums": lambda: np.add.reduce(np.log(norm)),
        "divide by the sums": lambda: np.divide(d2, norm, out=d2),
        "subtract 1 at the labels": lambda: d2.__setitem__((tb, rows), d2[tb, rows] - 1),
        "scale by 1/N": lambda: np.multiply(d2, 0.01, out=d2),
        "dW2 = h.T @ dy": lambda: np.matmul(z1.T, d2.T, out=gW2),
        "db2": lambda: np.add.reduce(d2, axis=1, out=gb2),
        "dh = dy @ W2.T": lambda: np.matmul(d2.T, W2.T, out=d1),
        "dh *= (h > 0)": lambda: np.multiply(d1, z1 > 0, out=d1),
        "dW1 = x.T @ dh": lambda: np.matmul(xb.T, d1, out=gW1),
        "db1": lambda: np.add.reduce(d1, axis=0, out=gb1),
        "SGD update, 4 parameters": lambda: opt.update(params, grads),
    }
    fused = fused_step(net)
    opt = SGD(lr=0.1)
    params = {k: v.copy() for k, v in net.params.items()}  # (updates leave the net alone)
    grads = {"W1": gW1, "b1": gb1, "W2": gW2, "b2": gb2}

    def whole_step():
        gather()
        _, grads = fused.loss_and_gradient(xb, tb)
        opt.update(params, grads)

    with threadpool_limits(1, user_api="blas"), np.errstate(all="ignore"):
        times = {name: best_us(fn, args.number) for name, fn in calls.items()}
        step = best_us(whole_step, args.number)
    big = ("x @ W1", "dW1 = x.T @ dh")
    gather_us = times["gather x and t (100 random rows)"]
    products = sum(times[k] for k in big)
    for name, us in times.items():
        print(f"{name:40s} {us:7.1f} us")
    print()
    print(f"{'the two big products':40s} {products:7.1f} us")
    print(f"{'the gather':40s} {gather_us:7.1f} us")
    print(f"{'the other calls, summed':40s} {sum(times.values()) - products - gather_us:7.1f} us")
    print(f"{'the whole step (gather, fused step, SGD)':40s} {step:7.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
