"""Seconds per WALS iteration, fastmf against implicit's CPU ALS, side by side in one run.

Per-iteration time is (fit with 4 iterations - fit with 1) / 3, so set-up (conversion,
transpose, first-call compilation) cancels; each figure is the median of --repeats runs.
fastmf is timed without and with the objective recorded every iteration (the default of
``fit``; it comes out of the last half-sweep), implicit without its training loss.
Then both libraries fit 15 iterations and their final objectives are compared with
fastmf.objective on the same data and weighting.

    python benchmarks/wals_vs_implicit.py            # 100k x 20k x 5.7M, d=64, 2 threads
    python benchmarks/wals_vs_implicit.py --quick    # 20k x 5k x 600k
"""

import argparse

import scipy.sparse as sp
from _common import add_data_args, apply_quick, machine, per_iteration
from threadpoolctl import threadpool_limits

import fastmf
from fastmf.datasets import make_synthetic


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_args(p)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--reg", type=float, default=0.01)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-implicit", action="store_true")
    p.add_argument("--no-tracked", action="store_true",
                   help="skip the fastmf fit that records the objective every iteration")
    p.add_argument("--solvers", default="cg,cholesky")
    args = p.parse_args(argv)
    apply_quick(args)
    return args


def main(argv=None):
    args = parse_args(argv)
    print(f"machine: {machine()}")
    return run(args)


def run(args):
    """Time (and score) both libraries as ``args`` says; returns one dict per solver."""
    A = make_synthetic(args.users, args.items, args.nnz, random_state=0)
    print(f"data: {A.shape[0]:,} x {A.shape[1]:,}, {A.nnz:,} nonzeros, float32; "
          f"factors={args.factors}, threads={args.threads}, cg_steps=3, reg={args.reg}, "
          f"alpha={args.alpha}, BLAS threads 1")

    def ours(solver, tracked=False):
        def fit(iters, track=tracked):
            m = fastmf.WALS(args.factors, w0=1.0, confidence="linear", alpha=args.alpha,
                            target="binary", reg=args.reg, reg_exponent=0.0,
                            solver=solver, cg_steps=3, iterations=iters,
                            num_threads=args.threads, random_state=0)
            return m.fit(A, track_objective=track)
        return fit

    # implicit 0.7 weighs an observed entry by its stored value c (system term (c - 1) y y^T,
    # right-hand side c y) and the unobserved ones by 1: handing it 1 + alpha * a with
    # alpha=1 gives exactly fastmf's w0=1, w = 1 + alpha * a (checked row for row).
    C = A.copy()
    C.data = 1 + args.alpha * C.data
    C = sp.csr_matrix(C)

    def theirs(solver):
        from implicit.cpu.als import AlternatingLeastSquares

        def fit(iters, track=False):
            m = AlternatingLeastSquares(factors=args.factors, regularization=args.reg,
                                        alpha=1.0, use_cg=solver == "cg",
                                        iterations=iters,  # its CG runs 3 steps
                                        num_threads=args.threads, random_state=0,
                                        calculate_training_loss=False)
            m.fit(C, show_progress=False)
            return m
        return fit

    rows = []
    with threadpool_limits(1, "blas"):
        for solver in args.solvers.split(","):
            fits = {"fastmf": ours(solver)}
            if not args.no_tracked:
                fits["tracked"] = ours(solver, tracked=True)
            if not args.no_implicit:
                fits["implicit"] = theirs(solver)
            for fit in fits.values():
                fit(1)  # compile / warm up outside the timing
            timings = per_iteration(fits, args.repeats)
            line = {"solver": solver}
            for name, (med, all_) in timings.items():
                line[name] = med
                line[name + "_all"] = all_
            if not args.no_implicit:
                m_ours = ours(solver)(15, track=True)
                m_imp = theirs(solver)(15)
                kw = {"w0": 1.0, "confidence": "linear", "alpha": args.alpha,
                      "target": "binary", "reg": args.reg}
                line["obj_fastmf"] = m_ours.history_[-1]["objective"]
                line["obj_implicit"] = fastmf.objective(A, m_imp.user_factors,
                                                        m_imp.item_factors, **kw)
            rows.append(line)
            print_row(line)
    return rows


def print_row(r):
    s = f"{r['solver']:9s} fastmf {r['fastmf']:.3f} s/it ({', '.join(f'{t:.3f}' for t in r['fastmf_all'])})"
    if "tracked" in r:
        s += (f" | with the objective {r['tracked']:.3f} s/it "
              f"({', '.join(f'{t:.3f}' for t in r['tracked_all'])}), "
              f"{r['tracked'] / r['fastmf']:.3f}x untracked")
    if "implicit" in r:
        s += (f" | implicit {r['implicit']:.3f} s/it ({', '.join(f'{t:.3f}' for t in r['implicit_all'])})"
              f" | ratio fastmf/implicit {r['fastmf'] / r['implicit']:.3f}"
              f" | objective after 15: fastmf {r['obj_fastmf']:.6e}, implicit "
              f"{r['obj_implicit']:.6e} (diff {100 * (r['obj_fastmf'] / r['obj_implicit'] - 1):+.2f}%)")
    print(s, flush=True)


if __name__ == "__main__":
    main()
