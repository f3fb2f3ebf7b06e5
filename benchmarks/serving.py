"""recommend throughput from Python threads: one model, concurrent reads against reads
that take turns on one lock (what fastmf did before reads ran on snapshots).

Two models with random factors (d = 64, float32): ML-100K-sized (943 users x 1,682 items)
and a 1M-item catalogue (10,000 users). Each request is ``recommend([user], k=20,
filter_seen=False)``; a pool of 1, 2 and 4 threads serves --requests requests, and the
figure is users per second (median of --repeats), with and without a lock around each
call, alternated in one process; and concurrent with each call's kernels on one thread
(``num_threads=1``: the pool's threads, not Numba's, share the cores).

    python benchmarks/serving.py
"""

import argparse
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from _common import OUT_DIR, JsonRecord, machine, machine_info

import fastmf


def model_of(users, items, d=64):
    """A WALS model with random factors (recommend reads nothing else)."""
    rng = np.random.default_rng(0)
    model = fastmf.WALS(d)
    model.user_factors = rng.standard_normal((users, d)).astype(np.float32)
    model.item_factors = rng.standard_normal((items, d)).astype(np.float32)
    return model


def throughput(model, threads, requests, locked):
    lock = threading.Lock()
    users = np.random.default_rng(1).integers(0, model.n_users, requests)

    def one(u):
        if locked:
            with lock:
                return model.recommend([u], k=20, filter_seen=False)
        return model.recommend([u], k=20, filter_seen=False)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(one, users):
            pass
    return requests / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(OUT_DIR / "serving.json"))
    args = parser.parse_args()
    print(machine())
    record = JsonRecord(args.out, machine=machine_info())
    out = {}
    for name, (m, n, requests) in {"ml100k-sized": (943, 1682, args.requests),
                                   "1M items": (10_000, 1_000_000, args.requests // 20)
                                   }.items():
        model = model_of(m, n)
        model.recommend([0], k=20, filter_seen=False)  # compiled
        print(f"\n{name}: {m:,} users x {n:,} items, d = 64; users per second "
              f"(median of {args.repeats})")
        print(f"  {'threads':>7s} {'one lock':>10s} {'concurrent':>11s} {'ratio':>6s} "
              f"{'concurrent, num_threads=1':>26s} {'ratio':>6s}")
        for threads in (1, 2, 4):
            got = {"locked": [], "concurrent": [], "one-thread kernels": []}
            for _ in range(args.repeats):
                model.num_threads = None
                got["locked"].append(throughput(model, threads, requests, True))
                got["concurrent"].append(throughput(model, threads, requests, False))
                model.num_threads = 1
                got["one-thread kernels"].append(throughput(model, threads, requests,
                                                            False))
            model.num_threads = None
            med = {k: statistics.median(val) for k, val in got.items()}
            out[f"{name}/{threads}"] = got
            base = med["locked"]
            print(f"  {threads:7d} {base:10.0f} {med['concurrent']:11.0f} "
                  f"{med['concurrent'] / base:5.2f}x {med['one-thread kernels']:26.0f} "
                  f"{med['one-thread kernels'] / base:5.2f}x")
    record.set(results=out)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
