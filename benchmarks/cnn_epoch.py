"""One training epoch of a convolutional network: dlzero against the same network in PyTorch.

The workload: MNIST's 60,000 training images as (1, 28, 28) float32, one epoch in a random
order (the same permutation for both), mini-batches of 100, Adam with lr 0.001, and

- ``--model cnn`` (the default), chapter 7's SimpleConvNet: Conv(30 filters 5x5) - ReLU -
  MaxPool 2x2 - Affine(4320, 100) - ReLU - Affine(100, 10) - softmax cross-entropy, weights
  N(0, 0.01^2) and zero biases;
- ``--model deep-cnn``, chapter 8's DeepConvNet: six 3x3 convolutions (16, 16, 32, 32, 64, 64
  filters, pad 1 but 2 for the fourth), each followed by ReLU and every second by MaxPool 2x2,
  then Affine(1024, 50) - ReLU - Dropout(0.5) - Affine(50, 10) - Dropout(0.5); He init.

Timed: the training steps (forward, backward, update), not the data loading nor the accuracy
printed as a sanity check.

Each contender runs in a fresh process with the same thread count: ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` set for NumPy's BLAS, ``torch.set_num_threads`` for
PyTorch. Runs are interleaved (dlzero, torch, dlzero, torch, ...) so that a slow spell of a
shared machine hits both alike; the table gives the median epoch time and the ratio.

Run::

    python benchmarks/cnn_epoch.py                 # 3 rounds, threads = CPU count
    python benchmarks/cnn_epoch.py --threads 1 --rounds 5
    python benchmarks/cnn_epoch.py --model deep-cnn --train-size 10000
    python benchmarks/cnn_epoch.py --baseline /tmp/before/src   # and dlzero before a change
    python benchmarks/cnn_epoch.py --model deep-cnn --products  # and the products alone

``--products`` adds a contender that is not a training run: the matrix products of one dlzero
step (every ``np.matmul`` it calls, recorded with their arrays), replayed as many times as the
epoch has steps, in the same two threads, with nothing between them. It is a floor: however
well the passes between the products were cut, dlzero's step could not be faster than that.

PyTorch is optional: ``pip install torch==2.13.0`` (without it only dlzero runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import _harness
import numpy as np

BATCH_SIZE = 100
LR = 0.001


def _data(train_size: int | None, seed: int):
    from dlzero.datasets import load_mnist

    (x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
    if train_size:
        x_train, t_train = x_train[:train_size], t_train[:train_size]
    order = np.random.default_rng(seed).permutation(len(x_train))
    return x_train, t_train.astype(np.int64), x_test, t_test.astype(np.int64), order


def run_dlzero(model: str, train_size: int | None, seed: int) -> dict[str, float]:
    from dlzero.convnets import DeepConvNet, SimpleConvNet
    from dlzero.optimizers import Adam

    x_train, t_train, x_test, t_test, order = _data(train_size, seed)
    net = SimpleConvNet(rng=seed) if model == "cnn" else DeepConvNet(rng=seed)
    optimizer = Adam(lr=LR)
    try:  # the step and evaluation the Trainer takes (dlzero 0.2)
        from dlzero.fast import accuracy, training_step

        step = training_step(net)
    except ImportError:  # an older tree (--baseline): the network's own methods were fused
        step, accuracy = net.loss_and_gradient, type(net).accuracy
    start = time.perf_counter()
    for i in range(0, len(order), BATCH_SIZE):
        batch = order[i : i + BATCH_SIZE]
        _, grads = step(x_train[batch], t_train[batch])
        optimizer.update(net.params, grads)
    seconds = time.perf_counter() - start
    return {"epoch_seconds": seconds, "test_acc": accuracy(net, x_test, t_test)}


def run_products(model: str, train_size: int | None, seed: int) -> dict[str, float]:
    """The epoch's matrix products alone: one dlzero step's ``np.matmul`` calls, replayed."""
    import threading

    from dlzero._threads import single_thread_blas
    from dlzero.convnets import DeepConvNet, SimpleConvNet
    from dlzero.fast import training_step

    x_train, t_train, _, _, order = _data(train_size, seed)
    net = SimpleConvNet(rng=seed) if model == "cnn" else DeepConvNet(rng=seed)
    step = training_step(net)
    batch = order[:BATCH_SIZE]
    step(x_train[batch], t_train[batch])  # buffers made
    calls: dict[int, list] = {}  # by thread: the caller's lane (and the tail), the worker's
    matmul = np.matmul

    def recording(a, b, out=None):
        calls.setdefault(threading.get_ident(), []).append((a, b, out))
        return matmul(a, b, out=out)

    np.matmul = recording  # every product of the fused step is an np.matmul
    try:
        step(x_train[batch], t_train[batch])
    finally:
        np.matmul = matmul
    if not calls:
        raise SystemExit("no np.matmul recorded: the fused step computes its products otherwise")
    flop = sum(
        2 * a.shape[0] * a.shape[1] * b.shape[1] for lane in calls.values() for a, b, _ in lane
    )
    steps = -(-len(order) // BATCH_SIZE)

    def replay(lane: list) -> None:
        for _ in range(steps):
            for a, b, out in lane:
                matmul(a, b, out=out)

    def both() -> float:
        threads = [threading.Thread(target=replay, args=(lane,)) for lane in calls.values()]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start

    def each_hot() -> float:
        """A step's products one by one, each timed (best of 5) just after a run of its own:
        what they cost with their operands in the cache, on one core."""
        total = 0.0
        for a, b, out in (call for lane in calls.values() for call in lane):
            matmul(a, b, out=out)
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                matmul(a, b, out=out)
                best = min(best, time.perf_counter() - start)
            total += best
        return total

    # On one BLAS thread each, as the step runs them.
    seconds = single_thread_blas().call(both)
    hot = single_thread_blas().call(each_hot)
    return {
        "epoch_seconds": seconds,
        "test_acc": float("nan"),
        "lanes": len(calls),
        "gflop_per_step": flop / 1e9,
        "hot_gflops": flop / hot / 1e9,
    }


def torch_model(name: str):
    """The PyTorch twin of dlzero's SimpleConvNet ("cnn") or DeepConvNet ("deep-cnn"),
    initialized as dlzero initializes it."""
    import torch
    from torch import nn

    if name == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 30, 5),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(30 * 12 * 12, 100),
            nn.ReLU(),
            nn.Linear(100, 10),
        )
        std = None  # N(0, 0.01^2)
    else:
        layers: list[nn.Module] = []
        channels = 1
        for i, (filters, pad) in enumerate([(16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1)]):
            layers += [nn.Conv2d(channels, filters, 3, padding=pad), nn.ReLU()]
            if i % 2 == 1:
                layers.append(nn.MaxPool2d(2, 2))
            channels = filters
        layers += [nn.Flatten(), nn.Linear(64 * 4 * 4, 50), nn.ReLU(), nn.Dropout(0.5)]
        layers += [nn.Linear(50, 10), nn.Dropout(0.5)]
        model = nn.Sequential(*layers)
        std = "he"  # N(0, 2 / fan_in)
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                fan_in = layer.weight[0].numel()
                layer.weight.normal_(0.0, 0.01 if std is None else (2.0 / fan_in) ** 0.5)
                layer.bias.zero_()
    return model


def run_torch(model_name: str, train_size: int | None, seed: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x_train, t_train, x_test, t_test, order = _data(train_size, seed)
    xtr, ttr = torch.from_numpy(x_train), torch.from_numpy(t_train)
    model = torch_model(model_name)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    order_t = torch.from_numpy(order)
    start = time.perf_counter()
    for i in range(0, len(order), BATCH_SIZE):
        idx = order_t[i : i + BATCH_SIZE]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xtr[idx]), ttr[idx])
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        scores = torch.cat(
            [model(torch.from_numpy(x_test[s : s + 1000])) for s in range(0, 10_000, 1000)]
        )
    test_acc = float((scores.argmax(1).numpy() == t_test).mean())
    return {"epoch_seconds": seconds, "test_acc": test_acc, "torch": torch.__version__}


def _child(args: argparse.Namespace) -> None:
    if args.child in ("dlzero", "baseline"):
        result = run_dlzero(args.model, args.train_size, args.seed)
    elif args.child == "products":
        result = run_products(args.model, args.train_size, args.seed)
    else:
        result = run_torch(args.model, args.train_size, args.seed, args.threads)
    print(
        json.dumps(
            {
                "contender": args.child,
                "threads": args.threads,
                "blas": _harness.blas_description(),
                "peak_rss_mb": _harness.peak_rss_mb(),
                **result,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cnn", "deep-cnn"], default="cnn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=int, default=None, help="first N images only")
    parser.add_argument("--json", default=None, help="also write every run here")
    parser.add_argument(
        "--baseline",
        metavar="SRC",
        help="also time the dlzero of this source directory (another checkout's src/, e.g. "
        "from git archive), interleaved with the others: before and after a change",
    )
    parser.add_argument(
        "--products",
        action="store_true",
        help="also time one dlzero step's matrix products alone, replayed for an epoch: the "
        "floor under dlzero's epoch",
    )
    parser.add_argument(
        "--child", choices=["dlzero", "baseline", "products", "torch"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    contenders = ["dlzero"] + (["baseline"] if args.baseline else [])
    contenders += ["products"] if args.products else []
    contenders += ["torch"] if _harness.torch_available() else []
    runs: list[dict] = []
    for r in range(args.rounds):
        for name in contenders:
            cmd = [sys.executable, __file__, "--child", name, "--threads", str(args.threads)]
            cmd += ["--seed", str(args.seed), "--model", args.model]
            if args.train_size:
                cmd += ["--train-size", str(args.train_size)]
            baseline = args.baseline if name == "baseline" else None
            env = _harness.child_env(threads=args.threads, baseline=baseline)
            run = _harness.run_child(cmd, name=name, env=env).result()
            run["round"] = r
            runs.append(run)
            print(
                f"round {r + 1}: {name:8s} {run['epoch_seconds']:7.2f} s/epoch, "
                f"test acc {run['test_acc']:.4f}",
                flush=True,
            )

    title = "SimpleConvNet" if args.model == "cnn" else "DeepConvNet"
    images = args.train_size or 60_000
    print(
        f"\n{title}, one epoch of {images:,} images, batch {BATCH_SIZE}, Adam lr {LR}, "
        f"{args.threads} thread(s)"
    )
    blas = next((r["blas"] for r in runs if r["contender"] == "dlzero"), "?")
    print(f"{os.cpu_count()} CPUs; dlzero's BLAS as the child process saw it: {blas}")
    medians = {}
    for name in contenders:
        times = [r["epoch_seconds"] for r in runs if r["contender"] == name]
        medians[name] = statistics.median(times)
        spread = _harness.spread(times)
        peak = max(r["peak_rss_mb"] for r in runs if r["contender"] == name)
        print(f"{name:8s} median {medians[name]:7.2f} s  ({spread}); peak memory {peak:.0f} MB")
    if "torch" in medians:
        print(f"ratio dlzero / torch: {medians['dlzero'] / medians['torch']:.2f}")
        best = min(r["epoch_seconds"] for r in runs if r["contender"] == "dlzero")
        best_torch = min(r["epoch_seconds"] for r in runs if r["contender"] == "torch")
        print(f"ratio of the best runs: {best / best_torch:.2f}")
    if "products" in medians:
        run = next(r for r in runs if r["contender"] == "products")
        rate = run["gflop_per_step"] * images / BATCH_SIZE / medians["products"]
        print(f"products: {run['gflop_per_step']:.2f} GFLOP a step in {run['lanes']} lane(s), "
              f"{rate:.0f} GFLOP/s; each alone, hot in the cache: {run['hot_gflops']:.0f} "
              "GFLOP/s on one core")  # fmt: skip
    if "products" in medians and "torch" in medians:
        print(f"ratio products alone / torch: {medians['products'] / medians['torch']:.2f}")
    if "baseline" in medians:
        print(f"ratio dlzero / baseline ({args.baseline}): "
              f"{medians['dlzero'] / medians['baseline']:.2f}")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"model": args.model, "threads": args.threads, "runs": runs, "medians": medians},
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
