"""WALS at large d: iALS++ (block-coordinate updates) against CG, Cholesky and implicit's CG.

Every method fits the same matrix -- a synthetic power-law one (default 20k x 5k, 400k
nonzeros; ``--users/--items/--nnz``) or ``--data citeulike-a`` -- from the same seed, for
``--iterations`` iterations with the objective tracked, on the machine's threads. Per d and
method it prints the median seconds per iteration and the time to reach the target
objective: within 0.1% of what Cholesky reaches after the same iterations
(``--cholesky-max-d``: the largest d at which Cholesky runs; above it the target is 0.1%
above the best objective any method reached, and the table says so).

The objective is implicit's (``w0 = 1``, linear confidence ``1 + alpha a`` with alpha 1,
binary targets, a plain penalty ``reg``) so that implicit's CG (3 steps, its default)
runs the same problem; its objective is evaluated after each iteration outside the timed
part (by fastmf.objective, from its callback). ``--fastmf-defaults`` fits fastmf's own
default weighting instead (no implicit). The initial scale is fastmf's default (0.01 with
an unobserved term) and, with ``--scale-rule``, also 0.1 / sqrt(d) (Rendle et al. 2022)
for iALS++.

    python benchmarks/large_factors.py                          # d = 64 .. 512, ~10 min
    python benchmarks/large_factors.py --factors-list 64 128    # quicker
    FASTMF_DATA=../shared/datasets python benchmarks/large_factors.py --data citeulike-a
"""

import argparse
import os
import statistics
import time

import numpy as np
import scipy.sparse as sp
from _common import OUT_DIR, JsonRecord, machine, machine_info

import fastmf

# implicit's objective in fastmf's terms (checked row for row in wals_vs_implicit.py)
IMPLICIT_OBJECTIVE = dict(w0=1.0, confidence="linear", alpha=1.0, target="binary",
                          reg=0.1, reg_exponent=0.0)


def methods(d, blocks):
    out = [("cg-3", dict(solver="cg", cg_steps=3)), ("cg-6", dict(solver="cg", cg_steps=6))]
    out += [(f"ials++ b={b}", dict(solver="ials++", block_size=b)) for b in blocks if b < d]
    return out


def run(A, d, params, iterations, weighting):
    model = fastmf.WALS(d, iterations=iterations, random_state=0, dtype=np.float32,
                        **weighting, **params).fit(A)
    seconds = [h["seconds"] for h in model.history_]
    return seconds, [h["objective"] for h in model.history_]


def run_implicit(A, d, iterations, threads):
    """implicit's CG ALS on the same objective: seconds per iteration (its own timing of
    the two solves) and fastmf.objective after each (outside the timing)."""
    from implicit.cpu.als import AlternatingLeastSquares
    C = A.astype(np.float32).copy()
    C.data = 1 + IMPLICIT_OBJECTIVE["alpha"] * C.data
    C = sp.csr_matrix(C)
    seconds, objectives = [], []
    kw = {k: IMPLICIT_OBJECTIVE[k] for k in ("w0", "confidence", "alpha", "target", "reg")}

    def record(iteration, elapsed, loss):
        seconds.append(elapsed)
        objectives.append(fastmf.objective(A, model.user_factors, model.item_factors, **kw))

    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, "blas"):  # as implicit asks (its own threads do the work)
        model = AlternatingLeastSquares(factors=d, regularization=IMPLICIT_OBJECTIVE["reg"],
                                        alpha=1.0, use_cg=True, iterations=iterations,
                                        num_threads=threads, random_state=0,
                                        calculate_training_loss=False)
        model.fit(C, show_progress=False, callback=record)
    return seconds, objectives


def time_to(target, seconds, objectives):
    total = 0.0
    for s, o in zip(seconds, objectives):
        total += s
        if o <= target:
            return total
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--nnz", type=int, default=400_000)
    parser.add_argument("--factors-list", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--blocks", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--cholesky-max-d", type=int, default=256)
    parser.add_argument("--scale-rule", action="store_true")
    parser.add_argument("--data", default="synthetic", help="synthetic or a data set name")
    parser.add_argument("--only", nargs="+", default=None, metavar="METHOD",
                        help="run only these methods (e.g. cholesky, 'implicit cg-3')")
    parser.add_argument("--fastmf-defaults", action="store_true",
                        help="fastmf's default weighting, without implicit")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    print(machine())
    if args.data == "synthetic":
        A = fastmf.datasets.make_synthetic(args.users, args.items, args.nnz, random_state=0)
    else:
        data = fastmf.datasets.load(args.data, data_home=os.environ.get("FASTMF_DATA"),
                                    download=False)
        A = data.to_csr(np.float32)
        A.data[:] = 1.0
    weighting = {} if args.fastmf_defaults else IMPLICIT_OBJECTIVE
    with_implicit = not args.fastmf_defaults
    if with_implicit:
        try:
            import implicit  # noqa: F401
        except ImportError:
            print("implicit is not installed: its CG is left out")
            with_implicit = False
    threads = fastmf.WALS()._threads()  # the threads fastmf runs on, for implicit too
    print(f"data: {args.data}, {A.shape[0]:,} x {A.shape[1]:,}, {A.nnz:,} nonzeros; "
          f"{args.iterations} iterations, float32, "
          f"{'default weighting' if args.fastmf_defaults else 'implicit objective'}")
    out = args.out or str(OUT_DIR / f"large_factors_{args.data}.json")
    record = JsonRecord(out, machine=machine_info(), users=A.shape[0], data=args.data,
                        items=A.shape[1], nnz=A.nnz, iterations=args.iterations,
                        weighting={k: str(val) for k, val in weighting.items()})
    fastmf.WALS(8, iterations=1, solver="ials++", block_size=4).fit(A[:500])  # compile
    if with_implicit:
        run_implicit(A[:500], 8, 1, threads)
    results = {}
    for d in args.factors_list:
        rows = {}
        todo = methods(d, args.blocks)
        if d <= args.cholesky_max_d:
            todo.append(("cholesky", dict(solver="cholesky")))
        if args.scale_rule:
            todo += [(f"{name}, 0.1/sqrt(d)", dict(p, init_scale=0.1 / np.sqrt(d)))
                     for name, p in todo if name.startswith("ials++")]
        if args.only:
            todo = [(name, params) for name, params in todo if name in args.only]
        for name, params in todo:
            t0 = time.perf_counter()
            rows[name] = run(A, d, params, args.iterations, weighting)
            print(f"  ({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
        if with_implicit and (not args.only or "implicit cg-3" in args.only):
            rows["implicit cg-3"] = run_implicit(A, d, args.iterations, threads)
        if "cholesky" in rows:
            target, basis = rows["cholesky"][1][-1] * 1.001, "Cholesky's"
        else:
            target, basis = min(min(o) for _, o in rows.values()) * 1.001, "the best"
        print(f"\nd = {d}: target objective {target:.6g} (0.1% above {basis} after "
              f"{args.iterations} iterations)")
        print(f"  {'method':28s} {'s / iteration':>14s} {'to target':>10s} {'final objective':>16s}")
        fastest_cg = None
        for name, (seconds, objectives) in rows.items():
            t = time_to(target, seconds, objectives)
            if ("cg" in name) and t is not None:
                fastest_cg = t if fastest_cg is None else min(fastest_cg, t)
            print(f"  {name:28s} {statistics.median(seconds):14.3f} "
                  f"{'-' if t is None else f'{t:.2f} s':>10s} {objectives[-1]:16.6g}")
        for name, (seconds, objectives) in rows.items():
            t = time_to(target, seconds, objectives)
            if name.startswith("ials++") and t is not None and fastest_cg:
                print(f"  {name}: {t / fastest_cg:.2f}x the time of the fastest CG (fastmf "
                      f"or implicit) to the target")
        results[d] = {name: {"seconds": s, "objectives": o,
                             "to_target": time_to(target, s, o)}
                      for name, (s, o) in rows.items()}
        results[d]["target"] = target
        record.set(results={str(k): val for k, val in results.items()})
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
