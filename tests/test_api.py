"""One API suite run against every model and row solver (WALS-CG, WALS-Cholesky, a dense
NumPy solver plugged in through fastmf.solvers, SGD, BPR, LogisticMF, WARP, SVD): what a fitted model answers,
raw ids, persistence, fold-in, and the parameter lifecycle."""

import numpy as np
import pytest
import scipy.sparse as sp
from _dense_solver import DenseSolver
from _reference import brute_topk, exact_rows
from conftest import random_csr

import fastmf
from fastmf import BPR, SGD, SVD, WALS, WARP, Interactions, LogisticMF, solvers

IMPLICIT = dict(w0=1.0, alpha=2.0, confidence="linear", target="binary", reg=0.1,
                reg_exponent=0.0)
RATINGS = dict(w0=0.0, confidence="none", target="value", reg=0.5, reg_exponent=0.0,
               biases=True)


@pytest.fixture(scope="module", autouse=True)
def dense_solver():
    solvers.register(DenseSolver)
    yield
    solvers.unregister("dense")


def make(name, **kw):
    """A model of each kind, small and deterministic (SGD on one thread)."""
    base = dict(random_state=0, dtype=np.float64)
    base.update(kw)
    if name == "wals-ials++":  # blocks of 2 of the 5 coordinates (not the exact solve)
        return WALS(5, solver="ials++", block_size=2, iterations=6, **base)
    if name.startswith("wals-"):
        return WALS(5, solver=name[5:], iterations=6, **base)
    if name == "sgd":
        return SGD(5, epochs=6, lr=0.05, lr_schedule="adagrad", num_threads=1, **base)
    if name in RANKING:
        # the ranking models have no unobserved term, target or kind: w0 = 0, binary
        cls = RANKING[name]
        base = {k: val for k, val in base.items() if k in cls._get_param_names()}
        return cls(5, epochs=6, lr=0.05, lr_schedule="adagrad", num_threads=1, **base)
    base = {k: val for k, val in base.items() if k not in ("biases",)}
    return SVD(5, **base)


RANKING = {"bpr": BPR, "logistic": LogisticMF, "warp": WARP}
MODELS = ["wals-cg", "wals-cholesky", "wals-ials++", "wals-dense", "sgd", *RANKING, "svd"]
# SVD has no biases (it fits the target matrix with weight 1 everywhere); the ranking
# models fit implicit feedback only.
CASES = [(m, IMPLICIT) for m in MODELS] + [(m, RATINGS) for m in MODELS
                                           if m != "svd" and m not in RANKING]
IDS = [f"{m}-{'ratings' if p is RATINGS else 'implicit'}" for m, p in CASES]


@pytest.fixture
def A():
    return random_csr(40, 30, 0.15, 0, empty_rows=(3, 17), empty_cols=(5, 29))


def _scores(model):
    s = model.user_factors.astype(float) @ model.item_factors.T.astype(float)
    if model.user_biases is not None:
        s = s + model.global_mean + model.user_biases[:, None] + model.item_biases[None, :]
    return s


@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_recommend_predict_and_similar_items_match_brute_force(A, name, params):
    model = make(name, **params).fit(A)
    assert np.isfinite(model.user_factors).all() and np.isfinite(model.item_factors).all()
    full = _scores(model)
    users = np.arange(A.shape[0])
    ids, scores = model.recommend(users, k=6)
    ref_ids, ref_scores = brute_topk(full, 6, A.toarray() != 0)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.predict([0, 1, 2], [4, 5, 6]),
                               full[[0, 1, 2], [4, 5, 6]], rtol=1e-9, atol=1e-12)
    V = model.item_factors
    norms = np.linalg.norm(V, axis=1)
    Vn = V / np.where(norms > 0, norms, 1)[:, None]
    excl = np.zeros((2, V.shape[0]), bool)
    excl[[0, 1], [1, 4]] = True
    sim_ids, sims = model.similar_items([1, 4], k=4)
    ref_ids, ref_sims = brute_topk(Vn[[1, 4]] @ Vn.T, 4, excl)
    np.testing.assert_allclose(sims, ref_sims, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(sim_ids[:, 0], ref_ids[:, 0])
    # empty users get recommendations too
    assert model.recommend([3, 17], k=3)[0].min() >= 0


@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_save_load_round_trip(tmp_path, A, name, params):
    model = make(name, **params).fit(A)
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = fastmf.load(path)
    assert type(loaded) is type(model)
    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded.user_factors, model.user_factors)
    np.testing.assert_array_equal(loaded.item_factors, model.item_factors)
    for a, b in zip(loaded.recommend([0, 1, 2], k=5), model.recommend([0, 1, 2], k=5)):
        np.testing.assert_array_equal(a, b)
    assert loaded.objective(A) == model.objective(A)
    assert loaded.history_ == model.history_


@pytest.mark.parametrize("name, params", CASES, ids=IDS)
def test_fold_in_is_the_exact_row_solve(A, name, params):
    model = make(name, **params).fit(A)
    rows = [0, 3, 8, 39]
    factors, biases = model.fold_in(A[rows], return_biases=True)
    assert factors.shape == (4, 5) and factors.dtype == model.item_factors.dtype
    Y, offsets = model.item_factors.astype(float), None
    w = dict(params)
    has_b = w.pop("biases", False)
    if has_b:
        Y = np.hstack([Y, np.ones((Y.shape[0], 1))])
        offsets = model.global_mean + model.item_biases
    n = A.shape[1]
    lam = np.full(4, w["reg"])
    w0 = w["w0"] if "w0" in model.get_params() else 0.0  # ranking models: no unobserved term
    ref = exact_rows(A[rows], Y, w0=w0, lam=lam, offsets=offsets,
                     confidence=w.get("confidence", "linear"), alpha=w.get("alpha", 1.0),
                     epsilon=1.0, target=w.get("target", "binary"))
    np.testing.assert_allclose(factors, ref[:, :5], rtol=1e-7, atol=1e-9)
    if has_b:
        np.testing.assert_allclose(biases, ref[:, 5], rtol=1e-7, atol=1e-9)
    assert n == model.n_items


@pytest.mark.parametrize("name", MODELS)
def test_float32_and_float64(A, name):
    m32 = make(name, dtype=np.float32, **IMPLICIT).fit(A)
    m64 = make(name, dtype=np.float64, **IMPLICIT).fit(A)
    assert m32.user_factors.dtype == np.float32 and m64.user_factors.dtype == np.float64
    key = "sampled_loss" if name in RANKING else "objective"
    a, b = m32.history_[-1][key], m64.history_[-1][key]
    assert abs(a - b) <= 1e-3 * b


@pytest.mark.parametrize("name", MODELS)
def test_raw_ids_in_and_out(name):
    rng = np.random.default_rng(3)
    users = np.array([f"user-{u}" for u in rng.integers(0, 30, 300)])
    items = rng.integers(100, 140, 300)              # integer raw ids, not 0-based
    data = Interactions(users, items, rng.integers(1, 5, 300).astype(float))
    model = make(name, **IMPLICIT).fit(data)
    assert model.user_ids_ is data.user_ids and model.item_ids_ is data.item_ids
    ids, scores = model.recommend(["user-3", "user-7"], k=4)
    idx = data.user_index(["user-3", "user-7"])
    ids_i, scores_i = model.recommend(idx, k=4, ids="index")
    np.testing.assert_array_equal(ids, data.item_ids[ids_i])
    np.testing.assert_array_equal(scores, scores_i)
    assert ids.dtype.kind == "i" and set(ids.ravel()) <= set(data.item_ids)
    # integer raw ids are never read as indices: 100 is an item id, 0 is not
    np.testing.assert_allclose(model.predict(["user-3"], [100]),
                               model.predict(idx[:1], [0], ids="index"))
    with pytest.raises(KeyError, match=r"unknown item id\(s\) 0"):
        model.predict(["user-3"], [0])
    with pytest.raises(KeyError, match="user-999"):
        model.recommend(["user-999"])
    sim, _ = model.similar_items([100, 101], k=3)
    sim_i, _ = model.similar_items([0, 1], k=3, ids="index")
    np.testing.assert_array_equal(sim, data.item_ids[sim_i])
    # fold-in of raw-id interactions: rows follow the new log's user ids
    new = Interactions(["new-a", "new-a", "new-b"], [100, 105, 999], [1.0, 2.0, 1.0])
    with pytest.warns(RuntimeWarning, match="1 interactions with items unknown"):
        folded = model.fold_in(new)
    want = model.fold_in(sp.csr_array(([1.0, 2.0], ([0, 0], [0, 5])), shape=(2, 40)))
    np.testing.assert_allclose(folded, want)
    # a DataFrame with user / item / value columns fits the same model
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"user": data.user_ids[data.users], "item": data.item_ids[data.items],
                       "value": data.values})
    other = make(name, **IMPLICIT).fit(df)
    np.testing.assert_array_equal(other.user_factors, model.user_factors)
    with pytest.raises(ValueError, match="Interactions.from_dataframe"):
        make(name).fit(df.rename(columns={"user": "customer"}))


def test_index_mode_is_the_default_without_raw_ids(A):
    model = make("wals-cg", **IMPLICIT).fit(A)
    with pytest.raises(ValueError, match="ids='raw' needs a model fitted on raw ids"):
        model.recommend([0], ids="raw")
    with pytest.raises(ValueError, match="'ids' parameter"):
        model.recommend([0], ids="names")


@pytest.mark.parametrize("name", MODELS)
def test_set_params_changes_the_next_fit_and_clone_round_trips(A, name):
    model = make(name, **IMPLICIT)
    model.set_params(reg=2.0, factors=3)
    model.fit(A)
    ref = make(name, **dict(IMPLICIT, reg=2.0)).set_params(factors=3).fit(A)
    assert model.user_factors.shape[1] == 3
    np.testing.assert_array_equal(model.user_factors, ref.user_factors)
    assert model.get_params()["reg"] == 2.0 and "reg=2.0" in repr(model)
    # an attribute set after construction counts too, and a bad one fails the next fit
    model.reg = 0.5
    model.fit(A)
    np.testing.assert_array_equal(
        model.user_factors, make(name, **dict(IMPLICIT, reg=0.5)).set_params(factors=3)
        .fit(A).user_factors)
    model.factors = 0
    with pytest.raises(ValueError, match="'factors' parameter"):
        model.fit(A)
    with pytest.raises(ValueError, match="Invalid parameter 'regularization'"):
        model.set_params(regularization=1.0)
    sklearn_base = pytest.importorskip("sklearn.base")
    fresh = make(name, **IMPLICIT)
    copy = sklearn_base.clone(fresh)
    assert copy is not fresh and repr(copy) == repr(fresh) and not copy.is_fitted
    a = copy.fit(A).user_factors
    np.testing.assert_array_equal(a, fresh.fit(A).user_factors)


def test_a_bad_solver_name_is_rejected_at_fit(A):
    model = WALS(solver="lu")
    with pytest.raises(ValueError, match="'solver' parameter of WALS must be one of 'cg', "
                                         "'cholesky', 'ials\\+\\+', 'dense'"):
        model.fit(A)


def test_the_dense_solver_agrees_with_cholesky(A):
    chol = make("wals-cholesky", **IMPLICIT).fit(A)
    dense = make("wals-dense", **IMPLICIT).fit(A)
    np.testing.assert_allclose(dense.user_factors, chol.user_factors, rtol=1e-7, atol=1e-9)
    assert dense.history_[-1]["objective"] == pytest.approx(chol.history_[-1]["objective"],
                                                            rel=1e-10)


def test_reads_during_a_refit_see_the_old_or_the_new_model():
    import threading
    A = random_csr(300, 200, 0.05, 4)
    model = WALS(8, iterations=30, random_state=0).fit(A)
    users = np.arange(50)
    old = model.recommend(users, k=5)
    seen, errors = [], []
    stop = threading.Event()

    def read():
        try:
            while not stop.is_set():
                seen.append(model.recommend(users, k=5))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    model.set_params(random_state=1).fit(A)
    stop.set()
    for t in readers:
        t.join()
    new = model.recommend(users, k=5)
    assert not errors and seen
    assert not np.array_equal(old[0], new[0])
    for ids, scores in seen:
        assert (np.array_equal(ids, old[0]) and np.array_equal(scores, old[1])) or \
               (np.array_equal(ids, new[0]) and np.array_equal(scores, new[1]))


def test_tune_finds_the_best_of_a_small_grid_and_refits():
    from fastmf.datasets import make_synthetic
    A = make_synthetic(600, 200, 9000, random_state=2)
    model = WALS(8, iterations=6, random_state=0)
    space = {"reg": [0.001, 0.1, 30.0], "w0": [0.05, 0.5]}
    result = fastmf.tune(model, A, metric="ndcg@10", space=space, eta=3, min_steps=2)
    assert result.model is not None and result.model.is_fitted
    # successive halving: 6 candidates at 2 iterations, the best 2 at 6
    rungs = sorted({r["iterations"] for r in result.table})
    assert rungs == [2, 6]
    assert sum(r["iterations"] == 6 for r in result.table) == 2
    final = [r for r in result.table if r["iterations"] == 6]
    assert result.best_score == max(r["score"] for r in final)
    assert {k: result.best_params[k] for k in space} in [
        {k: r[k] for k in space} for r in final]
    # a huge penalty is never the best
    assert result.best_params["reg"] != 30.0
    # seeded and reproducible
    again = fastmf.tune(model, A, metric="ndcg@10", space=space, eta=3, min_steps=2,
                        refit=False)
    assert again.best_params == result.best_params and again.best_score == result.best_score
    with pytest.raises(ValueError, match="metric"):
        fastmf.tune(model, A, metric="accuracy")


def test_eight_readers_and_twenty_refits_see_whole_models_and_overlap():
    import threading
    import time
    A = random_csr(400, 300, 0.05, 6)
    model = WALS(8, iterations=4, random_state=0).fit(A)
    users = np.arange(60)
    answers = [model.recommend(users, k=5)]  # every model that was ever published
    spans, fits, errors, results = [], [], [], []
    done = threading.Event()

    def read():
        try:
            while not done.is_set():
                t0 = time.perf_counter()
                results.append(model.recommend(users, k=5))
                spans.append((t0, time.perf_counter()))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def refit():
        for seed in range(1, 21):
            t0 = time.perf_counter()
            model.set_params(random_state=seed).fit(A)
            fits.append((t0, time.perf_counter()))
            answers.append(model.recommend(users, k=5))
        done.set()

    readers = [threading.Thread(target=read) for _ in range(8)]
    writer = threading.Thread(target=refit)
    for t in readers + [writer]:
        t.start()
    for t in readers + [writer]:
        t.join()
    assert not errors and len(results) > 20
    for ids, scores in results:
        assert any(np.array_equal(ids, a[0]) and np.array_equal(scores, a[1])
                   for a in answers)
    # during a refit, reads ran and overlapped each other (they never wait for it)
    def overlapping_reads_inside(f0, f1):
        inside = sorted((r0, r1) for r0, r1 in spans if f0 < r0 and r1 < f1)
        return any(b[0] < a[1] for a, b in zip(inside, inside[1:]))
    assert any(overlapping_reads_inside(f0, f1) for f0, f1 in fits)


def test_blas_threads_are_restored_after_concurrent_reads():
    import threading
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info()
              if i["user_api"] == "blas"]
    model = WALS(4, iterations=2, random_state=0).fit(random_csr(80, 60, 0.1, 1))
    threads = [threading.Thread(target=lambda: [model.recommend(np.arange(20), k=3)
                                                for _ in range(30)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info()
             if i["user_api"] == "blas"]
    assert after == before
