"""fastmf against its peers, side by side in one run, on the same data, factors and threads.

WALS (implicit feedback): fastmf's CG and Cholesky solvers against implicit 0.7.3's CPU ALS
(use_cg True / False) on a synthetic power-law matrix (default 100k x 20k x 5.7M), by
``wals_vs_implicit.run``: seconds per iteration as (fit of 4 iterations - fit of 1) / 3,
median of --repeats, the libraries taking turns; quality = the objective each reaches after
15 iterations, both scored by ``fastmf.objective`` (same weighting, same data).

Hogwild SGD (ratings): fastmf.SGD (biases) against LibMF (pip binding, L2 only; also
"libmf-avx", LibMF's own AVX kernels, when ``$LIBMF_NATIVE`` names such a build, see
README) and Surprise's biased SVD on synthetic 1-5 ratings of the same shape, 80% train / 20% test
(seed 0). Seconds per epoch on the training part as (4 epochs - 1 epoch) / 3, median of
--repeats, taking turns; quality = test RMSE after --epochs epochs with the same factors,
step and L2 penalty (fastmf's gradient carries the factor 2 of the squared error, so its
lr = Surprise's lr_all / 2; LibMF keeps its own AdaGrad step eta). Surprise runs on one
thread whatever --threads says (it has no other mode).

Ratios are fastmf / peer (below 1: fastmf faster). BLAS is held to one thread throughout.

    python benchmarks/peers.py [--quick] [--threads N] [--factors 64] [--out peers.json]
"""

import argparse
import importlib.util
import time

import sgd_vs_peers
import wals_vs_implicit
from _common import (
    JsonRecord,
    add_data_args,
    apply_quick,
    available_cores,
    import_libmf,
    import_libmf_native,
    machine,
    machine_info,
    per_iteration,
)
from threadpoolctl import threadpool_limits

import fastmf
from fastmf.datasets import make_synthetic

PEERS = ("implicit", "libmf", "surprise")  # and "libmf-avx" (see import_libmf_native)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_args(p)
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every library that has them (default: all usable cores)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20, help="SGD epochs for the test RMSE")
    p.add_argument("--lr", type=float, default=0.005, help="fastmf SGD step (Surprise: 2x)")
    p.add_argument("--reg", type=float, default=0.05, help="SGD L2 penalty per update")
    p.add_argument("--solvers", default="cg,cholesky")
    p.add_argument("--skip", default="", help=f"comma-separated peers to leave out: {PEERS}")
    p.add_argument("--skip-wals", action="store_true")
    p.add_argument("--skip-sgd", action="store_true")
    p.add_argument("--out", default=None, help="also write the results to this JSON file")
    p.add_argument("--quick", action="store_true", help="20k x 5k x 600k, 2 repeats")
    args = p.parse_args(argv)
    apply_quick(args)
    if args.quick:
        args.repeats = min(args.repeats, 2)
    if args.threads is None:
        import numba
        args.threads = min(available_cores(), numba.config.NUMBA_NUM_THREADS)
    args.skip = {s for s in args.skip.split(",") if s}
    for peer, module in zip(PEERS, ("implicit", "libmf", "surprise")):
        if peer not in args.skip and importlib.util.find_spec(module) is None:
            print(f"{peer} is not installed: left out", flush=True)
            args.skip.add(peer)
    return args


# ----------------------------------------------------------------------------- WALS
def wals(args):
    argv = ["--users", str(args.users), "--items", str(args.items), "--nnz", str(args.nnz),
            "--factors", str(args.factors), "--threads", str(args.threads),
            "--repeats", str(args.repeats), "--solvers", args.solvers]
    if "implicit" in args.skip:
        argv.append("--no-implicit")
    return wals_vs_implicit.run(wals_vs_implicit.parse_args(argv))


# ----------------------------------------------------------------------------- SGD
def sgd(args):
    R = make_synthetic(args.users, args.items, args.nnz, kind="explicit", random_state=0)
    train, test = sgd_vs_peers.split(R, 0.2, 0)
    m, n = R.shape
    print(f"data: {m:,} x {n:,} synthetic 1-5 ratings, train {train.nnz:,} / test "
          f"{test.nnz:,}; factors={args.factors}, threads={args.threads} (Surprise 1), "
          f"lr={args.lr} (Surprise lr_all={2 * args.lr}, LibMF its AdaGrad eta=0.1), "
          f"reg={args.reg} per update, {args.epochs} epochs for RMSE", flush=True)
    triples = sgd_vs_peers._triples(train.tocoo())

    def ours(epochs):
        return fastmf.SGD(args.factors, lr=args.lr, reg=args.reg, reg_exponent=1.0,
                          biases=True, epochs=epochs, num_threads=args.threads,
                          random_state=0, **sgd_vs_peers.RATINGS).fit(
            train, track_objective=False)

    def libmf_fit(mf):
        def fit(epochs):
            model = mf.MF(k=args.factors, nr_threads=args.threads, nr_iters=epochs,
                          nr_bins=max(26, 2 * args.threads + 1), lambda_p1=0.0,
                          lambda_q1=0.0, lambda_p2=args.reg, lambda_q2=args.reg, quiet=True)
            model.fit(triples.copy())  # the binding may reorder its input in place
            return model
        return fit

    trainset = None

    def surprise(epochs):
        from surprise import SVD
        return SVD(n_factors=args.factors, n_epochs=epochs, lr_all=2 * args.lr,
                   reg_all=args.reg, random_state=0).fit(trainset)

    fits = {"fastmf": ours}
    if "libmf" not in args.skip:
        fits["libmf"] = libmf_fit(import_libmf())
    native = None if "libmf-avx" in args.skip else import_libmf_native()
    if native is not None:
        fits["libmf-avx"] = libmf_fit(native)
    if "surprise" not in args.skip:
        import pandas as pd
        from surprise import Dataset, Reader
        coo = train.tocoo()
        df = pd.DataFrame({"u": coo.row, "i": coo.col, "r": coo.data})
        trainset = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
        fits["surprise"] = surprise
    for fit in fits.values():
        fit(1)  # compile / load outside the timing
    timings = per_iteration(fits, args.repeats)

    predictors = {
        "fastmf": lambda model: model.predict,
        "libmf": sgd_vs_peers.libmf_predictor,
        "libmf-avx": sgd_vs_peers.libmf_predictor,
        "surprise": lambda algo: sgd_vs_peers.surprise_predictor(algo, trainset, m, n),
    }
    rows = []
    for name, fit in fits.items():
        t0 = time.perf_counter()
        model = fit(args.epochs)
        seconds = time.perf_counter() - t0
        rmse = sgd_vs_peers.rmse_of(predictors[name](model), test)
        med, all_ = timings[name]
        rows.append({"library": name, "s_per_epoch": med, "s_per_epoch_all": all_,
                     "updates_per_s": train.nnz / med, "test_rmse": rmse,
                     "fit_seconds": seconds, "epochs": args.epochs})
        print(f"{name:9s} {med:.3f} s/epoch ({', '.join(f'{t:.3f}' for t in all_)}) = "
              f"{train.nnz / med / 1e6:.1f}M updates/s; test RMSE after {args.epochs} epochs "
              f"{rmse:.4f} (whole fit {seconds:.2f} s)", flush=True)
    return rows


# ----------------------------------------------------------------------------- report
def summary(wals_rows, sgd_rows):
    lines = []
    if wals_rows:
        lines += [("WALS vs implicit ALS (ratio = fastmf / implicit s per iteration; "
                   "objective after 15 iterations, lower is better)"),
                  (f"  {'solver':9s} {'fastmf s/it':>11s} {'implicit s/it':>13s} "
                   f"{'ratio':>6s} {'obj fastmf':>12s} {'obj implicit':>12s} {'gap':>7s}")]
        for r in wals_rows:
            if "implicit" not in r:
                lines.append(f"  {r['solver']:9s} {r['fastmf']:11.3f}")
                continue
            gap = 100 * (r["obj_fastmf"] / r["obj_implicit"] - 1)
            lines.append(f"  {r['solver']:9s} {r['fastmf']:11.3f} {r['implicit']:13.3f} "
                         f"{r['fastmf'] / r['implicit']:6.2f} {r['obj_fastmf']:12.5e} "
                         f"{r['obj_implicit']:12.5e} {gap:+6.2f}%")
    if sgd_rows:
        ours = next(r for r in sgd_rows if r["library"] == "fastmf")
        lines += [("SGD vs LibMF / Surprise (ratio = fastmf / peer s per epoch; test RMSE, "
                   "lower is better)"),
                  (f"  {'library':9s} {'s/epoch':>8s} {'M upd/s':>8s} {'ratio':>6s} "
                   f"{'test RMSE':>9s}")]
        for r in sgd_rows:
            lines.append(f"  {r['library']:9s} {r['s_per_epoch']:8.3f} "
                         f"{r['updates_per_s'] / 1e6:8.1f} "
                         f"{ours['s_per_epoch'] / r['s_per_epoch']:6.2f} {r['test_rmse']:9.4f}")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    record = JsonRecord(args.out, machine=machine_info(), args=vars(args) | {
        "skip": sorted(args.skip)}) if args.out else None
    wals_rows = sgd_rows = None
    with threadpool_limits(1, "blas"):
        if not args.skip_wals:
            print("-- WALS against implicit ALS (implicit feedback)", flush=True)
            wals_rows = wals(args)
            if record:
                record.set(wals=wals_rows)
        if not args.skip_sgd:
            print("-- Hogwild SGD against LibMF and Surprise SVD (ratings)", flush=True)
            sgd_rows = sgd(args)
            if record:
                record.set(sgd=sgd_rows)
    print("-- summary")
    print(summary(wals_rows, sgd_rows), flush=True)
    return {"wals": wals_rows, "sgd": sgd_rows, "threads": args.threads}


if __name__ == "__main__":
    main()
