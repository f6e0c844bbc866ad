"""``dlzero train --model cnn`` (or ``deep-cnn``), the whole process, against a PyTorch script
doing the same.

Both train chapter 7's SimpleConvNet (``--model cnn``) or chapter 8's DeepConvNet (``--model
deep-cnn``) on the first ``--train-size`` MNIST training images for ``--epochs`` epochs (Adam lr
0.001, batch 100, a new shuffle each epoch) and, as ``dlzero train`` does, measure the
accuracy on those training images (``--train-eval-size`` of them, the random sample that ``dlzero
train`` measures: 10,000 by default) and on the 10,000 test images for the initial weights
and after every epoch, printing a line each time. Timed: the whole process, from start to exit
(imports, data loading, training, every evaluation); ``dlzero train`` runs with
``--no-plot``, since the script draws nothing.

Each round runs ``dlzero`` (and the ``--baseline`` tree's, if given) then PyTorch
(interleaved, so a slow spell of a shared machine hits all alike), each with the same thread
count (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, and
``torch.set_num_threads``). The table gives the medians and ratios, and the evaluation time
per epoch each side reports (dlzero's history; the script times its own).

Run::

    python benchmarks/cnn_train.py                          # 2 epochs of 20,000 images
    python benchmarks/cnn_train.py --rounds 3 --train-size 60000 --epochs 1
    python benchmarks/cnn_train.py --model deep-cnn --epochs 1 --train-size 3000
    python benchmarks/cnn_train.py --baseline /tmp/before/src   # and dlzero before a change

PyTorch is optional: ``pip install torch==2.13.0`` (without it only dlzero runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import _harness

BATCH_SIZE = 100
LR = 0.001


def torch_script(
    model_name: str, train_size: int, eval_size: int, epochs: int, seed: int, threads: int
) -> None:
    """The PyTorch side, run in a child process: train and evaluate as dlzero train does."""
    start = time.perf_counter()
    import numpy as np
    import torch
    from cnn_epoch import torch_model

    from dlzero.datasets import load_mnist
    from dlzero.training.data import train_subset

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    (x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
    x_train, t_train = x_train[:train_size], t_train[:train_size].astype(np.int64)
    x_eval, t_eval = train_subset(x_train, t_train, eval_size)  # the images dlzero evaluates
    sets = {
        "train": (torch.from_numpy(x_eval), torch.from_numpy(t_eval)),
        "test": (torch.from_numpy(x_test), torch.from_numpy(t_test.astype(np.int64))),
    }
    model = torch_model(model_name)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    xtr, ttr = sets["train"]
    eval_seconds = []

    def evaluate(epoch: int, loss: float | None) -> None:
        t0 = time.perf_counter()
        model.eval()
        acc = {}
        with torch.no_grad():
            for name, (x, t) in sets.items():
                correct = sum(
                    int((model(x[s : s + 1000]).argmax(1) == t[s : s + 1000]).sum())
                    for s in range(0, len(x), 1000)
                )
                acc[name] = correct / len(x)
        model.train()
        eval_seconds.append(time.perf_counter() - t0)
        shown = "-" if loss is None else f"{loss:.4f}"
        print(f"epoch {epoch}/{epochs}  loss {shown}  train {acc['train']:.4f}  "
              f"test {acc['test']:.4f}", flush=True)  # fmt: skip

    evaluate(0, None)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(xtr), generator=gen)
        losses = []
        for i in range(0, len(order), BATCH_SIZE):
            idx = order[i : i + BATCH_SIZE]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xtr[idx]), ttr[idx])
            loss.backward()
            optimizer.step()
            losses.append(float(loss))
        evaluate(epoch, float(np.mean(losses)))
    print(json.dumps({"eval_seconds": eval_seconds, "inner": time.perf_counter() - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cnn", "deep-cnn"], default="cnn")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--train-size", type=int, default=20_000)
    parser.add_argument(
        "--train-eval-size",
        default="10000",
        help="training images the train accuracy is measured on, by both (dlzero train's "
        "--train-eval-size: its default for the CNNs, 10000), or 'all'; the --baseline tree "
        "is run without it (an older dlzero measures them all)",
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--baseline",
        metavar="SRC",
        help="also time the dlzero of this source directory (another checkout's src/, e.g. "
        "from git archive), interleaved with the others: before and after a change",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    eval_size = args.train_size if args.train_eval_size == "all" else int(args.train_eval_size)
    eval_size = min(eval_size, args.train_size)
    if args.child:
        torch_script(args.model, args.train_size, eval_size, args.epochs, args.seed, args.threads)
        return

    have_torch = _harness.torch_available()
    contenders = ["dlzero"] + (["baseline"] if args.baseline else [])
    times: dict[str, list[float]] = {name: [] for name in [*contenders, "torch"]}
    peaks: dict[str, list[float]] = {name: [] for name in times}
    evals: dict[str, list[float]] = {name: [] for name in times}
    with tempfile.TemporaryDirectory() as tmp:
        history = os.path.join(tmp, "run.json")
        for r in range(args.rounds):
            for name in contenders:
                cmd = [sys.executable, "-m", "dlzero", "train", "--model", args.model]
                cmd += ["--train-size", str(args.train_size), "--epochs", str(args.epochs)]
                cmd += ["--seed", str(args.seed), "--no-plot", "--history", history]
                if name == "baseline":  # an older dlzero has no --train-eval-size
                    env = _harness.child_env(threads=args.threads, baseline=args.baseline)
                else:
                    env = _harness.child_env(threads=args.threads)
                    cmd += ["--train-eval-size", args.train_eval_size]
                run = _harness.run_child(cmd, name=name, env=env)
                peaks[name].append(run.peak_rss_mb)
                with open(history) as f:
                    saved = json.load(f)
                times[name].append(run.seconds)
                evals[name] += saved["eval_time"][1:]  # after each epoch (the 0th may overlap)
                last = run.lines()[-1]
                print(f"round {r + 1}: {name:8s} {run.seconds:7.2f} s   {last}", flush=True)
            if have_torch:
                cmd = [sys.executable, __file__, "--child", "--threads", str(args.threads)]
                cmd += ["--train-size", str(args.train_size), "--epochs", str(args.epochs)]
                cmd += ["--seed", str(args.seed), "--model", args.model]
                cmd += ["--train-eval-size", args.train_eval_size]
                env = _harness.child_env(threads=args.threads)
                run = _harness.run_child(cmd, name="torch", env=env)
                peaks["torch"].append(run.peak_rss_mb)
                times["torch"].append(run.seconds)
                evals["torch"] += run.result()["eval_seconds"][1:]
                last = run.lines()[-2]  # (the last is the JSON line)
                print(f"round {r + 1}: torch    {run.seconds:7.2f} s   {last}", flush=True)

    print(
        f"\ndlzero train --model {args.model} against PyTorch: {args.epochs} epoch(s) of "
        f"{args.train_size:,} images, evaluating {eval_size + 10_000:,} images per epoch, "
        f"{args.threads} thread(s), {os.cpu_count()} CPUs"
    )
    medians = {}
    for name, values in times.items():
        if values:
            medians[name] = statistics.median(values)
            ev = statistics.median(evals[name])
            print(
                f"{name:8s} process median {medians[name]:7.2f} s ({_harness.spread(values)}); "
                f"evaluation per epoch median {ev:.2f} s; peak memory {max(peaks[name]):.0f} MB"
            )
    if "torch" in medians:
        print(f"ratio dlzero / torch: {medians['dlzero'] / medians['torch']:.2f}")
    if "baseline" in medians:
        print(f"ratio dlzero / baseline ({args.baseline}): "
              f"{medians['dlzero'] / medians['baseline']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
