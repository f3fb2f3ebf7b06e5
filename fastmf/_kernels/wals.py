"""Parallel WALS row solvers.

One call updates every row ``x_i`` of ``X`` with ``Y`` held fixed, solving

    (G + sum_{j in row i} (w_ij - w0) y_j y_j^T + lam_i I) x_i
        = sum_{j in row i} w_ij (t_ij - off_j) y_j

where ``G = w0 * Y^T Y`` is computed once by the caller. ``off_j`` is a per-column target
offset (global mean plus the fixed side's bias when biases are fitted, else zero). Weights
``w_ij`` and targets ``t_ij`` come from the stored values (see :mod:`.weights`).

Argument order: data, factors being updated, fixed factors, hyperparameters, scratch sizes
and work partition.
"""

import numpy as np
from numba import njit, prange

from .weights import _obs_target, _obs_weight

# Reassociation lets LLVM vectorize the d-long reductions; no-NaN/no-inf flags stay off so a
# diverging solve still shows up as NaN instead of being optimized into garbage.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _dot(a, b, k):
    s = a[0] * 0
    for q in range(k):
        s += a[q] * b[q]
    return s


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _gram_times(gram, lam_i, v, out, k):
    """out = (G + lam_i I) v."""
    for a in range(k):
        s = lam_i * v[a]
        for q in range(k):
            s += gram[a, q] * v[q]
        out[a] = s


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _row_coefficients(start, end, i, indices, values, offsets, w0, row_scale, col_scale,
                      kind, alpha, eps, binary, has_scale, cw, bw):
    """cw[q] = w - w0 and bw[q] = w * (t - off_j) for the row's q-th nonzero."""
    rs = row_scale[i]
    for q in range(end - start):
        idx = start + q
        j = indices[idx]
        a = values[idx]
        w = _obs_weight(a, rs, col_scale[j], w0, kind, alpha, eps, has_scale)
        cw[q] = w - w0
        bw[q] = w * (_obs_target(a, binary) - offsets[j])


@njit(cache=True, fastmath=FASTMATH)
def _cg_row(start, end, indices, x, Y, gram, lam_i, cg_steps, cw, bw, r, p, ap):
    k = x.shape[0]
    # r = b - A x, with b and the sparse part of A x gathered in one pass.
    _gram_times(gram, lam_i, x, r, k)
    for a in range(k):
        r[a] = -r[a]
    for q in range(end - start):
        y = Y[indices[start + q]]
        coef = bw[q] - cw[q] * _dot(y, x, k)
        for a in range(k):
            r[a] += coef * y[a]
    rs = _dot(r, r, k)
    for a in range(k):
        p[a] = r[a]
    for _ in range(cg_steps):
        if rs <= 1e-20:
            break
        _gram_times(gram, lam_i, p, ap, k)
        for q in range(end - start):
            y = Y[indices[start + q]]
            coef = cw[q] * _dot(y, p, k)
            for a in range(k):
                ap[a] += coef * y[a]
        pap = _dot(p, ap, k)
        if not pap > 0:
            break
        step = rs / pap
        for a in range(k):
            x[a] += step * p[a]
            r[a] -= step * ap[a]
        rs_new = _dot(r, r, k)
        beta = rs_new / rs
        for a in range(k):
            p[a] = r[a] + beta * p[a]
        rs = rs_new


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _wals_rows_cg(indptr, indices, values, X, Y, offsets, gram, lam, w0, row_scale,
                  col_scale, kind, alpha, eps, binary, has_scale, cg_steps, max_nnz,
                  chunks):
    """Conjugate-gradient update of every row of ``X``, warm-started from its current value.

    ``cg_steps`` CG iterations per row (Takacs, Pilaszy & Tikk 2011); products with the
    system matrix are matrix-free. ``chunks`` holds row-range boundaries of about equal
    work (see :func:`_balanced_chunks`); each chunk gets its own scratch, ``max_nnz`` long
    for the per-nonzero coefficients.
    """
    k = X.shape[1]
    dt = X.dtype.type
    w0 = dt(w0)
    alpha = dt(alpha)
    eps = dt(eps)
    for c in prange(chunks.shape[0] - 1):
        x = np.empty(k, dtype=X.dtype)
        r = np.empty(k, dtype=X.dtype)
        p = np.empty(k, dtype=X.dtype)
        ap = np.empty(k, dtype=X.dtype)
        cw = np.empty(max_nnz, dtype=X.dtype)
        bw = np.empty(max_nnz, dtype=X.dtype)
        for i in range(chunks[c], chunks[c + 1]):
            start = indptr[i]
            end = indptr[i + 1]
            _row_coefficients(start, end, i, indices, values, offsets, w0, row_scale,
                              col_scale, kind, alpha, eps, binary, has_scale, cw, bw)
            for a in range(k):
                x[a] = X[i, a]
            _cg_row(start, end, indices, x, Y, gram, lam[i], cg_steps, cw, bw, r, p, ap)
            for a in range(k):
                X[i, a] = x[a]


@njit(cache=True, fastmath=FASTMATH)
def _cholesky_solve_inplace(M, b, k):
    """Solve M z = b for symmetric positive definite M (lower triangle used); z -> b.

    Returns False, leaving ``b`` unspecified, when M is not numerically positive definite.
    Overwrites the lower triangle of M with its Cholesky factor.
    """
    for j in range(k):
        s = M[j, j]
        for q in range(j):
            s -= M[j, q] * M[j, q]
        if not s > 0:
            return False
        d = np.sqrt(s)
        M[j, j] = d
        inv = 1 / d
        for i in range(j + 1, k):
            t = M[i, j]
            for q in range(j):
                t -= M[i, q] * M[j, q]
            M[i, j] = t * inv
    for i in range(k):
        s = b[i]
        for q in range(i):
            s -= M[i, q] * b[q]
        b[i] = s / M[i, i]
    for i in range(k - 1, -1, -1):
        s = b[i]
        for q in range(i + 1, k):
            s -= M[q, i] * b[q]
        b[i] = s / M[i, i]
    return True


@njit(cache=True, fastmath=FASTMATH)
def _build_row_system(start, end, indices, Y, gram, lam_i, cw, bw, M, b):
    """Lower triangle of the row's system matrix into M, its right-hand side into b."""
    k = b.shape[0]
    for a in range(k):
        b[a] = 0
        for q in range(a + 1):
            M[a, q] = gram[a, q]
        M[a, a] += lam_i
    for q in range(end - start):
        y = Y[indices[start + q]]
        s = bw[q]
        c = cw[q]
        for a in range(k):
            ya = y[a]
            b[a] += s * ya
            cya = c * ya
            for t in range(a + 1):
                M[a, t] += cya * y[t]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _wals_rows_cholesky(indptr, indices, values, X, Y, offsets, gram, lam, w0, row_scale,
                        col_scale, kind, alpha, eps, binary, has_scale, max_nnz, chunks):
    """Exact update of every row of ``X``: build its d x d system and Cholesky-solve it.

    Returns the number of rows whose system was not positive definite (for instance an
    empty row with ``reg == 0`` and ``w0 == 0``); those rows are left unchanged.
    """
    k = X.shape[1]
    dt = X.dtype.type
    w0 = dt(w0)
    alpha = dt(alpha)
    eps = dt(eps)
    n_chunks = chunks.shape[0] - 1
    failed = np.zeros(n_chunks, dtype=np.int64)
    for c in prange(n_chunks):
        M = np.empty((k, k), dtype=X.dtype)
        b = np.empty(k, dtype=X.dtype)
        cw = np.empty(max_nnz, dtype=X.dtype)
        bw = np.empty(max_nnz, dtype=X.dtype)
        for i in range(chunks[c], chunks[c + 1]):
            start = indptr[i]
            end = indptr[i + 1]
            _row_coefficients(start, end, i, indices, values, offsets, w0, row_scale,
                              col_scale, kind, alpha, eps, binary, has_scale, cw, bw)
            _build_row_system(start, end, indices, Y, gram, lam[i], cw, bw, M, b)
            if _cholesky_solve_inplace(M, b, k):
                for a in range(k):
                    X[i, a] = b[a]
            else:
                failed[c] += 1
    return failed.sum()
