import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_csr

import fastmf
from fastmf import Interactions, split


def _log(n, n_users, n_items, seed, strings=False):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, n_users, n)
    i = rng.integers(0, n_items, n)
    if strings:
        u = np.array([f"user{x}" for x in u], dtype=object)
        i = np.array([f"item{x}" for x in i], dtype=object)
    return u, i, rng.integers(1, 6, n).astype(float), rng.integers(0, 1000, n)


def _dense_reference(users, items, values, user_ids, item_ids, duplicates):
    out = np.zeros((len(user_ids), len(item_ids)))
    upos = {x: k for k, x in enumerate(user_ids)}
    ipos = {x: k for k, x in enumerate(item_ids)}
    for a, b, c in zip(users, items, values):
        if duplicates == "sum":
            out[upos[a], ipos[b]] += c
        else:
            out[upos[a], ipos[b]] = c
    return out


@pytest.mark.parametrize("strings", [False, True])
@pytest.mark.parametrize("duplicates", ["sum", "last"])
def test_matrix_matches_dense_reference(strings, duplicates):
    u, i, val, ts = _log(300, 20, 15, 0, strings)
    data = Interactions(u, i, val, ts, duplicates=duplicates)
    assert data.user_ids.tolist() == sorted(set(u.tolist()))
    assert data.item_ids.tolist() == sorted(set(i.tolist()))
    ref = _dense_reference(u, i, val, data.user_ids.tolist(), data.item_ids.tolist(),
                           duplicates)
    np.testing.assert_array_equal(data.to_csr(np.float64).toarray(), ref)
    assert data.matrix.dtype == np.float32 and data.matrix.has_canonical_format
    assert data.nnz == np.count_nonzero(ref) == len(data)
    # entries are in CSR order and aligned with the matrix
    np.testing.assert_array_equal(data.matrix.indices, data.items)
    np.testing.assert_array_equal(ref[data.users, data.items], data.values)


def test_duplicate_timestamps_follow_the_rule():
    data = Interactions([1, 1, 1], [7, 7, 8], [1.0, 2.0, 5.0], [10, 30, 20])
    assert data.values.tolist() == [3.0, 5.0] and data.timestamps.tolist() == [30, 20]
    last = Interactions([1, 1], [7, 7], [1.0, 2.0], [30, 10], duplicates="last")
    assert last.values.tolist() == [2.0] and last.timestamps.tolist() == [10]
    with pytest.raises(ValueError, match="duplicate"):
        Interactions([1, 1], [7, 7], duplicates="error")


def test_ids_map_both_ways_and_like_shares_indices():
    data = Interactions(["b", "a", "c"], ["y", "x", "y"], [1.0, 2.0, 3.0])
    assert data.user_index(["c", "a"]).tolist() == [2, 0]
    assert data.item_index(["z", "x"], unknown=-1).tolist() == [-1, 0]
    with pytest.raises(KeyError, match=r"unknown item id\(s\) 'z'"):
        data.item_index(["z"])
    test = data.like(["a", "c"], ["y", "x"])
    assert test.shape == data.shape
    assert test.matrix.toarray().tolist() == [[0, 1], [0, 0], [1, 0]]
    with pytest.raises(ValueError, match="outside the given catalogue"):
        data.like(["a", "new"], ["y", "x"])
    dropped = data.like(["a", "new"], ["y", "x"], unknown="drop")
    assert dropped.nnz == 1 and dropped.n_dropped == 1


def test_rows_for_new_users_feed_fold_in():
    from fastmf import WALS
    data = Interactions.from_matrix(random_csr(30, 20, 0.2, 1))
    model = WALS(factors=4, iterations=3, random_state=0).fit(data.matrix)
    users, rows, n_unknown = data.rows_for(["new", "new", "other"], [3, 999, 5])
    assert users.tolist() == ["new", "other"] and n_unknown == 1
    assert rows.shape == (2, 20) and rows.toarray()[0, 3] == 1 and rows.toarray()[1, 5] == 1
    assert model.fold_in(rows).shape == (2, 4)


def test_from_dataframe_and_arrays_agree():
    pd = pytest.importorskip("pandas")
    u, i, val, ts = _log(100, 8, 9, 2)
    df = pd.DataFrame({"u": u, "i": i, "r": val, "t": pd.to_datetime(ts, unit="s")})
    a = Interactions.from_dataframe(df, user="u", item="i", value="r", timestamp="t")
    b = Interactions(u, i, val, ts)
    assert (a.matrix != b.matrix).nnz == 0
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    with pytest.raises(ValueError, match=r"column\(s\) \['rating'\] not in the DataFrame"):
        Interactions.from_dataframe(df, user="u", item="i", value="rating")


@pytest.mark.parametrize("kwargs, message", [
    ({"users": [1, None], "items": [1, 2]}, "users holds missing ids"),
    ({"users": [1.0, np.nan], "items": [1, 2]}, "users holds missing ids"),
    ({"users": [1, 2], "items": ["a", ""]}, "empty-string"),
    ({"users": [1, 2, 3], "items": [1, 2]}, "same length"),
    ({"users": [1, 2], "items": [1, 2], "values": [1.0, np.nan]}, "NaN or inf"),
    ({"users": [1, 2], "items": [1, 2], "values": [1.0]}, "one value per entry"),
    ({"users": [1, 2], "items": [1, 2], "values": ["a", "b"]}, "must be numbers"),
    ({"users": [1.5, 2], "items": [1, 2]}, "non-integer"),
    ({"users": np.array([1, "a"], dtype=object), "items": [1, 2]}, "mix"),
    ({"users": [True, False], "items": [1, 2]}, "booleans"),
    ({"users": [[1, 2]], "items": [1, 2]}, "1-d"),
    ({"users": [1, 2], "items": [1, 2], "timestamps": [1.0, np.inf]}, "timestamps"),
    ({"users": [1, 2], "items": [1, 2], "duplicates": "max"}, "duplicates"),
])
def test_bad_input_raises_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Interactions(**kwargs)


def test_empty_interactions():
    data = Interactions([], [])
    assert data.shape == (0, 0) and data.nnz == 0


# ---------------------------------------------------------------------------------- splits
def _entries(d):
    return set(zip(d.user_ids[d.users].tolist(), d.item_ids[d.items].tolist()))


def test_random_holdout_partitions_entries_exactly():
    u, i, val, ts = _log(2000, 50, 40, 3)
    data = Interactions(u, i, val, ts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = split.random_holdout(data, 0.25, random_state=0)
    train, test = s
    assert train.shape == test.shape == data.shape
    assert _entries(train) | _entries(test) == _entries(data)
    assert not _entries(train) & _entries(test)
    assert test.nnz == round(0.25 * data.nnz)
    again = split.random_holdout(data, 0.25, random_state=0, warn=False)
    assert _entries(again.test) == _entries(test)
    other = split.random_holdout(data, 0.25, random_state=1, warn=False)
    assert _entries(other.test) != _entries(test)
    # the timestamps and values travel with their entries
    full = {(a, b): (c, t) for a, b, c, t in zip(data.user_ids[data.users], data.item_ids[
        data.items], data.values, data.timestamps)}
    for a, b, c, t in zip(test.users, test.items, test.values, test.timestamps):
        assert full[(test.user_ids[a], test.item_ids[b])] == (c, t)


def test_cold_users_are_reported_not_dropped():
    data = Interactions(["a", "a", "b"], ["x", "y", "x"])
    s = None
    for seed in range(50):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s = split.random_holdout(data, 1 / 3, random_state=seed)
        if s.cold_users.size:
            break
    assert s.cold_users.tolist() == ["b"]
    assert any("only in the test side" in str(w.message) for w in caught)
    assert s.test.nnz == 1 and "b" in s.test.user_ids[s.test.users]


@pytest.mark.parametrize("how", [{"test_size": 0.3}, {"k": 2}])
def test_per_user_holdout_counts(how):
    A = random_csr(60, 40, 0.2, 4)
    data = Interactions.from_matrix(A)
    s = split.per_user(data, **how, min_train=1, random_state=0)
    n = np.bincount(data.users, minlength=60)
    got = np.bincount(s.test.users, minlength=60)
    want = (np.minimum(np.floor(0.3 * n + 0.5), n - 1) if "test_size" in how
            else np.minimum(2, n - 1)).clip(0)
    np.testing.assert_array_equal(got, want)
    assert s.cold_users.size == 0
    assert _entries(s.train) | _entries(s.test) == _entries(data)


def test_per_user_split_of_a_sparse_matrix_returns_matrices():
    A = random_csr(30, 20, 0.3, 5, dtype=np.float32)
    train, test = split.per_user(A, k=1, random_state=0)
    assert sp.issparse(train) and train.shape == A.shape and train.dtype == np.float32
    np.testing.assert_array_equal((train + test).toarray(), A.toarray())


def test_time_split_global_and_per_user():
    u, i, val, ts = _log(3000, 40, 60, 6)
    data = Interactions(u, i, val, ts, duplicates="last")
    s = split.by_time(data, test_size=0.2, random_state=0, warn=False)
    assert s.test.nnz == round(0.2 * data.nnz)
    assert s.train.timestamps.max() <= s.test.timestamps.min()
    c = split.by_time(data, cutoff=900, warn=False)
    assert np.all(c.test.timestamps >= 900) and np.all(c.train.timestamps < 900)
    p = split.by_time(data, k=2, per_user=True, random_state=0, warn=False)
    for user in range(data.n_users):
        tr = p.train.timestamps[p.train.users == user]
        te = p.test.timestamps[p.test.users == user]
        assert te.size == min(2, tr.size + te.size - 1)
        if te.size and tr.size:
            assert tr.max() <= te.min()


@pytest.mark.parametrize("call, message", [
    (lambda d: split.random_holdout(d, 0.0), "test_size"),
    (lambda d: split.random_holdout(d, 1.5), "test_size"),
    (lambda d: split.per_user(d), "exactly one"),
    (lambda d: split.per_user(d, 0.2, k=1), "exactly one"),
    (lambda d: split.per_user(d, k=0), "'k'"),
    (lambda d: split.by_time(d.subset(np.ones(d.nnz, bool)), 0.2, cutoff=3), "exactly one"),
    (lambda d: split.random_holdout(np.eye(3), 0.2), "Interactions or a scipy.sparse"),
    (lambda d: split.by_time(Interactions([1], [2]), 0.5), "timestamps"),
])
def test_split_errors(call, message):
    data = Interactions([1, 2, 3], [1, 2, 3], timestamps=[1, 2, 3])
    with pytest.raises((ValueError, TypeError), match=message):
        call(data)


@pytest.mark.parametrize("model", ["wals", "sgd", "svd"])
def test_fit_reads_a_dataframe_with_other_column_names(model):
    import pandas as pd
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"who": rng.integers(0, 30, 300), "what": rng.integers(0, 20, 300),
                       "stars": rng.integers(1, 6, 300).astype(float)})
    make = {"wals": lambda: fastmf.WALS(4, iterations=2, random_state=0),
            "sgd": lambda: fastmf.SGD(4, epochs=2, random_state=0, num_threads=1),
            "svd": lambda: fastmf.SVD(4, random_state=0)}[model]
    named = make().fit(df, user="who", item="what", value="stars")
    ref = make().fit(fastmf.Interactions.from_dataframe(df, "who", "what", "stars"))
    np.testing.assert_array_equal(named.user_factors, ref.user_factors)
    np.testing.assert_array_equal(named.user_ids_, ref.user_ids_)
    with pytest.raises(ValueError, match="no column 'whom'"):
        make().fit(df, user="whom", item="what")
