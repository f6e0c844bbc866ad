"""What an evaluated image costs a convolutional network's training: in the foreground, or beside
the steps on a copy of the weights (the trainer's background evaluation).

In one process, round after round: ``--steps`` training steps of 100 images alone (Adam);
5,000 test images evaluated in the foreground (``dlzero.fast.accuracy``: both lanes); the same
``--steps`` steps again while a worker thread evaluates a snapshot of the weights without
pause, one BLAS thread each, as ``BackgroundEvaluator`` does. The cost of an image evaluated
in the background is the time it added to the steps, divided by the images it evaluated
meanwhile; in the foreground, the time it took. Background evaluation pays only when the
first is smaller: when the steps leave a core idle.

Run::

    python benchmarks/eval_overlap.py --model deep-cnn --steps 40 --rounds 4
    python benchmarks/eval_overlap.py --model cnn --steps 150 --rounds 4
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cnn", "deep-cnn"], default="deep-cnn")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    from dlzero._threads import limit_blas_to_one_thread
    from dlzero.convnets import DeepConvNet, SimpleConvNet
    from dlzero.datasets import load_mnist
    from dlzero.fast import accuracy, fused_step, training_step
    from dlzero.optimizers import Adam

    (x, t), (x_test, t_test) = load_mnist(flatten=False)
    net = SimpleConvNet(rng=0) if args.model == "cnn" else DeepConvNet(rng=0)
    optimizer, step = Adam(lr=0.001), training_step(net)
    rng = np.random.default_rng(0)
    chunk = net.eval_batch_size

    def steps(k: int) -> float:
        start = time.perf_counter()
        for _ in range(k):
            batch = rng.integers(0, len(x), 100)
            _, grads = step(x[batch], t[batch])
            optimizer.update(net.params, grads)
        return time.perf_counter() - start

    steps(5)
    accuracy(net, x_test[:1000], t_test[:1000])  # warm-up: buffers made
    costs: dict[str, list[float]] = {"foreground": [], "beside": []}
    for r in range(1, args.rounds + 1):
        alone = steps(args.steps)
        start = time.perf_counter()
        accuracy(net, x_test[:5000], t_test[:5000])
        costs["foreground"].append((time.perf_counter() - start) / 5000)
        snapshot, stop, done = fused_step(net).snapshot(), threading.Event(), [0]
        restore = limit_blas_to_one_thread()

        def evaluate(snapshot=snapshot, stop=stop, done=done) -> None:
            while not stop.is_set():
                first = done[0] % (len(x_test) - chunk)
                snapshot.predict(x_test[first : first + chunk])
                done[0] += chunk

        worker = threading.Thread(target=evaluate)
        worker.start()
        try:
            both = steps(args.steps)
        finally:
            stop.set()
            worker.join()
            if restore is not None:
                restore()
        costs["beside"].append((both - alone) / done[0])
        print(
            f"round {r}: {args.steps} steps alone {alone:.2f} s, with the evaluation beside "
            f"{both:.2f} s ({done[0]:,} images evaluated meanwhile); per image: foreground "
            f"{1e3 * costs['foreground'][-1]:.3f} ms, beside {1e3 * costs['beside'][-1]:.3f} ms",
            flush=True,
        )
    fg, bg = statistics.median(costs["foreground"]), statistics.median(costs["beside"])
    print(
        f"\n{type(net).__name__}: training time an evaluated image costs, median of "
        f"{args.rounds} rounds: foreground {1e3 * fg:.3f} ms, beside the steps {1e3 * bg:.3f} ms "
        f"({bg / fg:.2f}x)"
    )


if __name__ == "__main__":
    main()
