"""Training with and without background evaluation, side by side, optionally on a busy machine.

Each run is ``Trainer.fit`` in a fresh process, the modes interleaved round after round; the
script prints each run's ``History.wall_time`` (steps and evaluations) and the medians.

- ``--model mlp`` (the default): the chapter-5 workload W (784-50-10, ReLU, batches of 100
  drawn with replacement, SGD lr 0.1, 10,000 iterations, train and test accuracy every epoch),
  with ``background_eval=False`` and ``True``.
- ``--model cnn`` or ``deep-cnn``: SimpleConvNet or DeepConvNet (Adam lr 0.001, batches of
  100, shuffled) for ``--epochs`` epochs on the first ``--train-size`` training images,
  evaluating them and the first ``--test-size`` test images each epoch, in the foreground and
  in the background; with ``--train-eval-size N`` also both ways with the train accuracy
  measured on N evenly spaced training images (``Evaluation(train_eval_size=N)``).
  ``--train-size 12000 --test-size 2000 --train-eval-size 2000`` keeps the full run's
  proportions: 70,000 images evaluated for 60,000 trained, or 20,000 with 10,000 of them.

``--hog`` keeps one core busy with another process throughout, as a shared machine would.

Run::

    python benchmarks/background_eval.py --rounds 3 [--hog]      # about 30 s per round
    python benchmarks/background_eval.py --model deep-cnn --train-size 12000 --test-size 2000 \\
        --train-eval-size 2000 --epochs 2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

import _harness

WORKER = """
import json, sys
from dlzero.datasets import load_mnist
from dlzero.optimizers import SGD, Adam
from dlzero.training import Evaluation, Output, Steps, Trainer
spec = json.loads(sys.argv[1])
evaluation = Evaluation(background_eval=spec["background"],
                        train_eval_size=spec["train_eval_size"])
output = Output(verbose=False, progress=False)
if spec["model"] == "mlp":
    from dlzero.networks import TwoLayerNet
    (x, t), (xt, tt) = load_mnist()
    trainer = Trainer(TwoLayerNet(784, 50, 10, rng=0), SGD(lr=0.1), x, t, xt, tt,
                      steps=Steps(iters=spec["iters"], sampling="replacement"), rng=0,
                      evaluation=evaluation, output=output)
else:
    from dlzero.convnets import DeepConvNet, SimpleConvNet
    (x, t), (xt, tt) = load_mnist(flatten=False)
    x, t = x[:spec["train_size"]], t[:spec["train_size"]]
    xt, tt = xt[:spec["test_size"]], tt[:spec["test_size"]]
    net = SimpleConvNet(rng=0) if spec["model"] == "cnn" else DeepConvNet(rng=0)
    trainer = Trainer(net, Adam(lr=0.001), x, t, xt, tt, steps=Steps(epochs=spec["epochs"]),
                      rng=0, evaluation=evaluation, output=output)
h = trainer.fit()
print(json.dumps({"wall": h.wall_time, "steps": sum(h.train_time),
                  "used": h.config["background_eval"], "test": h.accuracy["test"][-1],
                  "train": h.accuracy["train"][-1]}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn", "deep-cnn"], default="mlp")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--hog", action="store_true", help="keep one core busy meanwhile")
    parser.add_argument("--iters", type=int, default=10_000, help="mlp: iterations (10000)")
    parser.add_argument("--epochs", type=int, default=2, help="cnn: epochs (default 2)")
    parser.add_argument("--train-size", type=int, default=12_000, help="cnn (default 12000)")
    parser.add_argument("--test-size", type=int, default=2_000, help="cnn (default 2000)")
    parser.add_argument(
        "--train-eval-size", type=int, default=None, help="cnn: also run with this subset"
    )
    args = parser.parse_args(argv)
    base = {"model": args.model, "iters": args.iters, "epochs": args.epochs}
    base |= {"train_size": args.train_size, "test_size": args.test_size}
    modes = {"foreground": (False, None), "background": (True, None)}
    if args.train_eval_size is not None and args.model != "mlp":
        size = args.train_eval_size
        modes[f"foreground, train on {size}"] = (False, size)
        modes[f"background, train on {size}"] = (True, size)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.hog else None
    walls: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        for r in range(1, args.rounds + 1):
            for mode, (background, size) in modes.items():
                spec = {**base, "background": background, "train_eval_size": size}
                cmd = [sys.executable, "-c", WORKER, json.dumps(spec)]
                run = _harness.run_child(cmd, name=mode).result()
                walls[mode].append(run["wall"])
                print(
                    f"round {r}: {mode:28s} (background used: {run['used']}) fit "
                    f"{run['wall']:6.2f} s, steps {run['steps']:6.2f} s, train {run['train']:.4f}, "
                    f"test {run['test']:.4f}",
                    flush=True,
                )
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    busy = " with one core kept busy" if args.hog else ""
    print(f"\nmedian fit ({args.model}){busy}, and its ratio to the foreground's:")
    first = statistics.median(walls["foreground"])
    for mode, values in walls.items():
        median = statistics.median(values)
        print(f"  {mode:28s} {median:7.2f} s  {median / first:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
