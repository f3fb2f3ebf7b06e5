"""Ranking quality on MovieLens 100K, fastmf WALS next to implicit's ALS, tuned alike.

Ratings >= 4 are implicit positives; 20% of them are held out at random (seed 0) as the test
set. Hyperparameters are chosen on a validation split carved from the training part only
(20% of the training entries, seed 1), by NDCG@20 over each library's grid (GRIDS), extended
beyond any end where the best setting lands until it is interior (search_interior); the
chosen setting is refit on the whole
training part and scored on the test set: NDCG@20 and Recall@20 over users with test items,
training items filtered out. Recall@k divides by min(k, |test items|).

    FASTMF_DATA=../shared/datasets python benchmarks/quality_ml100k.py [--quick]
"""

import argparse
import itertools
import os
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import machine
from threadpoolctl import threadpool_limits

import fastmf


def load_ml100k_positives():
    home = Path(os.environ.get("FASTMF_DATA", Path(__file__).resolve().parents[2] / "shared"
                               / "datasets"))
    path = home / "ml-100k" / "u.data"
    if not path.exists():
        raise SystemExit(f"{path} not found: set FASTMF_DATA to the folder holding ml-100k/")
    raw = np.loadtxt(path, dtype=np.int64)
    users, items, ratings = raw[:, 0] - 1, raw[:, 1] - 1, raw[:, 2]
    keep = ratings >= 4
    shape = (users.max() + 1, items.max() + 1)
    return sp.csr_array((np.ones(keep.sum(), np.float32), (users[keep], items[keep])),
                        shape=shape)


def holdout(A, fraction, seed):
    coo = A.tocoo()
    test = np.random.default_rng(seed).random(coo.nnz) < fraction
    part = lambda m: sp.csr_array((coo.data[m], (coo.row[m], coo.col[m])), shape=A.shape)
    return part(~test), part(test)


def ranking_metrics(top_ids, users, test, k):
    """Mean NDCG@k and Recall@k over ``users`` (rows of top_ids), binary relevance."""
    discounts = 1 / np.log2(np.arange(2, k + 2))
    ndcg = recall = 0.0
    for row, u in enumerate(users):
        truth = test.indices[test.indptr[u]:test.indptr[u + 1]]
        hits = np.isin(top_ids[row, :k], truth)
        n_rel = min(k, truth.size)
        ndcg += (hits * discounts).sum() / discounts[:n_rel].sum()
        recall += hits.sum() / n_rel
    return ndcg / len(users), recall / len(users)


def evaluate(user_factors, item_factors, train, test, k=20):
    users = np.flatnonzero(np.diff(test.indptr))
    scores = user_factors[users] @ item_factors.T
    seen = train[users].toarray() > 0
    scores[seen] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ranking_metrics(top, users, test, k)


def popularity_weights(train, beta):
    """Column weights pop_j^-beta scaled to mean 1 (None for beta = 0): fewer weight on the
    entries of popular items, as in frequency-weighted MF."""
    if beta == 0:
        return None
    pop = np.asarray(train.sum(axis=0)).ravel() + 1.0
    w = pop ** -beta
    return w / w.mean()


def fit_fastmf(train, factors, reg, w0, beta, iterations):
    # Observed entries weigh 1 (times the column weight), unobserved ones w0.
    m = fastmf.WALS(factors, w0=w0, confidence="none", reg=reg, reg_exponent=0.0,
                    col_weights=popularity_weights(train, beta), solver="cholesky",
                    iterations=iterations, random_state=0)
    m.fit(train, track_objective=False)
    return m.user_factors, m.item_factors


def fit_implicit(train, factors, reg, alpha, iterations):
    from implicit.cpu.als import AlternatingLeastSquares
    # implicit 0.7 weighs an entry by its stored value: pass 1 + alpha * a for the classic
    # confidence (see wals_vs_implicit.py); unobserved entries weigh 1.
    C = sp.csr_matrix(train, copy=True)
    C.data = 1 + alpha * C.data
    m = AlternatingLeastSquares(factors=factors, regularization=reg, alpha=1.0,
                                use_cg=False, iterations=iterations, random_state=0)
    m.fit(C, show_progress=False)
    return m.user_factors, m.item_factors


# Each library's own hyperparameters, searched over grids of the same reach: implicit's
# (1 + alpha) : 1 weight ratio spans fastmf's 1 : w0; fastmf also has column weights.
GRIDS = {
    "fastmf": (fit_fastmf, {"factors": [64, 128], "reg": [5.0, 10.0, 20.0],
                            "w0": [0.3, 0.5, 1.0], "beta": [0.0, 0.25, 0.5]}),
    "implicit": (fit_implicit, {"factors": [64, 128], "reg": [5.0, 10.0, 20.0, 40.0],
                                "alpha": [0.5, 1.0, 2.0, 4.0]}),
}
QUICK = {
    "fastmf": {"factors": [64], "reg": [10.0], "w0": [0.5], "beta": [0.0, 0.25]},
    "implicit": {"factors": [64], "reg": [10.0, 20.0], "alpha": [1.0]},
}


def _extend(values):
    """One more step beyond each end of a sorted numeric axis (its end ratio, or x2)."""
    lo, hi = values[0], values[-1]
    up = hi * (hi / values[-2] if len(values) > 1 and values[-2] > 0 else 2.0)
    down = lo / (values[1] / lo if len(values) > 1 and lo > 0 else 2.0) if lo > 0 else lo
    return down, up


def search_interior(score, grid, max_rounds=4, fixed=()):
    """Grid search that keeps going until the best setting is interior: whenever the best
    value of an axis (with more than one value, not in ``fixed``) is its smallest or
    largest, the axis gets one more value beyond that end and the new points are scored.
    Returns (best params, best score, the final grid, whether the best is interior)."""
    grid = {k: sorted(v) for k, v in grid.items()}
    tried = {}
    for _ in range(max_rounds + 1):
        for values in itertools.product(*grid.values()):
            if values not in tried:
                tried[values] = score(dict(zip(grid, values)))
        key = max((k for k in tried if all(v in grid[n] for n, v in zip(grid, k))),
                  key=tried.get)
        best = dict(zip(grid, key))
        edges = [n for n, vals in grid.items() if n not in fixed and len(vals) > 1
                 and best[n] in (vals[0], vals[-1])]
        if not edges:
            return best, tried[key], grid, True
        for n in edges:
            down, up = _extend(grid[n])
            grid[n] = sorted(set(grid[n]) | {up if best[n] == grid[n][-1] else down})
    return best, tried[key], grid, False


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small grid")
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--only", choices=tuple(GRIDS), default=None,
                   help="run one library's search only")
    args = p.parse_args(argv)
    A = load_ml100k_positives()
    train, test = holdout(A, 0.2, 0)
    fit_part, valid = holdout(train, 0.2, 1)
    print(f"machine: {machine()}")
    print(f"ML-100K ratings >= 4: {A.shape[0]} users x {A.shape[1]} items, {A.nnz} positives; "
          f"train {train.nnz}, test {test.nnz}; tuning on {fit_part.nnz}/{valid.nnz}")
    results = {}
    with threadpool_limits(1, "blas"):
        for name, (fit, grid) in GRIDS.items():
            if args.only and name != args.only:
                continue
            if args.quick:
                grid = QUICK[name]
            t0 = time.perf_counter()

            def score(params, fit=fit):
                return evaluate(*fit(fit_part, **params, iterations=args.iterations),
                                fit_part, valid)[0]

            # factors is capped at the grid's largest (cost), so it may end on its edge
            params, val, final, interior = search_interior(score, dict(grid),
                                                           fixed=("factors",))
            nd, rc = evaluate(*fit(train, **params, iterations=args.iterations), train, test)
            results[name] = (nd, rc, (val, params))
            where = "interior" if interior else "STILL ON AN EDGE"
            print(f"{name:9s} test NDCG@20 {nd:.4f}  Recall@20 {rc:.4f}  (validation NDCG@20 "
                  f"{val:.4f} at {params}, {where} of {final}; tuning "
                  f"{time.perf_counter() - t0:.0f} s)", flush=True)
    return results


if __name__ == "__main__":
    main()
