"""Exact WALS row solves: build each row's d x d system and Cholesky-solve it.

The system is the one of :mod:`.wals` (which documents the weighting arguments); the row
coefficients and the objective terms come from the same helpers as the CG kernel's.
"""

import numpy as np
from numba import njit, prange

from .loss import _row_objective
from .shared import FASTMATH
from .weights import _row_coefficients, _row_coefficients_items

# Inner loops of the d x d work start at a multiple of _VB instead of at the diagonal. LLVM
# vectorizes a loop as 8 lanes x 4 interleaved registers, so a loop shorter than 32 runs
# entirely in its scalar remainder; triangle rows average d / 2 long. Starting at the block
# boundary touches a few entries below the diagonal (never read afterwards) but keeps every
# trip count a multiple of 32 when d is.
_VB = 32


@njit(cache=True, fastmath=FASTMATH)
def _cholesky_solve_inplace(M, b, z, k):
    """Solve M x = b for symmetric positive definite M (upper triangle used); x -> b.

    Returns False, leaving ``b`` unspecified, when M is not numerically positive definite.
    Overwrites the upper triangle of M with R, where M = R^T R. Right-looking, four pivot
    rows at a time: the trailing rows get one rank-4 update per panel (four FMAs per
    load and store of M) instead of four rank-1 updates. ``z`` is scratch of length k.
    """
    one = M.dtype.type(1)
    j0 = 0
    while j0 < k:
        pe = min(j0 + 4, k)
        # Factor the panel rows (all earlier panels are already applied to them).
        for j in range(j0, pe):
            d = M[j, j]
            if not d > 0:
                return False
            d = np.sqrt(d)
            inv = one / d
            s0 = ((j + 1) // _VB) * _VB
            rj = M[j, s0:]
            for t in range(k - s0):
                rj[t] *= inv
            M[j, j] = d
            for i in range(j + 1, pe):
                f = M[j, i]
                ri = M[i, s0:]
                for t in range(k - s0):
                    ri[t] -= f * rj[t]
        s0 = (pe // _VB) * _VB
        n = k - s0
        if pe - j0 == 4:
            p0 = M[j0, s0:]
            p1 = M[j0 + 1, s0:]
            p2 = M[j0 + 2, s0:]
            p3 = M[j0 + 3, s0:]
            for i in range(pe, k):
                f0 = M[j0, i]
                f1 = M[j0 + 1, i]
                f2 = M[j0 + 2, i]
                f3 = M[j0 + 3, i]
                ri = M[i, s0:]
                for t in range(n):
                    ri[t] -= f0 * p0[t] + f1 * p1[t] + f2 * p2[t] + f3 * p3[t]
        else:
            for j in range(j0, pe):
                rj = M[j, s0:]
                for i in range(pe, k):
                    f = M[j, i]
                    ri = M[i, s0:]
                    for t in range(n):
                        ri[t] -= f * rj[t]
        j0 = pe
    # R^T z = b, by rows of R; z is separate so the aligned updates cannot clobber results.
    for t in range(k):
        z[t] = b[t]
    for i in range(k):
        zi = z[i] / M[i, i]
        b[i] = zi
        s0 = ((i + 1) // _VB) * _VB
        ri = M[i, s0:]
        zt = z[s0:]
        for t in range(k - s0):
            zt[t] -= zi * ri[t]
    # R x = z.
    for i in range(k - 1, -1, -1):
        s = b[i]
        for t in range(i + 1, k):
            s -= M[i, t] * b[t]
        b[i] = s / M[i, i]
    return True


@njit(cache=True, fastmath=FASTMATH)
def _build_row_system(start, end, indices, Y, gram, g_i, scale_row, lam_i, cw, bw, M, b, Z,
                      Zc, T):
    """The row's system matrix into M (full), its right-hand side into b. The Gram term is
    ``g_i * gram`` with ``scale_row``, else ``gram``.

    The sum of rank-1 terms is a matrix product, Z^T (c * Z) over blocks of the gathered
    rows Z (``Z.shape[0]`` nonzeros per block), done by BLAS through ``np.dot``: about twice
    as fast as the best hand-written loop here, even at d = 64. Z, Zc (B x k) and T (k x k)
    are scratch.
    """
    k = b.shape[0]
    if scale_row:
        for a in range(k):
            b[a] = 0
            for t in range(k):
                M[a, t] = g_i * gram[a, t]
            M[a, a] += lam_i
    else:
        for a in range(k):
            b[a] = 0
            for t in range(k):
                M[a, t] = gram[a, t]
            M[a, a] += lam_i
    nnz = end - start
    block = Z.shape[0]
    # Kept also in wals_subspace.py on purpose: there over a slice of each row, with residuals.
    for q0 in range(0, nnz, block):
        nb = min(block, nnz - q0)
        for q in range(nb):
            y = Y[indices[start + q0 + q]]
            c = cw[q0 + q]
            s = bw[q0 + q]
            zq = Z[q]
            zcq = Zc[q]
            for a in range(k):
                ya = y[a]
                zq[a] = ya
                zcq[a] = c * ya
                b[a] += s * ya
        np.dot(Z[:nb].T, Zc[:nb], T)
        for a in range(k):
            for t in range(k):
                M[a, t] += T[a, t]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _wals_rows_cholesky(csr, X, Y, offsets, gram, lam, weighting, max_nnz, chunks, loss):
    """Exact update of every row of ``X``: build its d x d system and Cholesky-solve it.
    ``csr`` is the rows' ``CsrRows`` and ``weighting`` a ``KernelWeighting``.

    Returns the number of rows whose system was not positive definite (for instance an
    empty row with ``reg == 0`` and ``w0 == 0``); those rows are left unchanged. A
    non-empty ``loss`` gets each chunk's share of the objective, as in :func:`_wals_rows_cg`.
    """
    indptr, indices, values = csr
    (w0, w0_vec, w0_by_row, row_scale, col_scale, kind, alpha, eps, binary,
     has_scale) = weighting
    k = X.shape[1]
    dt = X.dtype.type
    w0 = dt(w0)
    per_item = w0_vec.shape[0] > 0
    scale_rows = per_item and w0_by_row
    g_one = dt(1)
    alpha = dt(alpha)
    eps = dt(eps)
    n_chunks = chunks.shape[0] - 1
    failed = np.zeros(n_chunks, dtype=np.int64)
    block = min(max_nnz, 64)
    track = loss.shape[0] > 0
    for c in prange(n_chunks):
        M = np.empty((k, k), dtype=X.dtype)
        T = np.empty((k, k), dtype=X.dtype)
        Z = np.empty((block, k), dtype=X.dtype)
        Zc = np.empty((block, k), dtype=X.dtype)
        b = np.empty(k, dtype=X.dtype)
        z = np.empty(k, dtype=X.dtype)
        cw = np.empty(max_nnz, dtype=X.dtype)
        bw = np.empty(max_nnz, dtype=X.dtype)
        s = np.empty(max_nnz if track else 0, dtype=X.dtype)
        for i in range(chunks[c], chunks[c + 1]):
            start = indptr[i]
            end = indptr[i + 1]
            if per_item:
                _row_coefficients_items(start, end, i, indices, values, offsets, w0, w0_vec,
                                        w0_by_row, row_scale, col_scale, kind, alpha, eps,
                                        binary, has_scale, cw, bw)
            else:
                _row_coefficients(start, end, i, indices, values, offsets, w0, row_scale,
                                  col_scale, kind, alpha, eps, binary, has_scale, cw, bw)
            g_i = w0_vec[i] if scale_rows else g_one
            _build_row_system(start, end, indices, Y, gram, g_i, scale_rows, lam[i], cw, bw,
                              M, b, Z, Zc, T)
            if _cholesky_solve_inplace(M, b, z, k):
                for a in range(k):
                    X[i, a] = b[a]
            else:
                failed[c] += 1
            if track:
                loss[c] += _row_objective(start, end - start, i, indices, values, offsets,
                                          binary, Y, X[i], cw, w0, w0_vec, w0_by_row, lam[i],
                                          s)
    return failed.sum()
