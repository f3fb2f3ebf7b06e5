"""Ranking quality on MovieLens 100K and CiteULike-a, fastmf WALS next to implicit's ALS,
tuned alike.

ML-100K ratings >= 4 are implicit positives; CiteULike-a is binary. 20% of the entries are
held out at random (seed 0) as the test set. Hyperparameters are chosen on a validation
split carved from the training part only (VALID_FRACTION = 10% of the training entries,
seed 1), by NDCG@20 over each library's grid (GRIDS), extended beyond any end where the best
setting lands until it is interior on every axis, then once more with the steps around
the best halved (search_interior in _search.py, REFINE). Both searches start from the same
(reg, alpha) grid in implicit's coordinates, where fastmf's objective at beta = gamma =
eals = 0 is implicit's; fastmf's extra weighting exponents come on top. Both libraries: 64
factors, 15 iterations, exact (Cholesky) row solves, one thread. The chosen setting is refit
on the whole training part and scored on the test set: NDCG@20 and Recall@20 over users with
test items, training items filtered out. Recall@k divides by min(k, |test items|).

    FASTMF_DATA=../shared/datasets python benchmarks/quality_ml100k.py [--quick]
        [--data ml100k,citeulike] [--only fastmf|implicit] [--verbose]

implicit is optional (its search is skipped when it is not installed); see README.md for
running it from a separate environment.
"""

import argparse
import importlib.util
import os
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import machine
from _search import describe_position, search_interior
from threadpoolctl import threadpool_limits

import fastmf

FACTORS, ITERATIONS, K = 64, 15, 20
TEST_FRACTION, VALID_FRACTION = 0.2, 0.1


def _data_home():
    return Path(os.environ.get("FASTMF_DATA", Path(__file__).resolve().parents[2] / "shared"
                               / "datasets"))


def load_ml100k_positives():
    path = _data_home() / "ml-100k" / "u.data"
    if not path.exists():
        raise SystemExit(f"{path} not found: set FASTMF_DATA to the folder holding ml-100k/")
    raw = np.loadtxt(path, dtype=np.int64)
    users, items, ratings = raw[:, 0] - 1, raw[:, 1] - 1, raw[:, 2]
    keep = ratings >= 4
    shape = (users.max() + 1, items.max() + 1)
    return sp.csr_array((np.ones(keep.sum(), np.float32), (users[keep], items[keep])),
                        shape=shape)


def load_citeulike():
    from fastmf.datasets import load
    A = sp.csr_array(load("citeulike-a", data_home=_data_home(), download=False).matrix,
                     dtype=np.float32)
    A.sum_duplicates()
    return A


DATASETS = {"ml100k": ("ML-100K ratings >= 4", load_ml100k_positives),
            "citeulike": ("CiteULike-a", load_citeulike)}


def holdout(A, fraction, seed):
    coo = A.tocoo()
    test = np.random.default_rng(seed).random(coo.nnz) < fraction
    part = lambda m: sp.csr_array((coo.data[m], (coo.row[m], coo.col[m])), shape=A.shape)
    return part(~test), part(test)


def ranking_metrics(top_ids, users, test, k):
    """Sums of NDCG@k and Recall@k over ``users`` (rows of top_ids), binary relevance."""
    discounts = 1 / np.log2(np.arange(2, k + 2))
    ndcg = recall = 0.0
    for row, u in enumerate(users):
        truth = test.indices[test.indptr[u]:test.indptr[u + 1]]
        hits = np.isin(top_ids[row, :k], truth)
        n_rel = min(k, truth.size)
        ndcg += (hits * discounts).sum() / discounts[:n_rel].sum()
        recall += hits.sum() / n_rel
    return ndcg, recall


def evaluate(user_factors, item_factors, train, test, k=K, block=1024):
    """Mean NDCG@k and Recall@k over the users with test items (training items filtered
    out), scored in blocks of users; ties go to the lower item id."""
    users = np.flatnonzero(np.diff(test.indptr))
    totals = np.zeros(2)
    for start in range(0, users.size, block):
        us = users[start:start + block]
        scores = user_factors[us] @ item_factors.T
        seen = train[us]
        scores[np.repeat(np.arange(us.size), np.diff(seen.indptr)), seen.indices] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        totals += ranking_metrics(top, us, test, k)
    return tuple(totals / users.size)


def frequency_weights(counts, exponent):
    """Weights count^-exponent (count + 1, so empty rows are defined) scaled to mean 1, or
    None for exponent 0: less weight on the observed entries of popular items (columns)
    or heavy users (rows), as in frequency-weighted MF."""
    if exponent == 0:
        return None
    w = (np.asarray(counts, np.float64) + 1.0) ** -exponent
    return w / w.mean()


def fit_fastmf(train, reg, alpha, beta, gamma, eals):
    # implicit's objective in its own coordinates -- unobserved entries weigh 1, observed
    # ones 1 + alpha, penalty reg -- with the confidence alpha spread over the users by
    # activity^-gamma and over the items by popularity^-beta (weights of mean 1), and the
    # unobserved weight spread over the items by popularity^eals (eALS, same total).
    # At beta = gamma = eals = 0 it is the objective fit_implicit minimizes.
    m, n = train.shape
    user_w = frequency_weights(np.diff(train.indptr), gamma)
    item_w = frequency_weights(np.bincount(train.indices, minlength=n), beta)
    model = fastmf.WALS(FACTORS, w0=1.0, confidence="none", reg=reg, reg_exponent=0.0,
                        row_weights=alpha * (np.ones(m) if user_w is None else user_w),
                        col_weights=np.ones(n) if item_w is None else item_w,
                        popularity_exponent=eals, solver="cholesky", iterations=ITERATIONS,
                        num_threads=1, random_state=0)
    model.fit(train, track_objective=False)
    return model.user_factors, model.item_factors


def fit_implicit(train, reg, alpha):
    from implicit.cpu.als import AlternatingLeastSquares
    # implicit 0.7 weighs an entry by its stored value: pass 1 + alpha * a for the classic
    # confidence (see wals_vs_implicit.py); unobserved entries weigh 1.
    C = sp.csr_matrix(train, copy=True)
    C.data = 1 + alpha * C.data
    m = AlternatingLeastSquares(factors=FACTORS, regularization=reg, alpha=1.0,
                                use_cg=False, iterations=ITERATIONS, num_threads=1,
                                random_state=0)
    m.fit(C, show_progress=False)
    return m.user_factors, m.item_factors


# The starting grids of search_interior, in the same coordinates for both libraries
# (implicit's: unobserved weight 1, observed 1 + alpha, penalty reg); fastmf also has
# frequency weights on the confidence (beta for items, gamma for users) and popularity-
# weighted unobserved entries (eals), scored along lines through the best (reg, alpha)
# setting (LINES) rather than in the product.
SHARED = {"reg": [10.0, 20.0, 40.0, 80.0], "alpha": [2.0, 4.0, 8.0, 16.0]}
GRIDS = {
    "fastmf": (fit_fastmf, {**SHARED, "beta": [0.0, 0.25], "gamma": [0.0, 0.25],
                            "eals": [0.0, 0.25]}),
    "implicit": (fit_implicit, SHARED),
}
LINES = ("beta", "gamma", "eals")
REFINE = 1  # rounds of halving the steps around the interior best (search_interior)
LOWER_BOUNDS = {"eals": 0.0}  # popularity_exponent must be >= 0
QUICK = {
    "fastmf": {"reg": [20.0], "alpha": [4.0], "beta": [0.0, 0.25], "gamma": [0.0],
               "eals": [0.0]},
    "implicit": {"reg": [20.0, 40.0], "alpha": [4.0]},
}


def run(name, args):
    """Tune both libraries on one data set; returns {library: (test NDCG, test Recall,
    validation NDCG, params)}."""
    label, load = DATASETS[name]
    A = load()
    train, test = holdout(A, TEST_FRACTION, 0)
    fit_part, valid = holdout(train, VALID_FRACTION, 1)
    print(f"{label}: {A.shape[0]} users x {A.shape[1]} items, {A.nnz} positives; train "
          f"{train.nnz}, test {test.nnz}; tuning on {fit_part.nnz}/{valid.nnz}", flush=True)
    results = {}
    for lib, (fit, grid) in GRIDS.items():
        if args.only and lib != args.only:
            continue
        if lib == "implicit" and importlib.util.find_spec("implicit") is None:
            print("implicit   not installed: skipped", flush=True)
            continue
        t0 = time.perf_counter()

        def score(params, fit=fit, lib=lib):
            value = evaluate(*fit(fit_part, **params), fit_part, valid)[0]
            if args.verbose:
                print(f"  {lib} {params}: validation NDCG@20 {value:.4f}", flush=True)
            return value

        params, val, lines, edges = search_interior(
            score, QUICK[lib] if args.quick else grid, lower_bounds=LOWER_BOUNDS,
            refine=0 if args.quick else REFINE, lines_only=LINES)
        nd, rc = evaluate(*fit(train, **params), train, test)
        results[lib] = (nd, rc, val, params)
        print(f"{lib:9s} test NDCG@20 {nd:.4f}  Recall@20 {rc:.4f}  validation NDCG@20 "
              f"{val:.4f}  ({time.perf_counter() - t0:.0f} s)\n"
              f"          {describe_position(params, lines, edges)}", flush=True)
    if len(results) == 2:
        print(f"fastmf / implicit test NDCG@20: {results['fastmf'][0] / results['implicit'][0]:.3f}",
              flush=True)
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small grid")
    p.add_argument("--data", default=",".join(DATASETS),
                   help=f"comma-separated, of {', '.join(DATASETS)}")
    p.add_argument("--only", choices=tuple(GRIDS), default=None,
                   help="run one library's search only")
    p.add_argument("--verbose", action="store_true", help="print every setting scored")
    args = p.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"{FACTORS} factors, {ITERATIONS} iterations, Cholesky, 1 thread; test {TEST_FRACTION:.0%} "
          f"(seed 0), validation {VALID_FRACTION:.0%} of the training part (seed 1)")
    with threadpool_limits(1, "blas"):
        return {name: run(name, args) for name in args.data.split(",")}


if __name__ == "__main__":
    main()
