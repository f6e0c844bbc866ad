"""The side-by-side race on the chapter-5 workload W, with the BLAS floor.

W: 784-50-10, ReLU, weight_init_std 0.01, batches of 100 drawn with replacement, SGD lr 0.1,
10,000 iterations, the mini-batch loss kept every iteration, train and test accuracy on the full
60,000 and 10,000 images at iteration 0 and every epoch (600 iterations), genuine MNIST.

Each contender trains W in a fresh process; the runs are interleaved (A B C A B C ...) for
``--rounds`` rounds, so a slow spell of a shared machine hits every contender alike. The table
gives each contender's median wall time of the whole process (start-up and data loading
included), min-max, its own training-loop time, final test accuracy, peak RSS, and the ratio of
its median wall time to dlzero's. The floor is the time of W's matrix products alone: each
product's shape timed with NumPy's sgemm in this process, times the number of such products in
W. No NumPy implementation of W can be faster.

Run: ``python benchmarks/race.py`` (about 3 minutes on 2 cores); ``--markdown FILE`` also writes
the table as Markdown; ``--baseline TREE`` adds the dlzero of another source tree (before/after
a change: ``git archive COMMIT | tar -x -C TREE``), ``--only dlzero baseline`` races just the
two. PyTorch and scikit-learn are optional (``pip install ".[bench]"``);
missing ones are skipped with a note.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import _harness
import numpy as np

HERE = Path(__file__).resolve().parent


@dataclass
class Contender:
    name: str
    command: list[str]
    needs: str | None = None  # module that must be importable
    history: Path | None = None  # where a dlzero contender writes its history
    env: dict[str, str] | None = None
    walls: list[float] = field(default_factory=list)
    loops: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    tree_pss_mb: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)


def contenders(args: argparse.Namespace, workdir: Path) -> list[Contender]:
    py = sys.executable
    common = ["--iters", str(args.iters), "--seed", str(args.seed)]
    if args.train_size:
        common += ["--train-size", str(args.train_size)]

    def dlzero(name: str, tag: str, env: dict[str, str] | None = None) -> Contender:
        history = workdir / f"history-{tag}.json"
        command = [
            py, "-m", "dlzero", "train", "--sampling", "replacement", "--quiet",
            "--plot", str(workdir / f"accuracy-{tag}.png"), "--history", str(history), *common,
        ]  # fmt: skip
        return Contender(name, command, history=history, env=env)

    cs = [
        Contender("book (ch. 5 script)", [py, str(HERE / "book_ch5.py"), *common]),
        dlzero("dlzero train", "dlzero"),
        Contender("PyTorch", [py, str(HERE / "torch_ch5.py"), *common], needs="torch"),
        Contender("scikit-learn", [py, str(HERE / "sklearn_ch5.py"), *common], needs="sklearn"),
    ]
    if args.baseline:
        # The other tree's package comes first on the path, ahead of the installed one.
        env = _harness.child_env(baseline=Path(args.baseline) / "src")
        cs.append(dlzero(f"dlzero baseline ({args.baseline})", "baseline", env))
    return cs


def _tree_pss_mb(pid: int) -> float:
    """Proportional set size of ``pid`` and its descendants, in MB (0 if unreadable).

    PSS splits each shared page among the processes that map it, so a forked child's pages
    shared with its parent are not counted twice, as summing RSS would.
    """
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(x.split()[1]) for x in f if x.startswith("Pss:")) / 1024
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(x) for x in f.read().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


class TreeMemorySampler(threading.Thread):
    """Sample a process tree's PSS every ``interval`` s from :meth:`watch` to :meth:`stop`;
    keep the peak."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_mb = 0, interval, 0.0
        self.done = threading.Event()

    def watch(self, pid: int) -> None:
        """Start sampling the tree of ``pid``."""
        self.pid = pid
        self.start()

    def stop(self) -> None:
        self.done.set()
        self.join()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.peak_mb = max(self.peak_mb, _tree_pss_mb(self.pid))


def run_once(c: Contender, workdir: Path) -> None:
    """Run one contender in a fresh process; record wall time, peak memory and its results."""
    # The child's own peak RSS comes with its exit status; the sampler also sees any
    # processes it starts.
    sampler = TreeMemorySampler()
    try:
        run = _harness.run_child(c.command, name=c.name, env=c.env, on_start=sampler.watch)
    finally:
        if sampler.is_alive():
            sampler.stop()
    if c.history is not None:
        data = json.loads(c.history.read_text())
        # fit's own clock: with background evaluation the two lists overlap in time
        loop = data.get("wall_time") or sum(data["train_time"]) + sum(data["eval_time"])
        acc = data["accuracy"]["test"][-1]
    else:
        data = run.result()
        loop, acc = data["train_time"], data["test_acc"]
    c.walls.append(run.seconds)
    c.loops.append(loop)
    c.rss_mb.append(run.peak_rss_mb)
    c.tree_pss_mb.append(sampler.peak_mb)
    c.test_acc.append(acc)


def _median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def blas_floor(
    iters: int, train_size: int, test_size: int, threads: int | None = None
) -> tuple[float, float]:
    """Seconds and GFLOP of W's matrix products, each shape timed with float32 matmul here.

    ``threads`` limits BLAS to that many threads while timing (None: its default, every core).
    """
    if threads is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads, user_api="blas"):
            return blas_floor(iters, train_size, test_size)
    rng = np.random.default_rng(0)

    def product(m: int, k: int, n: int, transpose_a: bool = False):
        a = rng.random((k, m) if transpose_a else (m, k), dtype=np.float32)
        a = a.T if transpose_a else a
        b = rng.random((k, n), dtype=np.float32)
        out = np.empty((m, n), dtype=np.float32)
        return (lambda: np.matmul(a, b, out=out)), 2.0 * m * k * n

    batch, d, h, c = 100, 784, 50, 10
    step = [
        product(batch, d, h),  # x @ W1
        product(batch, h, c),  # z1 @ W2
        product(h, batch, c, transpose_a=True),  # z1.T @ dy -> dW2
        product(batch, c, h),  # dy @ W2.T -> dz1
        product(d, batch, h, transpose_a=True),  # x.T @ da1 -> dW1
    ]
    epoch_len = max(train_size // batch, 1)
    evaluations = len(range(0, iters, epoch_len))
    chunk = 10_000
    rows = evaluations * (train_size + test_size)
    seconds = gflop = 0.0
    for fn, flop in step:
        seconds += iters * _median_time(fn, 200)
        gflop += iters * flop / 1e9
    for fn, flop in (product(chunk, d, h), product(chunk, h, c)):
        seconds += rows / chunk * _median_time(fn, 20)
        gflop += rows / chunk * flop / 1e9
    return seconds, gflop


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "unknown BLAS"
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{cfg.get('name')} {cfg.get('version')}"
    except Exception:  # informational only: any failure leaves "unknown BLAS"
        pass
    threads = "?"
    if importlib.util.find_spec("threadpoolctl"):
        from threadpoolctl import threadpool_info

        threads = (
            ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()) or "?"
        )
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"NumPy {np.__version__} with {blas} (threads: {threads})"
    )


def table(cs: list[Contender], floor_s: float, gflop: float, floor_1: float | None) -> str:
    ours = next(c for c in cs if c.name.startswith("dlzero"))
    ref, ref_best = statistics.median(ours.walls), min(ours.walls)
    # Noise on a shared machine only ever adds time, and it hurts contenders whose BLAS
    # threads spin far more than others: the best runs' ratio is the conservative one.
    lines = [
        "| contender | median wall (s) | min-max (s) | training loop (s) | test acc. "
        "| peak RSS (MB) | peak PSS, all its processes (MB) | time / dlzero "
        "| best / dlzero's best |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cs:
        med = statistics.median(c.walls)
        lines.append(
            f"| {c.name} | {med:.2f} | {min(c.walls):.2f}-{max(c.walls):.2f} "
            f"| {statistics.median(c.loops):.2f} | {statistics.median(c.test_acc):.4f} "
            f"| {statistics.median(c.rss_mb):.0f} | {statistics.median(c.tree_pss_mb):.0f} "
            f"| {med / ref:.2f}x | {min(c.walls) / ref_best:.2f}x |"
        )
    lines.append(
        f"| BLAS floor ({gflop:.0f} GFLOP of sgemm) | {floor_s:.2f} | | | | | "
        f"| {floor_s / ref:.2f}x | {floor_s / ref_best:.2f}x |"
    )
    if floor_1 is not None:
        lines.append(
            f"| BLAS floor on one thread | {floor_1:.2f} | | | | | "
            f"| {floor_1 / ref:.2f}x | {floor_1 / ref_best:.2f}x |"
        )
    loop = statistics.median(next(c for c in cs if c.name.startswith("dlzero")).loops)
    lines.append(
        f"\ndlzero's training loop (steps and evaluations) takes {loop:.2f} s: "
        f"{loop / floor_s:.2f}x the floor"
        + (f" ({loop / floor_1:.2f}x the one-thread floor)" if floor_1 else "")
        + f"; its whole process adds {ref - loop:.2f} s (start-up, data, plots) to the loop."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Race the chapter-5 workload W side by side.")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--iters", type=int, default=10_000, help="iterations (default 10000)")
    parser.add_argument("--train-size", type=int, default=None, help="first N training images")
    parser.add_argument("--seed", type=int, default=0, help="every contender's seed (default 0)")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="contenders to run (book dlzero torch sklearn)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--baseline",
        metavar="TREE",
        help="also race the dlzero of another source tree (e.g. an earlier commit's "
        "`git archive` unpacked), interleaved with the installed one",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        cs = contenders(args, workdir)
        keys = {"book": 0, "dlzero": 1, "torch": 2, "sklearn": 3, "baseline": 4}
        if args.only:
            cs = [cs[keys[k]] for k in args.only if k in keys and keys[k] < len(cs)]
        ready = []
        for c in cs:
            if c.needs and importlib.util.find_spec(c.needs) is None:
                print(f"skipping {c.name}: {c.needs} is not installed (pip install '.[bench]')")
            else:
                ready.append(c)
        if not any(c.name.startswith("dlzero") for c in ready):
            parser.error("dlzero must be among the contenders (it is the reference)")
        for r in range(args.rounds):
            for c in ready:
                run_once(c, workdir)
                print(f"round {r + 1}: {c.name:<22} {c.walls[-1]:6.2f} s", flush=True)
    train_size = args.train_size or 60_000
    floor_s, gflop = blas_floor(args.iters, train_size, 10_000)
    floor_1 = None
    if importlib.util.find_spec("threadpoolctl"):
        floor_1, _ = blas_floor(args.iters, train_size, 10_000, threads=1)
    text = (
        f"Machine: {machine()}\n\n"
        f"W: {args.iters} iterations, {train_size} training images, {args.rounds} rounds, "
        f"interleaved.\n\n{table(ready, floor_s, gflop, floor_1)}\n"
    )
    print()
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
