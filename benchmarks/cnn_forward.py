"""A convolutional network's forward pass on the 10,000 test images: dlzero against PyTorch.

What every evaluation of a trained network runs: ``dlzero.fast.accuracy`` (the trainer's
per-epoch evaluation, ``dlzero evaluate``; the network's ``eval_batch_size`` images at a
time) against PyTorch's ``model.eval()`` under ``torch.no_grad()`` (1,000 images at a time,
as ``benchmarks/cnn_train.py``'s twin evaluates), for chapter 8's DeepConvNet (``--model
deep-cnn``, the default) or chapter 7's SimpleConvNet (``--model cnn``), initialized alike.

Each round runs every contender in a fresh process with the same thread count
(``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``torch.set_num_threads``),
interleaved, so a slow spell of a shared machine hits all alike. A process times one warm-up
pass and then ``--passes`` passes over the 10,000 images and reports their median; the table
gives the median over rounds, the ratio to PyTorch, and each process's peak memory.

Run::

    python benchmarks/cnn_forward.py --rounds 5 --threads 2
    python benchmarks/cnn_forward.py --baseline /tmp/before/src   # and dlzero before a change

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


def _passes(forward, x: np.ndarray, t: np.ndarray, passes: int) -> tuple[float, float]:
    """The median seconds of ``passes`` passes (after a warm-up one) and the accuracy."""
    acc = forward(x, t)
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        forward(x, t)
        times.append(time.perf_counter() - start)
    return statistics.median(times), acc


def run_dlzero(model: str, passes: int, images: int) -> dict[str, float]:
    from dlzero.convnets import DeepConvNet, SimpleConvNet
    from dlzero.datasets import load_mnist

    _, (x, t) = load_mnist(flatten=False)
    x, t = x[:images], t[:images]
    net = SimpleConvNet(rng=0) if model == "cnn" else DeepConvNet(rng=0)
    try:  # what the Trainer and dlzero evaluate call (dlzero 0.2)
        from dlzero.fast import accuracy
    except ImportError:  # an older tree (--baseline)
        accuracy = type(net).accuracy
    seconds, acc = _passes(lambda x, t: accuracy(net, x, t), x, t, passes)
    return {"seconds": seconds, "accuracy": acc, "batch": net.eval_batch_size}


def run_torch(model: str, passes: int, threads: int, images: int) -> dict[str, float]:
    import torch
    from cnn_epoch import torch_model

    from dlzero.datasets import load_mnist

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    _, (x, t) = load_mnist(flatten=False)
    x, t = x[:images], t[:images]
    net = torch_model(model).eval()
    images, labels = torch.from_numpy(x), torch.from_numpy(t.astype(np.int64))

    def accuracy(images: torch.Tensor, labels: torch.Tensor) -> float:
        with torch.no_grad():
            hits = sum(
                int((net(images[s : s + 1000]).argmax(1) == labels[s : s + 1000]).sum())
                for s in range(0, len(images), 1000)
            )
        return hits / len(images)

    seconds, acc = _passes(accuracy, images, labels, passes)
    return {"seconds": seconds, "accuracy": acc, "batch": 1000, "torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cnn", "deep-cnn"], default="deep-cnn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--passes", type=int, default=3, help="timed passes per process")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--images", type=int, default=10_000, help="the first N test images")
    parser.add_argument(
        "--baseline",
        metavar="SRC",
        help="also time the dlzero of this source directory (another checkout's src/), "
        "interleaved with the others",
    )
    parser.add_argument("--child", choices=["dlzero", "baseline", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "torch":
            result = run_torch(args.model, args.passes, args.threads, args.images)
        else:
            result = run_dlzero(args.model, args.passes, args.images)
        result["peak_mb"] = _harness.peak_rss_mb()
        print(json.dumps(result))
        return

    contenders = ["dlzero"] + (["baseline"] if args.baseline else [])
    contenders += ["torch"] if _harness.torch_available() else []
    runs: dict[str, list[dict]] = {name: [] for name in contenders}
    for r in range(args.rounds):
        for name in contenders:
            cmd = [sys.executable, __file__, "--child", name, "--model", args.model]
            cmd += ["--passes", str(args.passes), "--threads", str(args.threads)]
            cmd += ["--images", str(args.images)]
            baseline = args.baseline if name == "baseline" else None
            env = _harness.child_env(threads=args.threads, baseline=baseline)
            run = _harness.run_child(cmd, name=name, env=env).result()
            runs[name].append(run)
            print(
                f"round {r + 1}: {name:8s} {run['seconds']:6.2f} s per {args.images:,} images "
                f"(batches of {run['batch']}), accuracy {run['accuracy']:.4f}",
                flush=True,
            )
    title = "SimpleConvNet" if args.model == "cnn" else "DeepConvNet"
    print(
        f"\n{title} forward pass on {args.images:,} test images, {args.threads} thread(s), "
        f"{os.cpu_count()} CPUs; median of {args.rounds} rounds"
    )
    medians = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
    for name, rs in runs.items():
        spread = _harness.spread([r["seconds"] for r in rs], runs=False)
        peak = max(r["peak_mb"] for r in rs)
        print(f"{name:8s} median {medians[name]:6.2f} s ({spread}); peak memory {peak:.0f} MB")
    if "torch" in medians:
        print(f"ratio dlzero / torch: {medians['dlzero'] / medians['torch']:.2f}")
        if "baseline" in medians:
            print(f"ratio baseline / torch: {medians['baseline'] / medians['torch']:.2f}")
    if "baseline" in medians:
        print(f"ratio dlzero / baseline: {medians['dlzero'] / medians['baseline']:.2f}")


if __name__ == "__main__":
    main()
