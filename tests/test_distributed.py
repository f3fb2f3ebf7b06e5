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
EALS = dict(IMPLICIT, popularity_exponent=0.5)
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


class _ClientBytes:
    """Counts the pickled bytes of everything the client gathers or scatters and of the
    arguments it puts into tasks (futures aside), by wrapping the client's methods."""

    def __init__(self, client, monkeypatch):
        import pickle
        self.total = 0

        def size(obj):
            if isinstance(obj, distributed.Future):
                return 0
            if isinstance(obj, (list, tuple)):
                return sum(size(o) for o in obj)
            return len(pickle.dumps(obj))

        def wrap(name, count_result):
            method = getattr(client, name)

            def counted(*args, **kw):
                out = method(*args, **kw)
                self.total += size(out) if count_result else size(list(args[1:]))
                return out
            monkeypatch.setattr(client, name, counted)

        wrap("gather", True)
        wrap("submit", False)
        for name in ("scatter",):
            method = getattr(client, name)

            def scattered(data, *args, method=method, **kw):
                self.total += size(data)
                return method(data, *args, **kw)
            monkeypatch.setattr(client, name, scattered)


@pytest.mark.parametrize("params", [IMPLICIT, EXPLICIT, EALS], ids=["implicit", "biases",
                                                                    "per-item w0"])
def test_bytes_through_the_client_per_iteration_do_not_grow_with_the_data(
        client, params, monkeypatch):
    # Two matrices 4x apart in users and in nonzeros: every byte the client sends or
    # receives, counted around its calls, over fits of 2 and of 6 iterations; the
    # difference is 4 iterations' worth (set-up and the final gather cancel out).
    counter = _ClientBytes(client, monkeypatch)
    per_iteration = []
    for m in (400, 1600):
        A = random_csr(m, 150, 0.05, 11)
        totals = []
        for iterations in (2, 6):
            counter.total = 0
            DaskWALS(**_params(**dict(params, iterations=iterations, factors=8)),
                     client=client, n_blocks=3).fit(A)
            totals.append(counter.total)
        per_iteration.append((totals[1] - totals[0]) / 4)
        assert totals[0] > 4 * m * 8 * 8  # the set-up and the final gather do move data
    small, large = per_iteration
    d = 8
    # two d x d float64 summaries and scalars per iteration (a few kB of pickling)
    assert 0 < small <= 2 * (d + 1) ** 2 * 8 + 8000
    assert large == pytest.approx(small, rel=0.1)


def test_a_cached_scheduler_identity_without_workers_is_not_trusted(client, sparse,
                                                                    monkeypatch):
    # Client.scheduler_info can return the identity its periodic refresh cached, which
    # lists no workers: the engine asks the scheduler for its workers itself.
    monkeypatch.setattr(client, "scheduler_info", lambda *a, **kw: {"workers": {}})
    local, dist = _both(sparse, client, n_blocks=None, **IMPLICIT)
    _assert_same(local, dist)


def test_worker_links_carry_only_the_referenced_rows(client, sparse):
    # Dask's own transfer accounting: the bytes workers fetched from each other in one
    # fit, against the formula (rows each block references) plus the index arrays and
    # the summaries; no checkpoint copies.
    from fastmf.distributed import DaskEngine

    def incoming(dask_worker):
        return sum(e["total"] for e in dask_worker.transfer_incoming_log)

    def fitted(iterations):
        before = sum(client.run(incoming).values())
        WALS(**_params(**dict(IMPLICIT, iterations=iterations))).fit(
            sparse, engine=DaskEngine(client, n_blocks=3, checkpoint_every=0))
        return sum(client.run(incoming).values()) - before

    per_iteration = (fitted(5) - fitted(1)) / 4
    rows = expected_bytes(sparse, 6, np.float64, 3)
    m, n = sparse.shape
    assert 0 < per_iteration <= rows + (m + n) * 8 + 12 * 2 * 6 * 6 * 8 + 12 * 2048


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


@pytest.mark.parametrize("source", ["matrix", "interactions", "frame"])
def test_the_same_model_as_wals_at_defaults(client, source):
    # every 'auto' value resolved from the data -- on the workers for a Dask DataFrame --
    # popularity-weighted unobserved entries included; counts, so log confidence
    rng = np.random.default_rng(5)
    df = _frame(rng, n=1500)
    df["value"] = rng.integers(1, 30, len(df)).astype(float)
    local = WALS(factors=6, iterations=4, random_state=0, dtype=np.float64).fit(df)
    data = {"matrix": None, "interactions": fastmf.Interactions.from_dataframe(df, "user", "item", "value"),
            "frame": dd.from_pandas(df, npartitions=3)}[source]
    if data is None:
        data = local._check_data(fastmf.Interactions.from_dataframe(df, "user", "item", "value"), dtype=np.float64,
                                 nonnegative=True).to_scipy()
    dist = DaskWALS(factors=6, iterations=4, random_state=0, dtype=np.float64,
                    client=client, n_blocks=3).fit(data)
    assert local.resolved_params_["popularity_exponent"] == 0.5
    assert local.resolved_params_["confidence"] == "log"
    for name, value in local.resolved_params_.items():
        if name != "client":
            np.testing.assert_allclose(dist.resolved_params_[name], value, rtol=1e-12) \
                if isinstance(value, (float, np.ndarray)) else \
                (dist.resolved_params_[name] == value or pytest.fail(name))
    _assert_same(local, dist)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_per_item_unobserved_weights(client, sparse, solver, dtype):
    w0 = np.random.default_rng(8).uniform(0.2, 3.0, sparse.shape[1])
    local, dist = _both(sparse, client, n_blocks=3, **dict(IMPLICIT, w0=w0, solver=solver,
                                                           dtype=dtype, reg_exponent=1.0))
    _assert_same(local, dist, dtype)


class _SlowCholesky(fastmf.solvers.CholeskySolver):
    """Cholesky that takes 0.4 s per half-sweep of a block: a window to kill a worker in."""

    name = "slow-cholesky-test"

    def solve(self, side, X, Y, offsets, gram, loss=None):
        time.sleep(0.4)
        return super().solve(side, X, Y, offsets, gram, loss)


def _kill_a_worker(client, victim=None):
    victim = victim or sorted(client.nthreads())[0]
    try:
        client.run(os._exit, 1, workers=[victim])
    except (OSError, distributed.comm.CommClosedError):
        pass  # the worker died before it could answer
    deadline = time.monotonic() + 30
    while victim in client.nthreads() and time.monotonic() < deadline:
        time.sleep(0.05)
    return victim


def test_a_worker_killed_in_the_middle_of_a_half_sweep(client, sparse, monkeypatch):
    import sys
    import threading

    import cloudpickle
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the solver, to workers
    fastmf.solvers.register(_SlowCholesky)
    killed = []

    def kill_during_the_next_half_sweep(model, record):
        if record["iteration"] == 1:
            def later():
                time.sleep(0.2)
                killed.append(_kill_a_worker(client))
            threading.Thread(target=later, daemon=True).start()

    try:
        params = _params(**dict(IMPLICIT, iterations=3))
        local = WALS(**dict(params, solver="cholesky")).fit(sparse)
        dist = DaskWALS(**dict(params, solver=_SlowCholesky.name), client=client,
                        n_blocks=2).fit(sparse, callback=kill_during_the_next_half_sweep)
    finally:
        fastmf.solvers.unregister(_SlowCholesky.name)
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    client.wait_for_workers(2, timeout=60)
    assert killed
    assert len(dist.history_) == 3
    _assert_same(local, dist)


@pytest.mark.parametrize("source", ["matrix", "frame"])
def test_a_worker_killed_in_the_middle_of_a_fit(client, sparse, source):
    coo = sparse.tocoo()
    data = sparse if source == "matrix" else dd.from_pandas(
        pd.DataFrame({"user": coo.row, "item": coo.col, "value": coo.data}), npartitions=3)
    killed = []

    def kill_a_worker(model, record):
        if record["iteration"] == 1:
            killed.append(_kill_a_worker(client))

    local = WALS(**_params(**IMPLICIT)).fit(sparse)
    dist = DaskWALS(**_params(**IMPLICIT), client=client, n_blocks=2).fit(
        data, callback=kill_a_worker)
    client.wait_for_workers(2, timeout=60)
    assert killed and killed[0] not in client.nthreads()
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


def test_engine_arguments_are_checked(client, sparse):
    from fastmf.distributed import DaskEngine
    with pytest.raises(TypeError, match="'engine' argument of WALS.fit must be a "
                                        "fastmf.solvers.Engine"):
        WALS(factors=2).fit(sparse, engine="dask")
    for kw, name in ((dict(n_blocks=0), "n_blocks"), (dict(checkpoint_every=-1),
                                                       "checkpoint_every"),
                     (dict(num_threads=1.5), "num_threads")):
        with pytest.raises(ValueError, match=f"'{name}' parameter of DaskEngine"):
            DaskEngine(client, **kw)
    with pytest.raises(ValueError, match="'client' parameter of DaskEngine"):
        DaskEngine("tcp://127.0.0.1:8786")


def test_a_plain_wals_fits_on_the_dask_engine(client, sparse):
    from fastmf.distributed import DaskEngine
    local = WALS(**_params(**IMPLICIT)).fit(sparse)
    engine = DaskEngine(client, n_blocks=3)
    dist = WALS(**_params(**IMPLICIT)).fit(sparse, engine=engine)
    _assert_same(local, dist)
    assert type(dist) is WALS and "bytes_received" in dist.history_[0]
    again = WALS(**_params(**IMPLICIT)).fit(sparse, engine=engine)  # an engine is reusable
    np.testing.assert_array_equal(again.user_factors, dist.user_factors)


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


def test_a_dask_frame_with_other_column_names(client):
    df = _frame(np.random.default_rng(6)).rename(columns={"user": "who", "item": "what",
                                                          "value": "stars"})
    names = dict(user="who", item="what", value="stars")
    local = WALS(**_params(**IMPLICIT)).fit(df, **names)
    dist = DaskWALS(**_params(**IMPLICIT), client=client).fit(
        dd.from_pandas(df, npartitions=3), **names)
    _assert_same(local, dist)
