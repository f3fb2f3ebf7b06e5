"""Hogwild SGD against LibMF (pip, and a native AVX build when ``$LIBMF_NATIVE`` names one)
and Surprise's SVD: speed, and RMSE on MovieLens 100K.

Speed: seconds per epoch on a synthetic power-law rating matrix (default 100k x 20k x
5.7M, factors=64, 2 threads, float32), as (fit of 4 epochs - fit of 1) / 3, median of
--repeats with fastmf and the LibMF builds taking turns (LibMF: AdaGrad eta = 0.1, L2 0.02,
no L1; each build skipped when absent); Surprise (single-threaded Cython) as
(3 epochs - 1 epoch) / 2. Updates per second = ratings / s per epoch.

Quality: ML-100K ratings, 80/20 random split (seed 0); each library tuned on a validation
split of the training part (20%, seed 1) over its own grid (GRIDS), extended until the
chosen setting is interior on every numeric axis (``_search.search_interior``; printed
under each result: the values scored along each axis, the chosen one in brackets), refit on
the whole training part with the chosen setting, scored by test RMSE. Then the time for SGD and for WALS (w0 = 0,
biases) to reach a test RMSE, from their per-epoch curves.

    FASTMF_DATA=../shared/datasets python benchmarks/sgd_vs_peers.py [--quick]
"""

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import (
    add_data_args,
    apply_quick,
    import_libmf,
    import_libmf_native,
    machine,
    per_iteration,
)
from _search import describe_position, search_interior
from threadpoolctl import threadpool_limits

import fastmf
from fastmf.datasets import make_synthetic

RATINGS = {"w0": 0.0, "confidence": "none", "target": "value"}


def _triples(coo):
    """(row, col, value) rows as the pip libmf binding reads them: C-contiguous float32."""
    return np.ascontiguousarray(np.stack([coo.row, coo.col, coo.data], axis=1),
                                dtype=np.float32)


def split(A, fraction, seed):
    coo = A.tocoo()
    test = np.random.default_rng(seed).random(coo.nnz) < fraction
    part = lambda m: sp.csr_array((coo.data[m], (coo.row[m], coo.col[m])), shape=A.shape)
    return part(~test), part(test)


def rmse_of(predict, test):
    coo = test.tocoo()
    return float(np.sqrt(np.mean((predict(coo.row, coo.col) - coo.data) ** 2)))


# ----------------------------------------------------------------------------- speed
def speed(args):
    A = make_synthetic(args.users, args.items, args.nnz, kind="explicit", random_state=0)
    coo = A.tocoo()
    triples = _triples(coo)
    print(f"speed data: {A.shape[0]:,} x {A.shape[1]:,}, {A.nnz:,} ratings, factors="
          f"{args.factors}, threads={args.threads}, float32")

    def ours(epochs):
        fastmf.SGD(args.factors, lr=0.005, reg=0.02, reg_exponent=1.0, epochs=epochs,
                   num_threads=args.threads, random_state=0, **RATINGS).fit(
            A, track_objective=False)

    def libmf_fit(mf):
        def fit(epochs):
            model = mf.MF(k=args.factors, nr_threads=args.threads, nr_iters=epochs, eta=0.1,
                          lambda_p1=0.0, lambda_q1=0.0, lambda_p2=0.02, lambda_q2=0.02,
                          quiet=True)
            model.fit(triples.copy())  # the binding may reorder its input in place
        return fit

    fits = {"fastmf": ours}
    try:
        fits["libmf"] = libmf_fit(import_libmf())
    except ImportError:
        print("pip libmf not installed: skipped")
    native = import_libmf_native()
    if native is not None:
        fits["libmf-avx"] = libmf_fit(native)
    else:
        print("native LibMF (AVX) not found ($LIBMF_NATIVE, see README): skipped")
    for f in fits.values():
        f(1)
    timings = per_iteration(fits, args.repeats)
    per = {name: v for name, (_, v) in timings.items()}
    out = {name: med for name, (med, _) in timings.items()}
    if not args.no_surprise:
        import pandas as pd
        from surprise import SVD, Dataset, Reader
        df = pd.DataFrame({"u": coo.row, "i": coo.col, "r": coo.data})
        trainset = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
        per["surprise"] = []
        for _ in range(args.repeats):
            ts = []
            for epochs in (1, 3):
                t0 = time.perf_counter()
                SVD(n_factors=args.factors, n_epochs=epochs, random_state=0).fit(trainset)
                ts.append(time.perf_counter() - t0)
            per["surprise"].append((ts[1] - ts[0]) / 2)
        out["surprise"] = statistics.median(per["surprise"])
    for name, sec in out.items():
        # and the median of the per-repeat ratios (each repeat's fits ran back to back)
        pair = statistics.median(t / f for t, f in zip(per[name], per["fastmf"]))
        print(f"{name:9s} {sec:.3f} s/epoch ({', '.join(f'{t:.3f}' for t in per[name])}) = "
              f"{A.nnz / sec / 1e6:.1f}M updates/s; ratio to fastmf {sec / out['fastmf']:.2f} "
              f"(per repeat: median {pair:.2f})", flush=True)
    return out, A.nnz


# ----------------------------------------------------------------------------- quality
def load_ml100k():
    home = Path(os.environ.get("FASTMF_DATA", Path(__file__).resolve().parents[2] / "shared"
                               / "datasets"))
    raw = np.loadtxt(home / "ml-100k" / "u.data", dtype=np.int64)
    return sp.csr_array((raw[:, 2].astype(np.float32), (raw[:, 0] - 1, raw[:, 1] - 1)))


# The SGD settings searched on validation: small initial factors, a decaying step, and
# either the frequency-scaled (nu = 1) or a square-root-scaled (nu = 0.5) penalty.
SGD_PENALTIES = [(1.0, 0.05), (1.0, 0.065), (1.0, 0.08), (1.0, 0.1),
                 (0.5, 0.5), (0.5, 0.7), (0.5, 0.9)]


def fit_sgd(train, valid, factors, penalty, init_scale=0.01, lr=0.01, lr_decay=0.05,
            epochs=None):
    reg_exponent, reg = penalty
    m = fastmf.SGD(factors, lr=lr, lr_schedule="inverse", lr_decay=lr_decay, reg=reg,
                   reg_exponent=reg_exponent, init_scale=init_scale, biases=True,
                   epochs=epochs or 200, random_state=0, dtype=np.float64, **RATINGS)
    if epochs is None:
        # the validation curve is noisy on its plateau: patience 3 stops too early
        m.fit(train, validation=valid, patience=8, track_objective=False)
        best = int(np.argmin([h["validation_loss"] for h in m.history_])) + 1
    else:
        m.fit(train, track_objective=False)
        best = epochs
    return m.predict, best


def fit_wals(train, valid, factors, reg, epochs=None):
    m = fastmf.WALS(factors, reg=reg, reg_exponent=1.0, biases=True, solver="cholesky",
                    iterations=epochs or 15, random_state=0, dtype=np.float64, **RATINGS)
    m.fit(train, track_objective=False)
    return m.predict, epochs or 15


def fit_surprise(train, valid, n_factors, reg_all, lr_all, n_epochs, init_std_dev=0.1):
    import pandas as pd
    from surprise import SVD, Dataset, Reader
    coo = train.tocoo()
    df = pd.DataFrame({"u": coo.row, "i": coo.col, "r": coo.data})
    ts = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
    algo = SVD(n_factors=n_factors, reg_all=reg_all, lr_all=lr_all, n_epochs=n_epochs,
               init_std_dev=init_std_dev, random_state=0).fit(ts)
    return surprise_predictor(algo, ts, *train.shape), n_epochs


def surprise_predictor(algo, trainset, n_users, n_items):
    """Vectorized ``algo.predict(u, i, clip=False).est`` of a biased Surprise SVD fitted on
    integer raw ids 0..n-1: global mean, the biases of the known ids, and p_u . q_i when
    both are known (as ``SVD.estimate`` does)."""
    u_in = np.full(n_users, -1, np.int64)
    i_in = np.full(n_items, -1, np.int64)
    for inner in trainset.all_users():
        u_in[int(trainset.to_raw_uid(inner))] = inner
    for inner in trainset.all_items():
        i_in[int(trainset.to_raw_iid(inner))] = inner

    def predict(users, items):
        u = u_in[np.asarray(users)]
        i = i_in[np.asarray(items)]
        ku, ki = u >= 0, i >= 0
        out = np.full(u.shape[0], trainset.global_mean)
        out[ku] += algo.bu[u[ku]]
        out[ki] += algo.bi[i[ki]]
        both = ku & ki
        out[both] += np.einsum("ij,ij->i", algo.pu[u[both]], algo.qi[i[both]])
        return out
    return predict


def fit_libmf(train, valid, k, lam, iters):
    mf = import_libmf()
    model = mf.MF(k=k, nr_threads=1, nr_iters=iters, lambda_p2=lam, lambda_q2=lam,
                  quiet=True)
    model.fit(_triples(train.tocoo()))
    return libmf_predictor(model), iters


def libmf_predictor(model):
    """Predictions of a fitted pip-libmf model from its factors.

    The binding's own ``predict`` returns the right values in the wrong order (checked on
    ML-100K: its outputs for five training pairs were a permutation of p_u . q_i for those
    pairs, and its test RMSE was 1.40 where the factors give 0.94). LibMF leaves the
    factors of rows and columns without training entries NaN and predicts its mean
    ``b`` for them; so does this.
    """
    P, Q, b = model.p_factors(), model.q_factors(), float(model.model.b)

    def predict(users, items):
        users = np.asarray(users)
        items = np.asarray(items)
        out = np.full(users.shape[0], b)
        ok = (users < P.shape[0]) & (items < Q.shape[0])
        out[ok] = np.einsum("ij,ij->i", P[users[ok]].astype(np.float64),
                            Q[items[ok]].astype(np.float64))
        out[~np.isfinite(out)] = b
        return out
    return predict


# Starting grids of search_interior (numeric axes are extended until the chosen setting is
# interior on each; SGD's penalty pairs are searched as they are).
GRIDS = {
    "fastmf SGD": (fit_sgd, {"factors": [128, 256, 512], "penalty": SGD_PENALTIES}),
    "fastmf WALS": (fit_wals, {"factors": [64, 128, 256], "reg": [0.05, 0.1, 0.2]}),
    "surprise SVD": (fit_surprise, {"n_factors": [100, 200], "reg_all": [0.02, 0.05, 0.1],
                                    "lr_all": [0.005, 0.01], "n_epochs": [20, 40],
                                    "init_std_dev": [0.01, 0.1]}),
    "libmf": (fit_libmf, {"k": [32, 64, 128], "lam": [0.02, 0.05, 0.1],
                          "iters": [20, 50]}),
}


def quality(args):
    A = load_ml100k()
    train, test = split(A, 0.2, 0)
    fit_part, valid = split(train, 0.2, 1)
    print(f"ML-100K: {A.nnz} ratings; train {train.nnz}, test {test.nnz}; tuning on "
          f"{fit_part.nnz}/{valid.nnz}")
    results = {}
    for name, (fit, grid) in GRIDS.items():
        if args.quick:
            grid = {k: v[:1] for k, v in grid.items()}
        epochs_at = {}

        def score(params, fit=fit, epochs_at=epochs_at):
            predict, epochs = fit(fit_part, valid, **params)
            epochs_at[tuple(params.values())] = epochs
            return -rmse_of(predict, valid)

        params, neg_rmse, lines, edges = search_interior(score, grid)
        epochs = epochs_at[tuple(params.values())]
        extra = {"epochs": epochs} if name.startswith("fastmf") else {}
        predict, _ = fit(train, None, **params, **extra)
        results[name] = rmse_of(predict, test)
        results[name + " params"] = dict(params, **extra)
        note = ""
        if name == "libmf":
            # Its training RMSE, so a broken prediction path would show (see libmf_predictor).
            note = (f"; RMSE of its predictions on its own training entries "
                    f"{rmse_of(predict, train):.4f}")
        print(f"{name:13s} test RMSE {results[name]:.4f} (validation {-neg_rmse:.4f} at "
              f"{params}{', epochs ' + str(epochs) if extra else ''}{note})\n"
              f"              {describe_position(params, lines, edges)}", flush=True)
    return results


def time_to_rmse(args, tuned):
    """Cumulative solve time at which SGD and WALS (w0 = 0, biases), each with its tuned
    setting, first reach each test RMSE level."""
    A = load_ml100k()
    train, test = split(A, 0.2, 0)
    sgd = tuned["fastmf SGD params"]
    als = tuned["fastmf WALS params"]
    curves = {}
    for name, model in (
            ("SGD", fastmf.SGD(sgd["factors"], lr=0.01, lr_schedule="inverse",
                               lr_decay=0.05, reg=sgd["penalty"][1],
                               reg_exponent=sgd["penalty"][0], init_scale=0.01, biases=True,
                               epochs=sgd["epochs"], random_state=0, **RATINGS)),
            ("WALS", fastmf.WALS(als["factors"], reg=als["reg"], reg_exponent=1.0,
                                 biases=True, solver="cholesky", iterations=als["epochs"],
                                 random_state=0, **RATINGS))):
        model.fit(train.copy(), track_objective=False)  # compile outside the timing
        pts = curves[name] = []
        model.fit(train, track_objective=False,
                  callback=lambda m, rec, pts=pts: pts.append((rec["time"],
                                                               rmse_of(m.predict, test))))
    print(f"time to reach a test RMSE (tuned settings: SGD {sgd}, WALS {als}; float32):")
    for lvl in (0.96, 0.94, 0.93, 0.925, 0.92, 0.915):
        cells = []
        for name, pts in curves.items():
            hit = next((t for t, r in pts if r <= lvl), None)
            cells.append(f"{name} {hit:.3f} s" if hit is not None else f"{name} not reached")
        print(f"  RMSE <= {lvl:.3f}: " + ", ".join(cells))
    for name, pts in curves.items():
        print(f"  {name}: best test RMSE {min(r for _, r in pts):.4f}; whole fit "
              f"{pts[-1][0]:.3f} s")
    return curves


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_args(p)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-surprise", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--speed-only", action="store_true")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    apply_quick(args)
    print(f"machine: {machine()}")
    with threadpool_limits(1, "blas"):
        sp_out = None if args.skip_speed else speed(args)
        if args.speed_only:
            return sp_out, None, None
        q = quality(args)
        c = time_to_rmse(args, q)
    return sp_out, q, c


if __name__ == "__main__":
    main()
