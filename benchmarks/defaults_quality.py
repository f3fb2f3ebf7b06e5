"""Quality of default hyperparameters against validation-tuned ones, on five data sets.

Implicit feedback (NDCG@20): MovieLens 100K (ratings >= 4 as binary positives), CiteULike-a
(binary), and three synthetic shapes from ``fastmf.datasets.make_synthetic`` (counts):
small-dense 2k x 1k x 100k, wide-sparse 20k x 50k x 400k, and heavy-tail 10k x 5k x 200k
whose counts are multiplied by a log-normal factor (play-count-like values up to thousands).

Protocol, per data set: 20% of the entries held out at random (``fastmf.split.
random_holdout``, seed 0) as the test set; 10% of the training part carved out (seed 1) as
the validation set. Every choice -- the grid search of the "tuned" row, and the constants
of the proposed rules (``sweep``) -- is made on validation NDCG@20 (fit on the rest of the
training part); the chosen setting is then refit on the whole training part and scored on
the test set. WALS with 64 factors, 15 iterations, CG, one thread, seed 0. NDCG@20 over the
users with test items, training items filtered out (``ndcg`` below; validation NDCG uses at
most 3,000 users, sampled with seed 2).

Explicit ratings (RMSE): MovieLens 100K ratings with the same splits; SGD with the ratings
preset (w0=0, target='value', confidence='none', biases=True). Divergence check: SGD at
defaults on ``make_synthetic(10_000, 2_000, 200_000)``.

    FASTMF_DATA=/path/to/datasets python benchmarks/defaults_quality.py [--quick]
        [--parts tune,defaults,sweep,ratings,sgd] [--data ml100k,citeulike,...]

``--parts implicit`` runs implicit 0.7.3's defaults (needs ``implicit`` installed; run it in
a separate environment). Results are cached line by line in
``benchmarks/out/defaults_quality.jsonl`` (delete it to recompute) and summarized in
``benchmarks/out/defaults_quality.json``.
"""

import argparse
import itertools
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _auto_defaults as auto
from _curves import Scorer

OUT = Path(__file__).with_name("out")
CACHE = OUT / "defaults_quality.jsonl"
FACTORS, ITERATIONS, K = 64, 15, 20
MAX_VALID_USERS = 3000


# ----------------------------------------------------------------------------- data
def _ml100k_matrix():
    from fastmf.datasets import load
    A = sp.csr_array(load("movielens-100k").matrix, dtype=np.float32)
    A.sum_duplicates()
    return A


def ml100k_positives():
    A = _ml100k_matrix()
    A.data = (A.data >= 4).astype(np.float32)
    A.eliminate_zeros()
    return A


def citeulike():
    from fastmf.datasets import load
    A = sp.csr_array(load("citeulike-a").matrix, dtype=np.float32)
    A.sum_duplicates()
    return A


def synthetic(m, n, nnz, heavy=False):
    from fastmf.datasets import make_synthetic
    A = make_synthetic(m, n, nnz, random_state=0)
    if heavy:
        rng = np.random.default_rng(5)
        A.data = np.ceil(A.data * rng.lognormal(0.0, 1.5, A.nnz)).astype(np.float32)
    return A


DATASETS = {
    "ml100k": ml100k_positives,
    "citeulike": citeulike,
    "small-dense": lambda: synthetic(2_000, 1_000, 100_000),
    "wide-sparse": lambda: synthetic(20_000, 50_000, 400_000),
    "heavy-tail": lambda: synthetic(10_000, 5_000, 200_000, heavy=True),
}


def splits(A):
    """(train, test, fit part, validation part, validation users)."""
    from fastmf import split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, test = split.random_holdout(A, 0.2, random_state=0)
        fit, valid = split.random_holdout(train, 0.1, random_state=1)
    train, test, fit, valid = (sp.csr_array(x, dtype=np.float32) for x in (train, test, fit,
                                                                          valid))
    users = np.flatnonzero(np.diff(valid.indptr))
    if users.size > MAX_VALID_USERS:
        users = np.sort(np.random.default_rng(2).choice(users, MAX_VALID_USERS, replace=False))
    return train, test, fit, valid, users


# ----------------------------------------------------------------------------- metric
def ndcg(U, V, train, test, users=None, k=K):
    """Mean NDCG@k (binary relevance) over ``users`` (default: every user with test items),
    the training items of each user removed from the ranking."""
    return Scorer(train, test, k=k, users=users)(U, V)


# ----------------------------------------------------------------------------- fits
def fit_wals(A, params):
    import fastmf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fastmf.WALS(FACTORS, iterations=ITERATIONS, num_threads=1, random_state=0,
                            **params).fit(A, track_objective=False)
    return model.user_factors, model.item_factors


def fit_implicit(A, params):
    from implicit.cpu.als import AlternatingLeastSquares
    model = AlternatingLeastSquares(factors=FACTORS, iterations=ITERATIONS, random_state=0,
                                    num_threads=1, **params)
    model.fit(sp.csr_matrix(A), show_progress=False)
    return model.user_factors, model.item_factors


class Cache:
    def __init__(self, path):
        self.path = path
        self.rows = {}
        if path.exists():
            for line in path.read_text().splitlines():
                r = json.loads(line)
                self.rows[r["key"]] = r

    def get(self, key, compute):
        k = json.dumps(key, sort_keys=True)
        if k not in self.rows:
            t0 = time.perf_counter()
            value = compute()
            r = {"key": k, "value": value, "seconds": round(time.perf_counter() - t0, 2)}
            self.rows[k] = r
            self.path.parent.mkdir(exist_ok=True)
            with open(self.path, "a") as f:
                f.write(json.dumps(r) + "\n")
        return self.rows[k]["value"]


def _jsonable(params):
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v)
            for k, v in params.items()}


def score(cache, name, data, params, stage, fitter=fit_wals, lib="fastmf"):
    """Validation ('valid') or test ('test') NDCG@20 of one setting."""
    train, test, fit, valid, users = data
    params = _jsonable(params)

    def compute():
        if stage == "valid":
            return ndcg(*fitter(fit, params), fit, valid, users)
        return ndcg(*fitter(train, params), train, test)
    return cache.get([lib, name, stage, params], compute)


# ----------------------------------------------------------------------------- grids
def tune_grid(binary, quick):
    """The grid of the 'tuned' row: plain penalty (reg_exponent 0) and frequency-scaled
    penalty (reg_exponent 1), confidence linear (and log for counts), w0 = 1."""
    alphas = [1, 3, 10, 30, 100]
    plain = [0.1, 1, 10, 100]
    scaled = [1e-4, 1e-3, 1e-2, 1e-1]
    confs = ["linear"] if binary else ["linear", "log"]
    if quick:
        alphas, plain, scaled, confs = [3, 30], [1, 10], [1e-3], confs[-1:]
    out = []
    for conf, alpha in itertools.product(confs, alphas):
        for nu, regs in ((0.0, plain), (1.0, scaled)):
            out += [{"confidence": conf, "alpha": float(alpha), "w0": 1.0, "reg": float(r),
                     "reg_exponent": nu} for r in regs]
    return out


def edge(best, grid):
    """Which of the best setting's tuned values sit on the edge of the grid."""
    on = []
    for key in ("alpha", "reg"):
        same = [g[key] for g in grid if all(g[o] == best[o] for o in g if o != key)]
        if len(same) > 1 and best[key] in (min(same), max(same)):
            on.append(f"{key}={best[key]:g} at {'low' if best[key] == min(same) else 'high'}")
    return on


def run_tune(cache, name, data, binary, quick):
    """Best validation NDCG@20 over the w0 = 1 grid (``tune_grid``) and the rule family's
    grid (``sweep``: w0, reg from ratio and REG, several confidences), refit on the whole
    training part (the rule family's values recomputed from it) and scored on test."""
    grid = tune_grid(binary, quick)
    cands = [("grid", p, p, score(cache, name, data, p, "valid")) for p in grid]
    for o in sweep(cache, name, data, binary, quick):
        cands.append(("rule", o["params"], o["params_train"], o["valid"]))
    kind, p_fit, p_train, val = max(cands, key=lambda c: c[3])
    if kind == "grid":
        where = edge(p_fit, grid)
    else:
        o = next(o for o in sweep(cache, name, data, binary, quick) if o["params"] == p_fit)
        where = [f"{k}={o[k]:g} at {'low' if o[k] == min(g) else 'high'}"
                 for k, g in (("ratio", SWEEP_RATIOS), ("reg", SWEEP_REGS))
                 if o["family"] == "auto" and o[k] in (min(g), max(g))]
        p_train = {**p_train, "rule": f"{o['family']} ratio={o['ratio']:g} REG={o['reg']:g}"}
    return {"params": p_train, "valid": val, "search": kind, "edge": where,
            "test": score(cache, name, data, {k: v for k, v in p_train.items()
                                              if k != "rule"}, "test")}


# ----------------------------------------------------------------------------- main
def implicit_feedback(args, cache, results):
    for name in args.data:
        A = DATASETS[name]()
        data = splits(A)
        s = auto.summary(data[0])
        binary = s["binary"]
        r = results.setdefault(name, {"shape": [s["m"], s["n"]], "nnz_train": s["nnz"],
                                      "density": s["density"], "binary": binary,
                                      "p99/median": s["p99"] / s["median"]})
        print(f"\n== {name}: {s['m']} x {s['n']}, train nnz {s['nnz']}, density "
              f"{s['density']:.4g}, {'binary' if binary else 'counts'} (median "
              f"{s['median']:g}, p99 {s['p99']:g})", flush=True)
        if "defaults" in args.parts:
            cur = {"params": {}, "valid": score(cache, name, data, {}, "valid"),
                   "test": score(cache, name, data, {}, "test")}
            prop = auto.wals_implicit(data[2])            # rule applied to the fit part
            prop_train = auto.wals_implicit(data[0])      # ... and to the training part
            r["current"] = cur
            r["proposed"] = {"params": prop_train,
                             "valid": score(cache, name, data, prop, "valid"),
                             "test": score(cache, name, data, prop_train, "test")}
            print(f"  current defaults   valid {cur['valid']:.4f} test {cur['test']:.4f}")
            print(f"  proposed defaults  valid {r['proposed']['valid']:.4f} test "
                  f"{r['proposed']['test']:.4f}  {prop_train}", flush=True)
        if "tune" in args.parts:
            r["tuned"] = run_tune(cache, name, data, binary, args.quick)
            t = r["tuned"]
            print(f"  tuned ({t['search']})      valid {t['valid']:.4f} test {t['test']:.4f}  "
                  f"{t['params']}  edge: {t['edge'] or 'none'}", flush=True)
        if "implicit" in args.parts:
            r["implicit_defaults"] = {
                "valid": score(cache, name, data, {}, "valid", fit_implicit, "implicit"),
                "test": score(cache, name, data, {}, "test", fit_implicit, "implicit")}
            print(f"  implicit defaults  valid {r['implicit_defaults']['valid']:.4f} test "
                  f"{r['implicit_defaults']['test']:.4f}", flush=True)


SWEEP_RATIOS = [0.03, 0.1, 0.3, 1.0]
SWEEP_REGS = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
RATIO_DEFAULT, REG_DEFAULT = auto.RATIO, auto.REG


def sweep(cache, name, data, binary, quick):
    """Validation NDCG of the rule family over its constants (and, for counts, of other
    confidence families), every value computed from the fit part only."""
    fit, train = data[2], data[0]
    families = {"auto": lambda X: None}
    if not binary:
        def fam(conf, alpha=1.0):
            def make(X):
                a = X.data.astype(np.float64)
                eps = auto.summary(X)["median"]
                if conf == "linear":
                    return {"confidence": "linear", "alpha": alpha}, float((1 + alpha * a).mean())
                if conf == "none":
                    return {"confidence": "none"}, 1.0
                return ({"confidence": "log", "alpha": alpha, "epsilon": eps},
                        float((1 + alpha * np.log1p(a / eps)).mean()))
            return make
        families.update({"linear1": fam("linear"), "none": fam("none"),
                         "log0.3": fam("log", 0.3), "log3": fam("log", 3.0)})
    out = []
    for fname, make in families.items():
        if fname != "auto" and quick:
            continue
        # the other confidence families on a smaller grid around the middle
        rs, gs = ((SWEEP_RATIOS, SWEEP_REGS) if fname == "auto"
                  else (SWEEP_RATIOS[1:3], SWEEP_REGS[1:4]))
        if quick:
            rs, gs = [RATIO_DEFAULT], [REG_DEFAULT]
        for ratio, reg in itertools.product(rs, gs):
            p = auto.wals_implicit(fit, ratio=ratio, reg=reg, confidence=make(fit))
            pt = auto.wals_implicit(train, ratio=ratio, reg=reg, confidence=make(train))
            out.append({"family": fname, "ratio": ratio, "reg": reg, "params": _jsonable(p),
                        "params_train": _jsonable(pt),
                        "valid": score(cache, name, data, p, "valid")})
    return out


def ratings_part(args, cache, results):
    """ML-100K ratings: SGD ratings preset at current defaults, proposed, tuned (RMSE)."""
    import fastmf
    A = _ml100k_matrix()
    train, test, fit, valid, _ = splits(A)
    base = {"w0": 0.0, "target": "value", "confidence": "none", "biases": True}

    def rmse(model, T):
        c = T.tocoo()
        return float(np.sqrt(np.mean((model.predict(c.row, c.col) - c.data) ** 2)))

    def run(params, stage):
        def compute():
            X, T = (fit, valid) if stage == "valid" else (train, test)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = fastmf.SGD(FACTORS, num_threads=1, random_state=0,
                                   **{**base, **params}).fit(X, track_objective=False)
                return rmse(m, T)
            except FloatingPointError:
                return None
        return cache.get(["sgd-ratings", "ml100k", stage, _jsonable(params)], compute)

    def show(label, p, v, t):
        print(f"  {label:18s} valid {v if v is None else round(v, 4)} test "
              f"{t if t is None else round(t, 4)}  {p}", flush=True)

    print("\n== ML-100K ratings, SGD", flush=True)
    out = results.setdefault("ml100k-ratings", {})
    out["current"] = {"params": {}, "valid": run({}, "valid"), "test": run({}, "test")}
    show("current defaults", {}, out["current"]["valid"], out["current"]["test"])
    prop_fit = auto.ratings(fit)
    prop = auto.ratings(train)
    out["proposed"] = {"params": prop, "valid": run(prop_fit, "valid"),
                       "test": run(prop, "test")}
    show("proposed", prop, out["proposed"]["valid"], out["proposed"]["test"])
    grid = [{"lr": lr, "reg": reg, "reg_exponent": 1.0, "lr_schedule": sch}
            for sch in ("constant", "adagrad")
            for lr in ((0.003, 0.01, 0.03) if sch == "constant" else (0.01, 0.03, 0.1))
            for reg in (0.01, 0.02, 0.05, 0.1, 0.2)]
    if args.quick:
        grid = grid[:4]
    vals = [run(p, "valid") for p in grid]
    i = int(np.nanargmin([np.inf if v is None else v for v in vals]))
    out["tuned"] = {"params": grid[i], "valid": vals[i], "test": run(grid[i], "test"),
                    "edge": edge_sgd(grid[i], grid)}
    show("tuned", grid[i], vals[i], out["tuned"]["test"])
    # the rule's constants: the per-visit penalty and the step, on validation
    out["sweep"] = []
    for reg, lr in itertools.product((0.02, 0.04, 0.08, 0.16), (0.005, 0.01, 0.02)):
        if args.quick:
            break
        v = run(auto.ratings(fit, reg=reg, lr=lr), "valid")
        out["sweep"].append({"reg": reg, "lr": lr, "valid": v})
    if out["sweep"]:
        b = min(out["sweep"], key=lambda o: np.inf if o["valid"] is None else o["valid"])
        print(f"  rule sweep best    valid {b['valid']:.4f} at reg {b['reg']} lr {b['lr']}")


def edge_sgd(best, grid):
    on = []
    for key in ("lr", "reg"):
        same = [g[key] for g in grid if all(g[o] == best[o] for o in g if o != key)]
        if best[key] in (min(same), max(same)):
            on.append(f"{key}={best[key]:g} at {'low' if best[key] == min(same) else 'high'}")
    return on


def sgd_part(args, cache, results):
    """SGD at defaults and with the proposed implicit rule: divergence and NDCG@20."""
    import fastmf
    from fastmf.datasets import make_synthetic
    print("\n== SGD, implicit feedback", flush=True)
    out = results.setdefault("sgd", {})
    A = make_synthetic(10_000, 2_000, 200_000)

    def status(params):
        def compute():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fastmf.SGD(FACTORS, num_threads=1, random_state=0, **params).fit(
                        A, track_objective=False)
                return "finite"
            except FloatingPointError as e:
                return str(e).split(":")[0]
        return cache.get(["sgd-diverge", "synthetic-10k", _jsonable(params)], compute)

    out["diverge_current"] = status({})
    prop = auto.sgd_implicit(A)
    out["diverge_proposed"] = status(prop)
    print(f"  make_synthetic(10k, 2k, 200k): current defaults: {out['diverge_current']}; "
          f"proposed: {out['diverge_proposed']}", flush=True)
    for label, make, rule in (
            ("heavy-tail", DATASETS["heavy-tail"], auto.sgd_implicit),
            ("wide-sparse", DATASETS["wide-sparse"], auto.sgd_implicit),
            ("explicit 10k x 2k x 200k",
             lambda: make_synthetic(10_000, 2_000, 200_000, kind="explicit"), auto.ratings)):
        B = make()

        def compute(B=B, rule=rule):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fastmf.SGD(FACTORS, num_threads=1, random_state=0, **rule(B)).fit(
                        B, track_objective=False)
                return "finite"
            except FloatingPointError as e:
                return str(e).split(":")[0]
        out[f"diverge_proposed {label}"] = cache.get(["sgd-diverge", label, "proposed"],
                                                     compute)
        print(f"  {label}: proposed: {out[f'diverge_proposed {label}']}", flush=True)
    for name in [d for d in args.data if d in ("ml100k", "citeulike", "small-dense")]:
        data = splits(DATASETS[name]())

        def fit_sgd(X, params):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = fastmf.SGD(FACTORS, num_threads=1, random_state=0, **params).fit(
                    X, track_objective=False)
            return m.user_factors, m.item_factors
        p = auto.sgd_implicit(data[0])
        try:
            t = score(cache, name, data, p, "test", fit_sgd, "fastmf-sgd")
        except FloatingPointError:
            t = None
        out[name] = {"params": p, "test": t}
        print(f"  {name}: SGD proposed test NDCG@20 {t}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small grids (a smoke run)")
    p.add_argument("--parts", default="defaults,tune,ratings,sgd")
    p.add_argument("--data", default=",".join(DATASETS))
    p.add_argument("--out", default=str(OUT / "defaults_quality.json"))
    args = p.parse_args(argv)
    args.parts = args.parts.split(",")
    args.data = args.data.split(",")
    from threadpoolctl import threadpool_limits
    cache = Cache(CACHE.with_suffix(".quick.jsonl") if args.quick else CACHE)
    results = {}
    with threadpool_limits(1):
        if set(args.parts) & {"defaults", "tune", "implicit"}:
            implicit_feedback(args, cache, results)
        if "ratings" in args.parts:
            ratings_part(args, cache, results)
        if "sgd" in args.parts:
            sgd_part(args, cache, results)
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    return results


if __name__ == "__main__":
    main()
