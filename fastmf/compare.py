"""The convergence study: WALS (CG and Cholesky), Hogwild SGD and truncated SVD on one
objective, with the objective and held-out quality recorded against time and epochs."""

import csv
import json
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from . import _interrupts as interrupts
from . import _validation as v
from . import solvers
from ._interactions import Interactions
from ._progress import tqdm_available
from .sgd import SGD
from .svd import SVD
from .wals import WALS

METHODS = ("wals-cg", "wals-cholesky", "sgd", "svd")
KINDS = ("auto", "implicit", "ratings")

# The objective of each kind of data, shared by every method. Implicit feedback:
# Hu-Koren-Volinsky confidence weights, unobserved entries pulled to 0 with weight w0.
# Ratings: the observed-only least-squares objective (w0 = 0) on the rating values.
OBJECTIVES = {
    "implicit": {"w0": 1.0, "alpha": 1.0, "confidence": "linear", "target": "binary",
                 "reg": 0.005, "reg_exponent": 1.0},
    "ratings": {"w0": 0.0, "alpha": 1.0, "confidence": "none", "target": "value",
                "reg": 0.05, "reg_exponent": 1.0},
}
# Step sizes that converge on both kinds at the default scale (AdaGrad adapts per
# coordinate, which keeps the gravity term of implicit data stable).
SGD_SETTINGS = {
    "implicit": {"lr": 0.1, "lr_schedule": "adagrad"},
    "ratings": {"lr": 0.1, "lr_schedule": "adagrad"},
}
# The embedded default data set: power-law implicit feedback with planted topics.
DEFAULT_DATA = {"n_users": 20_000, "n_items": 5_000, "nnz": 400_000}


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    kind : str
        'implicit' or 'ratings'.
    objective : dict
        The objective's parameters every method was scored with.
    curves : list of dict
        One record per method and step: ``method``, ``step`` (epoch or iteration),
        ``time`` (cumulative training seconds, evaluation excluded), ``objective``, and the
        held-out metrics (``rmse`` for ratings; ``recall@k`` and ``ndcg@k`` otherwise).
    models : dict
        The fitted models by method.
    final_quality : dict
        Held-out quality of each method's final model on every test user (the curves
        use a fixed sample of ``eval_users`` test users).
    compile_seconds : float
        Time spent compiling the kernels (or loading them from Numba's cache) before the
        timed fits.
    data : str
        Description of the data and split.
    interrupted : bool
        True when a Ctrl-C ended the study early: the curves hold what finished (the
        interrupted method's completed steps included), ``final_quality`` and ``models``
        the methods that ran to the end.
    """

    kind: str
    objective: dict
    k: int
    data: str
    curves: list = field(default_factory=list)
    models: dict = field(default_factory=dict)
    compile_seconds: float = 0.0
    final_quality: dict = field(default_factory=dict)
    interrupted: bool = False

    @property
    def quality_keys(self):
        return ["rmse"] if self.kind == "ratings" else [f"recall@{self.k}", f"ndcg@{self.k}"]

    def final(self):
        """Last record of each method."""
        out = {}
        for rec in self.curves:
            out[rec["method"]] = rec
        return out

    def table(self):
        """The summary table as text: final objective (and its ratio to the best), steps,
        training time, held-out quality of the final model on every test user, and the time
        each method took to come within 1% of the best final objective."""
        final = self.final()
        best = min(r["objective"] for r in final.values())
        qk = self.quality_keys
        head = (f"{'method':<15}{'steps':>6}{'seconds':>10}{'objective':>14}{'/ best':>8}"
                f"{'to 1%':>9}" + "".join(f"{q:>11}" for q in qk))
        lines = [head, "-" * len(head)]
        for method, rec in final.items():
            reach = [r["time"] for r in self.curves
                     if r["method"] == method and r["objective"] <= 1.01 * best]
            to1 = f"{reach[0]:.2f}" if reach else "-"
            lines.append(f"{method:<15}{rec['step']:>6}{rec['time']:>10.2f}"
                         f"{rec['objective']:>14.6g}{rec['objective'] / best:>8.3f}{to1:>9}"
                         + "".join(f"{self.final_quality.get(method, rec).get(q, math.nan):>11.4f}"
                                   for q in qk))
        return "\n".join(lines)

    def to_csv(self, path):
        """Write the curves, one row per method and step."""
        keys = ["method", "step", "time", "objective"] + self.quality_keys
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
            writer.writeheader()
            for rec in self.curves:
                writer.writerow(rec)

    def to_json(self, path):
        """Write the curves and the settings as JSON."""
        with open(path, "w") as f:
            json.dump({"kind": self.kind, "objective": self.objective, "k": self.k,
                       "data": self.data, "curves": self.curves}, f, indent=1)

    def plot(self, path=None):
        """Objective vs time, objective vs epoch and held-out quality vs time (needs
        matplotlib). Writes a PNG when ``path`` is given; returns the figure."""
        try:
            import matplotlib
            if path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError("Plots need matplotlib: pip install 'fastmf[plots]'.") from exc
        qkey = self.quality_keys[-1]
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        for method in dict.fromkeys(r["method"] for r in self.curves):
            recs = [r for r in self.curves if r["method"] == method]
            t = [r["time"] for r in recs]
            obj = [r["objective"] for r in recs]
            steps = [r["step"] for r in recs]
            q = [r.get(qkey, math.nan) for r in recs]
            style = {"marker": "o", "markersize": 3} if len(recs) > 1 else {"marker": "*",
                                                                              "markersize": 12}
            axes[0].plot(t, obj, label=method, **style)
            axes[1].plot(steps, obj, label=method, **style)
            axes[2].plot(t, q, label=method, **style)
        axes[0].set(xlabel="training time (s)", ylabel="objective", title="objective vs time")
        axes[1].set(xlabel="epoch / iteration", ylabel="objective",
                    title="objective vs epoch")
        axes[2].set(xlabel="training time (s)", ylabel=f"held-out {qkey}",
                    title=f"held-out {qkey} vs time")
        for ax in axes[:2]:
            ax.set_yscale("log")
        for ax in axes:
            ax.grid(alpha=0.3)
        axes[0].legend()
        fig.suptitle(self.data, fontsize=9)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110)
            plt.close(fig)
        return fig


def _resolve_data(data, kind, data_home, show_progress):
    """(Interactions, kind, description) for the accepted data arguments."""
    name = None
    if data is None:
        from .datasets import make_synthetic
        A = make_synthetic(**DEFAULT_DATA, random_state=0)
        inter = Interactions.from_matrix(A)
        desc = (f"synthetic power-law implicit data, {A.shape[0]:,} x {A.shape[1]:,}, "
                f"{A.nnz:,} entries")
        name = "synthetic"
    elif isinstance(data, str):
        from ._io import read_interactions
        inter = read_interactions(data, data_home=data_home, show_progress=show_progress)
        name = data
        desc = f"{data}: {inter.n_users:,} users x {inter.n_items:,} items, {inter.nnz:,} entries"
    elif isinstance(data, Interactions):
        inter = data
        desc = f"{inter.n_users:,} users x {inter.n_items:,} items, {inter.nnz:,} entries"
    elif sp.issparse(data):
        csr = v.check_matrix(data, "data", dtype=np.float64)
        inter = Interactions.from_matrix(csr.to_scipy())
        desc = f"{inter.n_users:,} x {inter.n_items:,} matrix, {inter.nnz:,} entries"
    else:
        raise TypeError(f"data must be None, a data-set name or file path, fastmf.Interactions "
                        f"or a scipy.sparse matrix; got {type(data).__name__}.")
    kind = v.check_option("compare", "kind", kind, KINDS)
    if kind == "auto":
        kind = "ratings" if (name or "").startswith("movielens") else "implicit"
    return inter, kind, desc


def compare(data=None, *, methods=METHODS, factors=32, iterations=10, epochs=30, k=10,
            kind="auto", test_size=0.2, eval_users=2000, num_threads=None, random_state=0,
            data_home=None, show_progress=False, **objective):
    r"""Fit WALS (CG and Cholesky), Hogwild SGD and truncated SVD on one data set and one
    split, and record how each converges on the same objective.

    Every method gets the same factors, objective and weights. After each epoch or
    iteration the exact objective on the training part (:func:`fastmf.objective`), the
    cumulative training time (evaluation excluded) and the held-out quality are recorded.

    Parameters
    ----------
    data : None, str, Interactions or scipy.sparse matrix
        None: the embedded synthetic data set (20,000 users x 5,000 items, 400,000 entries
        of power-law implicit feedback; offline). A str is a data-set name of
        :func:`fastmf.datasets.load` or a CSV/Parquet file with columns user, item[, value].
    methods : sequence of {'wals-cg', 'wals-cholesky', 'sgd', 'svd'}
        Also 'wals-NAME' for any solver registered in :mod:`fastmf.solvers`.
    factors : int
    iterations : int
        WALS iterations.
    epochs : int
        SGD epochs.
    k : int
        Cut-off of the ranking metrics (implicit data).
    kind : {'auto', 'implicit', 'ratings'}
        The objective: 'implicit' (confidence-weighted, ``w0 = 1``, binary targets; quality
        is Recall@k and NDCG@k) or 'ratings' (observed-only least squares on the values,
        ``w0 = 0``; quality is RMSE). 'auto' picks 'ratings' for the MovieLens data sets and
        'implicit' otherwise.
    test_size : float
        Fraction of the entries held out (random holdout, seeded by ``random_state``).
    eval_users : int
        Ranking metrics during training are computed on this many test users drawn at random
        (all when fewer); the table and ``final_quality`` use every test user.
    num_threads : int, optional
    random_state : int
    data_home : str, optional
        Where data sets are read or downloaded to.
    show_progress : bool
        Print a line per method as it runs (and a progress bar with tqdm).
    **objective
        Overrides of the objective's parameters (``w0``, ``alpha``, ``confidence``,
        ``target``, ``reg``, ``reg_exponent``) and of SGD's ``lr`` / ``lr_schedule``.

    Returns
    -------
    Comparison
    """
    from . import split
    from .metrics import evaluate, rmse

    known = ("sgd", "svd") + tuple(f"wals-{name}" for name in solvers.available())
    for m in methods:
        v.check_option("compare", "methods", m, known)
    factors = v.check_int("compare", "factors", factors, low=1)
    k = v.check_int("compare", "k", k, low=1)
    iterations = v.check_int("compare", "iterations", iterations, low=1)
    epochs = v.check_int("compare", "epochs", epochs, low=1)
    eval_users = v.check_int("compare", "eval_users", eval_users, low=1)
    inter, kind, desc = _resolve_data(data, kind, data_home, show_progress)
    params = dict(OBJECTIVES[kind])
    sgd_params = dict(SGD_SETTINGS[kind])
    for key, value in objective.items():
        if key in params:
            params[key] = value
        elif key in sgd_params:
            sgd_params[key] = value
        else:
            raise TypeError(f"compare() got an unexpected keyword argument {key!r}.")
    train, test = split.random_holdout(inter, test_size, random_state=random_state,
                                       warn=False)
    A, T = train.matrix, test.matrix
    if min(A.shape) <= factors and "svd" in methods:
        raise ValueError(f"factors={factors} must be below min(n_users, n_items) = "
                         f"{min(A.shape)} for SVD.")
    rng = np.random.default_rng(random_state)
    test_rows = np.flatnonzero(np.diff(T.indptr))
    if test_rows.size == 0:
        raise ValueError("The test split holds no entries; use a larger data set or "
                         "test_size.")
    sample = test_rows if test_rows.size <= eval_users else np.sort(
        rng.choice(test_rows, eval_users, replace=False))
    keep = np.zeros(T.shape[0], bool)
    keep[sample] = True
    T_sample = sp.csr_array(T.multiply(keep[:, None]))
    T_sample.eliminate_zeros()
    result = Comparison(kind=kind, objective=params, k=k,
                        data=f"{desc}; {test_size:.0%} held out (seed {random_state}); "
                             f"factors {factors}")

    def quality_on(model, train, test):
        if kind == "ratings":
            return {"rmse": rmse(model, test)}
        return evaluate(model, train, test, k=k, metrics=[f"recall@{k}", f"ndcg@{k}"])

    def quality(model, full):
        return quality_on(model, A, T if full else T_sample)

    common = {"num_threads": num_threads, "random_state": random_state}

    def build(method, steps=None):
        if method.startswith("wals-"):
            solver = method.partition("-")[2]
            return WALS(factors, solver=solver, iterations=steps or iterations, **params,
                        **common)
        if method == "sgd":
            return SGD(factors, epochs=steps or epochs, unobserved="gravity", **sgd_params,
                       **params, **common)
        return SVD(factors, **params, **common)

    for method in methods:
        build(method).check_params()  # before any long work
    # Compile every kernel first (or load it from Numba's cache) on a few rows of the same
    # data, so that no curve's first step includes compilation.
    t0 = time.perf_counter()
    rows = np.flatnonzero(np.diff(A.indptr))[:50]
    tiny = A[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny systems may be singular; only types matter
        for method in methods:
            if method != "svd" and rows.size:
                quality_on(build(method, steps=1).fit(tiny), tiny, tiny)
    result.compile_seconds = time.perf_counter() - t0

    for method in methods:
        model = build(method)
        t_start = time.perf_counter()

        def record(model, rec, method=method):
            row = {"method": method, "step": rec["iteration"], "time": rec["time"],
                   "objective": rec["objective"]}
            row.update(quality(model, full=False))
            result.curves.append(row)

        try:
            with interrupts.deferred():
                model.fit(A, callback=record,
                          show_progress=show_progress and tqdm_available())
                # the final model against every test user (the curves use a fixed sample)
                result.final_quality[method] = quality(model, full=True)
                result.models[method] = model
        except KeyboardInterrupt:
            result.interrupted = True
            if show_progress:
                print(f"  {method:<14} interrupted; keeping what finished", flush=True)
            break
        if show_progress:
            last = result.curves[-1]
            print(f"  {method:<14} {last['step']:>3} steps, {last['time']:.2f} s training "
                  f"({time.perf_counter() - t_start:.1f} s with evaluation), objective "
                  f"{last['objective']:.6g}", flush=True)
    return result
