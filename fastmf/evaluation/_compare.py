"""The convergence study: WALS (CG and Cholesky), Hogwild SGD and truncated SVD on one
objective, with the objective and held-out quality recorded against time and epochs."""

import time
import warnings

import numpy as np
import scipy.sparse as sp

from . import _compile_helper as compile_helper
from ..core import _interrupts as interrupts
from ..core import _validation as v
from ._comparison import Comparison
from ..data._interactions import Interactions
from ..core._objective import objective as objective_of
from ..core._progress import tqdm_available
from ._methods import default_methods, known_methods
from ._methods import method as method_of

#: the methods compare runs when none are named (the table is
#: :data:`fastmf.evaluation._methods.METHODS`)
METHODS = default_methods()
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


def _resolve_data(data, kind, data_home, show_progress):
    """(Interactions, kind, description) for the accepted data arguments."""
    name = None
    if data is None:
        from ..datasets import make_synthetic
        A = make_synthetic(**DEFAULT_DATA, random_state=0)
        inter = Interactions.from_matrix(A)
        desc = (f"synthetic power-law implicit data, {A.shape[0]:,} x {A.shape[1]:,}, "
                f"{A.nnz:,} entries")
        name = "synthetic"
    elif isinstance(data, str):
        from ..data._io import read_interactions
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


def _builder(factors, iterations, epochs, params, sgd_params, common):
    """build(method, steps=None): the unfitted model of one method of the comparison."""

    counts = {"iterations": iterations, "epochs": epochs, None: None}

    def build(method, steps=None):
        m = method_of(method)
        return m.build(factors, steps or counts[m.steps], params, sgd_params, common)

    return build


def compile_methods_from(folder):
    """The helper process of :mod:`fastmf.evaluation._compile_helper`: one-step fits of the methods
    in ``folder``/settings.json on ``folder``/data.npz, for their kernels to be compiled
    into Numba's on-disk cache."""
    import json
    import os
    with open(os.path.join(folder, "settings.json")) as f:
        settings = json.load(f)
    tiny = sp.csr_array(sp.load_npz(os.path.join(folder, "data.npz")))
    methods = settings.pop("methods")
    build = _builder(**settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny systems may be singular; only types matter
        for method in methods:
            build(method, steps=1).fit(tiny, track_objective=False)


def compare(data=None, *, methods=METHODS, factors=32, iterations=10, epochs=30, k=10,
            kind="auto", test_size=0.2, eval_users=2000, num_threads=None, random_state=0,
            data_home=None, show_progress=False, **objective):
    r"""Fit WALS (CG and Cholesky), Hogwild SGD (squared loss; LogisticMF and BPR),
    observed-only MF and truncated SVD on one data set and one split, and record how each
    converges on the same objective and in held-out quality.

    Every method gets the same factors, objective and weights. After each epoch or
    iteration the exact objective on the training part (:func:`fastmf.objective`), the
    cumulative training time (evaluation excluded) and the held-out quality are recorded.

    Parameters
    ----------
    data : None, str, Interactions or scipy.sparse matrix
        None: the embedded synthetic data set (20,000 users x 5,000 items, 400,000 entries
        of power-law implicit feedback; offline). A str is a data-set name of
        :func:`fastmf.datasets.load` or a CSV/Parquet file with columns user, item[, value].
    methods : sequence of str
        Of 'wals-cg', 'wals-cholesky', 'sgd', 'sgd-logistic', 'sgd-bpr', 'sgd-warp',
        'observed-only', 'svd'; also 'wals-NAME' for any solver registered in
        :mod:`fastmf.solvers`. 'sgd' minimizes the objective by Hogwild SGD;
        'sgd-logistic', 'sgd-bpr', 'sgd-warp' are :class:`fastmf.LogisticMF`,
        :class:`fastmf.BPR`, :class:`fastmf.WARP` (Hogwild SGD on a ranking loss; no value
        of the shared objective; compared on held-out quality);
        'observed-only' is WALS without the unobserved term (``w0 = 0``, binary targets),
        whose optimum is the all-ones matrix. The default runs all but 'sgd-warp' for
        implicit feedback and the first three and 'svd' for ratings.
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
    methods, factors, k, iterations, epochs, eval_users = _checked_arguments(
        methods, factors, k, iterations, epochs, eval_users)
    inter, kind, desc = _resolve_data(data, kind, data_home, show_progress)
    methods = _methods_for(kind, methods)
    params, sgd_params = _objective_settings(kind, objective)
    A, T, T_sample = _held_out(inter, test_size, random_state, eval_users, factors, methods)
    result = Comparison(kind=kind, objective=params, k=k,
                        data=f"{desc}; {test_size:.0%} held out (seed {random_state}); "
                             f"factors {factors}")
    quality_on = _quality_measure(kind, k)
    common = {"num_threads": num_threads, "random_state": random_state}
    settings = {"factors": factors, "iterations": iterations, "epochs": epochs,
                "params": params, "sgd_params": sgd_params, "common": common}
    build = _builder(**settings)
    for method in methods:
        build(method).check_params()  # before any long work
    result.compile_seconds = _warm_up(A, methods, build, settings, quality_on)
    for method in methods:
        if not _run_method(method, build(method), A, T, T_sample, params, quality_on, result,
                           show_progress):
            break
    return result


def _checked_arguments(methods, factors, k, iterations, epochs, eval_users):
    """The methods and counts of :func:`compare`, checked."""
    known = known_methods()
    for m in methods:
        v.check_option("compare", "methods", m, known)
    return (methods, v.check_int("compare", "factors", factors, low=1),
            v.check_int("compare", "k", k, low=1),
            v.check_int("compare", "iterations", iterations, low=1),
            v.check_int("compare", "epochs", epochs, low=1),
            v.check_int("compare", "eval_users", eval_users, low=1))


def _methods_for(kind, methods):
    """The methods that apply to the data's kind (the default set without the
    implicit-only methods on ratings; an explicit request for one of them is an error)."""
    if kind == "ratings":
        implicit = [m for m in methods if method_of(m).implicit_only]
        if methods is METHODS:
            return tuple(m for m in METHODS if m not in implicit)
        if implicit:
            raise ValueError(f"methods {implicit} are for implicit feedback; this "
                             f"comparison is on ratings.")
    return methods


def _objective_settings(kind, objective):
    """(objective parameters, SGD settings) of the kind with the caller's overrides."""
    params = dict(OBJECTIVES[kind])
    sgd_params = dict(SGD_SETTINGS[kind])
    for key, value in objective.items():
        if key in params:
            params[key] = value
        elif key in sgd_params:
            sgd_params[key] = value
        else:
            raise TypeError(f"compare() got an unexpected keyword argument {key!r}.")
    return params, sgd_params


def _held_out(inter, test_size, random_state, eval_users, factors, methods):
    """(training matrix, test matrix, test matrix of the sampled users the curves use)."""
    from ..data import _split as split

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
    return A, T, T_sample


def _quality_measure(kind, k):
    """quality_on(model, train, test): RMSE on ratings, Recall@k and NDCG@k otherwise."""
    from ._metrics import evaluate, rmse

    def quality_on(model, train, test):
        if kind == "ratings":
            return {"rmse": rmse(model, test)}
        return evaluate(model, train, test, k=k, metrics=[f"recall@{k}", f"ndcg@{k}"])
    return quality_on


def _warm_up(A, methods, build, settings, quality_on):
    """Compile every kernel first (or load it from Numba's cache) on a few rows of the same
    data, so that no curve's first step includes compilation; returns the seconds taken.
    On a fresh install a helper process compiles the SGD kernels meanwhile (see
    _compile_helper); this process then loads them from the cache it filled."""
    t0 = time.perf_counter()
    rows = np.flatnonzero(np.diff(A.indptr))[:50]
    tiny = A[rows]
    warm = [m for m in methods if method_of(m).warm_up] if rows.size else []
    helped = compile_helper.helper_methods(warm)
    helper = compile_helper.start(tiny, helped, settings) if helped else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tiny systems may be singular; types matter
            for method in [m for m in warm if m not in helped]:
                quality_on(build(method, steps=1).fit(tiny), tiny, tiny)
            compile_helper.finish(helper, time.perf_counter() - t0)
            for method in helped:
                quality_on(build(method, steps=1).fit(tiny), tiny, tiny)
    finally:
        compile_helper.stop(helper)
    return time.perf_counter() - t0


def _shared_objective(A, params, model, method, rec):
    """The comparison's objective of the model's factors (None for ranking losses, which do
    not minimize it)."""
    source = method_of(method).objective
    if source is None:
        return None
    if source == "recomputed":
        return objective_of(A, model.user_factors, model.item_factors, **params)
    return rec["objective"]


def _run_method(method, model, A, T, T_sample, params, quality_on, result, show_progress):
    """Fit one method, recording its curve and final quality in ``result``; False when
    interrupted (the comparison then keeps what finished)."""
    t_start = time.perf_counter()

    def record(model, rec):
        row = {"method": method, "step": rec["iteration"], "time": rec["time"],
               "objective": _shared_objective(A, params, model, method, rec)}
        row.update(quality_on(model, A, T_sample))
        result.curves.append(row)

    try:
        with interrupts.deferred():
            model.fit(A, callback=record, show_progress=show_progress and tqdm_available())
            # the final model against every test user (the curves use a fixed sample)
            result.final_quality[method] = quality_on(model, A, T)
            result.models[method] = model
    except KeyboardInterrupt:
        result.interrupted = True
        if show_progress:
            print(f"  {method:<14} interrupted; keeping what finished", flush=True)
        return False
    if show_progress:
        last = result.curves[-1]
        obj = (f"objective {last['objective']:.6g}" if last["objective"] is not None
               else "its own sampled loss")
        print(f"  {method:<14} {last['step']:>3} steps, {last['time']:.2f} s training "
              f"({time.perf_counter() - t_start:.1f} s with evaluation), {obj}",
              flush=True)
    return True
