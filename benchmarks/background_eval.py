"""Training W with and without background evaluation, side by side, optionally on a busy machine.

Each run is ``Trainer.fit`` on the chapter-5 workload W (784-50-10, ReLU, batches of 100 drawn
with replacement, SGD lr 0.1, 10,000 iterations, train and test accuracy every epoch) in a fresh
process, alternately with ``background_eval=False`` and ``True``; the script prints each run's
``History.wall_time`` and the medians. ``--hog`` keeps one core busy with another process
throughout, as a shared machine would.

Run: ``python benchmarks/background_eval.py --rounds 3 [--hog]`` (about 30 s per round).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

WORKER = """
import json, sys
from dlzero.datasets import load_mnist
from dlzero.networks import TwoLayerNet
from dlzero.optimizers import SGD
from dlzero.training import Evaluation, Output, Steps, Trainer
(x, t), (xt, tt) = load_mnist()
trainer = Trainer(TwoLayerNet(784, 50, 10, rng=0), SGD(lr=0.1), x, t, xt, tt,
                  steps=Steps(iters=int(sys.argv[2]), sampling="replacement"), rng=0,
                  evaluation=Evaluation(background_eval=sys.argv[1] == "on"),
                  output=Output(verbose=False, progress=False))
h = trainer.fit()
print(json.dumps({"wall": h.wall_time, "steps": sum(h.train_time),
                  "used": h.config["background_eval"], "test": h.accuracy["test"][-1]}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--hog", action="store_true", help="keep one core busy meanwhile")
    parser.add_argument("--iters", type=int, default=10_000, help="iterations (default 10000)")
    args = parser.parse_args(argv)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.hog else None
    walls: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for r in range(1, args.rounds + 1):
            for mode in ("off", "on"):
                out = subprocess.run(
                    [sys.executable, "-c", WORKER, mode, str(args.iters)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                run = json.loads(out.stdout.strip().splitlines()[-1])
                walls[mode].append(run["wall"])
                print(
                    f"round {r}: background_eval {mode:3s} (used: {run['used']}) "
                    f"fit {run['wall']:.2f} s, steps {run['steps']:.2f} s, test {run['test']:.4f}",
                    flush=True,
                )
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    off, on = statistics.median(walls["off"]), statistics.median(walls["on"])
    busy = " with one core kept busy" if args.hog else ""
    print(f"\nmedian fit{busy}: foreground {off:.2f} s, background {on:.2f} s ({off / on:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
