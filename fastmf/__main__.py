"""Command line: ``fastmf demo`` fits WALS on a synthetic data set and recommends."""

import argparse
import sys
import time

import numpy as np


def _holdout(A, fraction, seed):
    """Random holdout of stored entries: (train, test), same shape."""
    import scipy.sparse as sp
    coo = A.tocoo()
    rng = np.random.default_rng(seed)
    test = rng.random(coo.nnz) < fraction
    make = lambda mask: sp.csr_array((coo.data[mask], (coo.row[mask], coo.col[mask])),
                                     shape=A.shape)
    return make(~test), make(test)


def _recall_at_k(model, train, test, k):
    users = np.flatnonzero(np.diff(test.indptr))
    ids, _ = model.recommend(users, A=train, k=k)
    hits = 0.0
    for row, u in enumerate(users):
        truth = test.indices[test.indptr[u]:test.indptr[u + 1]]
        hits += np.isin(ids[row], truth).sum() / min(k, truth.size)
    return hits / max(1, users.size)


def demo(args):
    from . import WALS
    from .datasets import make_synthetic

    out = print if not args.quiet else (lambda *a, **k: None)
    t0 = time.perf_counter()
    A = make_synthetic(args.users, args.items, args.nnz, random_state=args.seed)
    train, test = _holdout(A, 0.2, args.seed)
    out(f"synthetic implicit data: {A.shape[0]:,} users x {A.shape[1]:,} items, "
        f"{A.nnz:,} interactions ({time.perf_counter() - t0:.1f} s); 20% held out")
    model = WALS(factors=args.factors, iterations=args.iterations, solver=args.solver,
                 random_state=args.seed)
    t0 = time.perf_counter()
    model.fit(train)
    wall = time.perf_counter() - t0
    out(f"\nWALS ({args.solver}), factors={args.factors}: fit in {wall:.2f} s "
        f"(first call includes compilation)")
    out(" iter   objective      seconds")
    for h in model.history_:
        out(f" {h['iteration']:4d}   {h['objective']:.6e}   {h['seconds']:.3f}")
    recall = _recall_at_k(model, train, test, 10)
    out(f"\nheld-out Recall@10: {recall:.4f}")
    ids, scores = model.recommend([0], k=5)
    out(f"top 5 items for user 0: {ids[0].tolist()} (scores "
        f"{np.round(scores[0], 3).tolist()})")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastmf", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("demo", help="fit WALS on synthetic data and recommend (offline)")
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--items", type=int, default=5_000)
    p.add_argument("--nnz", type=int, default=500_000)
    p.add_argument("--factors", type=int, default=32)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--solver", choices=["cg", "cholesky"], default="cg")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"] + (argv or []))
    try:
        return demo(args)
    except (ValueError, TypeError) as exc:
        print(f"fastmf: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
