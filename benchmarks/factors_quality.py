"""What a larger embedding buys: test NDCG@20 against the number of factors d, with the
penalty and the unobserved weight tuned per d.

Protocol (per data set): 20% of the entries held out for the test (seed 0); from the
rest, a 10% validation carve (seed 0). For each d, WALS (``solver='auto'``, the measured
choice of :func:`fastmf.solvers.choose`; 15 iterations; eALS popularity weighting with
exponent 0.5) is tuned on the carve over ``reg``, ``w0`` (the
level of the unobserved weight) and the frequency exponent ``reg_exponent`` (nu), by a grid
that is extended until the chosen setting is interior on every axis
(``_search.search_interior``). The first d starts from a grid around fastmf's 'auto'
values for the data (x 1/4, 1, 4 on reg and w0; nu in 0.5, 1); each larger d starts from
the previous d's best and one step up on each axis (the space narrowed around the smaller
d's best, as Rendle et al. 2022 do). The chosen setting is then refitted on the whole
training part and scored on the test part. Above ``--max-tuned-d`` the previous best is
used as is (said in the table). Seconds are those of one fit at the chosen setting.

    FASTMF_DATA=../shared/datasets python benchmarks/factors_quality.py
    FASTMF_DATA=../shared/datasets python benchmarks/factors_quality.py --data movielens-100k \\
        --factors-list 64 128
"""

import argparse
import os
import time

import numpy as np
from _common import OUT_DIR, JsonRecord, machine, machine_info
from _search import describe_position, search_interior

import fastmf
from fastmf import split

ITERATIONS = 15
POPULARITY = 0.5


def load(name):
    data = fastmf.datasets.load(name, data_home=os.environ.get("FASTMF_DATA"), download=False)
    if name == "movielens-100k":
        data = data.subset(data.values >= 4)  # ratings >= 4 as implicit feedback
    return data


def model(d, params):
    return fastmf.WALS(d, iterations=ITERATIONS, random_state=0, solver="auto",
                       popularity_exponent=POPULARITY, **params)


def ndcg(m, train, test):
    return fastmf.evaluate(m, train, test, k=20, metrics=["ndcg@20"])["ndcg@20"]


def auto_values(train):
    """fastmf's 'auto' reg and unobserved-weight level for ``train``."""
    m = fastmf.WALS(8, iterations=1, random_state=0).fit(train)
    r = m.resolved_params_
    return float(r["reg"]), float(np.mean(r["w0"]))


def run(name, factors_list, max_tuned_d):
    data = load(name)
    train, test = split.random_holdout(data, 0.2, random_state=0, warn=False)
    fit_part, valid = split.random_holdout(train, 0.1, random_state=0, warn=False)
    reg0, w00 = auto_values(fit_part)
    print(f"\n{name}: {data.matrix.shape[0]:,} x {data.matrix.shape[1]:,}, "
          f"{data.matrix.nnz:,} entries; 'auto' reg {reg0:.3g}, w0 level {w00:.3g}",
          flush=True)
    rows, best = [], None
    for d in factors_list:
        t0 = time.perf_counter()
        fits = [0]

        def score(params, d=d):
            fits[0] += 1
            return ndcg(model(d, params).fit(fit_part, track_objective=False), fit_part,
                        valid)

        if best is None:
            grid = {"reg": [reg0 / 4, reg0, reg0 * 4], "w0": [w00 / 4, w00, w00 * 4],
                    "reg_exponent": [0.5, 1.0]}
        else:
            grid = {"reg": [best["reg"], best["reg"] * 2], "w0": [best["w0"], best["w0"] * 2],
                    "reg_exponent": [best["reg_exponent"], best["reg_exponent"] + 0.25]}
        if d <= max_tuned_d:
            best, valid_score, lines, edges = search_interior(
                score, grid, max_points=60, lower_bounds={"reg_exponent": 0.0})
            where = describe_position(best, lines, edges)
        else:
            valid_score, where = score(best), "not tuned: the previous d's best"
        tune_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        final = model(d, best).fit(train, track_objective=False)
        fit_seconds = time.perf_counter() - t0
        row = {"d": d, "solver": final.resolved_params_["solver"], "test_ndcg@20": ndcg(final, train, test), "validation": valid_score,
               "best": dict(best), "position": where, "fits": fits[0],
               "tune_seconds": tune_seconds, "fit_seconds": fit_seconds}
        rows.append(row)
        print(f"  d={d:5d}  {row['solver']:7s} test NDCG@20 {row['test_ndcg@20']:.4f}  (validation "
              f"{valid_score:.4f}; {fits[0]} fits, {tune_seconds:.0f} s tuning; one fit "
              f"{fit_seconds:.1f} s)  reg {best['reg']:.3g}, w0 {best['w0']:.3g}, nu "
              f"{best['reg_exponent']:.3g}: {where}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["movielens-100k", "citeulike-a"])
    parser.add_argument("--factors-list", type=int, nargs="+",
                        default=[64, 128, 256, 512, 1024])
    parser.add_argument("--max-tuned-d", type=int, default=1024)
    parser.add_argument("--out", default=str(OUT_DIR / "factors_quality.json"))
    args = parser.parse_args()
    print(machine())
    record = JsonRecord(args.out, machine=machine_info(), iterations=ITERATIONS)
    results = {}
    for name in args.data:
        results[name] = run(name, args.factors_list, args.max_tuned_d)
        record.set(results=results)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
