"""Held-out NDCG@20 of WALS and of SGD with each loss (squared, logistic, BPR), next to
implicit's BPR, on MovieLens 100K positives (ratings >= 4) and CiteULike-a, tuned alike.

20% of each data set's entries are held out (``fastmf.split.random_holdout``, seed 0) as the
test set. Every method is tuned on a 10% validation carve of the training part only (seed 0)
by NDCG@20, refit on the whole training part with the chosen setting, and scored once on the
test set with ``fastmf.evaluate`` (training items filtered out). Factors 64, one thread.

- WALS: ``fastmf.tune`` over its default space (it carves the same 10% validation itself).
- SGD squared (AdaGrad): reg in {1/9, 1, 9} x its 'auto' value, lr in {0.02, 0.05, 0.1}.
- SGD logistic / bpr (popularity negatives): lr in {0.02, 0.05, 0.1}, reg in
  {0.001, 0.01, 0.1}, with reg_exponent 1 (the default) and, as separate rows, 0.
- implicit 0.7.3 CPU BPR (run with the interpreter given by ``--implicit-python``, default
  /tmp/venv-implicit/bin/python; skipped when missing): learning_rate in {0.01, 0.05, 0.1},
  regularization in {0.001, 0.01, 0.1}, 100 iterations. Its factors come back through .npz
  files and are scored with ``ndcg_at_k`` below, checked first against ``fastmf.evaluate`` on
  a fastmf model.

A setting "on the edge" is at the smallest or largest value of a grid axis.
Results are printed and written to ``benchmarks/out/losses_quality.json`` after each method.

    FASTMF_DATA=../shared/datasets python benchmarks/losses_quality.py [--datasets ml100k,citeulike]
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import machine
from threadpoolctl import threadpool_limits

import fastmf

K = 20
METRIC = f"ndcg@{K}"
LRS = [0.02, 0.05, 0.1]
REGS = [0.001, 0.01, 0.1]
IMPLICIT_LRS = [0.01, 0.05, 0.1]
IMPLICIT_REGS = [0.001, 0.01, 0.1]
OUT = Path(__file__).resolve().parent / "out" / "losses_quality.json"


def load(name):
    if name == "ml100k":
        ml = fastmf.datasets.load("movielens-100k")
        return "ML-100K (ratings >= 4)", ml.subset(ml.values >= 4)
    if name == "citeulike":
        return "CiteULike-a", fastmf.datasets.load("citeulike-a")
    raise SystemExit(f"unknown data set {name!r}")


def csr(x):
    return sp.csr_matrix(x.to_csr(np.float32))


def ndcg_at_k(user_factors, item_factors, train, test, k=K):
    """Mean NDCG@k over the users with test items: all items ranked by u . v, training items
    dropped, binary relevance, ideal DCG over min(k, |test items|) hits."""
    discounts = 1 / np.log2(np.arange(2, k + 2))
    users = np.flatnonzero(np.diff(test.indptr))
    total = 0.0
    for start in range(0, users.size, 1024):
        block = users[start:start + 1024]
        scores = np.asarray(user_factors[block], np.float64) @ np.asarray(item_factors,
                                                                          np.float64).T
        scores[train[block].toarray() > 0] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        for row, u in enumerate(block):
            truth = test.indices[test.indptr[u]:test.indptr[u + 1]]
            hits = np.isin(top[row], truth)
            total += (hits * discounts).sum() / discounts[:min(k, truth.size)].sum()
    return total / users.size


def score(model, train, test):
    return fastmf.evaluate(model, train, test, k=K, metrics=[METRIC])[METRIC]


def on_edge(chosen, grid):
    """Names of the grid axes whose chosen value is the smallest or largest of the axis."""
    return [name for name, values in grid.items()
            if len(values) > 1 and chosen[name] in (min(values), max(values))]


def grid_search(make, grid, fit_part, valid, train, test):
    """Fit every combination on fit_part, pick by validation NDCG@20, refit on train."""
    best = None
    t0 = time.perf_counter()
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values))
        nd = score(make(**params).fit(fit_part), fit_part, valid)
        if best is None or nd > best[0]:
            best = (nd, params)
    tuning = time.perf_counter() - t0
    model = make(**best[1])
    t0 = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - t0
    return dict(valid=best[0], chosen=best[1], edge=on_edge(best[1], grid),
                test=score(model, train, test), fit_s=fit_s, tuning_s=tuning)


def run_wals(fit_part, valid, train, test):
    t0 = time.perf_counter()
    result = fastmf.tune(fastmf.WALS(64, iterations=15, random_state=0, num_threads=1), train,
                         metric=METRIC)
    tuning = time.perf_counter() - t0
    searched = {}
    for row in result.table:
        for name, v in row.items():
            if name not in ("candidate", "score", "rank_score", "seconds", "iterations"):
                searched.setdefault(name, set()).add(v)
    grid = {name: sorted(v) for name, v in searched.items()}
    chosen = {name: result.best_params[name] for name in grid}
    # Fit time of the final model: the chosen setting refit on the training part.
    refit = fastmf.WALS(**result.best_params)
    t0 = time.perf_counter()
    refit.fit(train)
    fit_s = time.perf_counter() - t0
    return dict(valid=result.best_score, chosen=chosen, edge=on_edge(chosen, grid),
                test=score(result.model, train, test), test_refit=score(refit, train, test),
                fit_s=fit_s, tuning_s=tuning, grid=grid)


def run_sgd(loss, fit_part, valid, train, test, reg_exponent=1.0):
    if loss == "squared":
        auto = fastmf.SGD(64, epochs=20, random_state=0, num_threads=1).fit(
            fit_part).resolved_params_["reg"]
        grid = {"lr": LRS, "reg": [auto / 9, auto, auto * 9]}
        make = lambda **p: fastmf.SGD(64, epochs=20, random_state=0, num_threads=1, **p)
    else:
        grid = {"lr": LRS, "reg": REGS}
        cls = {"logistic": fastmf.LogisticMF, "bpr": fastmf.BPR, "warp": fastmf.WARP}[loss]
        make = lambda **p: cls(64, sampling="popularity", epochs=20,
                               reg_exponent=reg_exponent, random_state=0, num_threads=1,
                               **p)
    out = grid_search(make, grid, fit_part, valid, train, test)
    out["grid"] = grid
    return out


IMPLICIT_WORKER = textwrap.dedent("""
    import json, sys, time
    import numpy as np, scipy.sparse as sp
    from threadpoolctl import threadpool_limits
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    job = json.load(open(sys.argv[1]))
    A = sp.load_npz(job["matrix"]).tocsr().astype(np.float32)
    out = {}
    with threadpool_limits(1):
        for i, (lr, reg) in enumerate(job["params"]):
            m = BayesianPersonalizedRanking(factors=64, learning_rate=lr, regularization=reg,
                                            iterations=100, num_threads=1, random_state=0)
            t0 = time.perf_counter()
            m.fit(A, show_progress=False)
            out[f"s{i}"] = np.array([time.perf_counter() - t0])
            out[f"u{i}"], out[f"v{i}"] = m.user_factors, m.item_factors
    np.savez(job["out"], **out)
""")


def implicit_fits(python, A, params, tmp):
    """Fit implicit's BPR on A for each (lr, reg): [(user_factors, item_factors, seconds)]."""
    sp.save_npz(f"{tmp}/A.npz", sp.csr_matrix(A))
    with open(f"{tmp}/job.json", "w") as f:
        json.dump({"matrix": f"{tmp}/A.npz", "params": params, "out": f"{tmp}/out.npz"}, f)
    with open(f"{tmp}/worker.py", "w") as f:
        f.write(IMPLICIT_WORKER)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    subprocess.run([python, f"{tmp}/worker.py", f"{tmp}/job.json"], check=True, env=env)
    z = np.load(f"{tmp}/out.npz")
    return [(z[f"u{i}"], z[f"v{i}"], float(z[f"s{i}"][0])) for i in range(len(params))]


def run_implicit(python, fit_part, valid, train, test):
    grid = {"learning_rate": IMPLICIT_LRS, "regularization": IMPLICIT_REGS}
    params = list(itertools.product(*grid.values()))
    F, V, T, S = csr(fit_part), csr(valid), csr(train), csr(test)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        fits = implicit_fits(python, F, params, tmp)
        scores = [ndcg_at_k(u, v, F, V) for u, v, _ in fits]
        tuning = time.perf_counter() - t0
        best = int(np.argmax(scores))
        (u, v, fit_s), = implicit_fits(python, T, [params[best]], tmp)
    chosen = dict(zip(grid, params[best]))
    return dict(valid=scores[best], chosen=chosen, edge=on_edge(chosen, grid),
                test=ndcg_at_k(u, v, T, S), fit_s=fit_s, tuning_s=tuning, grid=grid)


def implicit_python(path):
    try:
        r = subprocess.run([path, "-c", "import implicit, threadpoolctl; "
                            "print(implicit.__version__)"],
                           capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def fmt_setting(r):
    text = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in r["chosen"].items())
    return text + (f" [edge: {', '.join(r['edge'])}]" if r["edge"] else "")


def print_table(results):
    head = (f"{'data set':24s} {'method':28s} {'valid':>7s} {'test':>7s} {'fit s':>7s}  "
            f"chosen setting")
    print(head)
    print("-" * len(head))
    for ds, methods in results["datasets"].items():
        for name, r in methods.items():
            if "skipped" in r:
                print(f"{ds:24s} {name:28s} skipped: {r['skipped']}")
                continue
            print(f"{ds:24s} {name:28s} {r['valid']:7.4f} {r['test']:7.4f} "
                  f"{r['fit_s']:7.2f}  {fmt_setting(r)}")


def save(results, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    conv = lambda o: o.item() if isinstance(o, np.generic) else str(o)
    path.write_text(json.dumps(results, indent=1, default=conv))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="ml100k,citeulike")
    p.add_argument("--no-reg-exponent-0", action="store_true",
                   help="skip the reg_exponent=0 rows of SGD logistic and bpr")
    p.add_argument("--implicit-python", default="/tmp/venv-implicit/bin/python")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    results = {"machine": machine(), "k": K, "factors": 64, "threads": 1, "datasets": {}}
    print(f"machine: {machine()}", flush=True)
    version = implicit_python(args.implicit_python)
    results["implicit"] = version
    print(f"implicit: {version or 'not available at ' + args.implicit_python}", flush=True)

    methods = [("WALS (fastmf.tune)", run_wals),
               ("SGD squared", lambda *d: run_sgd("squared", *d)),
               ("SGD logistic", lambda *d: run_sgd("logistic", *d)),
               ("SGD bpr", lambda *d: run_sgd("bpr", *d))]
    if not args.no_reg_exponent_0:
        methods += [("SGD logistic reg_exponent=0", lambda *d: run_sgd("logistic", *d, 0.0)),
                    ("SGD bpr reg_exponent=0", lambda *d: run_sgd("bpr", *d, 0.0))]
    checked = False
    with threadpool_limits(1, "blas"):
        for key in args.datasets.split(","):
            label, data = load(key)
            train, test = fastmf.split.random_holdout(data, 0.2, random_state=0, warn=False)
            fit_part, valid = fastmf.split.random_holdout(train, 0.1, random_state=0,
                                                          warn=False)
            print(f"\n{label}: {data.n_users} users x {data.n_items} items, {data.nnz} "
                  f"entries; train {train.nnz}, test {test.nnz}; tuning on {fit_part.nnz} / "
                  f"{valid.nnz}", flush=True)
            out = results["datasets"][label] = {}
            if version and not checked:
                m = fastmf.SGD(64, epochs=20, random_state=0, num_threads=1).fit(fit_part)
                a = score(m, fit_part, valid)
                b = ndcg_at_k(m.user_factors, m.item_factors, csr(fit_part), csr(valid))
                print(f"check: fastmf.evaluate {a:.6f}, ndcg_at_k {b:.6f}", flush=True)
                results["ndcg_check"] = {"fastmf.evaluate": a, "ndcg_at_k": b}
                if abs(a - b) > 1e-4:
                    raise SystemExit("ndcg_at_k does not match fastmf.evaluate")
                checked = True
            todo = methods + ([("implicit BPR", lambda *d: run_implicit(
                args.implicit_python, *d))] if version else [])
            for name, run in todo:
                r = run(fit_part, valid, train, test)
                out[name] = r
                print(f"{name:28s} valid {r['valid']:.4f}  test {r['test']:.4f}  fit "
                      f"{r['fit_s']:.2f} s  tuning {r['tuning_s']:.0f} s  {fmt_setting(r)}",
                      flush=True)
                save(results, args.out)
            if not version:
                out["implicit BPR"] = {"skipped": "implicit not available"}
                save(results, args.out)
    print()
    print_table(results)
    return results


if __name__ == "__main__":
    main()
