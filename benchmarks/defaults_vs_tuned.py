"""The library's defaults against fastmf.tune, and tune against an exhaustive grid.

For each data set: 20% of the entries held out at random (seed 0); ``WALS(64,
iterations=15)`` with its data-aware defaults fitted on the rest; ``fastmf.tune`` on a 10%
validation carve of the training part only (successive halving over its default space),
refit on the training part; test NDCG@20 of both. On MovieLens 100K also the exhaustive
grid of the same space (every candidate at the full 15 iterations) and the best validation
score it finds, against tune's; and the ratings preset against tune on RMSE. Every figure is
one run on the machine named in the output.

    python benchmarks/defaults_vs_tuned.py [--quick] [--only NAME ...] [--defaults-only]
        [--no-ratings] [--out benchmarks/out/defaults_vs_tuned.json]

``--only`` keeps the data sets whose name contains one of the given strings;
``--defaults-only`` skips tune (the defaults' test NDCG@20 only).
"""

import argparse
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np
from _common import machine

import fastmf
from fastmf import split
from fastmf.evaluation._tune import default_space
from fastmf.datasets import load, make_synthetic


def data_sets(quick):
    out = {}
    home = os.environ.get("FASTMF_DATA")
    if home:
        ml = load("movielens-100k", data_home=home)
        out["ml-100k (ratings >= 4)"] = ml.subset(ml.values >= 4)
        if not quick:
            out["citeulike-a"] = load("citeulike-a", data_home=home)
    shapes = {"small-dense 2k x 1k x 100k": (2000, 1000, 100_000),
              "wide-sparse 20k x 50k x 400k": (20_000, 50_000, 400_000),
              "counts 10k x 5k x 200k": (10_000, 5000, 200_000)}
    if quick:
        shapes = {"small-dense 2k x 1k x 100k": (2000, 1000, 100_000)}
    for name, (m, n, nnz) in shapes.items():
        out[name] = fastmf.Interactions.from_matrix(make_synthetic(m, n, nnz, random_state=3))
    return out


def ndcg(model, train, test):
    return fastmf.evaluate(model, train, test, k=20, metrics=["ndcg@20"])["ndcg@20"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="+", metavar="NAME")
    ap.add_argument("--defaults-only", action="store_true")
    ap.add_argument("--no-ratings", action="store_true")
    ap.add_argument("--out", default="benchmarks/out/defaults_vs_tuned.json")
    args = ap.parse_args()
    rows = []
    print(machine())
    for name, data in data_sets(args.quick).items():
        if args.only and not any(s in name for s in args.only):
            continue
        train, test = split.random_holdout(data, 0.2, random_state=0, warn=False)
        base = fastmf.WALS(64, iterations=15, random_state=0)
        t0 = time.perf_counter()
        default = fastmf.WALS(64, iterations=15, random_state=0).fit(train)
        t_def = time.perf_counter() - t0
        if args.defaults_only:
            rows.append({"data": name, "defaults": ndcg(default, train, test),
                         "fit_seconds": t_def})
            print(f"{name:32s} defaults {rows[-1]['defaults']:.4f}", flush=True)
            continue
        t0 = time.perf_counter()
        tuned = fastmf.tune(base, train, metric="ndcg@20")
        t_tune = time.perf_counter() - t0
        row = {"data": name, "defaults": ndcg(default, train, test),
               "tuned": ndcg(tuned.model, train, test), "tune_seconds": t_tune,
               "fit_seconds": t_def, "best": {k: tuned.best_params[k] for k in
                                              ("reg", "w0", "alpha", "popularity_exponent")},
               "tune_validation": tuned.best_score}
        row["ratio"] = row["defaults"] / row["tuned"]
        print(f"{name:32s} defaults {row['defaults']:.4f}  tuned {row['tuned']:.4f}  "
              f"ratio {row['ratio']:.3f}  tune {t_tune:.0f} s  best {row['best']}",
              flush=True)
        if name.startswith("ml-100k"):
            fit_part, valid = split.random_holdout(train, 0.1, random_state=0, warn=False)
            space = default_space(base, fit_part.matrix)
            t0 = time.perf_counter()
            best = -1.0
            for values in itertools.product(*space.values()):
                m = fastmf.WALS(64, iterations=15, random_state=0,
                                **dict(zip(space, values))).fit(fit_part.matrix,
                                                                track_objective=False)
                best = max(best, fastmf.evaluate(m, fit_part.matrix, valid.matrix,
                                                  metrics=["ndcg@20"])["ndcg@20"])
            row["grid_validation"] = best
            row["grid_seconds"] = time.perf_counter() - t0
            print(f"{'':32s} exhaustive grid: best validation {best:.4f} in "
                  f"{row['grid_seconds']:.0f} s; tune found {tuned.best_score:.4f} in "
                  f"{t_tune:.0f} s", flush=True)
        rows.append(row)
    if os.environ.get("FASTMF_DATA") and not args.no_ratings:
        ml = load("movielens-100k", data_home=os.environ["FASTMF_DATA"])
        train, test = split.random_holdout(ml, 0.2, random_state=0, warn=False)
        rmse = lambda m: fastmf.metrics.rmse(m, test.matrix)
        for cls in (fastmf.SGD, fastmf.WALS):
            steps = {"epochs": 30} if cls is fastmf.SGD else {"iterations": 15}
            base = cls(64, kind="ratings", random_state=0, **steps)
            d = cls(64, kind="ratings", random_state=0, **steps).fit(train)
            t = fastmf.tune(base, train, metric="rmse")
            row = {"data": f"ml-100k ratings, {cls.__name__}", "defaults_rmse": rmse(d),
                   "tuned_rmse": rmse(t.model),
                   "best": {k: t.best_params[k] for k in ("reg", "factors")}}
            row["ratio"] = row["tuned_rmse"] / row["defaults_rmse"]
            print(f"{row['data']:32s} RMSE defaults {row['defaults_rmse']:.4f}  tuned "
                  f"{row['tuned_rmse']:.4f}  best {row['best']}", flush=True)
            rows.append(row)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1,
                                         default=float))


if __name__ == "__main__":
    main()
