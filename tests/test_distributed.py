"""DaskWALS against WALS on one loopback cluster of two single-threaded worker processes."""

import os
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

import fastmf  # noqa: E402
from fastmf import WALS  # noqa: E402
from fastmf.distributed import DaskWALS  # noqa: E402
from fastmf.distributed.layout import expected_bytes  # noqa: E402

from conftest import random_csr  # noqa: E402

IMPLICIT = dict(w0=1.0, confidence="linear", alpha=2.0, target="binary", reg=0.1,
                reg_exponent=0.0)
EXPLICIT = dict(w0=0.0, confidence="none", target="value", reg=0.5, reg_exponent=0.0,
                biases=True)
TOL = {np.float64: dict(rtol=1e-9, atol=1e-11), np.float32: dict(rtol=2e-3, atol=2e-5)}


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def sparse():
    # sparse enough that blocks reference only part of the other side (the remapped
    # layout), with empty rows and columns
    return random_csr(160, 120, 0.03, 7, empty_rows=(5, 77), empty_cols=(0, 64))


def _params(**kw):
    p = dict(factors=6, iterations=4, random_state=0, dtype=np.float64)
    p.update(kw)
    return p


def _both(A, client, n_blocks=3, fit_kw=None, **kw):
    """(local WALS, DaskWALS) fitted on A from the same seed."""
    local = WALS(**_params(**kw)).fit(A, **(fit_kw or {}))
    dist = DaskWALS(**_params(**kw), client=client, n_blocks=n_blocks).fit(A,
                                                                          **(fit_kw or {}))
    return local, dist


def _assert_same(local, dist, dtype=np.float64):
    tol = TOL[dtype]
    assert dist.user_factors.dtype == local.user_factors.dtype
    np.testing.assert_allclose(dist.user_factors, local.user_factors, **tol)
    np.testing.assert_allclose(dist.item_factors, local.item_factors, **tol)
    if local.user_biases is not None:
        np.testing.assert_allclose(dist.user_biases, local.user_biases, **tol)
        np.testing.assert_allclose(dist.item_biases, local.item_biases, **tol)
        assert dist.global_mean == pytest.approx(local.global_mean, rel=1e-12)
    a = [h["objective"] for h in local.history_]
    b = [h["objective"] for h in dist.history_]
    np.testing.assert_allclose(b, a, rtol=1e-10 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", ["cg", "cholesky"])
@pytest.mark.parametrize("params", [IMPLICIT, EXPLICIT], ids=["implicit", "biases"])
def test_same_factors_and_objective_as_wals(client, sparse, params, solver, dtype):
    local, dist = _both(sparse, client, solver=solver, dtype=dtype, **params)
    _assert_same(local, dist, dtype)
    # the objective summed over blocks is the objective of the whole matrix
    kw = {k: val for k, val in params.items() if k != "biases"}
    if dist.user_biases is not None:
        kw.update(user_biases=dist.user_biases, item_biases=dist.item_biases,
                  global_mean=dist.global_mean)
    want = fastmf.objective(sparse, dist.user_factors, dist.item_factors, **kw)
    # (fastmf.objective adds the biases to the mean in float64, a model in its dtype)
    rel = 1e-9 if dtype == np.float64 else 1e-6
    assert dist.history_[-1]["objective"] == pytest.approx(want, rel=rel)


def test_frequency_weights_and_scaled_penalty(client, sparse):
    rng = np.random.default_rng(3)
    local, dist = _both(sparse, client, n_blocks=4, **dict(
        IMPLICIT, reg_exponent=0.5, row_weights=rng.uniform(0.5, 2, sparse.shape[0]),
        col_weights=rng.uniform(0.5, 2, sparse.shape[1])))
    _assert_same(local, dist)


def test_dense_blocks_get_the_whole_fixed_side(client):
    # one block per worker on a dense-ish matrix: every block references (nearly) every
    # fixed row and is sent the whole fixed side
    A = random_csr(60, 40, 0.4, 2)
    local, dist = _both(A, client, n_blocks=2, **IMPLICIT)
    _assert_same(local, dist)


@pytest.mark.parametrize("params", [IMPLICIT, EXPLICIT], ids=["implicit", "biases"])
@pytest.mark.parametrize("n_blocks", [2, 3])
def test_bytes_per_iteration_follow_the_formula(client, sparse, params, n_blocks):
    model = DaskWALS(**_params(**params), client=client, n_blocks=n_blocks).fit(sparse)
    sent, received = expected_bytes(sparse, 6, np.float64, n_blocks,
                                     biases=params.get("biases", False),
                                     unobserved=params["w0"] > 0)
    assert [(h["bytes_sent"], h["bytes_received"]) for h in model.history_] == \
        [(sent, received)] * 4
    # below the bound without referenced-row counts: every block gets the whole other side
    m, n = sparse.shape
    assert sent <= (m + n) * (6 + 1) * 8 * (1 + n_blocks) + 2 * n_blocks * 36 * 8


def test_interactions_keep_raw_ids_and_the_model_works_without_a_cluster(client, tmp_path):
    rng = np.random.default_rng(1)
    users = np.array([f"user-{i:03d}" for i in rng.integers(0, 50, 600)])
    items = rng.integers(0, 40, 600) * 7 + 1000
    data = fastmf.Interactions(users, items, rng.integers(1, 5, 600).astype(float))
    local, dist = _both(data, client, **IMPLICIT)
    _assert_same(local, dist)
    np.testing.assert_array_equal(dist.user_ids_, data.user_ids)
    np.testing.assert_array_equal(dist.item_ids_, data.item_ids)
    path = tmp_path / "model.npz"
    dist.save(path)
    loaded = fastmf.load(path)
    assert type(loaded) is DaskWALS and loaded.client is None
    np.testing.assert_array_equal(loaded.user_factors, dist.user_factors)
    who = data.user_ids[:3]
    np.testing.assert_array_equal(loaded.recommend(who, k=5)[0],
                                  local.recommend(who, k=5)[0])


def _frame(rng, n=800, duplicates=True):
    users = rng.integers(0, 60, n)
    items = rng.integers(0, 45, n)
    return pd.DataFrame({"user": [f"u{u:02d}" for u in users], "item": items * 3,
                         "value": rng.integers(1, 6, n).astype(float)})


def test_dask_dataframe_input_matches_a_local_fit_on_the_same_rows(client):
    df = _frame(np.random.default_rng(2))  # with duplicate (user, item) rows: summed
    local = WALS(**_params(**IMPLICIT)).fit(df)
    dist = DaskWALS(**_params(**IMPLICIT), client=client).fit(dd.from_pandas(df,
                                                                            npartitions=3))
    _assert_same(local, dist)
    np.testing.assert_array_equal(dist.user_ids_, local.user_ids_)
    np.testing.assert_array_equal(dist.item_ids_, local.item_ids_)
    # no training matrix came to the client: recommend without the seen filter, or with A
    assert dist.seen_items is None
    top = dist.recommend(["u03"], k=4, filter_seen=False)[0]
    np.testing.assert_array_equal(top, local.recommend(["u03"], k=4, filter_seen=False)[0])


def test_parquet_files_to_recommendations(client, tmp_path):
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(4)
    df = _frame(rng)
    for part in range(3):
        df.iloc[part::3].to_parquet(tmp_path / f"part-{part}.parquet")
    frame = dd.read_parquet(str(tmp_path / "*.parquet"))
    dist = DaskWALS(**_params(**IMPLICIT), client=client).fit(frame)
    local = WALS(**_params(**IMPLICIT)).fit(pd.concat([df.iloc[p::3] for p in range(3)]))
    _assert_same(local, dist)


@pytest.mark.parametrize("source", ["matrix", "frame"])
def test_a_worker_killed_in_the_middle_of_a_fit(client, sparse, source):
    coo = sparse.tocoo()
    data = sparse if source == "matrix" else dd.from_pandas(
        pd.DataFrame({"user": coo.row, "item": coo.col, "value": coo.data}), npartitions=3)
    killed = []

    def kill_a_worker(model, record):
        if record["iteration"] != 1:
            return
        victim = sorted(client.scheduler_info()["workers"])[0]
        try:
            client.run(os._exit, 1, workers=[victim])
        except (OSError, distributed.comm.CommClosedError):
            pass  # the worker died before it could answer
        deadline = time.monotonic() + 30
        while victim in client.scheduler_info()["workers"] and time.monotonic() < deadline:
            time.sleep(0.05)
        killed.append(victim)

    local = WALS(**_params(**IMPLICIT)).fit(sparse)
    dist = DaskWALS(**_params(**IMPLICIT), client=client, n_blocks=2).fit(
        data, callback=kill_a_worker)
    client.wait_for_workers(2, timeout=60)
    assert killed and killed[0] not in client.scheduler_info()["workers"]
    assert len(dist.history_) == 4
    if source == "frame":  # indices of the raw ids 0..m-1, 0..n-1 in sorted order
        assert dist.user_factors.shape[0] == np.unique(coo.row).size
        local = WALS(**_params(**IMPLICIT)).fit(pd.DataFrame(
            {"user": coo.row, "item": coo.col, "value": coo.data}))
    _assert_same(local, dist)


BAD = [
    ("negative values", lambda A: -A, {}),
    ("nan", lambda A: A * np.nan, {}),
    ("factors", lambda A: A, dict(factors=0)),
    # (DaskWALS keeps w0 uniform by default, where WALS weights it by popularity)
    ("biases with w0", lambda A: A, dict(biases=True, popularity_exponent=0.0)),
    ("row weights", lambda A: A, dict(row_weights=np.ones(3))),
    ("solver", lambda A: A, dict(solver="nope")),
]


@pytest.mark.parametrize("case, make, kw", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_the_errors_of_wals(client, sparse, case, make, kw):
    A = make(sparse)
    with pytest.raises((TypeError, ValueError)) as local:
        WALS(**_params(**kw)).fit(A)
    with pytest.raises(local.type) as dist:
        DaskWALS(**_params(**kw), client=client).fit(A)
    assert str(dist.value).replace("DaskWALS", "WALS") == str(local.value)


def test_bad_frames_fail_clearly(client):
    frame = dd.from_pandas(pd.DataFrame({"user": [1, 2], "thing": [3, 4]}), npartitions=1)
    with pytest.raises(ValueError, match="columns 'user' and 'item'"):
        DaskWALS(client=client).fit(frame)
    df = pd.DataFrame({"user": [1, 2, 3], "item": [3, 4, 5], "value": [1.0, -2.0, 1.0]})
    with pytest.raises(ValueError, match="negative values"):
        DaskWALS(client=client, iterations=1, **IMPLICIT).fit(dd.from_pandas(df, npartitions=2))
    # the data-aware defaults need the values on the client: a frame needs them given
    with pytest.raises(ValueError, match="needs explicit values for"):
        DaskWALS(client=client, iterations=1).fit(dd.from_pandas(df.abs(), npartitions=2))


def test_a_closed_client_fails_clearly(client, sparse):
    closed = distributed.Client(client.scheduler.address)
    closed.close()
    with pytest.raises(ValueError, match="'client' parameter of DaskWALS .* not running"):
        DaskWALS(client=closed).fit(sparse)
    with pytest.raises(ValueError, match="must be None or a distributed.Client"):
        DaskWALS(client="tcp://127.0.0.1:8786").fit(sparse)


def test_history_callback_progress_and_stopping(client, sparse):
    seen = []

    def stop_after_two(model, record):
        seen.append(record["iteration"])
        return record["iteration"] == 2

    model = DaskWALS(**_params(**IMPLICIT), client=client).fit(
        sparse, callback=stop_after_two, show_progress=True)
    assert seen == [1, 2] and len(model.history_) == 2
    assert {"iteration", "seconds", "time", "objective", "bytes_sent",
            "bytes_received"} <= set(model.history_[0])
    quiet = DaskWALS(**_params(**IMPLICIT), client=client).fit(sparse,
                                                              track_objective=False)
    assert "objective" not in quiet.history_[0]
    np.testing.assert_array_equal(quiet.user_factors,
                                  DaskWALS(**_params(**IMPLICIT), client=client)
                                  .fit(sparse).user_factors)


def test_worker_threads_may_exceed_the_clients(client, sparse):
    # the threads of a block's task are the worker's business: more than the client has
    # is allowed (each worker uses at most what its Numba has), and results do not change
    local = WALS(**_params(**IMPLICIT)).fit(sparse)
    dist = DaskWALS(**_params(**IMPLICIT), client=client, num_threads=512).fit(sparse)
    _assert_same(local, dist)
    with pytest.raises(ValueError, match="'num_threads' parameter of DaskWALS"):
        DaskWALS(client=client, num_threads=-1).fit(sparse)


def test_parameters_clone_and_save_without_the_client(client, tmp_path):
    sklearn_base = pytest.importorskip("sklearn.base")
    model = DaskWALS(factors=3, n_blocks=2, client=client)
    copy = sklearn_base.clone(model)
    assert copy.client is client and copy.get_params()["n_blocks"] == 2
    assert set(WALS().get_params()) | {"client", "n_blocks"} == set(model.get_params())
    model.save(tmp_path / "unfitted.npz")
    assert fastmf.load(tmp_path / "unfitted.npz").get_params()["client"] is None
    with pytest.raises(ValueError, match="'n_blocks' parameter of DaskWALS"):
        DaskWALS(n_blocks=0, client=client).fit(random_csr(5, 4, 0.5, 0))


def test_without_a_client_a_local_cluster_is_started_and_closed(sparse):
    before = set(distributed.client._global_clients.values())
    local = WALS(**_params(**IMPLICIT)).fit(sparse)
    dist = DaskWALS(**_params(**IMPLICIT)).fit(sparse)
    _assert_same(local, dist)
    after = [c for c in distributed.client._global_clients.values() if c not in before]
    assert all(c.status == "closed" for c in after)
