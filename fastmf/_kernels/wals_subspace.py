"""WALS row updates by subspace (block-coordinate) optimization: iALS++.

Rendle, Krichene, Zhang and Koren (2021), "iALS++: Speeding up Matrix Factorization with
Subspace Optimization". Row i's system (the one of :mod:`.wals`, built by
:func:`._build_row_system` for the exact solver) is

    M x = r,   M = g_i G + sum_q cw_q y_q y_q^T + lam_i I,   r = sum_q bw_q y_q.

Instead of solving it whole (d^3 / 3 for the factorization, nnz_i d^2 to build M), the k
coordinates are cut into blocks of ``b`` and each block is solved exactly with the others
fixed, one block after the other (block Gauss-Seidel on M, which is positive definite, so
each block update cannot increase the row's objective):

    x_B += M_BB^-1 (r - M x)_B,   (r - M x)_B = sum_q (bw_q - cw_q s_q) y_qB - (g_i G x)_B
                                                 - lam_i x_B

with the predictions s_q = <x, y_q> and the product g_i G x kept up to date after every
block (nnz_i b and k b). One pass costs about nnz_i k (b + 3) + k^2 + (k / b) b^3 / 3
instead of nnz_i k^2 + k^3 / 3; ``b = k`` is the exact solve, ``b = 1`` coordinate descent.
"""

import numpy as np
from numba import njit, prange

from .loss import _row_terms
from .wals import FASTMATH
from .wals_cholesky import _cholesky_solve_inplace
from .weights import _row_coefficients, _row_coefficients_items


@njit(cache=True, fastmath=FASTMATH)
def _subspace_row(start, end, indices, Y, gram, g_i, lam_i, cw, bw, x, s, Gx, M, rho, z, Z,
                  Zc, T, Zl, Zcl, Tl, block):
    """One pass of block updates over row ``x`` (in place). Returns the number of blocks
    whose system was not positive definite (their coordinates are left unchanged). Z, Zc,
    T are scratch of the block's width, Zl, Zcl, Tl of the last block's (k % block) when
    narrower (BLAS needs contiguous operands)."""
    k = x.shape[0]
    nnz = end - start
    zero = x[0] - x[0]
    # predictions and the Gram product at the current x
    for q in range(nnz):
        y = Y[indices[start + q]]
        acc = zero
        for a in range(k):
            acc += y[a] * x[a]
        s[q] = acc
    for a in range(k):
        acc = zero
        ga = gram[a]
        for t in range(k):
            acc += ga[t] * x[t]
        Gx[a] = g_i * acc
    failed = 0
    for b0 in range(0, k, block):
        b1 = min(b0 + block, k)
        nb = b1 - b0
        # M_BB and the block's residual
        for a in range(nb):
            ga = gram[b0 + a]
            for t in range(nb):
                M[a, t] = g_i * ga[b0 + t]
            M[a, a] += lam_i
            rho[a] = -Gx[b0 + a] - lam_i * x[b0 + a]
        if nb == block:
            Zb, Zcb, Tb = Z, Zc, T
        else:
            Zb, Zcb, Tb = Zl, Zcl, Tl
        rows = Zb.shape[0]
        for q0 in range(0, nnz, rows):
            nq = min(rows, nnz - q0)
            for q in range(nq):
                y = Y[indices[start + q0 + q]]
                c = cw[q0 + q]
                e = bw[q0 + q] - c * s[q0 + q]
                zq = Zb[q]
                zcq = Zcb[q]
                for a in range(nb):
                    ya = y[b0 + a]
                    zq[a] = ya
                    zcq[a] = c * ya
                    rho[a] += e * ya
            np.dot(Zb[:nq].T, Zcb[:nq], Tb)
            for a in range(nb):
                for t in range(nb):
                    M[a, t] += Tb[a, t]
        if not _cholesky_solve_inplace(M[:nb, :nb], rho[:nb], z, nb):
            failed += 1
            continue
        # apply the step: x_B, the predictions and the Gram product
        for a in range(nb):
            x[b0 + a] += rho[a]
        for q in range(nnz):
            y = Y[indices[start + q]]
            acc = zero
            for a in range(nb):
                acc += y[b0 + a] * rho[a]
            s[q] += acc
        for a in range(k):
            ga = gram[a]
            acc = zero
            for t in range(nb):
                acc += ga[b0 + t] * rho[t]
            Gx[a] += g_i * acc
    return failed


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _wals_rows_subspace(indptr, indices, values, X, Y, offsets, gram, lam, w0, w0_vec,
                        w0_by_row, row_scale, col_scale, kind, alpha, eps, binary, has_scale,
                        max_nnz, chunks, block, passes, loss):
    """Update every row of ``X`` by ``passes`` passes of block updates of ``block``
    coordinates (warm-started from the current rows). Returns the number of rows with a
    block whose system was not positive definite. A non-empty ``loss`` gets each chunk's
    share of the objective after the update, as in :func:`._wals_rows_cg`."""
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
    b = max(1, min(block, k))
    rows = min(max(max_nnz, 1), 64)
    track = loss.shape[0] > 0
    for c in prange(n_chunks):
        M = np.empty((b, b), dtype=X.dtype)
        T = np.empty((b, b), dtype=X.dtype)
        Z = np.empty((rows, b), dtype=X.dtype)
        Zc = np.empty((rows, b), dtype=X.dtype)
        last = k % b
        Zl = np.empty((rows, last), dtype=X.dtype)
        Zcl = np.empty((rows, last), dtype=X.dtype)
        Tl = np.empty((last, last), dtype=X.dtype)
        rho = np.empty(b, dtype=X.dtype)
        z = np.empty(b, dtype=X.dtype)
        Gx = np.empty(k, dtype=X.dtype)
        x = np.empty(k, dtype=X.dtype)
        cw = np.empty(max_nnz, dtype=X.dtype)
        bw = np.empty(max_nnz, dtype=X.dtype)
        s = np.empty(max_nnz, dtype=X.dtype)
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
            for a in range(k):
                x[a] = X[i, a]
            bad = 0
            for _ in range(passes):
                bad += _subspace_row(start, end, indices, Y, gram, g_i, lam[i], cw, bw, x,
                                     s, Gx, M, rho, z, Z, Zc, T, Zl, Zcl, Tl, b)
            for a in range(k):
                X[i, a] = x[a]
            if bad:
                failed[c] += 1
            if track:
                loss[c] += _row_terms(s, start, end - start, i, indices, values, offsets,
                                      binary, x, cw, w0, w0_vec, w0_by_row, lam[i])
    return failed.sum()
