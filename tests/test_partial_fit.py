"""partial_fit (new entries without a full refit), recommendations for users outside the
model, and recommendations as a DataFrame."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastmf
from fastmf import WALS

from _reference import exact_rows
from conftest import random_csr

pd = pytest.importorskip("pandas")

EXPLICIT_W = dict(w0=0.3, confidence="linear", alpha=1.0, epsilon=1.0, target="binary")


def _model(A, **kw):
    p = dict(factors=5, iterations=4, random_state=0, dtype=np.float64, reg=0.1,
             reg_exponent=0.0, **EXPLICIT_W)
    p.update(kw)
    return WALS(**p).fit(A)


def test_no_new_entries_change_nothing():
    A = random_csr(40, 30, 0.15, 1)
    model = _model(A)
    U, V = model.user_factors.copy(), model.item_factors.copy()
    model.partial_fit(sp.csr_array(A.shape))
    np.testing.assert_array_equal(model.user_factors, U)
    np.testing.assert_array_equal(model.item_factors, V)
    assert model._seen.nnz == A.nnz


@pytest.mark.parametrize("duplicates", ["add", "replace"])
def test_entries_for_existing_rows_are_the_exact_dense_re_solves(duplicates):
    A = random_csr(40, 30, 0.15, 1)
    model = _model(A)
    U, V = model.user_factors.copy(), model.item_factors.copy()
    B = random_csr(40, 30, 0.03, 9)
    model.partial_fit(B, duplicates=duplicates)
    if duplicates == "add":
        merged = (A + B).toarray()
    else:
        merged = np.where(B.toarray() != 0, B.toarray(), A.toarray())
    users = np.unique(B.tocoo().row)
    items = np.unique(B.tocoo().col)
    kw = dict(EXPLICIT_W, lam=np.full(max(merged.shape), 0.1))
    # items first, against the old users; then users, against the new items
    V_ref = V.copy()
    V_ref[items] = exact_rows(sp.csr_array(merged.T), U, **dict(kw, lam=kw["lam"][:30]))[items]
    U_ref = U.copy()
    U_ref[users] = exact_rows(sp.csr_array(merged), V_ref, **dict(kw, lam=kw["lam"][:40]))[users]
    np.testing.assert_allclose(model.item_factors, V_ref, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(model.user_factors, U_ref, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(model._seen.to_scipy().toarray(), merged)


def test_new_users_and_items_get_raw_ids_and_valid_factors():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"user": rng.integers(0, 50, 500) * 2, "item": rng.integers(0, 30, 500),
                       "value": rng.integers(1, 4, 500).astype(float)})
    model = WALS(6, iterations=4, random_state=0).fit(df)
    old_users = model.user_ids_.copy()
    model.partial_fit(pd.DataFrame({"user": [1001, 3, 1001], "item": [5, 999, 999],
                                    "value": [2.0, 1.0, 1.0]}))
    assert 1001 in model.user_ids_ and 999 in model.item_ids_
    assert np.all(np.diff(model.user_ids_) > 0) and np.all(np.diff(model.item_ids_) > 0)
    assert model.user_factors.shape == (model.user_ids_.size, 6)
    assert model.item_factors.shape == (model.item_ids_.size, 6)
    assert np.isfinite(model.user_factors).all() and np.isfinite(model.item_factors).all()
    new_user = model.user_factors[np.searchsorted(model.user_ids_, 1001)]
    assert np.abs(new_user).sum() > 0
    # users the new entries do not touch keep their answers (but for the new item)
    untouched = [u for u in old_users[:3] if u not in (3,)]
    after = model.recommend(untouched, k=4)
    assert after[0].shape == (len(untouched), 4)
    assert model.recommend([1001], k=3)[0].shape == (1, 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_gram_matrices_do_not_drift_over_a_thousand_updates(dtype):
    A = random_csr(120, 60, 0.05, 3)
    model = _model(A, dtype=dtype, popularity_exponent=0.5, w0="auto")
    rng = np.random.default_rng(1)
    for _ in range(1000):
        i, j = rng.integers(0, 120), rng.integers(0, 60)
        model.partial_fit(sp.csr_array(([1.0], ([i], [j])), shape=A.shape))
    UtU, VtWV = model._grams
    U = model.user_factors.astype(np.float64)
    V = model.item_factors.astype(np.float64)
    w0 = model._weighting.w0_items
    tol = 1e-9 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(UtU, U.T @ U, rtol=tol, atol=tol * np.abs(U.T @ U).max())
    want = (V.T * w0) @ V
    np.testing.assert_allclose(VtWV, want, rtol=tol, atol=tol * np.abs(want).max())


def test_recommend_for_users_outside_the_model_is_fold_in_then_brute_force():
    A = random_csr(50, 40, 0.1, 4)
    model = _model(A, kind="ratings", w0=0.0, confidence="none", target="value",
                   biases=True)
    rows = random_csr(3, 40, 0.2, 8)
    ids, scores = model.recommend(rows, k=5)
    X, b = model.fold_in(rows, return_biases=True)
    full = X @ model.item_factors.T + model.global_mean + b[:, None] + model.item_biases
    full[rows.toarray() != 0] = -np.inf
    for r in range(3):
        want = np.argsort(-full[r], kind="stable")[:5]
        np.testing.assert_array_equal(ids[r], want)
        np.testing.assert_allclose(scores[r], full[r, want], rtol=1e-6)


def test_unknown_users_point_to_their_interactions_and_frames_have_no_padding():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"user": [f"u{u}" for u in rng.integers(0, 20, 200)],
                       "item": rng.integers(0, 12, 200)})
    model = WALS(4, iterations=3, random_state=0).fit(df)
    with pytest.raises(KeyError, match="pass their interactions"):
        model.recommend(["nobody"])
    frame = model.recommend(pd.DataFrame({"user": ["new", "new"], "item": [1, 2]}), k=3,
                            as_frame=True)
    assert list(frame.columns) == ["user", "item", "score", "rank"]
    assert (frame["user"] == "new").all() and frame["rank"].tolist() == [1, 2, 3]
    assert not frame["item"].isin([1, 2]).any()
    # k larger than the candidates: only real rows, no -inf padding
    big = model.recommend(["u1", "u2"], k=50, as_frame=True)
    assert np.isfinite(big["score"]).all()
    assert len(big) == sum(12 - len(set(df.item[df.user == u])) for u in ("u1", "u2"))


def test_an_interrupted_partial_fit_leaves_the_model_as_it_was(monkeypatch):
    A = random_csr(40, 30, 0.15, 1)
    model = _model(A)
    U = model.user_factors.copy()
    from fastmf.models import _incremental

    def interrupted(*args, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr(_incremental, "_solve_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.partial_fit(random_csr(40, 30, 0.05, 2))
    np.testing.assert_array_equal(model.user_factors, U)
    assert model._seen.nnz == A.nnz


def test_save_and_load_round_trip_a_partially_fitted_model(tmp_path):
    A = random_csr(40, 30, 0.15, 1)
    model = _model(A)
    model.partial_fit(random_csr(45, 32, 0.05, 2))  # two new users, two new items
    model.save(tmp_path / "m.npz")
    loaded = fastmf.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.user_factors, model.user_factors)
    np.testing.assert_array_equal(loaded._seen.to_scipy().toarray(),
                                  model._seen.to_scipy().toarray())
    # and it can take more
    loaded.partial_fit(random_csr(45, 32, 0.02, 3))
    model.partial_fit(random_csr(45, 32, 0.02, 3))
    np.testing.assert_allclose(loaded.user_factors, model.user_factors, rtol=1e-9,
                               atol=1e-12)


def test_partial_fit_refuses_what_it_cannot_do():
    A = random_csr(40, 30, 0.15, 1)
    model = _model(A, row_weights=np.ones(40))
    with pytest.raises(ValueError, match="row_weights"):
        model.partial_fit(A)
    with pytest.raises(ValueError, match="'duplicates' parameter"):
        _model(A).partial_fit(A, duplicates="max")
    with pytest.raises(ValueError, match="smaller than the model"):
        _model(A).partial_fit(A[:10])


def test_a_partial_fit_too_large_for_memory_is_refused_before_allocating():
    A = random_csr(40, 30, 0.15, 1)
    model = _model(A)
    # 2^40 new items in a valid CSR matrix
    huge = sp.csr_array((np.ones(1), np.array([(1 << 40) - 1]), np.r_[0, np.ones(40, int)]),
                        shape=(40, 1 << 40))
    with pytest.raises(MemoryError, match="fewer new users"):
        model.partial_fit(huge)
    # a huge shape in a format that needs converting is refused before the conversion
    with pytest.raises(MemoryError, match="converting new"):
        model.partial_fit(sp.coo_array(([1.0], ([0], [0])), shape=(1 << 40, 30)))
    assert model.user_factors.shape == (40, 5)


def _frame(A, users=None):
    coo = sp.coo_array(A)
    users = np.arange(A.shape[0]) * 10 if users is None else users
    return pd.DataFrame({"user": users[coo.row], "item": coo.col + 1000,
                         "value": coo.data.astype(float)})


def test_a_warm_started_refit_starts_where_the_model_was():
    A = fastmf.datasets.make_synthetic(300, 120, 4000, random_state=0)
    model = WALS(factors=8, iterations=20, random_state=0).fit(A)
    converged = model.history_[-1]["objective"]
    cold = WALS(factors=8, iterations=1, random_state=0).fit(A).history_[-1]["objective"]
    model.set_params(iterations=1)
    warm = model.fit(A, warm_start=True).history_[-1]["objective"]
    assert warm <= converged * (1 + 1e-9) < cold
    # an unfitted model has nothing to start from: the ordinary draw
    fresh = WALS(factors=8, iterations=1, random_state=0).fit(A, warm_start=True)
    np.testing.assert_array_equal(
        fresh.user_factors, WALS(factors=8, iterations=1, random_state=0).fit(A).user_factors)


def test_a_warm_start_matches_rows_by_raw_id_when_the_catalogue_grows():
    A = fastmf.datasets.make_synthetic(300, 120, 4000, random_state=1)
    df = _frame(A)
    model = WALS(factors=8, iterations=20, random_state=0).fit(df)
    # users with ids sorting before all the others: every old user moves down by two
    # rows, so matching by position would start each row from another user's factors
    extra = pd.DataFrame({"user": [-2, -2, -1], "item": [1000, 1001, 1002], "value": 1.0})
    grown = pd.concat([df, extra])
    reference = WALS(factors=8, iterations=20, random_state=0).fit(grown)
    model.set_params(iterations=1)
    model.fit(grown, warm_start=True)
    assert model.user_ids_[:2].tolist() == [-2, -1]
    gap = model.history_[-1]["objective"] / reference.history_[-1]["objective"]
    assert gap < 1.01


def test_a_warm_start_refuses_what_it_cannot_match():
    A = random_csr(40, 30, 0.15, 1)
    model = _model(A)
    with pytest.raises(ValueError, match="number of factors"):
        model.set_params(factors=3).fit(A, warm_start=True)
    model = _model(A)
    with pytest.raises(ValueError, match="raw id"):
        model.fit(_frame(A), warm_start=True)
