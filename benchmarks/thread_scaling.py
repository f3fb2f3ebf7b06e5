"""Speed-up from 1 thread to all cores: WALS (CG, Cholesky) and Hogwild SGD.

A synthetic power-law matrix from fastmf.datasets.make_synthetic (default 20M nonzeros,
1M users x 100k items, d = 64, float32). Each method is prepared once through the
estimator's own set-up (``_common.WalsSweeps`` / ``_common.SgdEpochs``, checked bit for
bit against ``fit``), then timed per full WALS iteration (items then users half-sweep) or
per SGD epoch at each thread count, the median of up to --repeats runs (fewer once a cell
has used --cell-seconds). BLAS runs on one thread throughout.

Thread counts are 1, 2, 4, 8, 16, ... up to the usable cores (and that count itself).
They are measured in the order max, 2, then downwards, so a run cut short still holds the
2 -> max comparison; a cell whose estimated time (from the next larger thread count,
assuming no speed-up) would overrun --budget seconds is skipped. Every finished cell is
written at once to --out (JSON), and printed.

SGD is the ratings-style epoch (w0 = 0; the stored entries with target 1), the kernel the
LibMF comparison times; 'sgd-gravity' (implicit feedback, w0 = 1, Gram terms each epoch)
can be added with --methods.

    python benchmarks/thread_scaling.py                 # ~8 min on 16 cores
    python benchmarks/thread_scaling.py --quick         # 500k nonzeros, smoke run
    python benchmarks/thread_scaling.py --nnz 5000000 --methods cg,sgd --threads 1,2,4
"""

import argparse
import statistics
import time

import numba
from _common import (
    OUT_DIR,
    JsonRecord,
    SgdEpochs,
    WalsSweeps,
    available_cores,
    check_steps_match_estimators,
    machine,
    machine_info,
)
from threadpoolctl import threadpool_limits

import fastmf
from fastmf.datasets import make_synthetic

METHODS = ("cg", "cholesky", "sgd", "sgd-gravity")


def thread_counts(max_threads):
    counts = []
    t = 1
    while t < max_threads:
        counts.append(t)
        t *= 2
    counts.append(max_threads)
    return counts


def measure_order(counts):
    """Largest, then 2, then the rest downwards: the 2 -> max pair comes first."""
    top = max(counts)
    first = [top] + ([2] if 2 in counts and top != 2 else [])
    return first + sorted((c for c in counts if c not in first), reverse=True)


def prepare(method, A, factors, max_threads):
    if method in ("cg", "cholesky"):
        steps = WalsSweeps(A, fastmf.WALS(factors, solver=method, cg_steps=3,
                                          num_threads=max_threads, random_state=0))
        return steps, steps.iteration
    if method == "sgd":
        model = fastmf.SGD(factors, w0=0.0, confidence="none", target="binary", lr=0.005,
                           reg=0.02, num_threads=max_threads, random_state=0)
    else:
        model = fastmf.SGD(factors, lr=0.0005, lr_schedule="constant", init_scale=0.01,
                           num_threads=max_threads,
                           random_state=0)
    steps = SgdEpochs(A, model)
    return steps, steps.epoch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nnz", type=int, default=20_000_000)
    p.add_argument("--users", type=int, default=None, help="default nnz / 20")
    p.add_argument("--items", type=int, default=None, help="default nnz / 200")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--methods", default="cg,cholesky,sgd", help=f"from {METHODS}")
    p.add_argument("--threads", default=None,
                   help="comma-separated thread counts (default 1, 2, 4, ... up to all cores)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cell-seconds", type=float, default=20.0,
                   help="stop repeating a cell once it has used this long (>= 1 run)")
    p.add_argument("--budget", type=float, default=420.0,
                   help="skip cells that would end past this many seconds from the start")
    p.add_argument("--out", default=str(OUT_DIR / "thread_scaling.json"))
    p.add_argument("--quick", action="store_true", help="500k nonzeros, 2 repeats")
    args = p.parse_args(argv)
    if args.quick:
        args.nnz = 500_000
        args.repeats = min(args.repeats, 2)
    args.users = args.users or max(1_000, args.nnz // 20)
    args.items = args.items or max(100, args.nnz // 200)
    args.methods = args.methods.split(",")
    for m in args.methods:
        if m not in METHODS:
            p.error(f"unknown method {m!r}; choose from {METHODS}")
    limit = min(available_cores(), numba.config.NUMBA_NUM_THREADS)
    if args.threads:
        args.threads = sorted({int(t) for t in args.threads.split(",")})
        if max(args.threads) > numba.config.NUMBA_NUM_THREADS:
            p.error(f"Numba allows at most {numba.config.NUMBA_NUM_THREADS} threads "
                    f"(NUMBA_NUM_THREADS)")
    else:
        args.threads = thread_counts(limit)
    return args


def main(argv=None):
    start = time.perf_counter()
    args = parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    record = JsonRecord(args.out, machine=machine_info(), args=vars(args), complete=False)
    t0 = time.perf_counter()
    A = make_synthetic(args.users, args.items, args.nnz, random_state=0)
    print(f"data: {A.shape[0]:,} x {A.shape[1]:,}, {A.nnz:,} nonzeros, float32, "
          f"factors={args.factors}; generated in {time.perf_counter() - t0:.1f} s; threads "
          f"{args.threads}; BLAS 1 thread; writing {args.out}", flush=True)
    check_steps_match_estimators()
    results = {m: {} for m in args.methods}
    prepared = {}
    with threadpool_limits(1, "blas"):
        for method in args.methods:
            t0 = time.perf_counter()
            steps, step = prepare(method, A, args.factors, max(args.threads))
            with steps.threads(max(args.threads)):
                step()  # compile / load, and leave the random start
            prepared[method] = steps, step
            print(f"{method}: prepared and warmed up in {time.perf_counter() - t0:.1f} s",
                  flush=True)
        for threads in measure_order(args.threads):
            for method, (steps, step) in prepared.items():
                row = measure_cell(method, steps, step, threads, results[method], args, start)
                if row is not None:
                    row["nnz"] = A.nnz
                    results[method][threads] = row
                    record.add(row)
    text = table(results, args.threads)
    print(text, flush=True)
    record.set(complete=True, speedups=speedups(results))
    return results, text


def measure_cell(method, steps, step, threads, done, args, start):
    """Median of up to --repeats timed steps on ``threads`` threads, within the budget."""
    unit = "iteration" if method in ("cg", "cholesky") else "epoch"
    larger = [t for t in done if t > threads]
    guess = 0.0
    if larger:  # at most perfect scaling from the nearest larger count measured
        near = min(larger)
        guess = done[near]["median"] * near / threads
    if time.perf_counter() - start + guess > args.budget:
        print(f"  {method:12s} {threads:3d} threads: skipped (about {guess:.1f} s would pass "
              f"--budget {args.budget:.0f} s)", flush=True)
        return None
    times = []
    with steps.threads(threads):
        while len(times) < args.repeats:
            if times and (sum(times) >= args.cell_seconds or time.perf_counter() - start
                          + times[-1] > args.budget):
                break
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
    row = {"method": method, "threads": threads, "median": statistics.median(times),
           "times": times}
    print(f"  {method:12s} {threads:3d} threads: {row['median']:.3f} s/{unit} "
          f"({', '.join(f'{x:.3f}' for x in times)})", flush=True)
    return row


def speedups(results):
    """Per method: max-thread time over each count's time, and the 2 -> max speed-up."""
    out = {}
    for method, cells in results.items():
        if not cells:
            continue
        top = max(cells)
        out[method] = {"max_threads": top}
        if 1 in cells:
            out[method]["1_to_max"] = cells[1]["median"] / cells[top]["median"]
        if 2 in cells and top != 2:
            out[method]["2_to_max"] = cells[2]["median"] / cells[top]["median"]
    return out


def table(results, counts):
    methods = list(results)
    head = f"{'threads':>7s}" + "".join(f" {m + ' s':>14s} {'x vs 1':>7s}" for m in methods)
    lines = ["seconds per WALS iteration / SGD epoch (median); speed-up against 1 thread",
             head]
    for t in counts:
        cells = []
        for m in methods:
            c = results[m].get(t)
            base = results[m].get(1)
            if c is None:
                cells.append(f" {'-':>14s} {'':>7s}")
            else:
                x = f"{base['median'] / c['median']:.2f}" if base else ""
                cells.append(f" {c['median']:14.3f} {x:>7s}")
        lines.append(f"{t:7d}" + "".join(cells))
    sp = speedups(results)
    parts = [f"{m} {s['2_to_max']:.2f}x" for m, s in sp.items() if "2_to_max" in s]
    if parts:
        top = max(max(c) for c in results.values() if c)
        lines.append(f"speed-up from 2 to {top} threads: " + ", ".join(parts))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
