"""Compile time a user feels: the first fit, and the first ``fastmf compare``, in a fresh
process, with an empty and a warm cache.

Each measurement runs in a new Python process: it times ``import fastmf`` and two
identical small fits; the first fit's extra time over the second is the compile (or cache
load) overhead. A second kind of process runs ``fastmf.compare`` with one iteration and
epoch (the same kernels as the default run) and reports the time it spent compiling or
loading its kernels before the timed fits, and the CPU seconds of the process and of its
compile helper. The first run of each kind uses an empty NUMBA_CACHE_DIR, the following
ones the cache it filled.

    python benchmarks/compile_time.py
"""

import json
import os
import subprocess
import sys
import tempfile

from _common import machine

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import fastmf
from fastmf.datasets import make_synthetic
t_import = time.perf_counter() - t0
A = make_synthetic(2000, 500, 20000, random_state=0)
out = {"import": t_import}
for solver in ("cg", "cholesky"):
    times = []
    for _ in range(2):
        t = time.perf_counter()
        fastmf.WALS(16, solver=solver, iterations=2, random_state=0).fit(A)
        times.append(time.perf_counter() - t)
    out[solver] = times[0] - times[1]
t = time.perf_counter()
model = fastmf.WALS(16, iterations=1, random_state=0).fit(A)
model.recommend([0, 1], k=5)
out["recommend_first"] = time.perf_counter() - t
print(json.dumps(out))
"""

COMPARE_CHILD = r"""
import json, resource, time
t0 = time.perf_counter()
import fastmf
res = fastmf.compare(iterations=1, epochs=1)
me = resource.getrusage(resource.RUSAGE_SELF)
ch = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"compare_compile": res.compile_seconds,
                  "compare_total": time.perf_counter() - t0,
                  "compare_cpu_main": me.ru_utime + me.ru_stime,
                  "compare_cpu_helper": ch.ru_utime + ch.ru_stime}))
"""


def run(cache_dir, child=CHILD):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    res = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as cache:
        cold = run(cache)
        warm = [run(cache) for _ in range(3)]
    with tempfile.TemporaryDirectory() as cache:
        cold.update(run(cache, COMPARE_CHILD))
        for w in warm:
            w.update(run(cache, COMPARE_CHILD))
    warm_med = {k: sorted(w[k] for w in warm)[1] for k in cold}
    print(f"{'':28s} {'empty cache':>12s} {'warm cache (median of 3)':>26s}")
    for key, label in (("import", "import fastmf"),
                       ("cg", "first-fit overhead, CG"),
                       ("cholesky", "first-fit overhead, Cholesky"),
                       ("recommend_first", "fit(1 it) + first recommend"),
                       ("compare_compile", "fastmf compare: compile"),
                       ("compare_total", "fastmf compare: whole run"),
                       ("compare_cpu_main", "  CPU s, main process"),
                       ("compare_cpu_helper", "  CPU s, compile helper")):
        print(f"{label:28s} {cold[key]:11.2f}s {warm_med[key]:25.2f}s")
    return cold, warm_med


if __name__ == "__main__":
    main()
