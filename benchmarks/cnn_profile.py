"""Where a convolutional network's time goes: one evaluation pass and one training step, line
by line.

Runs ``dlzero.fast.accuracy`` on the 10,000 test images and training steps of 100 images
(Adam), each after a warm-up, under ``line_profiler`` on the functions of ``dlzero.fast``
that do the work, and prints their line timings. One lane and one BLAS thread
(``OPENBLAS_NUM_THREADS=1``), so that each line's time is its own and not the other lane's
wait: with two lanes each half batch costs about the same, on its own core.

Run::

    pip install line_profiler
    python benchmarks/cnn_profile.py                  # DeepConvNet
    python benchmarks/cnn_profile.py --model cnn --steps 20
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # (after the thread count is set)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cnn", "deep-cnn"], default="deep-cnn")
    parser.add_argument("--steps", type=int, default=10, help="training steps profiled")
    args = parser.parse_args()
    try:
        from line_profiler import LineProfiler
    except ImportError:
        sys.exit("needs line_profiler: pip install line_profiler")

    from dlzero.convnets import DeepConvNet, SimpleConvNet
    from dlzero.datasets import load_mnist
    from dlzero.fast import accuracy, conv, fused_step, infer, stages, training_step
    from dlzero.optimizers import Adam

    (x, t), (x_test, t_test) = load_mnist(flatten=False)
    net = SimpleConvNet(rng=0) if args.model == "cnn" else DeepConvNet(rng=0)
    fused = fused_step(net)
    fused.lanes = 1
    step, optimizer = training_step(net), Adam(lr=0.001)
    batches = np.random.default_rng(0).integers(0, len(x), (args.steps + 2, 100))

    def train(rows: np.ndarray) -> None:
        for batch in rows:
            _, grads = step(x[batch], t[batch])
            optimizer.update(net.params, grads)

    accuracy(net, x_test[:1000], t_test[:1000])  # warm-up: buffers made
    train(batches[:2])
    start = time.perf_counter()
    accuracy(net, x_test, t_test)
    evaluation = time.perf_counter() - start
    start = time.perf_counter()
    train(batches[2:])
    steps = (time.perf_counter() - start) / args.steps
    print(
        f"{type(net).__name__}, one lane, one BLAS thread: evaluating the 10,000 test images "
        f"{evaluation:.2f} s (batches of {net.eval_batch_size}); a training step of 100 images "
        f"{1e3 * steps:.1f} ms (the mean of {args.steps})\n"
    )

    profiles = {
        "one evaluation pass (10,000 test images)": (
            [infer._lane, infer.Tail.run, stages.run_stages, stages.StageBuffers.forward,
             stages.StageBuffers.columns, stages.StageBuffers.write_input],
            lambda: accuracy(net, x_test, t_test),
        ),
        f"{args.steps} training steps of 100 images": (
            [conv.FusedConvNet.loss_and_gradient, conv.FusedConvNet._forward_stages,
             stages.StageBuffers.forward, conv.FusedConvNet._backward_stage,
             conv.FusedConvNet._input_gradient, stages.StageBuffers.columns,
             stages.StageBuffers.write_input, type(optimizer).update],
            lambda: train(batches[2:]),
        ),
    }  # fmt: skip
    for title, (functions, run) in profiles.items():
        profiler = LineProfiler(*functions)
        profiler.runcall(run)
        print(f"==== {title} " + "=" * max(0, 80 - len(title)))
        profiler.print_stats(output_unit=1e-3, stripzeros=True)


if __name__ == "__main__":
    main()
