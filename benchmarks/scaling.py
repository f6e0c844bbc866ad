"""How the cost of a training step grows with the work: dlzero against PyTorch on the CPU.

For hidden sizes 50, 200, 1000 and batch sizes 32, 100, 1000, each framework runs the
784-H-10 ReLU network's SGD steps on MNIST mini-batches (drawn with replacement, as in W) in a
fresh process, and reports the median time per step over several repeats. The table gives both
and their ratio; ``--plot FILE`` draws time per step against the work (multiply-adds per step).

``--cnn`` times the convolutional networks instead: chapter 7's SimpleConvNet and chapter 8's
DeepConvNet (as ``benchmarks/cnn_epoch.py`` defines them in both frameworks) at batch sizes 32,
100 and 500, Adam lr 0.001.

Run: ``python benchmarks/scaling.py --plot benchmarks/scaling.png`` (about 2 minutes; PyTorch
from the ``bench`` extra), ``python benchmarks/scaling.py --cnn`` (about 5 minutes).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import _harness
import numpy as np

HIDDEN = (50, 200, 1000)
BATCH = (32, 100, 1000)
CNN_BATCH = (32, 100, 500)
CNN_MODELS = ("cnn", "deep-cnn")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _steps_for(hidden: int, batch: int) -> int:
    """Enough steps for a stable timing, fewer for the big products."""
    return max(50, int(4e8 / (784 * hidden * batch)))


def _cnn_steps_for(model: str, batch: int) -> int:
    """About 2 s of steps (DeepConvNet takes about 1 ms an image, SimpleConvNet a sixth)."""
    return max(5, int((2000 if model == "deep-cnn" else 12000) / batch))


def _dlzero_step(model: str, hidden: int) -> Callable:
    """dlzero's step as ``dlzero.training.Trainer`` takes it: ``dlzero.fast.training_step``,
    update."""
    from dlzero import SGD, TwoLayerNet
    from dlzero.convnets import DeepConvNet, SimpleConvNet
    from dlzero.fast import training_step
    from dlzero.optimizers import Adam

    if model == "mlp":
        net, opt = TwoLayerNet(784, hidden, 10, rng=0), SGD(0.1)
    else:
        net, opt = (SimpleConvNet if model == "cnn" else DeepConvNet)(rng=0), Adam(lr=0.001)

    fused = training_step(net)

    def step(x, t):
        _, grads = fused(x, t)
        opt.update(net.params, grads)

    return step


def _torch_step(model: str, hidden: int) -> Callable:
    """The same network and optimizer in PyTorch; reads the loss back, as dlzero's step does."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    if model == "mlp":
        net = torch.nn.Sequential(
            torch.nn.Linear(784, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)
        )
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
    else:  # the networks of benchmarks/cnn_epoch.py
        from cnn_epoch import torch_model

        net = torch_model(model)
        opt = torch.optim.Adam(net.parameters(), lr=0.001)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, t):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), t)
        loss.backward()
        opt.step()
        loss.item()  # as W records every loss

    return step


def worker(framework: str, model: str, hidden: int, batch: int, steps: int, repeats: int) -> None:
    """Time ``steps`` steps ``repeats`` times in this process; print the median per step."""
    from dlzero.datasets import load_mnist

    (x_train, t_train), _ = load_mnist(flatten=model == "mlp")
    t_train = t_train.astype(np.int64)
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, len(x_train), batch) for _ in range(steps)]
    if framework == "dlzero":
        step = _dlzero_step(model, hidden)
    else:
        import torch

        step = _torch_step(model, hidden)
        x_train, t_train = torch.from_numpy(x_train), torch.from_numpy(t_train)
        batches = [torch.from_numpy(idx) for idx in batches]
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for idx in batches:  # the gather is part of the step, as in the trainer
            step(x_train[idx], t_train[idx])
        times.append((time.perf_counter() - start) / steps)
    print(json.dumps({"per_step": statistics.median(times[1:])}))  # the first run warms up


def run_worker(
    framework: str, hidden: int, batch: int, repeats: int, model: str = "", steps: int = 0
) -> float:
    cmd = [
        sys.executable, __file__, "--worker", framework, "--hidden", str(hidden),
        "--batch", str(batch), "--repeats", str(repeats),
    ]  # fmt: skip
    if model:
        cmd += ["--model", model]
    if steps:
        cmd += ["--steps", str(steps)]
    return _harness.run_child(cmd, name=f"{framework} worker").result()["per_step"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="dlzero vs PyTorch: cost per step by size.")
    parser.add_argument("--worker", choices=("dlzero", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--hidden", type=int, nargs="+", help=f"default: {HIDDEN}")
    parser.add_argument(
        "--batch", type=int, nargs="+", help=f"default: {BATCH}, {CNN_BATCH} with --cnn"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plot", help="write a plot of time per step to this PNG")
    parser.add_argument("--markdown", help="also write the table to this file")
    parser.add_argument(
        "--cnn", action="store_true", help="time SimpleConvNet and DeepConvNet instead"
    )
    parser.add_argument("--model", choices=CNN_MODELS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--steps", type=_positive_int, help="steps per repeat (default: enough for a stable time)"
    )
    args = parser.parse_args(argv)
    if args.cnn and (args.hidden or args.plot):
        parser.error("--hidden and --plot are for the MLP table, not --cnn")
    args.hidden = args.hidden or list(HIDDEN)
    args.batch = args.batch or list(CNN_BATCH if args.cnn or args.model else BATCH)
    if args.worker:
        h, b = args.hidden[0], args.batch[0]
        model = args.model or "mlp"
        steps = args.steps or (_steps_for(h, b) if model == "mlp" else _cnn_steps_for(model, b))
        worker(args.worker, model, h, b, steps, args.repeats)
        return 0

    frameworks = ["dlzero"] + (["torch"] if importlib.util.find_spec("torch") else [])
    if len(frameworks) == 1:
        print("PyTorch is not installed (pip install '.[bench]'): timing dlzero alone")
    if args.cnn:
        return _cnn_table(frameworks, args)
    rows = []
    for h in args.hidden:
        for b in args.batch:
            t = {f: run_worker(f, h, b, args.repeats, steps=args.steps or 0) for f in frameworks}
            rows.append((h, b, t))
            print(f"hidden {h:5d} batch {b:5d}: " + "  ".join(
                f"{f} {v * 1e6:9.1f} us" for f, v in t.items()), flush=True)  # fmt: skip
    lines = ["| hidden | batch | dlzero (us/step) | PyTorch (us/step) | PyTorch / dlzero |",
             "|---:|---:|---:|---:|---:|"]  # fmt: skip
    for h, b, t in rows:
        torch_t = t.get("torch")
        lines.append(
            f"| {h} | {b} | {t['dlzero'] * 1e6:.1f} | "
            + (f"{torch_t * 1e6:.1f} | {torch_t / t['dlzero']:.2f}x |" if torch_t else "- | - |")
        )
    _print_table(lines, args.markdown)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for f, style in (("dlzero", "o-"), ("torch", "s--")):
            if f not in frameworks:
                continue
            for b in args.batch:
                pts = [(784 * h * b, t[f]) for h, bb, t in rows if bb == b]
                ax.plot(*zip(*pts, strict=True), style, label=f"{f}, batch {b}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("multiply-adds in x @ W1 per step (784 x hidden x batch)")
        ax.set_ylabel("seconds per SGD step")
        ax.set_title("Cost of one step, hidden 50/200/1000 (dlzero vs PyTorch)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
    return 0


def _cnn_table(frameworks: list[str], args: argparse.Namespace) -> int:
    """The --cnn rows: time per Adam step of each network at each batch size."""
    lines = ["| network | batch | dlzero (ms/step) | PyTorch (ms/step) | PyTorch / dlzero |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    for model in CNN_MODELS:
        name = "SimpleConvNet" if model == "cnn" else "DeepConvNet"
        for b in args.batch:
            t = {f: run_worker(f, 0, b, args.repeats, model, args.steps or 0) for f in frameworks}
            print(f"{name:13s} batch {b:4d}: " + "  ".join(
                f"{f} {v * 1e3:8.2f} ms" for f, v in t.items()), flush=True)  # fmt: skip
            torch_t = t.get("torch")
            ratio = (
                f"{torch_t * 1e3:.2f} | {torch_t / t['dlzero']:.2f}x |" if torch_t else "- | - |"
            )
            lines.append(f"| {name} | {b} | {t['dlzero'] * 1e3:.2f} | " + ratio)
    _print_table(lines, args.markdown)
    return 0


def _print_table(lines: list[str], markdown: str | None) -> None:
    """Print the table, and write it to ``markdown`` if given."""
    text = "\n".join(lines)
    print()
    print(text)
    if markdown:
        with open(markdown, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
