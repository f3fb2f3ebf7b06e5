"""Slow-down beside busy processes: seconds per BPR / SGD epoch and per WALS iteration (CG,
Cholesky) on 1 and 2 threads, with 0, 1 and 2 busy processes (``while True: pass``) beside,
under GNU OpenMP's default wait (spinning) and the passive wait fastmf sets.

Each configuration runs in a fresh process (the wait policy is read when OpenMP starts) on
the synthetic 20,000 x 5,000 x 400,000 matrix, d = 64: the median of 5 epochs after a
warm-up epoch (BPR, SGD), or of 3 fits of 3 iterations (WALS, per iteration). The two
policies take turns configuration by configuration. 'passive' is fastmf's default (it sets
``OMP_WAIT_POLICY=PASSIVE`` at import when the variable is unset); 'spin' removes the
variable after the import, before OpenMP starts, which leaves GNU OpenMP's default wait.
Only meaningful under Numba's 'omp' threading layer (printed).

    python benchmarks/contention.py [--models bpr,sgd,wals-cg,wals-cholesky] [--busy 0,1,2]
"""

import argparse
import json
import os
import subprocess
import sys

from _common import OUT_DIR, machine

CHILD = r"""
import os, statistics, sys, time
import numba, fastmf
from fastmf.core._threads import thread_context
if sys.argv[3] == "spin":  # before the first parallel kernel starts OpenMP
    del os.environ["OMP_WAIT_POLICY"]
from fastmf.datasets import make_synthetic
threads, model = int(sys.argv[1]), sys.argv[2]
A = make_synthetic(20_000, 5_000, 400_000, random_state=0)
if model.startswith("wals"):
    make = lambda it: fastmf.WALS(64, solver=model[5:], iterations=it, num_threads=threads,
                                  random_state=0)
    make(1).fit(A)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        make(3).fit(A)
        times.append((time.perf_counter() - t0) / 3)
else:
    cls = fastmf.BPR if model == "bpr" else fastmf.SGD
    epochs = cls(64, num_threads=threads, random_state=0).prepare_epochs(A)
    with thread_context(threads):
        epochs.epoch(0)
        times = []
        for e in range(1, 6):
            t0 = time.perf_counter()
            epochs.epoch(e)
            times.append(time.perf_counter() - t0)
print(numba.threading_layer(), statistics.median(times))
"""
POLICIES = ("spin", "passive")


def run(model, threads, busy, policy):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, str(threads), model, policy],
                             capture_output=True, text=True, env=env, check=True)
    finally:
        for h in hogs:
            h.kill()
    layer, seconds = out.stdout.split()[-2:]
    return layer, float(seconds)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="bpr,sgd,wals-cg,wals-cholesky")
    p.add_argument("--busy", default="0,1,2")
    args = p.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    rows = []
    for model in args.models.split(","):
        for busy in map(int, args.busy.split(",")):
            for threads in (1, 2):
                for policy in POLICIES:
                    layer, s = run(model, threads, busy, policy)
                    rows.append(dict(model=model, busy=busy, threads=threads, policy=policy,
                                     seconds=s, layer=layer))
                    print(f"{model:14s} busy {busy} threads {threads} {policy:8s} {s:.4f} s "
                          f"({layer})", flush=True)
    quiet = {(r["model"], r["threads"], r["policy"]): r["seconds"] for r in rows
             if r["busy"] == 0}
    print(f"\n{'model':14s} {'busy':>4s} {'threads':>7s}  slow-down spin / passive"
          f"   2 threads / 1 thread spin / passive")
    for r in rows:
        if r["policy"] != "spin" or r["busy"] == 0 or (r["model"], r["threads"], "spin") \
                not in quiet:
            continue
        key = (r["model"], r["busy"], r["threads"])
        s = {q["policy"]: q["seconds"] for q in rows
             if (q["model"], q["busy"], q["threads"]) == key}
        one = {q["policy"]: q["seconds"] for q in rows
               if (q["model"], q["busy"], q["threads"]) == (r["model"], r["busy"], 1)}
        ratio = (f"{s['spin'] / one['spin']:.2f} / {s['passive'] / one['passive']:.2f}"
                 if r["threads"] == 2 else "")
        print(f"{r['model']:14s} {r['busy']:4d} {r['threads']:7d}  "
              f"{s['spin'] / quiet[(r['model'], r['threads'], 'spin')]:.2f}x / "
              f"{s['passive'] / quiet[(r['model'], r['threads'], 'passive')]:.2f}x"
              f"{'':14s}{ratio}")
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "contention.json").write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
