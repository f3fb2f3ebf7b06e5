"""The iALS++ row solver (``WALS(solver='ials++')``): its kernel against a dense NumPy
reference, b = d against the exact solve, monotone descent, the tracked objective, thread
counts, per-item weights, biases, fold-in and the Dask engine."""

import numpy as np
import pytest

import fastmf
from fastmf import WALS
from fastmf._kernels.partition import _balanced_chunks
from fastmf._kernels.shared import CsrRows
from fastmf._kernels.wals_subspace import _wals_rows_subspace

from _reference import exact_rows, subspace_rows
from conftest import random_csr
from test_kernels import WEIGHTINGS, _setup


def _subspace(csr, w, X, Y, offsets, lam, block):
    gram = (w.w0 * (Y.T @ Y)).astype(X.dtype)
    kargs = w.kernel_args(csr.shape, False, X.dtype)
    max_nnz = max(1, int(csr.row_nnz().max()))
    chunks = _balanced_chunks(csr.indptr, X.shape[1], 4)
    return _wals_rows_subspace(CsrRows(csr.indptr, csr.indices, csr.data), X, Y, offsets,
                               gram, lam, kargs, max_nnz, chunks, block, 1, np.zeros(0))


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("block", [1, 2, 3, 5])
def test_subspace_rows_match_dense_block_updates(weighting, dtype, block):
    # k = 5: blocks of 2 and 3 leave a narrower last block; 5 is the exact solve
    nu = 0.5 if weighting["w0"] > 0 else 0.0
    A, csr, w, X0, Y, offsets, lam, ref_kw = _setup(weighting, dtype, biases=True,
                                                    reg_exponent=nu)
    X = X0.copy()
    assert _subspace(csr, w, X, Y, offsets, lam, block) == 0
    ref = subspace_rows(A, X0.astype(float), Y.astype(float), block=block, **ref_kw)
    tol = 1e-9 if dtype == np.float64 else 3e-3
    np.testing.assert_allclose(X, ref, rtol=tol, atol=tol)
    if block == 5:
        np.testing.assert_allclose(X, exact_rows(A, Y.astype(float), **ref_kw), rtol=tol,
                                   atol=tol)


def _fit(A, **kw):
    p = dict(factors=8, iterations=1, random_state=0, dtype=np.float64, w0=0.5,
             confidence="linear", alpha=2.0, reg=0.1)
    p.update(kw)
    return WALS(**p).fit(A)


@pytest.fixture(scope="module")
def A():
    return random_csr(120, 90, 0.06, 4, empty_rows=(3,), empty_cols=(5,))


@pytest.mark.parametrize("kw", [{}, dict(popularity_exponent=0.5, w0="auto"),
                                dict(kind="ratings", w0=0.0, biases=True, confidence="none",
                                     target="value"),
                                dict(reg_exponent=1.0, row_weights="r", col_weights="c")],
                         ids=["uniform", "per-item w0", "biases", "weights"])
def test_one_sweep_with_the_whole_row_as_one_block_is_the_exact_sweep(A, kw):
    kw = dict(kw)
    if kw.get("row_weights") == "r":
        rng = np.random.default_rng(0)
        kw["row_weights"] = rng.uniform(0.5, 2, A.shape[0])
        kw["col_weights"] = rng.uniform(0.5, 2, A.shape[1])
    exact = _fit(A, solver="cholesky", **kw)
    sub = _fit(A, solver="ials++", block_size=8, **kw)
    np.testing.assert_allclose(sub.user_factors, exact.user_factors, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sub.item_factors, exact.item_factors, rtol=1e-9, atol=1e-12)
    if exact.user_biases is not None:
        np.testing.assert_allclose(sub.user_biases, exact.user_biases, rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("block", [1, 3, 4])
def test_the_objective_never_increases_and_is_the_models(A, dtype, block):
    model = _fit(A, solver="ials++", block_size=block, iterations=10, dtype=dtype)
    obj = np.array([h["objective"] for h in model.history_])
    rel = 1e-12 if dtype == np.float64 else 1e-5
    assert np.all(np.diff(obj) <= rel * obj[0]), obj
    assert obj[-1] == pytest.approx(model.objective(A), rel=rel)


def test_each_block_update_never_increases_the_rows_objective():
    # on the dense systems: the row objective x^T M x / 2 - b^T x after every block
    from _reference import row_systems
    A, csr, w, X0, Y, offsets, lam, ref_kw = _setup(WEIGHTINGS[2], np.float64)
    for i, (M, b) in enumerate(row_systems(A, Y, **ref_kw)):
        x = X0[i].astype(float)
        f = x @ M @ x / 2 - b @ x
        for b0 in range(0, 5, 2):
            B = slice(b0, min(b0 + 2, 5))
            x[B] += np.linalg.solve(M[B, B], (b - M @ x)[B])
            g = x @ M @ x / 2 - b @ x
            assert g <= f + 1e-12
            f = g
    # and the kernel's fit never goes up, block by block, over many sweeps of b = 1
    model = _fit(random_csr(40, 30, 0.2, 1), solver="ials++", block_size=1, iterations=20)
    obj = [h["objective"] for h in model.history_]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(obj, obj[1:]))


def test_results_do_not_depend_on_the_thread_count(A):
    import numba
    fits = [_fit(A, solver="ials++", block_size=3, iterations=3, num_threads=t).user_factors
            for t in sorted({1, numba.config.NUMBA_NUM_THREADS})]
    for other in fits[1:]:
        np.testing.assert_array_equal(other, fits[0])


def test_fold_in_is_the_exact_row_solve(A):
    model = _fit(A, solver="ials++", block_size=3, iterations=4)
    exact = _fit(A, solver="cholesky", iterations=4)
    exact.item_factors = model.item_factors  # the same fixed side
    np.testing.assert_allclose(model.fold_in(A[:10]), exact.fold_in(A[:10]), rtol=1e-9,
                               atol=1e-12)


def test_runs_on_the_dask_engine_with_no_extra_code(A):
    distributed = pytest.importorskip("distributed")
    from fastmf.distributed import DaskEngine
    local = _fit(A, solver="ials++", block_size=3, iterations=3)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dist = WALS(**dict(factors=8, iterations=3, random_state=0, dtype=np.float64, w0=0.5,
                           confidence="linear", alpha=2.0, reg=0.1, solver="ials++",
                           block_size=3)).fit(A, engine=DaskEngine(client, n_blocks=3))
    np.testing.assert_allclose(dist.user_factors, local.user_factors, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose([h["objective"] for h in dist.history_],
                               [h["objective"] for h in local.history_], rtol=1e-10)


def test_block_size_is_checked(A):
    with pytest.raises(ValueError, match="'block_size' parameter of WALS"):
        WALS(solver="ials++", block_size=0).fit(A)
    assert "ials++" in fastmf.solvers.available()


def test_auto_resolves_by_the_measured_rule_and_fits_as_that_solver(A):
    rule = fastmf.solvers.choose(8)
    assert rule == "cg" and fastmf.solvers.choose(fastmf.solvers.SUBSPACE_FROM) == "ials++"
    auto = WALS(8, solver="auto", iterations=2, random_state=0).fit(A)
    chosen = WALS(8, solver=rule, iterations=2, random_state=0).fit(A)
    assert auto.solver == "auto" and auto.resolved_params_["solver"] == rule
    np.testing.assert_array_equal(auto.user_factors, chosen.user_factors)
    np.testing.assert_array_equal(auto.fold_in(A[:3]), chosen.fold_in(A[:3]))
