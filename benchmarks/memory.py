"""Peak memory of a WALS fit against the input CSR + its transpose + the factors.

Runs in a fresh process: builds the matrix, compiles the kernels on a tiny fit, then resets
the peak resident set size (Linux /proc/self/clear_refs) and fits. The fit's own allocations
are the peak RSS minus the RSS before the fit; the input matrix was already resident, so

    ratio = (input CSR + fit allocations) / (input CSR + transpose + factors)

    python benchmarks/memory.py [--nnz N] [--solver cg|cholesky]
"""

import argparse
import json
import os
import subprocess
import sys

from _common import add_data_args, machine

CHILD = r"""
import gc, json, sys
import numpy as np
import fastmf
from fastmf.datasets import make_synthetic
m, n, nnz, d, solver = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
A = make_synthetic(m, n, nnz, random_state=0)
fastmf.WALS(d, solver=solver, iterations=1).fit(make_synthetic(300, 200, 3000))
gc.collect()
import ctypes
ctypes.CDLL("libc.so.6").malloc_trim(0)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
model = fastmf.WALS(d, solver=solver, iterations=3, random_state=0).fit(A)
peak = status("VmHWM")
csr = A.data.nbytes + A.indices.nbytes + A.indptr.nbytes
transpose = A.data.nbytes + A.indices.nbytes + (n + 1) * A.indptr.itemsize
factors = model.user_factors.nbytes + model.item_factors.nbytes
print(json.dumps(dict(before=before, peak=peak, csr=csr, transpose=transpose, factors=factors)))
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_args(p)
    p.add_argument("--solver", default="cg,cholesky")
    args = p.parse_args(argv)
    print(f"machine: {machine()}")
    rows = {}
    for solver in args.solver.split(","):
        # A fixed mmap threshold makes glibc hand every freed array of 1 MiB or more back
        # to the system; with its default (growing up to 32 MiB) the arrays make_synthetic
        # freed stayed resident, the fit reused them, and its allocations went uncounted
        # (73 MiB instead of 117 MiB at the default size).
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(2**20))
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.users), str(args.items),
                              str(args.nnz), str(args.factors), solver],
                             capture_output=True, text=True, check=True, env=env)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        fit_alloc = r["peak"] - r["before"]
        base = r["csr"] + r["transpose"] + r["factors"]
        ratio = (r["csr"] + fit_alloc) / base
        mb = lambda b: f"{b / 2**20:.1f} MiB"
        print(f"{solver:9s} input CSR {mb(r['csr'])}, transpose {mb(r['transpose'])}, factors "
              f"{mb(r['factors'])}; fit allocations (peak RSS - RSS before) {mb(fit_alloc)}; "
              f"ratio {ratio:.2f} (target <= 1.5)")
        rows[solver] = ratio
    return rows


if __name__ == "__main__":
    main()
