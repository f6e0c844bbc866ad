r"""The same random search on a Dask cluster of one worker and of two: what the second one buys.

Two LocalClusters on loopback, one of 1 worker process and one of 2 (one thread each, one BLAS
thread each: Dask's nanny sets that), stay up throughout; each round runs the search on the
one and then on the other, and the script prints each run's wall time (``random_search`` with
``client=``, the data sent over included) and the medians. The search is the book's trial
(784-100x6-10 ReLU, He init, SGD, 50 epochs of batch 100 on 400 MNIST images, 100 held out)
with fewer trials. Both runs must give the same table: the script checks it.

Dask's nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which makes glibc map
and unmap every array over 128 KB afresh; a trial then takes nearly twice as long. The script
prints the setting the workers got; compare with it removed (as docs/dask.md advises)::

    python benchmarks/dask_search.py --rounds 3
    DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON='{"MALLOC_TRIM_THRESHOLD_": None}' \
        python benchmarks/dask_search.py --rounds 3

About 1.5 minutes each on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

from distributed import LocalCluster

from dlzero.datasets import load_mnist
from dlzero.interop.dask import connect
from dlzero.studies.search import random_search


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--trials", type=int, default=16, help="trials a search (default 16)")
    parser.add_argument("--epochs", type=int, default=50, help="epochs a trial (default 50)")
    args = parser.parse_args(argv)
    logging.getLogger("distributed").setLevel(logging.WARNING)  # (not every start and stop)
    (x, t), _ = load_mnist()
    x, t = x[:500], t[:500]
    search = {"n_trials": args.trials, "epochs": args.epochs, "seed": 0}
    walls: dict[int, list[float]] = {1: [], 2: []}
    tables: dict[int, str] = {}
    clusters = {
        n: LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        )
        for n in walls
    }
    try:
        clients = {n: connect(cluster.scheduler_address) for n, cluster in clusters.items()}
        for n, client in clients.items():
            client.wait_for_workers(n)
        trim = clients[1].run(os.getenv, "MALLOC_TRIM_THRESHOLD_")
        print(f"workers' MALLOC_TRIM_THRESHOLD_: {next(iter(trim.values()))}")
        for r in range(1, args.rounds + 1):
            for n, client in clients.items():
                t0 = time.perf_counter()
                result = random_search(x, t, **search, client=client)
                walls[n].append(time.perf_counter() - t0)
                tables[n] = result.to_csv()
                print(f"round {r}: {n} worker{'s' if n > 1 else ' '} {walls[n][-1]:6.2f} s")
        for client in clients.values():
            client.close()
    finally:
        for cluster in clusters.values():
            cluster.close()
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    print(
        f"\n{args.trials} trials of {args.epochs} epochs, median of {args.rounds}: "
        f"1 worker {one:.2f} s, 2 workers {two:.2f} s ({one / two:.2f}x); "
        f"same table: {'yes' if tables[1] == tables[2] else 'NO'}"
    )
    return 0 if tables[1] == tables[2] else 1


if __name__ == "__main__":
    raise SystemExit(main())
