import numba
import numpy as np
import pytest
import scipy.sparse as sp

import fastmf
from fastmf import WALS

from _reference import brute_topk, dense_objective
from conftest import random_csr

IMPLICIT = dict(w0=1.0, confidence="linear", alpha=2.0, target="binary", reg=0.1, reg_exponent=0.0)
EXPLICIT = dict(w0=0.0, confidence="none", target="value", reg=0.5, reg_exponent=0.0,
                biases=True)


def _fit(A, **kw):
    params = dict(factors=6, iterations=8, random_state=0, dtype=np.float64)
    params.update(kw)
    return WALS(**params).fit(A)


@pytest.mark.parametrize("params", [IMPLICIT, EXPLICIT,
                                    dict(IMPLICIT, reg_exponent=0.5, w0=0.3),
                                    dict(IMPLICIT, confidence="log", target="value")])
def test_objective_never_increases_across_cholesky_sweeps(small_counts, params):
    model = _fit(small_counts, solver="cholesky", iterations=12, **params)
    obj = np.array([h["objective"] for h in model.history_])
    assert np.all(np.diff(obj) <= 1e-9 * obj[:-1])
    assert obj[-1] < obj[0]


@pytest.mark.parametrize("params", [IMPLICIT, EXPLICIT,
                                    dict(IMPLICIT, reg=0.01, reg_exponent=1.0)])
def test_history_objective_is_the_exact_objective(small_counts, params):
    model = _fit(small_counts, **params)
    kw = {k: val for k, val in params.items() if k != "biases"}
    if model.user_biases is not None:
        kw.update(user_biases=model.user_biases, item_biases=model.item_biases,
                  global_mean=model.global_mean)
    want = dense_objective(small_counts, model.user_factors, model.item_factors, **kw)
    assert model.history_[-1]["objective"] == pytest.approx(want, rel=1e-10)
    assert model.objective(small_counts) == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("params", [IMPLICIT, EXPLICIT])
def test_cg_reaches_cholesky_objective(params):
    # From the same small start (init_scale 0.01) both solvers follow one path to one basin;
    # on this tiny non-convex ratings problem a larger start lets 3 CG steps per sweep lag
    # Cholesky by about 1% at 15 iterations (0.4% at 60).
    A = random_csr(120, 80, 0.08, 5)
    chol = _fit(A, solver="cholesky", iterations=15, factors=8, init_scale=0.01, **params)
    cg = _fit(A, solver="cg", iterations=15, factors=8, init_scale=0.01, **params)
    a, b = chol.history_[-1]["objective"], cg.history_[-1]["objective"]
    assert abs(b - a) <= 0.01 * a


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_float32_agrees_with_float64(small_counts, solver):
    m64 = _fit(small_counts, solver=solver, dtype=np.float64, **IMPLICIT)
    m32 = _fit(small_counts, solver=solver, dtype=np.float32, **IMPLICIT)
    assert m32.user_factors.dtype == np.float32
    assert m32.history_[-1]["objective"] == pytest.approx(m64.history_[-1]["objective"],
                                                          rel=1e-3)
    s64 = m64.user_factors @ m64.item_factors.T
    s32 = m32.user_factors @ m32.item_factors.T
    assert np.abs(s64 - s32).max() < 1e-2 * np.abs(s64).max()


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_results_do_not_depend_on_thread_count(solver):
    A = random_csr(300, 200, 0.05, 7)
    one = _fit(A, solver=solver, num_threads=1, dtype=np.float32, **IMPLICIT)
    two = _fit(A, solver=solver, num_threads=2, dtype=np.float32, **IMPLICIT)
    np.testing.assert_array_equal(one.user_factors, two.user_factors)
    np.testing.assert_array_equal(one.item_factors, two.item_factors)
    assert [h["objective"] for h in one.history_] == [h["objective"] for h in two.history_]


@pytest.mark.parametrize("params", [IMPLICIT, EXPLICIT,
                                    dict(IMPLICIT, row_weights=np.linspace(0.5, 2, 40),
                                         reg_exponent=0.3)])
def test_fold_in_of_a_training_row_reproduces_its_factors(small_counts, params):
    model = _fit(small_counts, solver="cholesky", **params)
    rows = [0, 3, 8, 39]
    kw = {}
    if params.get("row_weights") is not None:
        kw["row_weights"] = params["row_weights"][rows]
    factors, biases = model.fold_in(small_counts[rows], return_biases=True, **kw)
    np.testing.assert_allclose(factors, model.user_factors[rows], rtol=1e-8, atol=1e-10)
    if model.user_biases is not None:
        np.testing.assert_allclose(biases, model.user_biases[rows], rtol=1e-8, atol=1e-10)


def test_recommend_equals_brute_force_topk_without_seen_items(small_counts):
    model = _fit(small_counts, **IMPLICIT)
    users = np.arange(small_counts.shape[0])
    ids, scores = model.recommend(users, k=7)
    dense = model.user_factors @ model.item_factors.T
    ref_ids, ref_scores = brute_topk(dense, 7, small_counts.toarray() != 0)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-12)
    # Without filtering, and with another matrix to filter.
    ids, _ = model.recommend(users[:5], k=3, filter_seen=False)
    np.testing.assert_array_equal(ids, brute_topk(dense[:5], 3)[0])
    other = random_csr(*small_counts.shape, 0.5, 9)
    ids, _ = model.recommend(users[:5], A=other, k=4)
    np.testing.assert_array_equal(ids, brute_topk(dense[:5], 4, other.toarray()[:5] != 0)[0])


def test_recommend_with_biases_ranks_by_full_prediction(small_counts):
    model = _fit(small_counts, **EXPLICIT)
    ids, scores = model.recommend([1, 2], k=5, filter_seen=False)
    full = (model.global_mean + model.user_biases[[1, 2], None] + model.item_biases[None]
            + model.user_factors[[1, 2]] @ model.item_factors.T)
    ref_ids, ref_scores = brute_topk(full, 5)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-10)
    np.testing.assert_allclose(model.predict([1, 1], ids[0, :2]), scores[0, :2], rtol=1e-10)


def test_recommend_pads_when_fewer_items_than_k():
    A = sp.csr_array(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]))
    model = _fit(A, factors=2, **IMPLICIT)
    ids, scores = model.recommend([0], k=3)
    assert ids[0, 0] == 2 and list(ids[0, 1:]) == [-1, -1]
    assert np.all(np.isneginf(scores[0, 1:]))


def test_similar_items_match_cosine_brute_force(small_counts):
    model = _fit(small_counts, **IMPLICIT)
    V = model.item_factors
    Vn = V / np.linalg.norm(V, axis=1, keepdims=True)
    items = [1, 4, 9]
    ids, sims = model.similar_items(items, k=5)
    excl = np.zeros((3, V.shape[0]), bool)
    excl[np.arange(3), items] = True
    ref_ids, ref_sims = brute_topk(Vn[items] @ Vn.T, 5, excl)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(sims, ref_sims, rtol=1e-10)


@pytest.mark.parametrize("params", [IMPLICIT, EXPLICIT])
def test_save_load_round_trip(tmp_path, small_counts, params):
    model = _fit(small_counts, **params)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fastmf.load(path)
    assert type(loaded) is WALS
    for name, value in model.get_params().items():
        got = loaded.get_params()[name]
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got, value)
        else:
            assert got == value, name
    np.testing.assert_array_equal(loaded.user_factors, model.user_factors)
    np.testing.assert_array_equal(loaded.item_factors, model.item_factors)
    assert loaded.history_ == model.history_
    a = model.recommend([0, 1, 2], k=5)
    b = loaded.recommend([0, 1, 2], k=5)
    np.testing.assert_array_equal(a[0], b[0])
    assert loaded.objective(small_counts) == model.objective(small_counts)


def test_callback_sees_each_iteration_and_can_stop(small_counts):
    seen = []

    def cb(model, record):
        seen.append(record["iteration"])
        return record["iteration"] == 3

    model = WALS(factors=4, iterations=10, random_state=0, **IMPLICIT).fit(small_counts,
                                                                            callback=cb)
    assert seen == [1, 2, 3] and len(model.history_) == 3


def test_same_random_state_same_factors(small_counts):
    a = _fit(small_counts, **IMPLICIT)
    b = _fit(small_counts, **IMPLICIT)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)


def test_input_is_not_modified_and_any_format_is_accepted(small_counts):
    before = small_counts.copy()
    a = _fit(small_counts, **IMPLICIT)
    assert (small_counts != before).nnz == 0
    b = _fit(sp.coo_matrix(small_counts), **IMPLICIT)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)


def test_init_scale_default_depends_on_w0_and_is_validated(tmp_path):
    A = random_csr(30, 20, 0.2, 3)
    with pytest.raises(ValueError, match="'init_scale' parameter of WALS"):
        WALS(init_scale=0.0).fit(A)
    a = WALS(4, iterations=0, w0=0.0, target="value", confidence="none", random_state=0).fit(A)
    b = WALS(4, iterations=0, w0=0.0, target="value", confidence="none", init_scale=0.1,
             random_state=0).fit(A)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    c = WALS(4, iterations=0, random_state=0, init_scale=0.01).fit(A)
    np.testing.assert_array_equal(WALS(4, iterations=0, random_state=0).fit(A).user_factors,
                                  c.user_factors)
    b.save(tmp_path / "m.npz")
    assert fastmf.load(tmp_path / "m.npz").init_scale == 0.1


def test_singular_rows_warning_points_at_the_caller_of_fit():
    A = sp.csr_array(np.array([[1.0, 0, 0], [0, 0, 0], [0, 1.0, 0]]))
    model = WALS(2, w0=0.0, reg=0.0, confidence="none", target="value", solver="cholesky",
                 iterations=1, random_state=0)
    with pytest.warns(RuntimeWarning, match="singular system") as record:
        model.fit(A)
    assert record[0].filename == __file__
