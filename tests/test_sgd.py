import numba
import numpy as np
import pytest
from _reference import dense_objective, sgd_epoch_reference
from conftest import random_csr

import fastmf
import fastmf.solvers._sgd_epochs
from fastmf._kernels.sgd import (EpochAccumulators, EpochEntries, EpochFactors,
                                 EpochPenalties, _sgd_epoch_hogwild, _sgd_gravity_rows)
from fastmf.core._weighting import check_weighting
from fastmf.core._validation import check_matrix

def SGD(*args, **kwargs):
    """fastmf.SGD with the constant step these tests were written for (the default
    schedule is 'auto')."""
    kwargs.setdefault("lr_schedule", "constant")
    return fastmf.SGD(*args, **kwargs)


RATINGS = {"w0": 0.0, "confidence": "none", "target": "value", "reg": 0.05,
           "reg_exponent": 0.0, "biases": True}
IMPLICIT = {"w0": 0.2, "confidence": "linear", "alpha": 1.0, "target": "binary", "reg": 0.05,
            "reg_exponent": 0.0}


def _kernel_epoch(A, U, V, ub, vb, order, *, mu, lr, weighting, gravity, has_b):
    w = weighting
    csr = check_matrix(A, dtype=U.dtype)
    m, n = csr.shape
    row_nnz = csr.row_nnz()
    col_nnz = np.bincount(csr.indices, minlength=n)
    rows = np.repeat(np.arange(m, dtype=csr.indices.dtype), row_nnz)
    kargs = w.kernel_args(csr.shape, False, U.dtype)
    lam_r = w.row_penalty(row_nnz, n, U.dtype)
    lam_c = w.row_penalty(col_nnz, m, U.dtype)
    dummy = np.zeros((1, 1), U.dtype)
    # One block holding every entry, not shuffled: the entries run exactly in ``order``.
    entries = EpochEntries(rows[order], csr.indices[order], csr.data[order],
                           np.array([0, csr.nnz], np.int64))
    penalties = EpochPenalties(lam_r, lam_c, np.maximum(row_nnz, 1).astype(U.dtype),
                               np.maximum(col_nnz, 1).astype(U.dtype))
    accumulators = EpochAccumulators(dummy, dummy, np.zeros(1, U.dtype),
                                     np.zeros(1, U.dtype))
    _sgd_epoch_hogwild(entries, np.zeros(1, np.int64), False, EpochFactors(U, V, ub, vb),
                       accumulators, mu, kargs, penalties, gravity, 0, has_b, lr, 0,
                       np.ones(1, dtype=np.uint64))
    if gravity:
        for X, Y in ((U, V), (V, U)):
            _sgd_gravity_rows(X, Y.T @ Y, w.w0, lr, dummy, 0, np.empty(0, X.dtype),
                              np.array([0, X.shape[0] // 2, X.shape[0]], np.int64))
    return lam_r, lam_c


@pytest.mark.parametrize("params", [RATINGS, IMPLICIT])
def test_single_thread_epoch_matches_reference(params):
    A = random_csr(30, 20, 0.2, 0, empty_rows=(4,), empty_cols=(7,))
    rng = np.random.default_rng(1)
    U = rng.standard_normal((30, 5)) * 0.3
    V = rng.standard_normal((20, 5)) * 0.3
    ub, vb = rng.standard_normal(30) * 0.1, rng.standard_normal(20) * 0.1
    has_b = params.get("biases", False)
    kw = {k: val for k, val in params.items() if k != "biases"}
    w = check_weighting("test", kw["w0"], kw["confidence"], kw.get("alpha", 1.0), 1.0,
                        kw["target"], kw["reg"], kw["reg_exponent"])
    order = rng.permutation(A.nnz)
    gravity = w.w0 > 0
    Uk, Vk, ubk, vbk = U.copy(), V.copy(), ub.copy(), vb.copy()
    prev = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        lam_r, lam_c = _kernel_epoch(A, Uk, Vk, ubk, vbk, order, mu=3.0, lr=0.01,
                                     weighting=w, gravity=gravity, has_b=has_b)
    finally:
        numba.set_num_threads(prev)
    Ur, Vr, ubr, vbr = sgd_epoch_reference(
        order, A, U, V, ub, vb, mu=3.0, lr=0.01, w0=w.w0, gravity=gravity, lam_rows=lam_r,
        lam_cols=lam_c, has_b=has_b, confidence=w.confidence, alpha=w.alpha,
        epsilon=w.epsilon, target=w.target)
    np.testing.assert_allclose(Uk, Ur, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Vk, Vr, rtol=1e-10, atol=1e-12)
    if has_b:
        np.testing.assert_allclose(ubk, ubr, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(vbk, vbr, rtol=1e-10, atol=1e-12)


GRADIENT_CASE = {"w0": 0.7, "confidence": "linear", "alpha": 0.5, "target": "binary",
                 "reg": 0.3}


def _gradient_case():
    A = random_csr(12, 9, 0.35, 2)
    assert np.all(np.diff(A.indptr) > 0) and np.all(np.bincount(A.indices, minlength=9) > 0)
    return A


def _fd_gradient(A, U, V, which, **kw):
    """Central finite differences of fastmf.objective with respect to U or V."""
    F = U if which == "U" else V
    grad = np.zeros_like(F)
    h = 1e-6
    for idx in np.ndindex(*F.shape):
        Fp, Fm = F.copy(), F.copy()
        Fp[idx] += h
        Fm[idx] -= h
        args_p = (Fp, V) if which == "U" else (U, Fp)
        args_m = (Fm, V) if which == "U" else (U, Fm)
        grad[idx] = (fastmf.objective(A, *args_p, **kw)
                     - fastmf.objective(A, *args_m, **kw)) / (2 * h)
    return grad


def test_epoch_with_gravity_follows_the_objective_gradient():
    """A whole epoch at a tiny step moves the factors by -lr * grad L (to first order): the
    per-entry steps plus the Gram (gravity) rows are the gradient of the full objective,
    unobserved term included. Checked against finite differences of fastmf.objective."""
    A = _gradient_case()
    rng = np.random.default_rng(3)
    U = rng.standard_normal((12, 3)) * 0.5
    V = rng.standard_normal((9, 3)) * 0.5
    kw = GRADIENT_CASE
    w = check_weighting("test", kw["w0"], "linear", 0.5, 1.0, "binary", 0.3, 0.0)
    lr = 1e-7
    Uk, Vk = U.copy(), V.copy()
    _kernel_epoch(A, Uk, Vk, np.zeros(12), np.zeros(9), rng.permutation(A.nnz), mu=0.0,
                  lr=lr, weighting=w, gravity=True, has_b=False)
    step_u, step_v = (U - Uk) / lr, (V - Vk) / lr
    np.testing.assert_allclose(step_u, _fd_gradient(A, U, V, "U", **kw), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(step_v, _fd_gradient(A, U, V, "V", **kw), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("gravity_steps", [1, 3])
def test_estimator_epoch_with_gravity_steps_follows_the_objective_gradient(gravity_steps,
                                                                          monkeypatch):
    """The same first-order check through the estimator's own epoch: splitting the epoch
    into ``gravity_steps`` parts, each followed by a 1/gravity_steps Gram step, keeps the
    epoch's total step equal to -lr * grad L."""
    # Blocks of 4 rows x 4 columns (d = 3, float64), so that the parts hold different blocks.
    monkeypatch.setattr(fastmf.solvers._sgd_epochs, "BLOCK_BYTES", 4 * 3 * 8)
    A = _gradient_case()
    lr = 1e-7
    model = SGD(3, lr=lr, gravity_steps=gravity_steps, reg_exponent=0.0, init_scale=0.5,
                num_threads=1, random_state=4, dtype=np.float64, **GRADIENT_CASE)
    run = model.prepare_epochs(A)
    U, V = run.U.copy(), run.V.copy()
    assert run.block_ptr.shape[0] - 1 == 9
    with fastmf.core._threads.thread_context(1):
        run.epoch(0)
    step_u, step_v = (U - run.U) / lr, (V - run.V) / lr
    kw = dict(GRADIENT_CASE, reg_exponent=0.0)
    np.testing.assert_allclose(step_u, _fd_gradient(A, U, V, "U", **kw), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(step_v, _fd_gradient(A, U, V, "V", **kw), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("params", [RATINGS, IMPLICIT,
                                    dict(IMPLICIT, unobserved="negative_sampling"),
                                    dict(RATINGS, entry_order="by_row"),
                                    dict(IMPLICIT, entry_order="by_row"),
                                    dict(RATINGS, lr_schedule="adagrad_rows", lr=0.02),
                                    dict(IMPLICIT, lr_schedule="adagrad_rows", lr=0.02)])
def test_objective_decreases_at_a_small_learning_rate(params):
    A = random_csr(200, 100, 0.05, 4)
    model = SGD(8, epochs=15, num_threads=1, random_state=0, dtype=np.float64,
                **{"lr": 0.002, **params}).fit(A)
    obj = np.array([h["objective"] for h in model.history_])
    assert obj[-1] < 0.95 * obj[0]
    # Exact objective, not an estimate: compare with the dense reference.
    kw = {k: val for k, val in params.items()
          if k not in ("biases", "unobserved", "entry_order", "lr_schedule", "lr")}
    if model.user_biases is not None:
        kw.update(user_biases=model.user_biases, item_biases=model.item_biases,
                  global_mean=model.global_mean)
    assert obj[-1] == pytest.approx(
        dense_objective(A, model.user_factors, model.item_factors, **kw), rel=1e-9)
    if params.get("unobserved") != "negative_sampling":
        assert np.all(np.diff(obj) < 0)


def test_one_thread_is_reproducible_bit_for_bit():
    A = random_csr(100, 60, 0.1, 5)
    a = SGD(6, epochs=3, num_threads=1, random_state=7, **IMPLICIT).fit(A)
    b = SGD(6, epochs=3, num_threads=1, random_state=7, **IMPLICIT).fit(A)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)


@pytest.mark.parametrize("params", [IMPLICIT, dict(IMPLICIT, lr_schedule="adagrad", lr=0.05),
                                    RATINGS])
def test_epochs_driven_one_by_one_reproduce_fit(params):
    """SGD.prepare_epochs returns fit's own epoch body (benchmarks drive it epoch by epoch):
    three epochs by hand equal a three-epoch fit bit for bit on one thread."""
    A = random_csr(80, 50, 0.1, 11, values="ratings")
    kw = dict(epochs=3, num_threads=1, random_state=5, gravity_steps=3, **params)
    ref = SGD(6, **kw).fit(A, track_objective=False)
    model = SGD(6, **kw)
    run = model.prepare_epochs(A)
    with fastmf.core._threads.thread_context(1):
        for e in range(3):
            run.epoch(e)
    np.testing.assert_array_equal(run.U, ref.user_factors)
    np.testing.assert_array_equal(run.V, ref.item_factors)
    if ref.user_biases is not None:
        np.testing.assert_array_equal(run.ub, ref.user_biases)


@pytest.mark.parametrize("order", ["shuffled", "by_row"])
def test_entry_order_by_row_keeps_each_block_sorted_every_epoch(order, monkeypatch):
    """'by_row' (LibMF's order) visits each block's entries sorted by row, the same order
    every epoch; 'shuffled' reshuffles them in place every epoch."""
    # blocks of 64 factor rows (d = 8, float32) instead of thousands
    monkeypatch.setattr(fastmf.solvers._sgd_epochs, "BLOCK_BYTES", 64 * 8 * 4)
    A = random_csr(300, 200, 0.1, 3)
    run = SGD(8, epochs=2, num_threads=1, random_state=0, entry_order=order,
              **IMPLICIT).prepare_epochs(A)
    assert run.grid[0] * run.grid[1] < fastmf.solvers._sgd_epochs.BY_ROW_MIN_BLOCKS
    before = run.g_rows.copy(), run.g_cols.copy(), run.g_vals.copy()
    blocks = np.diff(run.block_ptr)
    assert blocks.size > 1 and blocks.max() > 1
    with fastmf.core._threads.thread_context(1):
        for e in range(2):
            run.epoch(e)
    unchanged = all(np.array_equal(a, b) for a, b in zip(before, (run.g_rows, run.g_cols,
                                                                   run.g_vals)))
    assert unchanged == (order == "by_row")
    key = run.g_rows.astype(np.int64) * A.shape[1] + run.g_cols
    block_of = np.repeat(np.arange(blocks.size), blocks)
    sorted_within = np.all((np.diff(key) > 0) | (np.diff(block_of) != 0))
    assert sorted_within == (order == "by_row")


def test_entry_order_auto_sorts_by_row_only_on_a_grid_of_many_blocks(monkeypatch):
    """'auto' is 'by_row' from BY_ROW_MIN_BLOCKS blocks on (shown in resolved_params_ and
    run as such), 'shuffled' below."""
    A = random_csr(300, 200, 0.1, 3)
    small = SGD(8, epochs=1, num_threads=1, random_state=0, **IMPLICIT).fit(A)
    assert small.resolved_params_["entry_order"] == "shuffled"
    # blocks of 8 rows and columns: 38 x 25 = 950 blocks
    monkeypatch.setattr(fastmf.solvers._sgd_epochs, "BLOCK_BYTES", 8 * 8 * 4)
    assert fastmf.solvers._sgd_epochs.BY_ROW_MIN_BLOCKS <= 950
    kw = dict(epochs=2, num_threads=1, random_state=0, **IMPLICIT)
    auto = SGD(8, **kw).fit(A)
    assert auto.resolved_params_["entry_order"] == "by_row"
    by_row = SGD(8, entry_order="by_row", **kw).fit(A)
    shuffled = SGD(8, entry_order="shuffled", **kw).fit(A)
    np.testing.assert_array_equal(auto.user_factors, by_row.user_factors)
    assert not np.array_equal(auto.user_factors, shuffled.user_factors)


def test_adagrad_rows_first_epoch_moves_only_the_first_coordinates():
    """LibMF's AdaGrad: the first epoch of a fit moves the first 8 coordinates of each row
    only (biases too), later epochs all of them; two accumulators per row, from 4 s^3."""
    A = random_csr(60, 40, 0.2, 5, values="ratings")
    kw = dict(num_threads=1, random_state=3, lr_schedule="adagrad_rows", **RATINGS)
    start = SGD(12, epochs=0, **kw).fit(A, track_objective=False)
    one = SGD(12, epochs=1, **kw).fit(A, track_objective=False)
    two = SGD(12, epochs=2, **kw).fit(A, track_objective=False)
    for X0, X1, X2 in ((start.user_factors, one.user_factors, two.user_factors),
                       (start.item_factors, one.item_factors, two.item_factors)):
        np.testing.assert_array_equal(X1[:, 8:], X0[:, 8:])
        assert not np.allclose(X1[:, :8], X0[:, :8])
        assert not np.allclose(X2[:, 8:], X1[:, 8:])
    assert one.resolved_params_["lr"] == fastmf.models._sgd.LIBMF_ETA
    run = SGD(12, epochs=1, **kw).prepare_epochs(A)
    spread = np.std(A.data)
    assert run.g2u.shape == (60, 2)
    np.testing.assert_allclose(run.g2u, 4 * spread ** 3, rtol=1e-6)


def test_adagrad_rows_state_is_saved_and_continued(tmp_path):
    from fastmf.datasets import make_synthetic
    A = make_synthetic(200, 100, 3000, kind="explicit", random_state=0)
    model = SGD(10, epochs=3, lr_schedule="adagrad_rows", num_threads=1, random_state=0,
                **RATINGS).fit(A)
    model.save(tmp_path / "m.npz")
    loaded = fastmf.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded._optimizer["g2u"], model._optimizer["g2u"])
    assert loaded._optimizer["g2u"].shape == (200, 2)
    B = make_synthetic(210, 100, 400, kind="explicit", random_state=1)
    loaded.partial_fit(B, epochs=1)
    assert np.all(np.isfinite(loaded.user_factors))
    assert loaded._optimizer["g2u"].shape == (210, 2)


def _rmse(model, test):
    coo = test.tocoo()
    pred = model.predict(coo.row, coo.col)
    return float(np.sqrt(np.mean((pred - coo.data) ** 2)))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
def test_two_threads_reach_the_one_thread_rmse():
    from fastmf.datasets import make_synthetic
    A = make_synthetic(3000, 800, 60000, kind="explicit", random_state=1)
    coo = A.tocoo()
    test = np.random.default_rng(0).random(coo.nnz) < 0.2
    import scipy.sparse as sp
    part = lambda msk: sp.csr_array((coo.data[msk], (coo.row[msk], coo.col[msk])),
                                    shape=A.shape)
    train, held = part(~test), part(test)
    params = dict(RATINGS, reg=0.05, lr=0.01, epochs=15, random_state=0)
    one = SGD(16, num_threads=1, **params).fit(train)
    two = SGD(16, num_threads=2, **params).fit(train)
    r1, r2 = _rmse(one, held), _rmse(two, held)
    assert abs(r2 - r1) <= 0.01 * r1, (r1, r2)


def test_divergence_raises_and_keeps_the_last_finite_state():
    A = random_csr(100, 60, 0.1, 6)
    seen = []

    def keep(model, record):
        seen.append((model.user_factors.copy(), model.item_factors.copy()))

    # A step just too large: finite for three epochs, non-finite in the fourth.
    model = SGD(8, lr=0.15, epochs=50, num_threads=1, random_state=0, init_scale=0.1,
                **RATINGS)
    with pytest.raises(FloatingPointError, match=r"diverged at epoch 4.*learning rate"):
        model.fit(A, callback=keep)
    assert len(seen) == 3 and len(model.history_) == 3
    assert np.isfinite(model.user_factors).all() and np.isfinite(model.item_factors).all()
    np.testing.assert_array_equal(model.user_factors, seen[-1][0])
    np.testing.assert_array_equal(model.item_factors, seen[-1][1])


def test_early_stopping_keeps_the_best_epoch():
    A = random_csr(300, 100, 0.08, 8, values="ratings")
    coo = A.tocoo()
    import scipy.sparse as sp
    msk = np.random.default_rng(1).random(coo.nnz) < 0.2
    part = lambda m: sp.csr_array((coo.data[m], (coo.row[m], coo.col[m])), shape=A.shape)
    train, valid = part(~msk), part(msk)
    model = SGD(32, lr=0.05, epochs=60, num_threads=1, random_state=0,
                **dict(RATINGS, reg=0.0)).fit(train, validation=valid, patience=2)
    losses = [h["validation_loss"] for h in model.history_]
    assert len(losses) < 60
    best = int(np.argmin(losses))
    assert len(losses) == best + 1 + 2
    coo_v = valid.tocoo()
    pred = model.predict(coo_v.row, coo_v.col)
    assert np.mean((pred - coo_v.data) ** 2) == pytest.approx(losses[best], rel=1e-4)


def test_sgd_shares_the_model_surface(tmp_path):
    A = random_csr(50, 40, 0.1, 9)
    model = SGD(4, epochs=2, random_state=0, num_threads=1, gravity_steps=3,
                **IMPLICIT).fit(A)
    ids, _ = model.recommend([0, 1], k=3)
    assert ids.shape == (2, 3)
    path = tmp_path / "sgd.npz"
    model.save(path)
    loaded = fastmf.load(path)
    assert type(loaded) is fastmf.SGD
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.item_factors, model.item_factors)
    assert model.fold_in(A[[0]]).shape == (1, 4)


@pytest.mark.parametrize("name, value", [("lr", 0.0), ("lr_schedule", "cosine"),
                                         ("epochs", -1), ("unobserved", "ignore"),
                                         ("negatives", 0), ("init_scale", -1.0),
                                         ("gravity_steps", 0), ("gravity_steps", 2.0),
                                         ("entry_order", "random")])
def test_bad_sgd_parameters_raise(name, value):
    model = SGD(**{name: value})  # stored as given; checked when a fit starts
    with pytest.raises(ValueError, match=f"'{name}' parameter of SGD"):
        model.fit(random_csr(10, 8, 0.3, 0))
    assert not model.is_fitted


@pytest.mark.parametrize("schedule", ["constant", "adagrad"])
def test_rows_without_entries_get_their_penalty_step(schedule):
    """SGD minimizes the WALS objective, whose penalty covers rows without entries too:
    each epoch takes one step on it (with w0 = 0 and a constant step: x <- (1 - 2 lr lam) x)."""
    A = random_csr(30, 20, 0.2, 2, empty_rows=(4, 9), empty_cols=(7,))
    kw = dict(RATINGS, reg=0.5, reg_exponent=0.0, lr=0.01, lr_schedule=schedule,
              num_threads=1, random_state=1)
    start = SGD(4, epochs=0, **kw).fit(A)
    model = SGD(4, epochs=3, **kw).fit(A)
    u0, v0 = start.user_factors[[4, 9]], start.item_factors[[7]]
    u3, v3 = model.user_factors[[4, 9]], model.item_factors[[7]]
    if schedule == "constant":
        shrink = (1 - 2 * 0.01 * 0.5) ** 3
        np.testing.assert_allclose(u3, shrink * u0, rtol=1e-5)
        np.testing.assert_allclose(v3, shrink * v0, rtol=1e-5)
    else:
        assert np.all(np.abs(u3) < np.abs(u0)) and np.all(np.abs(v3) < np.abs(v0))


@pytest.mark.parametrize("size,run", [(10, 3), (1000, 64), (7, 10), (5, 1)])
def test_run_ranks_permute_whole_runs_of_consecutive_ids(size, run):
    ranks = fastmf.solvers._sgd_epochs.run_ranks(np.random.default_rng(0), size, run)
    assert np.array_equal(np.sort(ranks), np.arange(size))
    # the ids of each run keep consecutive ranks, in order
    for start in range(0, size, run):
        r = ranks[start:start + run]
        assert np.array_equal(r, np.arange(r[0], r[0] + r.size))


def test_entry_grid_bands_are_made_of_a_few_runs_of_consecutive_ids():
    A = random_csr(400, 300, 0.1, 3)
    csr = check_matrix(A, dtype=np.float32)
    rows = np.repeat(np.arange(400, dtype=csr.indices.dtype), csr.row_nnz())
    d = 16
    g_rows, _, _, block_ptr, (n_ub, n_ib) = fastmf.solvers._sgd_epochs.entry_grid(
        csr, rows, np.random.default_rng(0), d, 1 << 10)
    per = fastmf.solvers._sgd_epochs.BLOCK_BYTES // (d * (1 << 10))  # 16 rows per band
    assert (n_ub, n_ib) == (-(-400 // per), -(-300 // per))
    band = np.repeat(np.arange(n_ub * n_ib), np.diff(block_ptr)) // n_ib
    for b in range(n_ub):
        ids = np.unique(g_rows[band == b])
        runs = 1 + np.count_nonzero(np.diff(ids) != 1)
        # a band holds RUNS_PER_BAND runs; two may happen to sit side by side, and a run
        # may straddle two bands
        assert runs <= fastmf.solvers._sgd_epochs.RUNS_PER_BAND + 1
