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

with the predictions s_q = <x, y_q> kept up to date after every block (nnz_i b). As in
Rendle et al., the blocks are the outer loop and the rows the inner, parallel one: the
Gram part of every row's residual, (G x_i)_B, is then one matrix product X G[:, B] per
chunk of rows (BLAS), and the predictions of all entries are kept in one array of nnz
values (with the entries' two weight coefficients: 3 nnz values of scratch). One pass
costs about nnz_i k (b + 3) + k^2 + (k / b) b^3 / 3 per row instead of nnz_i k^2 + k^3 / 3;
``b = k`` is the exact solve, ``b = 1`` coordinate descent.
"""

import numpy as np
from numba import njit, prange

from .loss import _row_terms
from .shared import FASTMATH
from .wals_cholesky import _cholesky_solve_inplace
from .weights import _row_coefficients, _row_coefficients_items

# Rows with at most this many entries build their block systems by rank-one updates in
# place; longer rows gather the entries and let BLAS form the sum.
_SMALL = 32


@njit(cache=True, fastmath=FASTMATH)
def _block_update(start, end, indices, Y, gram, g_i, lam_i, CW, BW, S, x, h, b0, M, rho, z,
                  Z, Zc, T):
    """Solve block ``b0 .. b0 + nb`` of row ``x`` exactly with the other coordinates fixed
    (in place), ``h`` being ``(G x)_B``; the predictions ``S[start:end]`` follow. Returns
    False, leaving the row unchanged, when the block's system is not positive definite."""
    nb = rho.shape[0]
    nnz = end - start
    zero = x[0] - x[0]
    for a in range(nb):
        ga = gram[b0 + a]
        ma = M[a]
        for t in range(nb):
            ma[t] = g_i * ga[b0 + t]
        ma[a] += lam_i
        rho[a] = -g_i * h[a] - lam_i * x[b0 + a]
    if nnz <= _SMALL:
        # few entries: rank-one updates in place (a BLAS call costs more here)
        for q in range(start, end):
            yb = Y[indices[q]][b0:b0 + nb]
            c = CW[q]
            e = BW[q] - c * S[q]
            for a in range(nb):
                ya = yb[a]
                rho[a] += e * ya
                ca = c * ya
                ma = M[a]
                for t in range(nb):
                    ma[t] += ca * yb[t]
    else:
        rows = Z.shape[0]
        # Kept also in wals_cholesky.py on purpose: there over whole rows, without residuals.
        for q0 in range(start, end, rows):
            nq = min(rows, end - q0)
            for q in range(nq):
                yb = Y[indices[q0 + q]][b0:b0 + nb]
                c = CW[q0 + q]
                e = BW[q0 + q] - c * S[q0 + q]
                zq = Z[q]
                zcq = Zc[q]
                for a in range(nb):
                    ya = yb[a]
                    zq[a] = ya
                    zcq[a] = c * ya
                    rho[a] += e * ya
            np.dot(Z[:nq].T, Zc[:nq], T)
            for a in range(nb):
                ma = M[a]
                ta = T[a]
                for t in range(nb):
                    ma[t] += ta[t]
    if not _cholesky_solve_inplace(M, rho, z, nb):
        return False
    for a in range(nb):
        x[b0 + a] += rho[a]
    for q in range(start, end):
        yb = Y[indices[q]][b0:b0 + nb]
        acc = zero
        for a in range(nb):
            acc += yb[a] * rho[a]
        S[q] += acc
    return True


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _wals_rows_subspace(csr, X, Y, offsets, gram, lam, weighting, max_nnz, chunks, block,
                        passes, loss):
    """Update every row of ``X`` by ``passes`` passes of block updates of ``block``
    coordinates (warm-started from the current rows). Returns the number of rows with a
    block whose system was not positive definite (that block is left unchanged). A
    non-empty ``loss`` gets each chunk's share of the objective after the update, as in
    :func:`._wals_rows_cg` (which also describes ``csr`` and ``weighting``)."""
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
    m = X.shape[0]
    b = max(1, min(block, k))
    zrows = min(max(max_nnz, 1), 64)
    # the entries' coefficients and predictions, for the rows of ``chunks`` (entries e0 ..)
    e0 = indptr[chunks[0]]
    nnz_all = indptr[chunks[n_chunks]] - e0
    ind = indices[e0:]
    CW = np.empty(nnz_all, dtype=X.dtype)
    BW = np.empty(nnz_all, dtype=X.dtype)
    S = np.empty(nnz_all, dtype=X.dtype)
    bad = np.zeros(m, dtype=np.uint8)
    for c in prange(n_chunks):
        for i in range(chunks[c], chunks[c + 1]):
            start = indptr[i]
            end = indptr[i + 1]
            s0 = start - e0
            s1 = end - e0
            if per_item:
                _row_coefficients_items(start, end, i, indices, values, offsets, w0, w0_vec,
                                        w0_by_row, row_scale, col_scale, kind, alpha, eps,
                                        binary, has_scale, CW[s0:s1], BW[s0:s1])
            else:
                _row_coefficients(start, end, i, indices, values, offsets, w0, row_scale,
                                  col_scale, kind, alpha, eps, binary, has_scale,
                                  CW[s0:s1], BW[s0:s1])
            x = X[i]
            for q in range(s0, s1):
                y = Y[ind[q]]
                acc = x[0] - x[0]
                for a in range(k):
                    acc += y[a] * x[a]
                S[q] = acc
    for _ in range(passes):
        for b0 in range(0, k, b):
            nb = min(b, k - b0)
            GB = np.empty((k, nb), dtype=X.dtype)
            for a in range(k):
                for t in range(nb):
                    GB[a, t] = gram[a, b0 + t]
            for c in prange(n_chunks):
                r0 = chunks[c]
                r1 = chunks[c + 1]
                if r1 == r0:
                    continue
                H = np.empty((r1 - r0, nb), dtype=X.dtype)
                np.dot(X[r0:r1], GB, H)  # (G x_i)_B for the chunk's rows
                M = np.empty((nb, nb), dtype=X.dtype)
                T = np.empty((nb, nb), dtype=X.dtype)
                Z = np.empty((zrows, nb), dtype=X.dtype)
                Zc = np.empty((zrows, nb), dtype=X.dtype)
                rho = np.empty(nb, dtype=X.dtype)
                z = np.empty(nb, dtype=X.dtype)
                for i in range(r0, r1):
                    g_i = w0_vec[i] if scale_rows else g_one
                    if not _block_update(indptr[i] - e0, indptr[i + 1] - e0, ind, Y, gram, g_i,
                                         lam[i], CW, BW, S, X[i], H[i - r0], b0, M, rho, z,
                                         Z, Zc, T):
                        bad[i] = 1
    if loss.shape[0] > 0:
        for c in prange(n_chunks):
            for i in range(chunks[c], chunks[c + 1]):
                start = indptr[i]
                end = indptr[i + 1]
                loss[c] += _row_terms(S[start - e0:end - e0], start, end - start, i, indices,
                                      values, offsets, binary, X[i], CW[start - e0:end - e0],
                                      w0, w0_vec, w0_by_row, lam[i])
    failed = 0
    for i in range(m):
        failed += bad[i]
    return failed
