"""Where thread scaling stops: the serial part of a WALS iteration and of an SGD epoch.

Amdahl's law: with a serial time ``S`` and a parallel time ``P(t)`` on ``t`` threads, the
speed-up from 2 to ``T`` threads is ``(S + P(2)) / (S + P(T))``. This measures, at 1 and 2
threads on the side-by-side data set (100k x 20k x 5.7M, d = 64, float32, BLAS on one
thread), the whole step and the time inside the parallel Numba kernels (each call
timed by a wrapper around the solver's kernel or SGD's epoch kernel); the rest is serial
(Gram products, per-step set-up in Python, the objective glue). From these it predicts
the 2 -> 16 speed-up if the kernels kept their 1 -> 2 efficiency at every doubling, and if
they scaled perfectly: the bound that the serial part alone imposes.

    python benchmarks/serial_fraction.py [--quick] [--repeats 5] [--methods cg,cholesky,sgd]
"""

import argparse
import statistics
import time

from _common import (
    SgdEpochs,
    WalsSweeps,
    add_data_args,
    apply_quick,
    machine,
)

import fastmf
import fastmf.solvers._sgd_epochs as sgd_epochs
from fastmf.datasets import make_synthetic


class KernelClock:
    """Wraps a callable; sums the seconds spent inside it."""

    def __init__(self, fn):
        self.fn = fn
        self.seconds = 0.0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def prepare(method, A, factors):
    if method == "sgd":
        A = A.copy()
        A.data[:] = 1.0
        steps = SgdEpochs(A, fastmf.SGD(factors, w0=0.0, target="value", epochs=1,
                                        lr=0.005, lr_schedule="constant", random_state=0))
        clock = KernelClock(sgd_epochs._sgd_epoch_hogwild)
        sgd_epochs._sgd_epoch_hogwild = clock
        return steps, steps.epoch, clock
    steps = WalsSweeps(A, fastmf.WALS(factors, w0=1.0, confidence="linear", alpha=1.0,
                                      target="binary", reg=0.01, reg_exponent=0.0,
                                      solver=method, iterations=1, random_state=0))
    solver = steps.sweeps.solver
    clock = KernelClock(solver.solve)
    solver.solve = clock

    def iteration():
        # as fit runs it by default: the objective comes out of the user half-sweep
        steps.sweeps.items()
        steps.sweeps.users(objective=True)
    return steps, iteration, clock


def measure(steps, step, clock, threads, repeats):
    whole, inside = [], []
    with steps.threads(threads):
        step()  # warm-up (compilation, first touch)
        for _ in range(repeats):
            clock.seconds = 0.0
            t0 = time.perf_counter()
            step()
            whole.append(time.perf_counter() - t0)
            inside.append(clock.seconds)
    return statistics.median(whole), statistics.median(inside)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_args(p)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--methods", default="cg,cholesky,sgd")
    args = apply_quick(p.parse_args(argv))
    print(f"machine: {machine()}")
    A = make_synthetic(args.users, args.items, args.nnz, random_state=0)
    print(f"data: {A.shape[0]:,} x {A.shape[1]:,}, {A.nnz:,} nonzeros; factors "
          f"{args.factors}; median of {args.repeats} steps; BLAS on 1 thread")
    print(f"{'method':9s} {'threads':>7s} {'step s':>8s} {'kernels s':>10s} {'serial s':>9s} "
          f"{'serial %':>8s}")
    rows = []
    for method in args.methods.split(","):
        steps, step, clock = prepare(method, A, args.factors)
        cells = {t: measure(steps, step, clock, t, args.repeats) for t in (1, 2)}
        for t, (whole, inside) in cells.items():
            print(f"{method:9s} {t:7d} {whole:8.3f} {inside:10.3f} {whole - inside:9.3f} "
                  f"{100 * (whole - inside) / whole:7.1f}%")
        (w1, k1), (w2, k2) = cells[1], cells[2]
        serial = statistics.mean([w1 - k1, w2 - k2])
        eff2 = k1 / (2 * k2)              # kernel efficiency of one doubling, 1 -> 2
        same_eff = (serial + k2) / (serial + k2 / (2 * eff2) ** 3)   # 2 -> 16: 3 doublings
        perfect = (serial + k2) / (serial + k2 / 8)
        rows.append((method, w1 / w2, eff2, serial, same_eff, perfect))
    print("\npredicted 2 -> 16 threads (Amdahl, from the serial time measured here):")
    print(f"{'method':9s} {'1->2':>6s} {'kernel eff 1->2':>16s} {'serial s':>9s} "
          f"{'2->16 same eff':>15s} {'2->16 perfect kernels':>22s}")
    for method, s12, eff, serial, same, perfect in rows:
        print(f"{method:9s} {s12:6.2f} {eff:16.2f} {serial:9.3f} {same:15.2f} {perfect:22.2f}")
    return rows


if __name__ == "__main__":
    main()
