"""WALS (CG) at scale: seconds per iteration and peak memory on a 50M-nonzero matrix.

A synthetic power-law matrix (fastmf.datasets.make_synthetic, float32 values, int32
indices; default 50M nonzeros, 2.5M users x 250k items, d = 64) is fitted for
--iterations CG iterations on all cores. Seconds per iteration are the median of the fit's
own per-iteration solve times (``history_``); the fit's set-up (validation, transpose,
factor initialization, chunking) is reported apart.

Memory: the measurement runs in a fresh child process, which compiles on a tiny fit,
builds the matrix, then resets the peak resident set size (Linux /proc/self/clear_refs)
and fits. The fit's own allocations are the peak RSS (VmHWM) minus the RSS before the fit;
the input matrix was already resident, so, as in memory.py,

    ratio = (input CSR + fit allocations) / (input CSR + transpose + factors)

Where the peak cannot be reset the figure falls back to getrusage's lifetime peak, which
includes generating the matrix, and says so.

Memory needed: make_synthetic peaks near 90 bytes per nonzero (about 4.5 GB at 50M,
measured at 2M and 5M), freed before the fit; the fit holds the CSR and its transpose
(8 bytes per nonzero each) and the factors ((users + items) x d x 4 bytes).

    python benchmarks/scale.py                 # 50M nonzeros
    python benchmarks/scale.py --nnz 20000000  # users nnz / 20, items nnz / 200
    python benchmarks/scale.py --quick         # 1M nonzeros, smoke run
"""

import argparse
import json
import os
import subprocess
import sys
import time

from _common import mib

CHILD = r"""
import gc, json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import numba
import fastmf
from fastmf.datasets import make_synthetic
import _common
m, n, nnz, d, iters, threads = (int(x) for x in sys.argv[2:8])
threads = threads or numba.config.NUMBA_NUM_THREADS
fastmf.WALS(d, solver="cg", iterations=1).fit(make_synthetic(300, 200, 3000))
print(f"compiled; generating {m:,} x {n:,} with {nnz:,} nonzeros", file=sys.stderr, flush=True)
t0 = time.perf_counter()
A = make_synthetic(m, n, nnz, random_state=0)
gen_seconds = time.perf_counter() - t0
gen_peak = _common.peak_rss()
gc.collect()
_common.release_freed_memory()
reset = _common.reset_peak_rss()
before = _common.proc_status("VmRSS")
print(f"generated in {gen_seconds:.1f} s (peak RSS so far {gen_peak / 2**30:.2f} GiB); "
      f"fitting {iters} CG iterations on {threads} threads", file=sys.stderr, flush=True)
def progress(model, rec):
    print(f"  iteration {rec['iteration']}: {rec['seconds']:.2f} s", file=sys.stderr, flush=True)
t0 = time.perf_counter()
model = fastmf.WALS(d, solver="cg", iterations=iters, num_threads=threads,
                    random_state=0).fit(A, track_objective=False, callback=progress)
fit_seconds = time.perf_counter() - t0
peak = _common.peak_rss()
secs = [r["seconds"] for r in model.history_]
csr = A.data.nbytes + A.indices.nbytes + A.indptr.nbytes
transpose = A.data.nbytes + A.indices.nbytes + (n + 1) * A.indptr.itemsize
factors = model.user_factors.nbytes + model.item_factors.nbytes
print(json.dumps(dict(users=m, items=n, nnz=int(A.nnz), factors_d=d, threads=threads,
                      index_dtype=str(A.indices.dtype), value_dtype=str(A.data.dtype),
                      gen_seconds=gen_seconds, gen_peak=gen_peak, fit_seconds=fit_seconds,
                      setup_seconds=fit_seconds - sum(secs), iteration_seconds=secs,
                      s_per_iteration=statistics.median(secs), peak_reset=reset,
                      before=before, peak=peak, csr=csr, transpose=transpose,
                      factors=factors)))
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nnz", type=int, default=50_000_000)
    p.add_argument("--users", type=int, default=None, help="default nnz / 20")
    p.add_argument("--items", type=int, default=None, help="default nnz / 200")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="Numba threads (0: all)")
    p.add_argument("--out", default=None, help="also write the result to this JSON file")
    p.add_argument("--quick", action="store_true", help="1M nonzeros, 2 iterations")
    args = p.parse_args(argv)
    if args.quick:
        args.nnz, args.iterations = 1_000_000, 2
    args.users = args.users or max(1_000, args.nnz // 20)
    args.items = args.items or max(100, args.nnz // 200)
    return args


def main(argv=None):
    from pathlib import Path

    from _common import machine
    args = parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    here = str(Path(__file__).resolve().parent)
    t0 = time.perf_counter()
    # stderr (progress) passes through; the result is the last line of stdout. A fixed
    # mmap threshold makes glibc return every array of 1 MiB or more to the system when it
    # is freed (its default threshold grows up to 32 MiB, leaving freed arrays resident, so
    # the RSS before the fit would count memory the fit then reuses).
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(2**20))
    out = subprocess.run([sys.executable, "-c", CHILD, here, str(args.users), str(args.items),
                          str(args.nnz), str(args.factors), str(args.iterations),
                          str(args.threads)], stdout=subprocess.PIPE, text=True, check=True,
                         env=env)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["wall_seconds"] = time.perf_counter() - t0
    fit_alloc = r["peak"] - r["before"]
    base = r["csr"] + r["transpose"] + r["factors"]
    r["fit_alloc"] = fit_alloc
    r["ratio"] = (r["csr"] + fit_alloc) / base
    print(f"data: {r['users']:,} x {r['items']:,}, {r['nnz']:,} nonzeros "
          f"({r['value_dtype']} values, {r['index_dtype']} indices), d={r['factors_d']}, "
          f"{r['threads']} threads; generated in {r['gen_seconds']:.1f} s, generation peak "
          f"RSS {mib(r['gen_peak'])}")
    print(f"WALS CG: {r['s_per_iteration']:.3f} s per iteration (median of "
          f"{', '.join(f'{s:.3f}' for s in r['iteration_seconds'])}); fit set-up "
          f"{r['setup_seconds']:.2f} s")
    note = "" if r["peak_reset"] else (" (peak could not be reset: lifetime peak, matrix "
                                       "generation included)")
    print(f"memory: input CSR {mib(r['csr'])}, transpose {mib(r['transpose'])}, factors "
          f"{mib(r['factors'])}; fit allocations (peak RSS - RSS before) "
          f"{mib(fit_alloc)}{note}; peak RSS {mib(r['peak'])}; ratio "
          f"(CSR + fit allocations) / (CSR + transpose + factors) = {r['ratio']:.2f} "
          f"(target <= 1.5)", flush=True)
    if args.out:
        from _common import JsonRecord, machine_info
        JsonRecord(args.out, machine=machine_info(), args=vars(args), result=r)
    return r


if __name__ == "__main__":
    main()
