"""Held-out NDCG@20 of WALS and of SGD with each loss (squared, logistic, BPR, WARP), next to
implicit's BPR, on MovieLens 100K positives (ratings >= 4) and CiteULike-a: each method at its
defaults and tuned alike, with grids interior on every axis, epochs included.

Protocol. 20% of each data set's entries are held out (``fastmf.split.random_holdout``,
seed 0) as the test set. Every method is tuned on a 10% validation carve of the training
part only (seed 0) by NDCG@20; the chosen setting (with its best epoch count) is refit on
the whole training part and scored once on the test set (training items filtered out).
Factors 64, one thread (BLAS too), float32.

Tuning. Each candidate setting is one fit whose validation NDCG@20 is scored after the
epochs of ``_curves.CHECKS`` (1, 2, ..., then steps of about 25%) up to MAX_EPOCHS, stopped
once it has not improved for ``_curves.PATIENCE`` scored epochs; its score is the best point
of that curve and its epoch count the epoch of that point. The chosen setting's curve, if
still rising at MAX_EPOCHS, is run on to LONGER_EPOCHS (the epoch axis is interior when the
curve peaked before its last scored epoch). The other axes start from the grids below and are extended
by ``_search.search_interior`` until the best setting is interior on each of them:

- WALS: ``fastmf.tune`` over its default space (it carves the same 10% itself and stops
  iterations early; its own edge report is printed).
- SGD squared (AdaGrad): lr x reg (as multiples of its 'auto' value).
- BPR, logistic, WARP (``fastmf.BPR`` / ``LogisticMF`` / ``WARP``): lr x reg x sampling
  (uniform or by popularity), and negatives for logistic; the others at their defaults.
- implicit's ``BayesianPersonalizedRanking`` (CPU): learning_rate x regularization, its
  iterations scored through its fit callback.

The defaults row of each method is its plain constructor (64 factors, ``random_state=0``),
fit on the training part and scored on the test set, with its own validation score. Every
fit's seconds are of a fit without scoring. Results are printed and written to
``benchmarks/out/losses_quality.json`` (with every scored curve) after each method.

    FASTMF_DATA=../shared/datasets python benchmarks/losses_quality.py [--datasets ml100k,citeulike]
        [--methods wals,sgd,bpr,logistic,warp,implicit]
"""

import argparse
import json
import time
from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import machine
from _curves import Curve, K, Scorer
from _search import describe_position, search_interior
from threadpoolctl import threadpool_limits

import fastmf

METRIC = f"ndcg@{K}"
OUT = Path(__file__).resolve().parent / "out" / "losses_quality.json"
# Epochs of a candidate's curve; the chosen setting's curve, when still rising there, is run
# on to LONGER_EPOCHS (slow settings keep rising for thousands of epochs under AdaGrad).
MAX_EPOCHS = 400
LONGER_EPOCHS = 3200
LRS = [0.02, 0.05, 0.1]
REGS = [0.001, 0.01, 0.1]
IMPLICIT_LRS = [0.01, 0.03, 0.1]
IMPLICIT_REGS = [0.001, 0.01, 0.1]
RANKING = {"bpr": "BPR", "logistic": "LogisticMF", "warp": "WARP"}


def load(name):
    if name == "ml100k":
        ml = fastmf.datasets.load("movielens-100k")
        return "ML-100K (ratings >= 4)", ml.subset(ml.values >= 4)
    if name == "citeulike":
        return "CiteULike-a", fastmf.datasets.load("citeulike-a")
    raise SystemExit(f"unknown data set {name!r}")


def ranking_model(loss, **params):
    """fastmf's estimator for a ranking loss."""
    return getattr(fastmf, RANKING[loss])(64, num_threads=1, random_state=0, **params)


def squared_model(**params):
    return fastmf.SGD(64, num_threads=1, random_state=0, **params)


def fastmf_curve(make, params, fit_part, scorer, max_epochs=MAX_EPOCHS):
    """The curve of ``make(epochs=max_epochs, **params)`` fit on ``fit_part``."""
    curve = Curve(scorer, max_epochs)

    def cb(model, record):
        return curve.step(record["epoch"], model.user_factors, model.item_factors,
                          model.item_biases)

    try:
        make(epochs=max_epochs, **params).fit(fit_part, callback=cb)
    except FloatingPointError:
        pass  # a diverged setting keeps the curve it scored
    return curve


def timed_fit(make, train):
    model = make()
    t0 = time.perf_counter()
    model.fit(train)
    return model, time.perf_counter() - t0


class Tuned:
    """The search of one method: ``score(params)`` runs a curve and records it."""

    def __init__(self, run_curve):
        self.run_curve, self.curves = run_curve, {}

    def score(self, params, **kw):
        curve = self.run_curve(params, **kw)
        self.curves[tuple(sorted(params.items()))] = curve
        print(f"    {params}: {curve.best:.4f} at epoch {curve.best_epoch}"
              f"{'' if curve.peaked else ' (still rising)'}", flush=True)
        return curve.best

    def curve_of(self, params):
        """The curve of the setting ``params``, run on to LONGER_EPOCHS if it was still
        rising at its last epoch."""
        curve = self.curves[tuple(sorted(params.items()))]
        if not curve.peaked and curve.max_epochs < LONGER_EPOCHS:
            self.score(params, max_epochs=LONGER_EPOCHS)
            curve = self.curves[tuple(sorted(params.items()))]
        return curve


def report(best, valid, lines, edges, curve, extra=None):
    epochs_edge = [] if curve.peaked else ["epochs"]
    return dict(chosen=dict(best, epochs=curve.best_epoch), valid=valid,
                position=describe_position(best, lines, edges + epochs_edge),
                edges=edges + epochs_edge, **(extra or {}))


def tune_fastmf(make, grid, fit_part, train, test, scorers, lines_only=()):
    tuned = Tuned(lambda p, **kw: fastmf_curve(make, p, fit_part, scorers["valid"], **kw))
    t0 = time.perf_counter()
    best, valid, lines, edges = search_interior(tuned.score, grid, lines_only=lines_only,
                                                lower_bounds={"negatives": 1})
    tuning = time.perf_counter() - t0
    curve = tuned.curve_of(best)
    valid = curve.best
    model, fit_s = timed_fit(lambda: make(epochs=curve.best_epoch, **best), train)
    out = report(best, valid, lines, edges, curve,
                 dict(test=scorers["test"](model.user_factors, model.item_factors,
                                           model.item_biases), fit_s=fit_s, tuning_s=tuning,
                      candidates=len(tuned.curves)))
    out["curves"] = {repr(dict(k)): c.points for k, c in tuned.curves.items()}
    return out


def defaults_row(make, fit_part, train, scorers):
    """A method at its defaults: validation score on the carve, test score of the fit on
    the training part, its seconds and resolved values."""
    carve = make().fit(fit_part)
    model, fit_s = timed_fit(make, train)
    resolved = {k: model.resolved_params_.get(k) for k in
                ("lr", "lr_schedule", "reg", "reg_exponent", "epochs", "negatives",
                 "sampling") if k in model.resolved_params_}
    return dict(valid=scorers["valid"](carve.user_factors, carve.item_factors,
                                       carve.item_biases),
                test=scorers["test"](model.user_factors, model.item_factors,
                                     model.item_biases), fit_s=fit_s, resolved=resolved)


def run_wals(fit_part, train, test, scorers):
    t0 = time.perf_counter()
    result = fastmf.tune(fastmf.WALS(64, random_state=0, num_threads=1), train,
                         metric=METRIC)
    tuning = time.perf_counter() - t0
    refit = fastmf.WALS(**result.best_params)
    model, fit_s = timed_fit(lambda: refit, train)
    default, dfit_s = timed_fit(lambda: fastmf.WALS(64, random_state=0, num_threads=1),
                                train)
    carve = fastmf.WALS(64, random_state=0, num_threads=1).fit(fit_part)
    test_of = lambda m: scorers["test"](m.user_factors, m.item_factors)
    chosen = {k: result.best_params[k] for k in result.space}
    chosen["iterations"] = result.best_params["iterations"]
    return {"tuned": dict(chosen=chosen,
                          valid=result.best_score, test=test_of(model), fit_s=fit_s,
                          tuning_s=tuning, candidates=len(result.curves),
                          edges=sorted(result.edges),
                          position="tune's own search" + (
                              f"; ON AN EDGE: {', '.join(sorted(result.edges))}"
                              if result.edges else "")),
            "defaults": dict(valid=scorers["valid"](carve.user_factors, carve.item_factors),
                             test=test_of(default), fit_s=dfit_s)}


def run_squared(fit_part, train, test, scorers):
    auto = squared_model().fit(fit_part).resolved_params_["reg"]
    scale_grid = {"lr": LRS, "reg_scale": [1 / 3, 1.0, 3.0]}
    make = lambda reg_scale=1.0, **p: squared_model(reg=auto * reg_scale, **p)
    return {"tuned": tune_fastmf(make, scale_grid, fit_part, train, test, scorers),
            "defaults": defaults_row(squared_model, fit_part, train, scorers)}


def run_ranking(loss, fit_part, train, test, scorers):
    grid = {"lr": LRS, "reg": REGS, "sampling": ["uniform", "popularity"]}
    if loss == "logistic":
        grid["negatives"] = [2, 5, 10]
    make = partial(ranking_model, loss)
    tuned = tune_fastmf(make, grid, fit_part, train, test, scorers,
                        lines_only=("negatives",) if loss == "logistic" else ())
    return {"tuned": tuned, "defaults": defaults_row(make, fit_part, train, scorers)}


class _Stop(Exception):
    pass


def implicit_curve(params, A, scorer, max_epochs=MAX_EPOCHS, iterations=None):
    iterations = iterations or max_epochs
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    model = BayesianPersonalizedRanking(factors=64, iterations=iterations, num_threads=1,
                                        random_state=0, **params)
    curve = Curve(scorer, iterations) if scorer is not None else None

    def cb(epoch, *_):
        if curve is not None and curve.step(epoch + 1, model.user_factors,
                                            model.item_factors):
            raise _Stop

    t0 = time.perf_counter()
    try:
        model.fit(A, show_progress=False, callback=cb)
    except _Stop:
        pass
    return curve, model, time.perf_counter() - t0


def run_implicit(fit_part, train, test, scorers):
    try:
        import implicit
    except ImportError:
        return {"skipped": "implicit is not installed (pip install implicit)"}
    F, T = sp.csr_matrix(fit_part), sp.csr_matrix(train)
    tuned = Tuned(lambda p, **kw: implicit_curve(p, F, scorers["valid"], **kw)[0])
    grid = {"learning_rate": IMPLICIT_LRS, "regularization": IMPLICIT_REGS}
    t0 = time.perf_counter()
    best, valid, lines, edges = search_interior(tuned.score, grid)
    tuning = time.perf_counter() - t0
    curve = tuned.curve_of(best)
    valid = curve.best
    _, model, fit_s = implicit_curve(best, T, None, iterations=curve.best_epoch)
    out = report(best, valid, lines, edges, curve,
                 dict(test=scorers["test"](model.user_factors, model.item_factors),
                      fit_s=fit_s, tuning_s=tuning, candidates=len(tuned.curves),
                      version=implicit.__version__))
    out["curves"] = {repr(dict(k)): c.points for k, c in tuned.curves.items()}
    _, default, dfit_s = implicit_curve({}, T, None, iterations=100)
    _, carve, _ = implicit_curve({}, F, None, iterations=100)
    return {"tuned": out,
            "defaults": dict(valid=scorers["valid"](carve.user_factors, carve.item_factors),
                             test=scorers["test"](default.user_factors,
                                                  default.item_factors), fit_s=dfit_s)}


METHODS = {"wals": ("WALS", run_wals), "sgd": ("SGD squared", run_squared),
           "bpr": ("BPR", lambda *d: run_ranking("bpr", *d)),
           "logistic": ("logistic", lambda *d: run_ranking("logistic", *d)),
           "warp": ("WARP", lambda *d: run_ranking("warp", *d)),
           "implicit": ("implicit BPR", run_implicit)}


# The defaults rows alone (--defaults-only: after a change of the 'auto' rules, with the
# tuned rows of an earlier run kept).
DEFAULTS = {"sgd": partial(defaults_row, squared_model),
            **{loss: partial(defaults_row, partial(ranking_model, loss)) for loss in RANKING}}


def print_table(results):
    """The results as a table: each method at its defaults and tuned (test NDCG@20, its
    validation score, the fit's seconds, the defaults' share of the tuned score), then
    where each tuned setting sits in its grids, and fastmf's tuned BPR against implicit's."""
    head = (f"{'data set':24s} {'method':13s} {'defaults':>8s} {'tuned':>7s} {'ratio':>6s} "
            f"{'valid d/t':>15s} {'fit s d/t':>13s} {'epochs':>6s}")
    print(head)
    print("-" * len(head))
    notes = []
    for ds, methods in results["datasets"].items():
        for name, r in methods.items():
            if "skipped" in r:
                print(f"{ds:24s} {name:13s} skipped: {r['skipped']}")
                continue
            d, t = r["defaults"], r["tuned"]
            epochs = t["chosen"].get("epochs", t["chosen"].get("iterations", "-"))
            print(f"{ds:24s} {name:13s} {d['test']:8.4f} {t['test']:7.4f} "
                  f"{d['test'] / t['test']:6.3f} {d['valid']:7.4f}/{t['valid']:.4f} "
                  f"{d['fit_s']:6.2f}/{t['fit_s']:<6.2f} {epochs!s:>6s}")
            chosen = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in t["chosen"].items())
            notes.append(f"{ds}, {name}: {chosen}; {t['position']}; "
                         f"{t.get('candidates', '?')} candidates, {t['tuning_s']:.0f} s")
        if "BPR" in methods and "tuned" in methods.get("implicit BPR", {}):
            ratio = methods["BPR"]["tuned"]["test"] / methods["implicit BPR"]["tuned"]["test"]
            notes.append(f"{ds}: fastmf BPR / implicit BPR, both tuned: {ratio:.3f}")
    print()
    print("\n".join(notes))


def save(results, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    conv = lambda o: o.item() if isinstance(o, np.generic) else str(o)
    path.write_text(json.dumps(results, indent=1, default=conv))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="ml100k,citeulike")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--defaults-only", action="store_true",
                   help="refit only the defaults rows of fastmf's SGD methods, keeping the "
                        "tuned rows already in --out")
    p.add_argument("--table-only", action="store_true", help="print the table of --out")
    args = p.parse_args(argv)
    results = {"machine": machine(), "k": K, "factors": 64, "threads": 1, "datasets": {}}
    if args.out.exists():
        results["datasets"] = json.loads(args.out.read_text()).get("datasets", {})
    if args.table_only:
        print_table(results)
        return results
    print(f"machine: {machine()}", flush=True)
    with threadpool_limits(1):
        for key in args.datasets.split(","):
            label, data = load(key)
            train, test = fastmf.split.random_holdout(data, 0.2, random_state=0, warn=False)
            fit_part, valid = fastmf.split.random_holdout(train, 0.1, random_state=0,
                                                          warn=False)
            F, T = fit_part.to_csr(np.float32), train.to_csr(np.float32)
            scorers = {"valid": Scorer(F, valid.to_csr(np.float32)),
                       "test": Scorer(T, test.to_csr(np.float32))}
            print(f"\n{label}: {data.n_users} users x {data.n_items} items, {data.nnz} "
                  f"entries; train {train.nnz}, test {test.nnz}; tuning on {fit_part.nnz} / "
                  f"{valid.nnz}", flush=True)
            check = fastmf.WALS(16, random_state=0, num_threads=1).fit(F)
            a = fastmf.evaluate(check, F, valid.to_csr(np.float32), k=K,
                                metrics=[METRIC])[METRIC]
            b = scorers["valid"](check.user_factors, check.item_factors)
            if abs(a - b) > 1e-6:
                raise SystemExit(f"Scorer ({b:.6f}) does not match fastmf.evaluate ({a:.6f})")
            out = results["datasets"].setdefault(label, {})
            for name in args.methods.split(","):
                title, run = METHODS[name]
                print(f"{title}:", flush=True)
                if args.defaults_only:
                    if name not in DEFAULTS or title not in out:
                        continue
                    r = out[title]
                    r["defaults"] = DEFAULTS[name](F, T, scorers)
                else:
                    r = run(F, T, test, scorers)
                out[title] = r
                if "skipped" not in r:
                    for row in ("defaults", "tuned"):
                        x = r[row]
                        print(f"  {row:9s} valid {x['valid']:.4f}  test {x['test']:.4f}  "
                              f"fit {x['fit_s']:.2f} s  "
                              f"{x.get('chosen', x.get('resolved', ''))} "
                              f"{x.get('position', '')}", flush=True)
                save(results, args.out)
    print()
    print_table(results)
    return results


if __name__ == "__main__":
    main()
