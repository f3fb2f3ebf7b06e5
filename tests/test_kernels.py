"""Each kernel against its dense reference twin on small random matrices."""

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from fastmf._kernels.partition import _balanced_chunks
from fastmf._kernels.shared import CsrRows
from fastmf._kernels.topk import _topk_rows
from fastmf._kernels.wals import _wals_rows_cg
from fastmf._kernels.wals_cholesky import _wals_rows_cholesky
from fastmf.core._weighting import check_weighting
from fastmf.core._validation import check_matrix

from _reference import brute_topk, cg_rows, exact_rows
from conftest import random_csr

WEIGHTINGS = [
    dict(w0=1.0, confidence="linear", alpha=2.0, epsilon=1.0, target="binary"),
    dict(w0=0.0, confidence="none", alpha=0.0, epsilon=1.0, target="value"),
    dict(w0=0.3, confidence="log", alpha=1.5, epsilon=0.5, target="value"),
    dict(w0=0.1, confidence="linear", alpha=0.5, epsilon=1.0, target="binary",
         row_weights="r", col_weights="c"),
]


def _setup(weighting, dtype, *, reg=0.1, reg_exponent=0.0, biases=False, int64=False):
    A = random_csr(25, 18, 0.2, 1, empty_rows=(2, 11), empty_cols=(0, 7))
    m, n = A.shape
    rng = np.random.default_rng(2)
    kw = dict(weighting)
    if kw.get("row_weights") == "r":
        kw["row_weights"] = rng.uniform(0.5, 2, m)
        kw["col_weights"] = rng.uniform(0.5, 2, n)
    w = check_weighting("test", reg=reg, reg_exponent=reg_exponent, **kw)
    csr = check_matrix(A, dtype=dtype)
    if int64:
        csr = csr._replace(indptr=csr.indptr.astype(np.int64),
                           indices=csr.indices.astype(np.int64))
    k = 5
    Y = rng.standard_normal((n, k)).astype(dtype)
    X0 = rng.standard_normal((m, k)).astype(dtype)
    offsets = (rng.standard_normal(n) if biases else np.zeros(n)).astype(dtype)
    lam = w.row_penalty(csr.row_nnz(), n, dtype)
    ref_kw = dict(kw, w0=w.w0, lam=lam.astype(float), offsets=offsets)
    return A, csr, w, X0, Y, offsets, lam, ref_kw


def _call(solver, csr, w, X, Y, offsets, lam, cg_steps=3, block_nnz=12):
    gram = (w.w0 * (Y.T @ Y)).astype(X.dtype)
    kargs = w.kernel_args(csr.shape, False, X.dtype)
    rows = CsrRows(csr.indptr, csr.indices, csr.data)
    max_nnz = max(1, int(csr.row_nnz().max()))
    chunks = _balanced_chunks(csr.indptr, X.shape[1], 4)
    # A small block budget (12 by default), so that blocks of several sizes and lone rows
    # occur; below the longest row, that row goes alone with scratch of its own size.
    if solver == "cg":
        _wals_rows_cg(rows, X, Y, offsets, gram, lam, kargs, cg_steps, block_nnz, chunks,
                      np.zeros(0))
        return 0
    return _wals_rows_cholesky(rows, X, Y, offsets, gram, lam, kargs, max_nnz, chunks,
                               np.zeros(0))


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cholesky_rows_match_dense_solve(weighting, dtype):
    # Frequency-scaled penalty where it keeps empty rows solvable (w0 > 0).
    nu = 0.5 if weighting["w0"] > 0 else 0.0
    A, csr, w, X0, Y, offsets, lam, ref_kw = _setup(weighting, dtype, reg_exponent=nu)
    X = X0.copy()
    assert _call("cholesky", csr, w, X, Y, offsets, lam) == 0
    ref = exact_rows(A, Y.astype(float), **ref_kw)
    tol = 1e-9 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(X, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cg_steps", [1, 3])
@pytest.mark.parametrize("block_nnz", [2, 12])
def test_cg_rows_match_dense_cg(weighting, dtype, cg_steps, block_nnz):
    A, csr, w, X0, Y, offsets, lam, ref_kw = _setup(weighting, dtype, biases=True)
    assert csr.row_nnz().max() > 2  # some rows longer than the smaller block budget
    X = X0.copy()
    _call("cg", csr, w, X, Y, offsets, lam, cg_steps=cg_steps, block_nnz=block_nnz)
    ref = cg_rows(A, X0.astype(float), Y.astype(float), cg_steps=cg_steps, **ref_kw)
    tol = 1e-8 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(X, ref, rtol=tol, atol=tol)


def test_cg_converges_to_exact_solution():
    A, csr, w, X0, Y, offsets, lam, ref_kw = _setup(WEIGHTINGS[0], np.float64)
    X = X0.copy()
    _call("cg", csr, w, X, Y, offsets, lam, cg_steps=50)
    np.testing.assert_allclose(X, exact_rows(A, Y, **ref_kw), rtol=1e-7, atol=1e-9)


def test_int64_indices_give_the_same_rows():
    A, csr, w, X0, Y, offsets, lam, _ = _setup(WEIGHTINGS[0], np.float64)
    _, csr64, *_ = _setup(WEIGHTINGS[0], np.float64, int64=True)
    X32, X64 = X0.copy(), X0.copy()
    _call("cholesky", csr, w, X32, Y, offsets, lam)
    _call("cholesky", csr64, w, X64, Y, offsets, lam)
    # The int32 and int64 specializations are compiled separately (fastmath may order
    # their sums differently), so they agree to rounding, not bit for bit.
    np.testing.assert_allclose(X32, X64, rtol=1e-10, atol=1e-13)


def test_singular_rows_are_counted_and_left_alone():
    # w0 = 0 and reg = 0: the empty rows 2 and 11 have a zero system matrix.
    A, csr, w, X0, Y, offsets, lam, _ = _setup(WEIGHTINGS[1], np.float64, reg=0.0)
    X = X0.copy()
    failed = _call("cholesky", csr, w, X, Y, offsets, lam)
    assert failed >= 2
    np.testing.assert_array_equal(X[[2, 11]], X0[[2, 11]])


def test_balanced_chunks_cover_rows_and_balance_work():
    rng = np.random.default_rng(0)
    nnz = (rng.pareto(1.2, 1000) * 5).astype(np.int64)
    indptr = np.concatenate([[0], np.cumsum(nnz)])
    b = _balanced_chunks(indptr, 2.0, 8)
    assert b[0] == 0 and b[-1] == 1000 and np.all(np.diff(b) >= 0)
    cost = np.array([nnz[b[c]:b[c + 1]].sum() + 2.0 * (b[c + 1] - b[c]) for c in range(8)])
    # No chunk exceeds its share by more than the largest single row.
    assert cost.max() <= cost.sum() / 8 + nnz.max() + 2.0


@pytest.mark.parametrize("k", [1, 4, 40])
def test_topk_rows_match_brute_force(k):
    rng = np.random.default_rng(k)
    scores = rng.standard_normal((6, 30)).astype(np.float32)
    scores[0, 3] = scores[0, 4]  # a tie
    excl = sp.random(6, 30, density=0.3, random_state=1, format="csr")
    excl.sort_indices()
    ids = np.empty((6, k), np.int64)
    vals = np.empty((6, k), np.float32)
    _topk_rows(scores.copy(), excl.indptr.astype(np.int64), excl.indices.astype(np.int64),
               ids, vals)
    ref_ids, ref_vals = brute_topk(scores, k, excl.toarray() != 0)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(vals, ref_vals)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threaded_gram_is_the_product_whatever_the_threads(dtype):
    from fastmf.core._threads import GRAM_BLOCK_ROWS, gram, thread_context
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((3 * GRAM_BLOCK_ROWS + 17, 9)).astype(dtype)
    w = rng.random(Y.shape[0])
    results = []
    for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
        with thread_context(threads):
            results.append((gram(Y), gram(Y, w)))
    (a, aw), (b, bw) = results
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(aw, bw)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    Y64 = Y.astype(np.float64)
    np.testing.assert_allclose(a, Y64.T @ Y64, rtol=rtol, atol=rtol * Y.shape[0])
    np.testing.assert_allclose(aw, (Y64.T * w.astype(dtype)) @ Y64, rtol=rtol,
                               atol=rtol * Y.shape[0])
    assert a.dtype == aw.dtype == dtype
