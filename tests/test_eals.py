"""Per-item unobserved weights (eALS, He et al. 2016): the row solvers on both sides, the
objective and SGD's gravity steps against dense references, and the scalar case kept
exactly."""

from types import SimpleNamespace

import numpy as np
import pytest

import fastmf
from fastmf import solvers
from fastmf.core._objective import objective_value
from fastmf.solvers._sgd_epochs import Epochs
from fastmf.core._threads import thread_context
from fastmf.core._validation import check_matrix
from fastmf.core._weighting import Weighting, check_weighting, popularity_weights

from _reference import cg_rows, dense_objective, dense_weights_targets, penalties, row_systems
from conftest import random_csr

M, N, D = 25, 18, 4
WEIGHTINGS = [
    dict(confidence="linear", alpha=2.0, epsilon=1.0, target="binary", reg=0.1,
         reg_exponent=0.0),
    dict(confidence="log", alpha=1.5, epsilon=0.5, target="value", reg=0.05,
         reg_exponent=0.5, row_weights="r", col_weights="c"),
]


def _matrix():
    return random_csr(M, N, 0.2, 1, empty_rows=(2, 11), empty_cols=(0, 7))


def _item_weights(kind, A):
    """A random per-item vector (one item, with entries, at 0), or popularity weights."""
    if kind == "random":
        w = np.random.default_rng(5).uniform(0.1, 2.0, N)
        w[4] = 0.0
        assert np.bincount(A.indices, minlength=A.shape[1])[4] > 0
        return w
    return popularity_weights(0.8, np.bincount(A.indices, minlength=A.shape[1]), 0.5)


def _weighting(spec, w0_items, w0=None):
    kw = dict(spec)
    rng = np.random.default_rng(2)
    if kw.get("row_weights") == "r":
        kw["row_weights"] = rng.uniform(0.5, 2, M)
        kw["col_weights"] = rng.uniform(0.5, 2, N)
    if w0 is None:
        w0 = float(np.mean(w0_items))
    w = check_weighting("test", w0, kw["confidence"], kw["alpha"],
                        kw["epsilon"], kw["target"], kw["reg"], kw["reg_exponent"],
                        kw.get("row_weights"), kw.get("col_weights"), w0_items)
    ref = dict(confidence=w.confidence, alpha=w.alpha, epsilon=w.epsilon, target=w.target,
               row_weights=w.row_weights, col_weights=w.col_weights)
    return w, ref


def _exact(B, Y, X_start, free, **kw):
    """Exact rows from the dense systems; ``free`` rows (zero systems) keep ``X_start``."""
    X = np.array(X_start, float)
    for i, (Mi, bi) in enumerate(row_systems(B, Y, **kw)):
        if i not in set(free.tolist()):
            X[i] = np.linalg.solve(Mi, bi)
    return X


def _solve(name, side, w, X, Y, offsets, cg_steps=3):
    solver = solvers.get(name, SimpleNamespace(cg_steps=cg_steps))
    solver.prepare(side)
    gram = w.unobserved_gram(Y, X.dtype, transposed=side.transposed)
    return solver.solve(side, X, Y, offsets, gram)


def _both_sides(A, w, ref):
    """(side name, Side, dense matrix seen by the side's rows, reference keywords)."""
    csr = check_matrix(A, dtype=np.float64)
    csr_t = csr.transpose()
    mask = dense_weights_targets(A, w0=0.0, **ref)[0]
    lam_u, lam_v = penalties(mask, w.reg, w.reg_exponent, w.w0_items)
    users = solvers.Side(csr, w, transposed=False, k=D, n_other=N, dtype=np.float64)
    items = solvers.Side(csr_t, w, transposed=True, k=D, n_other=M, dtype=np.float64)
    ref_t = dict(ref, row_weights=ref["col_weights"], col_weights=ref["row_weights"])
    return [("users", users, A, dict(ref, w0=w.w0_items, lam=lam_u)),
            ("items", items, A.T.tocsr(), dict(ref_t, w0=w.w0_items, w0_by_row=True,
                                               lam=lam_v))]


@pytest.mark.parametrize("spec", WEIGHTINGS)
@pytest.mark.parametrize("kind", ["random", "popularity"])
def test_row_solvers_match_dense_systems_on_both_sides(spec, kind):
    A = _matrix()
    w, ref = _weighting(spec, _item_weights(kind, A))
    rng = np.random.default_rng(3)
    for name, side, B, ref_kw in _both_sides(A, w, ref):
        n_rows, n_other = B.shape
        # the penalties of the side, by the documented formula
        np.testing.assert_allclose(side.lam, ref_kw["lam"], rtol=1e-12)
        Y = rng.standard_normal((n_other, D))
        X0 = rng.standard_normal((n_rows, D))
        offsets = np.zeros(n_other)
        X = X0.copy()
        assert _solve("cholesky", side, w, X, Y, offsets) == 0, name
        np.testing.assert_allclose(X, _exact(B, Y, X0, side.free_rows, **ref_kw),
                                   rtol=1e-9, atol=1e-10, err_msg=name)
        for steps in (1, 3):
            X = X0.copy()
            _solve("cg", side, w, X, Y, offsets, cg_steps=steps)
            want = cg_rows(B, X0, Y, cg_steps=steps, **ref_kw)
            np.testing.assert_allclose(X, want, rtol=1e-8, atol=1e-10, err_msg=name)


def test_item_rows_without_entries_or_weight_are_free():
    A = _matrix()
    w0 = _item_weights("random", A)
    w0[[0, 7]] = [0.0, 0.5]  # empty columns: one with no weight, one with
    w = check_weighting("test", 1.0, "linear", 1.0, 1.0, "binary", 0.0, 0.0, w0_items=w0)
    csr = check_matrix(A, dtype=np.float64)
    items = solvers.Side(csr.transpose(), w, transposed=True, k=D, n_other=M,
                         dtype=np.float64)
    users = solvers.Side(csr, w, transposed=False, k=D, n_other=N, dtype=np.float64)
    np.testing.assert_array_equal(items.free_rows, [0])
    assert users.free_rows.size == 0


@pytest.mark.parametrize("spec", WEIGHTINGS)
@pytest.mark.parametrize("kind", ["random", "popularity"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_objective_matches_dense_reference(spec, kind, dtype):
    A = _matrix()
    w0 = _item_weights(kind, A)
    w, ref = _weighting(spec, w0)
    rng = np.random.default_rng(4)
    U = rng.standard_normal((M, D)).astype(dtype)
    V = rng.standard_normal((N, D)).astype(dtype)
    kw = dict(ref, reg=w.reg, reg_exponent=w.reg_exponent)
    got = fastmf.objective(A, U, V, w0=w0, **kw)
    want = dense_objective(A, U, V, w0=w0, **kw)
    np.testing.assert_allclose(got, want, rtol=1e-10 if dtype == np.float64 else 1e-5)
    csr = check_matrix(A, dtype=dtype)
    np.testing.assert_allclose(objective_value(csr, U, V, w), want,
                               rtol=1e-10 if dtype == np.float64 else 1e-5)


def test_objective_rejects_bad_item_weights():
    A = _matrix()
    U, V = np.zeros((M, D)), np.zeros((N, D))
    for bad in (np.ones(N - 1), -np.ones(N), np.full(N, np.nan), np.ones((N, 1))):
        with pytest.raises(ValueError, match="w0"):
            fastmf.objective(A, U, V, w0=bad)
    with pytest.raises(ValueError, match="observed-only"):
        fastmf.objective(A, U, V, w0=np.ones(N), user_biases=np.zeros(M),
                         item_biases=np.zeros(N))


def _factors(A, scale=0.3, seed=6):
    rng = np.random.default_rng(seed)
    return SimpleNamespace(user_factors=rng.standard_normal((M, D)) * scale,
                           item_factors=rng.standard_normal((N, D)) * scale,
                           user_biases=None, item_biases=None, global_mean=0.0)


@pytest.mark.parametrize("spec", WEIGHTINGS)
@pytest.mark.parametrize("kind", ["random", "popularity"])
def test_alternation_descends_to_the_dense_alternation(spec, kind):
    A = _matrix()
    w, ref = _weighting(spec, _item_weights(kind, A))
    csr = check_matrix(A, dtype=np.float64)
    csr_t = csr.transpose()
    f = _factors(A)
    U0, V0 = f.user_factors.copy(), f.item_factors.copy()
    sweeps = solvers.Sweeps(solvers.get("cholesky"), csr, csr_t, w, f, k=D,
                            dtype=np.float64)
    sides = {name: (side.free_rows, ref_kw) for name, side, _, ref_kw in _both_sides(A, w, ref)}
    obj_kw = dict(ref, reg=w.reg, reg_exponent=w.reg_exponent)
    U, V = U0.copy(), V0.copy()
    V[sides["items"][0]] = 0
    U[sides["users"][0]] = 0
    prev = objective_value(csr, f.user_factors, f.item_factors, w, csr_t=csr_t)
    for _ in range(8):
        for half in ("items", "users"):
            assert getattr(sweeps, half)() == 0
            now = objective_value(csr, f.user_factors, f.item_factors, w, csr_t=csr_t)
            assert now <= prev * (1 + 1e-12), (half, now, prev)
            prev = now
        # the same alternation on the dense systems
        V = _exact(A.T.tocsr(), U, V, sides["items"][0], **sides["items"][1])
        U = _exact(A, V, U, sides["users"][0], **sides["users"][1])
    np.testing.assert_allclose(f.user_factors, U, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(f.item_factors, V, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(prev, dense_objective(A, U, V, w0=w.w0_items, **obj_kw),
                               rtol=1e-10)


def test_popularity_weights():
    f = np.array([0, 1, 4, 9, 0, 16])
    np.testing.assert_array_equal(popularity_weights(0.3, f, 0.0), np.full(6, 0.3))
    w = popularity_weights(0.3, f, 0.5)
    np.testing.assert_allclose(w, 0.3 * 6 * np.sqrt(f) / np.sqrt(f).sum())
    assert w[0] == 0 and w[4] == 0
    np.testing.assert_allclose(w.sum(), 0.3 * 6)


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
@pytest.mark.parametrize("spec", WEIGHTINGS)
def test_beta_zero_is_the_scalar_path_bit_for_bit(solver, spec):
    A = _matrix()
    w0 = 0.7
    items = popularity_weights(w0, np.bincount(A.indices, minlength=A.shape[1]), 0.0)
    np.testing.assert_array_equal(items, np.full(N, w0))
    w_vec, _ = _weighting(spec, items)
    w_scalar, _ = _weighting(spec, None, w0=w0)
    # a constant vector is stored as the scalar case
    assert w_vec.w0_items is None and w_vec.w0 == w0
    assert Weighting(**{**w_scalar.__dict__, "w0_items": items}).w0_items is None
    results = []
    for w in (w_vec, w_scalar):
        csr = check_matrix(A, dtype=np.float32)
        csr_t = csr.transpose()
        f = _factors(A)
        f.user_factors = f.user_factors.astype(np.float32)
        f.item_factors = f.item_factors.astype(np.float32)
        sweeps = solvers.Sweeps(solvers.get(solver, SimpleNamespace(cg_steps=3)), csr,
                                csr_t, w, f, k=D, dtype=np.float32)
        for _ in range(3):
            sweeps.sweep()
        results.append((f.user_factors, f.item_factors,
                        objective_value(csr, f.user_factors, f.item_factors, w)))
    (U1, V1, o1), (U2, V2, o2) = results
    np.testing.assert_array_equal(U1, U2)
    np.testing.assert_array_equal(V1, V2)
    assert o1 == o2


def _fd_gradient(A, U, V, which, **kw):
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


@pytest.mark.parametrize("gravity_steps", [1, 3])
@pytest.mark.parametrize("scaled", [False, True])
def test_sgd_epoch_with_gravity_follows_the_objective_gradient(gravity_steps, scaled):
    """One epoch at a tiny step moves the factors by -lr * grad L, per-item weights in the
    per-entry corrections, the observed weights and both Gram steps."""
    m, n = 12, 9
    A = random_csr(m, n, 0.35, 2)
    assert np.all(np.diff(A.indptr) > 0) and np.all(np.bincount(A.indices, minlength=n) > 0)
    w0 = np.random.default_rng(7).uniform(0.0, 1.5, n)
    rw = np.linspace(0.5, 1.5, m) if scaled else None
    w = check_weighting("test", 1.0, "linear", 0.5, 1.0, "binary", 0.3, 0.5, rw, None, w0)
    lr = 1e-7
    model = SimpleNamespace(random_state=4, dtype=np.float64, factors=3, init_scale=0.5,
                            biases=False, lr_schedule="constant", lr=lr, lr_decay=0.0,
                            unobserved="gravity", negatives=0, gravity_steps=gravity_steps)
    run = Epochs(model, w, check_matrix(A, dtype=np.float64))
    assert run.gravity
    U, V = run.U.copy(), run.V.copy()
    with thread_context(1):
        run.epoch(0)
    step_u, step_v = (U - run.U) / lr, (V - run.V) / lr
    kw = dict(w0=w0, confidence="linear", alpha=0.5, epsilon=1.0, target="binary", reg=0.3,
              reg_exponent=0.5, row_weights=rw)
    np.testing.assert_allclose(step_u, _fd_gradient(A, U, V, "U", **kw), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(step_v, _fd_gradient(A, U, V, "V", **kw), rtol=1e-3, atol=1e-4)


def test_item_weights_of_the_wrong_length_are_refused_before_any_kernel():
    A = _matrix()
    w = check_weighting("test", 1.0, "linear", 1.0, 1.0, "binary", 0.1, 0.0,
                        w0_items=np.linspace(0.1, 1, N - 1))
    csr = check_matrix(A, dtype=np.float64)
    for csr_side, transposed, n_other in ((csr, False, N), (csr.transpose(), True, M)):
        with pytest.raises(ValueError, match="w0_items"):
            solvers.Side(csr_side, w, transposed=transposed, k=D, n_other=n_other,
                         dtype=np.float64)
