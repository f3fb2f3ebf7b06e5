"""fastmf.metrics against plain-Python definitions, on random splits and hand-computed cases."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_csr

import fastmf
import fastmf.evaluation._topk as E
import fastmf.metrics as M
from fastmf._kernels.metrics import _auc_rows, _ranking_rows

RANKING = ("precision", "recall", "ndcg", "map")


# ---------------------------------------------------------------------------- references
def ref_user_metrics(ids, relevant, k):
    """(precision, recall, ndcg, ap) at k of one list (ids < 0 are empty slots)."""
    rel = [j >= 0 and j in relevant for j in ids[:k]]
    hits = sum(rel)
    denom = min(k, len(relevant))
    dcg = sum(1 / np.log2(r + 2) for r, x in enumerate(rel) if x)
    idcg = sum(1 / np.log2(r + 2) for r in range(denom))
    ap = sum(sum(rel[:r + 1]) / (r + 1) for r, x in enumerate(rel) if x) / denom
    return hits / k, hits / denom, dcg / idcg, ap


def ref_user_auc(scores, positives, excluded):
    negatives = [j for j in range(len(scores)) if j not in positives and j not in excluded]
    if not positives or not negatives:
        return np.nan
    total = 0.0
    for i in positives:
        for j in negatives:
            total += 1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0
    return total / (len(positives) * len(negatives))


def rows_of(A):
    A = sp.csr_array(A)
    return [set(A.indices[A.indptr[u]:A.indptr[u + 1]].tolist()) for u in range(A.shape[0])]


def dense_scores(model):
    S = model.user_factors.astype(float) @ model.item_factors.astype(float).T
    if model.user_biases is not None:
        S += model.global_mean + model.user_biases[:, None] + model.item_biases[None, :]
    return S


def ref_ranking(model, train, test, k):
    """Averages over the test users, and coverage of their lists, by sorting every row."""
    S = dense_scores(model)
    seen, relevant = rows_of(train), rows_of(test)
    per_user, shown = [], set()
    for u in range(S.shape[0]):
        if not relevant[u]:
            continue
        cand = sorted((j for j in range(S.shape[1]) if j not in seen[u]),
                      key=lambda j: (-S[u, j], j))[:k]
        per_user.append(ref_user_metrics(cand, relevant[u], k))
        shown.update(cand)
    means = np.mean(per_user, axis=0)
    out = {f"{name}@{k}": means[c] for c, name in enumerate(RANKING)}
    out[f"coverage@{k}"] = len(shown) / S.shape[1]
    return out


def ref_auc(model, train, test):
    S = dense_scores(model)
    seen, relevant = rows_of(train), rows_of(test)
    values = [ref_user_auc(S[u], relevant[u], seen[u]) for u in range(S.shape[0])]
    return np.nanmean(values)


def ref_errors(model, test):
    coo = sp.coo_array(test)
    err = dense_scores(model)[coo.row, coo.col] - coo.data
    return np.sqrt(np.mean(err ** 2)), np.mean(np.abs(err))


# ---------------------------------------------------------------------------- fixtures
def split(A, fraction, seed):
    """Disjoint train / test of the stored entries of ``A``."""
    A = sp.csr_array(A)
    in_test = np.random.default_rng(seed).random(A.nnz) < fraction
    train, test = A.copy(), A.copy()
    train.data[in_test] = 0
    test.data[~in_test] = 0
    train.eliminate_zeros()
    test.eliminate_zeros()
    return train, test


@pytest.fixture(scope="module")
def data():
    A = random_csr(50, 40, 0.2, 3, empty_rows=(4, 9), empty_cols=(7,))
    train, test = split(A, 0.3, 4)
    assert (np.diff(test.indptr) == 0).sum() > 2  # users without test items occur
    return train, test


@pytest.fixture(scope="module")
def implicit(data):
    return fastmf.WALS(factors=4, iterations=3, random_state=0, dtype=np.float64).fit(data[0])


@pytest.fixture(scope="module")
def biased(data):
    return fastmf.WALS(factors=4, iterations=3, random_state=0, dtype=np.float64, w0=0.0,
                       confidence="none", target="value", biases=True).fit(data[0])


def scored_model(S):
    """A fitted model whose score matrix is exactly ``S`` (item factors = identity)."""
    S = np.asarray(S, float)
    m, n = S.shape
    model = fastmf.WALS(factors=n, iterations=0, dtype=np.float64)
    model.fit(sp.csr_array(np.ones((m, n))))
    model.user_factors = S.copy()
    model.item_factors = np.eye(n)
    return model


def csr(rows, n):
    """CSR of ones with the given column sets per row."""
    dense = np.zeros((len(rows), n))
    for u, cols in enumerate(rows):
        dense[u, list(cols)] = 1
    return sp.csr_array(dense)


# ---------------------------------------------------------------------------- kernels
def test_ranking_kernel_matches_reference_with_padding():
    rng = np.random.default_rng(0)
    n, k = 12, 6
    test = random_csr(30, n, 0.3, 1)
    rows = np.flatnonzero(np.diff(test.indptr)).astype(np.int64)
    ids = np.array([rng.permutation(n)[:k] for _ in rows], dtype=np.int64)
    ids[::3, 3:] = -1  # padded tails
    ids[1::5, :] = -1  # nothing left to recommend
    relevant = rows_of(test)
    for width, kk in [(k, k), (k, k + 4), (2, 2)]:
        out = np.empty((rows.size, 5))
        _ranking_rows(np.ascontiguousarray(ids[:, :width]), rows, test.indptr, test.indices,
                      kk, out)
        want = np.array([ref_user_metrics(list(ids[b, :width]), relevant[u], kk)
                         for b, u in enumerate(rows)])
        np.testing.assert_allclose(out[:, 1:], want, rtol=1e-12)
        hits = [sum(j in relevant[u] for j in ids[b, :width] if j >= 0)
                for b, u in enumerate(rows)]
        np.testing.assert_array_equal(out[:, 0], hits)
    assert np.all(out[1::5, :] == 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_auc_kernel_matches_reference_with_ties(dtype):
    rng = np.random.default_rng(1)
    m, n = 25, 40
    train = random_csr(m, n, 0.3, 2, empty_rows=(0,))
    test = random_csr(m, n, 0.2, 3, empty_rows=(5,)).tolil()
    test[1, :] = 1  # a user without negatives: NaN
    test[2, 5:30] = 1  # more positives than the scan path takes: the binary search
    test = sp.csr_array(test)
    scores = rng.integers(0, 4, (m, n)).astype(dtype)  # many ties
    rows = np.arange(m, dtype=np.int64)
    out = np.empty(m)
    _auc_rows(scores, rows, train.indptr, train.indices, test.indptr, test.indices, out)
    seen, relevant = rows_of(train), rows_of(test)
    want = [ref_user_auc(scores[u], relevant[u], seen[u] - relevant[u]) for u in range(m)]
    np.testing.assert_allclose(out, want, rtol=1e-12)
    assert np.isnan(out[1]) and np.isnan(out[5])


# ---------------------------------------------------------------------------- random data
@pytest.mark.parametrize("k", [1, 5, 50])
def test_ranking_metrics_match_reference(data, implicit, k):
    train, test = data
    got = M.ranking_metrics(implicit, train, test, k=k)
    want = ref_ranking(implicit, train, test, k)
    assert list(got) == [f"{name}@{k}" for name in RANKING + ("coverage",)]
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12), key
    single = {"precision": M.precision_at_k, "recall": M.recall_at_k, "ndcg": M.ndcg_at_k,
              "map": M.map_at_k}
    for name, fn in single.items():
        assert fn(implicit, train, test, k=k) == pytest.approx(want[f"{name}@{k}"], rel=1e-12)


def test_ranking_with_biases_matches_reference(data, biased):
    train, test = data
    got = M.ranking_metrics(biased, train, test, k=7)
    for key, value in ref_ranking(biased, train, test, 7).items():
        assert got[key] == pytest.approx(value, rel=1e-12), key


@pytest.mark.parametrize("fixture", ["implicit", "biased"])
def test_auc_matches_reference(data, request, fixture):
    model = request.getfixturevalue(fixture)
    train, test = data
    assert M.auc(model, train, test) == pytest.approx(ref_auc(model, train, test), rel=1e-12)


@pytest.mark.parametrize("fixture", ["implicit", "biased"])
def test_rmse_mae_match_reference(data, request, fixture):
    model = request.getfixturevalue(fixture)
    test = data[1]
    want_rmse, want_mae = ref_errors(model, test)
    assert M.rmse(model, test) == pytest.approx(want_rmse, rel=1e-12)
    assert M.mae(model, test) == pytest.approx(want_mae, rel=1e-12)


def test_coverage_matches_reference(data, implicit):
    train, _ = data
    S = dense_scores(implicit)
    seen = rows_of(train)
    for users, k in [(None, 3), ([0, 5, 5, 11], 4), (np.arange(20, 50), 1)]:
        us = range(S.shape[0]) if users is None else users
        shown = set()
        for u in us:
            shown.update(sorted((j for j in range(S.shape[1]) if j not in seen[u]),
                                key=lambda j: (-S[u, j], j))[:k])
        want = len(shown) / S.shape[1]
        assert M.coverage(implicit, train, users=users, k=k) == pytest.approx(want)


def test_blocks_do_not_change_results(data, implicit, monkeypatch):
    train, test = data
    before = M.evaluate(implicit, train, test, k=5)
    cov = M.coverage(implicit, train, k=5)
    monkeypatch.setattr(E, "_RANK_BLOCK_BYTES", 16 * 5 * 3)   # 3 users per block
    monkeypatch.setattr(E, "_AUC_BLOCK_BYTES", 40 * 8 * 4)    # 4 users per block
    monkeypatch.setattr(E, "_PREDICT_BLOCK_BYTES", 1)         # 1 entry per predict call
    after = M.evaluate(implicit, train, test, k=5)
    assert list(after) == list(before)
    for key in before:
        assert after[key] == pytest.approx(before[key], rel=1e-12), key
    assert M.coverage(implicit, train, k=5) == cov


def test_float32_model_agrees_with_float64_reference(data):
    train, test = data
    model = fastmf.WALS(factors=4, iterations=3, random_state=0).fit(train)
    assert model.user_factors.dtype == np.float32
    # Near-ties may order differently in float32; the averages stay close.
    got = M.evaluate(model, train, test, k=5)
    want = ref_ranking(model, train, test, 5)
    want["auc"] = ref_auc(model, train, test)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=0.02), key


def test_interactions_like_objects_are_accepted(data, implicit):
    class Holder:
        def __init__(self, matrix):
            self.matrix = matrix

    train, test = data
    assert (M.evaluate(implicit, Holder(train), Holder(test))
            == M.evaluate(implicit, train, test))
    assert M.rmse(implicit, Holder(test)) == M.rmse(implicit, test)


# ---------------------------------------------------------------------------- hand cases
@pytest.fixture(scope="module")
def perfect():
    # user 0: train {0}, test {1, 3}; user 1: test {0, 2, 5}; user 2: no test items and
    # the worst possible scores for them, so counting it would lower every mean.
    S = [[9, 5, 1, 4, 2, 0],
         [3, 0, 2, -1, -2, 1],
         [0, 0, 0, 0, 0, 0]]
    train = csr([{0}, set(), set()], 6)
    test = csr([{1, 3}, {0, 2, 5}, set()], 6)
    return scored_model(S), train, test


def test_perfect_ranking_scores_one(perfect):
    model, train, test = perfect
    got = M.evaluate(model, train, test, k=2)
    assert got == {"precision@2": 1.0, "recall@2": 1.0, "ndcg@2": 1.0, "map@2": 1.0,
                   "auc": 1.0, "coverage@2": 4 / 6}


def test_k_larger_than_the_number_of_items(perfect):
    model, train, test = perfect
    got = M.ranking_metrics(model, train, test, k=10)
    # user 0 has 5 items left (2 hits), user 1 all 6 (3 hits); precision divides by k.
    assert got == {"precision@10": (2 / 10 + 3 / 10) / 2, "recall@10": 1.0, "ndcg@10": 1.0,
                   "map@10": 1.0, "coverage@10": 1.0}
    assert M.coverage(model, train, users=[0], k=10) == 5 / 6


def test_users_without_test_items_are_ignored(perfect):
    model, train, test = perfect
    # Dropping user 2 entirely gives the same numbers.
    S = model.user_factors[:2]
    sub = M.evaluate(scored_model(S), train[[0, 1]], test[[0, 1]], k=3)
    assert M.evaluate(model, train, test, k=3) == sub


def test_hand_computed_imperfect_ranking():
    # Ranking [0, 1, 2, 3]; test {1, 2}: a miss, then two hits.
    model = scored_model([[3, 2, 1, 0]])
    train, test = csr([set()], 4), csr([{1, 2}], 4)
    got = M.ranking_metrics(model, train, test, k=3)
    l3 = 1 / np.log2(3)
    assert got["precision@3"] == pytest.approx(2 / 3)
    assert got["recall@3"] == 1.0
    assert got["ndcg@3"] == pytest.approx((l3 + 1 / 2) / (1 + l3))
    assert got["map@3"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert M.precision_at_k(model, train, test, k=1) == 0.0
    assert M.recall_at_k(model, train, test, k=2) == pytest.approx(1 / 2)  # min(k, |T|) = 2
    # Pairs (1, 0) and (2, 0) wrong, (1, 3) and (2, 3) right.
    assert M.auc(model, train, test) == 0.5


def test_auc_ties_count_half():
    model = scored_model([[0.5, 0.5, 0.1, 0.7]])
    # Item 3 is in train: neither positive nor negative.
    assert M.auc(model, csr([{3}], 4), csr([{0}], 4)) == pytest.approx((0.5 + 1) / 2)


def test_padded_slots_never_hit():
    # The last item is seen, so a padding id -1 read as an index would wrongly cover it.
    model = scored_model([[0, 0, 0, 1, 2, 0]])
    train, test = csr([{0, 1, 2, 5}], 6), csr([{4}], 6)
    ids, _ = model.recommend([0], A=train, k=4)
    np.testing.assert_array_equal(ids, [[4, 3, -1, -1]])
    got = M.ranking_metrics(model, train, test, k=4)
    assert got == {"precision@4": 1 / 4, "recall@4": 1.0, "ndcg@4": 1.0, "map@4": 1.0,
                   "coverage@4": 2 / 6}
    assert M.coverage(model, train, k=4) == 2 / 6


def test_test_items_also_in_train_are_misses():
    model = scored_model([[9, 5, 1, 0]])
    train, test = csr([{0}], 4), csr([{0, 1}], 4)
    assert M.precision_at_k(model, train, test, k=1) == 1.0
    assert M.recall_at_k(model, train, test, k=2) == 0.5
    assert M.auc(model, train, test) == 1.0


# ---------------------------------------------------------------------------- evaluate
def test_evaluate_default_keys(data, implicit):
    train, test = data
    ones = test.copy()
    ones.data[:] = 1
    implicit_keys = ["precision@10", "recall@10", "ndcg@10", "map@10", "auc", "coverage@10"]
    got = M.evaluate(implicit, train, ones)
    assert list(got) == implicit_keys
    assert all(isinstance(x, float) for x in got.values())
    # a model of preferences (binary targets) is not scored on the stored counts
    assert list(M.evaluate(implicit, train, test)) == implicit_keys
    ratings = fastmf.WALS(4, w0=0.0, target="value", confidence="none", reg=0.1,
                          iterations=2, random_state=0).fit(train)
    rated = M.evaluate(ratings, train, test)
    assert list(rated) == ["rmse", "mae"] + implicit_keys
    assert rated["rmse"] == M.rmse(ratings, test)
    assert rated["mae"] == M.mae(ratings, test)
    assert rated["auc"] == M.auc(ratings, train, test)
    ranking = M.ranking_metrics(ratings, train, test)
    assert {key: rated[key] for key in ranking} == ranking
    assert fastmf.metrics.evaluate is M.evaluate


def test_evaluate_selects_metrics(data, implicit):
    train, test = data
    got = M.evaluate(implicit, train, test, k=3,
                     metrics=["ndcg@5", "auc", "rmse", "precision", "coverage@2", "ndcg@5"])
    assert list(got) == ["ndcg@5", "auc", "rmse", "precision@3", "coverage@2"]
    assert got["ndcg@5"] == M.ndcg_at_k(implicit, train, test, k=5)
    assert got["precision@3"] == M.precision_at_k(implicit, train, test, k=3)
    assert got["coverage@2"] == M.ranking_metrics(implicit, train, test, k=2)["coverage@2"]
    assert got["auc"] == M.auc(implicit, train, test)
    assert got["rmse"] == M.rmse(implicit, test)
    assert list(M.evaluate(implicit, train, test, metrics="mae")) == ["mae"]


@pytest.mark.parametrize("metrics", [["ndcg", "hit_rate"], ["auc@5"], ["ndcg@0"], ["map@x"],
                                     [3], [], 7])
def test_evaluate_rejects_unknown_metrics(data, implicit, metrics):
    with pytest.raises(ValueError, match="[Vv]alid metrics are 'rmse', 'mae', 'auc'"):
        M.evaluate(implicit, *data, metrics=metrics)


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("k", [0, -1, 2.5, True, "10", None])
def test_bad_k(data, implicit, k):
    train, test = data
    with pytest.raises(ValueError, match="'k' parameter of precision_at_k must be an int"):
        M.precision_at_k(implicit, train, test, k=k)
    with pytest.raises(ValueError, match="'k' parameter of evaluate"):
        M.evaluate(implicit, train, test, k=k)
    with pytest.raises(ValueError, match="'k' parameter of coverage"):
        M.coverage(implicit, train, k=k)


def test_shape_mismatch(data, implicit):
    train, test = data
    with pytest.raises(ValueError, match="test must have 40 columns"):
        M.ranking_metrics(implicit, train, test[:, :39])
    with pytest.raises(ValueError, match="train must have 50 rows"):
        M.auc(implicit, train[:49], test)
    with pytest.raises(ValueError, match="test must have 50 rows"):
        M.rmse(implicit, test[:10])


def test_unfitted_or_foreign_model(data):
    with pytest.raises(fastmf.NotFittedError):
        M.evaluate(fastmf.WALS(), *data)
    with pytest.raises(fastmf.NotFittedError):
        M.rmse(fastmf.SGD(), data[1])
    with pytest.raises(TypeError, match="needs a fastmf model"):
        M.auc(object(), *data)


def test_bad_data(data, implicit):
    train, test = data
    empty = sp.csr_array(test.shape)
    for fn in (M.ranking_metrics, M.ndcg_at_k, M.auc, M.evaluate):
        with pytest.raises(ValueError, match="at least one item in test"):
            fn(implicit, train, empty)
    with pytest.raises(ValueError, match="rmse needs stored entries"):
        M.rmse(implicit, empty)
    with pytest.raises(TypeError, match="test must be a scipy.sparse"):
        M.mae(implicit, test.toarray().tolist())
    # a dense numpy array is read as CSR of its non-zeros
    assert M.mae(implicit, test.toarray()) == M.mae(implicit, test)
    with pytest.raises(ValueError, match="users must lie in"):
        M.coverage(implicit, train, users=[50])
    with pytest.raises(ValueError, match="users is empty"):
        M.coverage(implicit, train, users=[])
    # Every test user has seen every other item: no negatives anywhere.
    everything = sp.csr_array(np.ones(test.shape))
    with pytest.raises(ValueError, match="negative item"):
        M.auc(implicit, everything, test)


def test_evaluate_matches_interactions_to_the_models_ids_and_drops_unknown_on_request():
    import pandas as pd
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"user": rng.integers(0, 40, 600), "item": rng.integers(0, 25, 600)})
    train = fastmf.Interactions.from_dataframe(df.iloc[:500], "user", "item")
    model = fastmf.WALS(4, iterations=2, random_state=0).fit(train)
    # a test set with its own catalogues, one unknown user and one unknown item
    test_df = pd.concat([df.iloc[500:], pd.DataFrame({"user": [999, 1], "item": [1, 777]})])
    test = fastmf.Interactions.from_dataframe(test_df, "user", "item")
    with pytest.raises(KeyError, match="unknown='drop'"):
        fastmf.evaluate(model, train, test, k=5)
    with pytest.warns(RuntimeWarning, match="2 test entries"):
        got = fastmf.evaluate(model, train, test, k=5, unknown="drop")
    known = test_df[test_df.user.isin(train.user_ids) & test_df.item.isin(train.item_ids)]
    want = fastmf.evaluate(model, train, train.like(known.user, known.item), k=5)
    assert got == pytest.approx(want)
