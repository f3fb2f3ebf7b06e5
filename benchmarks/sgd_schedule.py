"""SGD's entry orders, and native LibMF, against time: objective and held-out RMSE.

fastmf's SGD visits each block of its grid in a fresh random order every epoch
(``entry_order='shuffled'``) or sorted by row once, the same order every epoch
(``'by_row'``, LibMF's order), both with per-coordinate AdaGrad; and with LibMF's AdaGrad
(``lr_schedule='adagrad_rows'``, in the default order). They run here side by side with
LibMF (the native AVX build when ``$LIBMF_NATIVE`` names one, see README; else the pip
build) on

* MovieLens 100K ratings (80/20 random split, seed 0), and
* the synthetic power-law rating matrix (default 100k x 20k x 5.7M; 90/10 split),

all minimizing one objective: squared error on the training ratings plus
``reg * (sum_i |row i| |u_i|^2 + sum_j |col j| |v_j|^2)`` (fastmf: ``w0 = 0``, no biases,
``reg_exponent = 1``; LibMF: L2 ``lambda_p2 = lambda_q2 = reg`` per update, no L1), with
AdaGrad steps, float32, the same factors and threads. The objective of every method is
computed here from its factors by the same function.

Each method's step size is chosen from a grid (extended until the chosen one is interior):
the step that reaches the objective target first (the target: 1.02 x the lowest objective
any fastmf run reached). Curves: fastmf's per epoch from one fit (wall time since the fit
started, less the time spent scoring in the callback; set-up included); LibMF's from fits of
1, 2, 3, ... iterations, each timed whole in a child process (it has no per-iteration
hook). The chosen
settings then run --repeats times, the methods taking turns, and the script prints the
median time to each objective and RMSE level.

    FASTMF_DATA=../shared/datasets python benchmarks/sgd_schedule.py [--quick]
        [--data ml100k,synthetic] [--threads 2] [--repeats 3]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit, prange
from _common import (OUT_DIR, add_data_args, apply_quick, import_libmf,
                     import_libmf_native, machine)
from sgd_vs_peers import _triples, load_ml100k, split
from threadpoolctl import threadpool_limits

import fastmf
from fastmf.datasets import make_synthetic

RATINGS = {"w0": 0.0, "confidence": "none", "target": "value", "biases": False,
           "reg_exponent": 1.0}
ORDERS = ("shuffled", "by_row")
# Starting step grids (AdaGrad); each is extended until the chosen step is interior.
FASTMF_LR = [0.02, 0.05, 0.1]
LIBMF_ETA = [0.05, 0.1, 0.2]
LIBMF_ITERS = (1, 2, 3, 4, 6, 8, 10, 13, 16, 20, 25, 30)
TARGET = 1.02


@njit(parallel=True, cache=True)
def _squared_errors(indptr, indices, data, P, Q):
    """Per row: the sum of (a_ij - <p_i, q_j>)^2 over its stored entries (float64)."""
    out = np.zeros(indptr.shape[0] - 1)
    for i in prange(indptr.shape[0] - 1):
        s = 0.0
        for t in range(indptr[i], indptr[i + 1]):
            j = indices[t]
            dot = 0.0
            for a in range(P.shape[1]):
                dot += float(P[i, a]) * float(Q[j, a])
            e = data[t] - dot
            s += e * e
        out[i] = s
    return out


def _finite(F):
    return F if np.all(np.isfinite(F)) else np.nan_to_num(F)


def objective(csr, P, Q, reg):
    """Squared error on ``csr``'s entries + reg * sum over rows and columns of entries x
    squared norm (float64)."""
    P, Q = _finite(P), _finite(Q)
    err = _squared_errors(csr.indptr, csr.indices, csr.data.astype(np.float64), P, Q).sum()
    rows = np.diff(csr.indptr)
    cols = np.bincount(csr.indices, minlength=Q.shape[0])
    norms = lambda F: np.einsum("ij,ij->i", F, F, dtype=np.float64)
    return float(err + reg * (rows @ norms(P) + cols @ norms(Q)))


def rmse(test, P, Q):
    """Test RMSE of the predictions <p_i, q_j> (ids without factors predict 0)."""
    errors = _squared_errors(test.indptr, test.indices, test.data.astype(np.float64),
                             _finite(P), _finite(Q))
    return float(np.sqrt(errors.sum() / test.nnz))


def fastmf_curve(train, test, order, lr, args, schedule="adagrad"):
    """[(seconds, objective, test RMSE)] after each epoch of one fit."""
    pts, scoring = [], [0.0]

    def callback(model, record):
        t = time.perf_counter()
        pts.append([t - start - scoring[0],
                    objective(train, model.user_factors, model.item_factors, args.reg),
                    rmse(test, model.user_factors, model.item_factors)])
        scoring[0] += time.perf_counter() - t

    model = fastmf.SGD(args.factors, lr=lr, lr_schedule=schedule, reg=args.reg,
                       epochs=args.epochs, entry_order=order, init_scale=0.1,
                       num_threads=args.threads, random_state=0, **RATINGS)
    start = time.perf_counter()
    try:
        model.fit(train, track_objective=False, callback=callback)
    except FloatingPointError:  # a step too large: the curve ends where it diverged
        pts.append([np.inf, np.inf, np.inf])
    return pts


# LibMF's fits run in a child process: its block scheduler can deadlock (seen once in a
# few hundred fits here: both workers waiting in Scheduler::put_job), and a hung fit is
# then killed and run again.
LIBMF_CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from _common import import_libmf, import_libmf_native
mf = import_libmf_native() if sys.argv[2] == "native" else import_libmf()
triples = np.load(sys.argv[3])
k, threads, iters = (int(x) for x in sys.argv[4:7])
eta, reg = float(sys.argv[7]), float(sys.argv[8])
model = mf.MF(k=k, nr_threads=threads, nr_iters=iters, eta=eta, lambda_p1=0.0,
              lambda_q1=0.0, lambda_p2=reg, lambda_q2=reg, quiet=True)
t0 = time.perf_counter()
model.fit(triples)
seconds = time.perf_counter() - t0
np.savez(sys.argv[9], P=model.p_factors(), Q=model.q_factors())
print(json.dumps(seconds))
"""


def libmf_fit(which, triples_path, iters, eta, args, tries=3):
    """(seconds, P, Q) of one LibMF fit of ``iters`` iterations, in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "factors.npz"
        cmd = [sys.executable, "-c", LIBMF_CHILD, str(Path(__file__).parent), which,
               str(triples_path), str(args.factors), str(args.threads), str(iters),
               str(eta), str(args.reg), str(out)]
        for attempt in range(tries):
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                      timeout=args.libmf_timeout)
            except subprocess.TimeoutExpired:
                print(f"  (LibMF fit of {iters} iterations hung: killed, run again)",
                      flush=True)
                continue
            with np.load(out) as z:
                return json.loads(done.stdout.split()[-1]), z["P"], z["Q"]
    raise RuntimeError(f"LibMF hung {tries} times")


def libmf_curve(which, triples_path, train, test, eta, args):
    pts = []
    for iters in [i for i in LIBMF_ITERS if i <= args.epochs]:
        seconds, P, Q = libmf_fit(which, triples_path, iters, eta, args)
        # LibMF's factors end at the largest id it saw: zeros beyond (as for ids it saw
        # without entries, NaN there)
        P, Q = (np.vstack([F, np.zeros((n - F.shape[0], F.shape[1]), F.dtype)])
                for F, n in ((P, train.shape[0]), (Q, train.shape[1])))
        pts.append([seconds, objective(train, P, Q, args.reg), rmse(test, P, Q)])
    return pts


def first_time(pts, column, level):
    return next((p[0] for p in pts if p[column] <= level), None)


def tune(methods, target_of):
    """Per method (label -> (curve(step), starting grid)): the step whose curve reaches
    the target objective first, each grid extended (halving / doubling) until its chosen
    step is interior. ``target_of(curves)`` gives the target from all curves so far.
    Returns ({label: step}, {label: {step: curve}})."""
    grids = {label: sorted(grid) for label, (_, grid) in methods.items()}
    curves = {label: {} for label in methods}
    while True:
        for label, (curve, _) in methods.items():
            for step in grids[label]:
                if step not in curves[label]:
                    curves[label][step] = curve(step)
        target = target_of(curves)
        chosen, grown = {}, False
        for label, grid in grids.items():
            c = curves[label]
            best = min(grid, key=lambda s: (first_time(c[s], 1, target) or np.inf,
                                            c[s][-1][1]))
            chosen[label] = best
            if best == grid[0] and grid[0] > 1e-4:
                grid.insert(0, grid[0] / 2)
                grown = True
            elif best == grid[-1] and grid[-1] < 10:
                grid.append(grid[-1] * 2)
                grown = True
        if not grown:
            break
    for label, grid in grids.items():
        line = ", ".join(f"[{s:g}]" if s == chosen[label] else f"{s:g}" for s in grid)
        hits = ", ".join(f"{first_time(curves[label][s], 1, target) or np.inf:.3g}"
                         for s in grid)
        print(f"  {label}: steps scored {line} (seconds to the target objective "
              f"{target:.5g}: {hits})", flush=True)
    return chosen, curves


def run_data(name, A, test_fraction, args, mf, mf_name, tmp):
    train, test = split(A, test_fraction, 0)
    triples = Path(tmp) / "triples.npy"
    np.save(triples, _triples(train.tocoo()))
    print(f"\n{name}: {A.shape[0]:,} x {A.shape[1]:,}; train {train.nnz:,}, test {test.nnz:,};"
          f" factors {args.factors}, reg {args.reg}, {args.threads} threads, float32",
          flush=True)
    fastmf.SGD(args.factors, epochs=1, entry_order="by_row", **RATINGS).fit(
        train[:50], track_objective=False)  # compile outside the timings
    ours = {f"fastmf {o}": (lambda lr, o=o: fastmf_curve(train, test, o, lr, args),
                            FASTMF_LR) for o in ORDERS}
    # LibMF's AdaGrad (lr is its eta), in the default order
    ours["fastmf adagrad_rows"] = (
        lambda lr: fastmf_curve(train, test, "auto", lr, args, "adagrad_rows"), LIBMF_ETA)
    # the target: TARGET x the lowest objective of any fastmf curve (LibMF's curves, of a
    # slightly different objective, do not move it)
    fastmf_low = lambda curves: min(p[1] for label in ours for c in curves[label].values()
                                    for p in c)
    chosen, curves = tune(ours, lambda c: TARGET * fastmf_low(c))
    target = TARGET * fastmf_low(curves)
    methods = dict(ours)
    if mf is not None:
        theirs = {mf_name: (lambda eta: libmf_curve(mf, triples, train, test, eta, args),
                            LIBMF_ETA)}
        chosen.update(tune(theirs, lambda c: target)[0])
        methods.update(theirs)

    runs = {label: [] for label in methods}
    for _ in range(args.repeats):
        for label, (curve, _) in methods.items():
            runs[label].append(curve(chosen[label]))
    best_obj = min(p[1] for rs in runs.values() for r in rs for p in r)
    best_rmse = min(p[2] for rs in runs.values() for r in rs for p in r)
    obj_levels = [target] + [best_obj * f for f in (1.10, 1.05, 1.01)]
    rmse_levels = [best_rmse * f for f in (1.05, 1.02, 1.01, 1.005)]
    table = {"steps": chosen, "objective_levels": obj_levels, "rmse_levels": rmse_levels,
             "runs": runs, "time_to_objective": {}, "time_to_rmse": {}}
    print(f"  chosen steps: {chosen}; median of {args.repeats} runs (methods taking turns)")
    for column, levels, key, what in ((1, obj_levels, "time_to_objective", "objective"),
                                      (2, rmse_levels, "time_to_rmse", "test RMSE")):
        for level in levels:
            cells = []
            for label, rs in runs.items():
                hits = [first_time(r, column, level) for r in rs]
                med = (statistics.median(hits) if all(h is not None for h in hits)
                       else None)
                table[key].setdefault(label, []).append(med)
                cells.append(f"{label} {med:.3f} s" if med is not None
                             else f"{label} not reached")
            print(f"  {what} <= {level:.5g}: " + "; ".join(cells))
    for label, rs in runs.items():
        last = [r[-1] for r in rs]
        print(f"  {label}: after {args.epochs} epochs objective "
              f"{statistics.median(p[1] for p in last):.5g}, test RMSE "
              f"{statistics.median(p[2] for p in last):.4f}, "
              f"{statistics.median(p[0] for p in last):.3f} s")
    return table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_args(p)
    p.add_argument("--data", default="ml100k,synthetic")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--reg", type=float, default=0.05)
    p.add_argument("--libmf-timeout", type=float, default=300,
                   help="seconds after which a LibMF fit counts as hung")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=OUT_DIR / "sgd_schedule.json")
    args = p.parse_args(argv)
    apply_quick(args)
    print(f"machine: {machine()}")
    mf, mf_name = ("native" if import_libmf_native() is not None else None), "libmf-avx"
    if mf is None:
        print("native LibMF (AVX) not found ($LIBMF_NATIVE, see README): the pip build runs")
        try:
            import_libmf()
            mf, mf_name = "pip", "libmf (pip)"
        except ImportError:
            print("pip libmf not installed: LibMF skipped")
    out = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    with threadpool_limits(1, "blas"), tempfile.TemporaryDirectory() as tmp:
        for name in args.data.split(","):
            if name == "ml100k":
                out[name] = run_data("MovieLens 100K ratings", load_ml100k(), 0.2, args,
                                     mf, mf_name, tmp)
            elif name == "synthetic":
                A = make_synthetic(args.users, args.items, args.nnz, kind="explicit",
                                   random_state=0)
                out[name] = run_data("synthetic ratings", A, 0.1, args, mf, mf_name, tmp)
            else:
                raise SystemExit(f"unknown data set {name!r}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"\nwritten: {args.out}")
    return out


if __name__ == "__main__":
    main()
