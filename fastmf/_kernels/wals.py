"""Parallel WALS row solvers.

One call updates every row ``x_i`` of ``X`` with ``Y`` held fixed, solving

    (s_i G + sum_{j in row i} (w_ij - w0_ij) y_j y_j^T + lam_i I) x_i
        = sum_{j in row i} w_ij (t_ij - off_j) y_j

where ``G`` is computed once by the caller (``Weighting.unobserved_gram``): ``w0 * Y^T Y``
with a scalar unobserved weight (``w0_ij = w0``, ``s_i = 1``). With per-item weights
``w0_vec`` (see ``Weighting.kernel_args``) on user rows, ``G = Y^T diag(w0) Y``,
``w0_ij = w0_vec[j]`` and ``s_i = 1``; on item rows (``w0_by_row``), ``G = Y^T Y``,
``w0_ij = s_i = w0_vec[i]``. ``off_j`` is a per-column target
offset (global mean plus the fixed side's bias when biases are fitted, else zero). Weights
``w_ij`` and targets ``t_ij`` come from the stored values (see :mod:`.weights`).

Argument order: data (the rows' ``CsrRows``), factors being updated, fixed factors,
hyperparameters (the ``KernelWeighting`` among them), scratch sizes and work partition.
"""

import numpy as np
from numba import njit, prange

from .loss import _row_terms
from .prefetch import _prefetch_row_read
from .shared import FASTMATH, _dot4
from .weights import _row_coefficients, _row_coefficients_items


# Nonzeros ahead whose rows of Y the first pass over a block prefetches: it gathers them
# from beyond L2, the CG steps after it from L2.
PREFETCH_AHEAD = 16


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _dot(a, b, k):
    s = a[0] - a[0]  # zero of the array's float type (a literal 0 would be int64)
    for q in range(k):
        s += a[q] * b[q]
    return s


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _sparse_update(start, nnz, indices, Y, v, cw, bw, bscale, cscale, out, k, zero, sv,
                   prefetch_end):
    """out += sum_q (bscale * bw[q] + cscale * cw[q] * <y_q, v>) y_q over the row's nonzeros;
    sv[q] = <y_q, v>.

    Four nonzeros per step: their dot products are independent (so they overlap instead of
    waiting on one another) and ``out`` is loaded and stored once per four rows of Y.
    The rows of Y of the nonzeros ``PREFETCH_AHEAD`` positions ahead (up to position
    ``prefetch_end`` of ``indices``, past this row's end; 0 for none) are prefetched.
    """
    q = 0
    # Kept also in loss.py's _row_objective on purpose: here the axpy reuses the rows.
    while q + 4 <= nnz:
        ahead = start + q + PREFETCH_AHEAD
        if ahead + 4 <= prefetch_end:
            _prefetch_row_read(Y, indices[ahead])
            _prefetch_row_read(Y, indices[ahead + 1])
            _prefetch_row_read(Y, indices[ahead + 2])
            _prefetch_row_read(Y, indices[ahead + 3])
        y0 = Y[indices[start + q]]
        y1 = Y[indices[start + q + 1]]
        y2 = Y[indices[start + q + 2]]
        y3 = Y[indices[start + q + 3]]
        s0, s1, s2, s3 = _dot4(y0, y1, y2, y3, v, k, zero)
        sv[q] = s0
        sv[q + 1] = s1
        sv[q + 2] = s2
        sv[q + 3] = s3
        c0 = bscale * bw[q] + cscale * cw[q] * s0
        c1 = bscale * bw[q + 1] + cscale * cw[q + 1] * s1
        c2 = bscale * bw[q + 2] + cscale * cw[q + 2] * s2
        c3 = bscale * bw[q + 3] + cscale * cw[q + 3] * s3
        for a in range(k):
            out[a] += c0 * y0[a] + c1 * y1[a] + c2 * y2[a] + c3 * y3[a]
        q += 4
    while q < nnz:
        y = Y[indices[start + q]]
        s = zero
        for a in range(k):
            s += y[a] * v[a]
        sv[q] = s
        c = bscale * bw[q] + cscale * cw[q] * s
        for a in range(k):
            out[a] += c * y[a]
        q += 1


# Rows advance through CG in lockstep blocks of up to CG_BLOCK rows, so that the Gram
# products of a whole block are one matrix product (BLAS) instead of one d x d product per
# row. A block also stops growing at CG_BLOCK_BYTES of fixed-side rows, so that the rows of
# Y it gathers stay in L2 across its CG steps (a lone row may exceed that). A quarter of a
# 1 MiB L2 leaves room for the scratch and the rest: on the item side of a 100k x 20k x 5.7M
# matrix (d = 64, float32, 2 threads), blocks of 256 KiB took 0.26 s per half-sweep where
# blocks of 1 MiB took 0.40 s (their distinct user rows fill all of L2).
CG_BLOCK = 64
CG_BLOCK_BYTES = 1 << 18


def cg_block_nnz(k, itemsize):
    """Nonzeros a CG block of several rows may gather (a longer row goes alone)."""
    return max(1, CG_BLOCK_BYTES // (k * itemsize))


@njit(cache=True, fastmath=FASTMATH)
def _cg_block(i0, nb, indptr, indices, X, Y, gram, gscale, scale_rows, lam, cg_steps, cw,
              bw, Xb, R, P, AP, rs, active, sx, sp, track):
    """Warm-started CG on rows i0 .. i0 + nb - 1 of X, all at once.

    Every row runs exactly the CG iteration of the textbook method (and of the dense
    reference); only the products G p of the rows are batched into ``P @ G``. A row stops
    where its own residual vanishes or its curvature p^T A p is not positive.
    ``cw``/``bw`` hold the block's per-nonzero coefficients, in CSR order from
    ``indptr[i0]``. With ``scale_rows``, row i's Gram term is ``gscale[i] * G``.
    With ``track``, ``sx`` ends holding the predictions ``<x_i, y_j>`` of the block's
    nonzeros at the solved rows (the starting ones, plus step * ``<p, y_j>`` per step: no
    extra pass over Y); ``sp`` is scratch.
    """
    k = X.shape[1]
    one = X.dtype.type(1)
    zero = X.dtype.type(0)
    base = indptr[i0]
    for r in range(nb):
        for a in range(k):
            Xb[r, a] = X[i0 + r, a]
    # R = B - A X: Gram part as one product, the rest row by row.
    np.dot(Xb[:nb], gram, R[:nb])
    for r in range(nb):
        i = i0 + r
        lam_i = lam[i]
        xr = Xb[r]
        rr = R[r]
        if scale_rows:
            g_i = gscale[i]
            for a in range(k):
                rr[a] = -(g_i * rr[a] + lam_i * xr[a])
        else:
            for a in range(k):
                rr[a] = -(rr[a] + lam_i * xr[a])
        start = indptr[i]
        _sparse_update(start, indptr[i + 1] - start, indices, Y, xr, cw[start - base:],
                       bw[start - base:], one, -one, rr, k, zero, sx[start - base:],
                       indptr[i0 + nb])
        rs[r] = _dot(rr, rr, k)
        active[r] = rs[r] > 1e-20
        pr = P[r]
        for a in range(k):
            pr[a] = rr[a]
    for _ in range(cg_steps):
        np.dot(P[:nb], gram, AP[:nb])
        any_active = False
        for r in range(nb):
            if not active[r]:
                continue
            i = i0 + r
            lam_i = lam[i]
            pr = P[r]
            apr = AP[r]
            if scale_rows:
                g_i = gscale[i]
                for a in range(k):
                    apr[a] = g_i * apr[a] + lam_i * pr[a]
            else:
                for a in range(k):
                    apr[a] += lam_i * pr[a]
            start = indptr[i]
            _sparse_update(start, indptr[i + 1] - start, indices, Y, pr, cw[start - base:],
                           bw[start - base:], zero, one, apr, k, zero, sp[start - base:], 0)
            pap = _dot(pr, apr, k)
            if not pap > 0:
                active[r] = False
                continue
            step = rs[r] / pap
            if track:
                for q in range(start - base, indptr[i + 1] - base):
                    sx[q] += step * sp[q]
            xr = Xb[r]
            rr = R[r]
            for a in range(k):
                xr[a] += step * pr[a]
                rr[a] -= step * apr[a]
            rs_new = _dot(rr, rr, k)
            beta = rs_new / rs[r]
            for a in range(k):
                pr[a] = rr[a] + beta * pr[a]
            rs[r] = rs_new
            active[r] = rs_new > 1e-20
            any_active = True
        if not any_active:
            break
    for r in range(nb):
        for a in range(k):
            X[i0 + r, a] = Xb[r, a]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _wals_rows_cg(csr, X, Y, offsets, gram, lam, weighting, cg_steps, block_nnz, chunks,
                  loss):
    """Conjugate-gradient update of every row of ``X``, warm-started from its current value.

    ``csr`` is the rows' ``CsrRows`` and ``weighting`` a ``KernelWeighting``.

    ``cg_steps`` CG iterations per row (Takacs, Pilaszy & Tikk 2011); products with the
    system matrix are matrix-free. ``chunks`` holds row-range boundaries of about equal
    work (see :func:`_balanced_chunks`); each chunk gets its own scratch and walks its rows
    in blocks of at most ``CG_BLOCK`` rows and ``block_nnz`` nonzeros (a longer row goes
    alone; see :func:`cg_block_nnz`).

    When ``loss`` is not empty (one float64 slot per chunk), chunk c also adds to
    ``loss[c]`` its solved rows' shares of the objective (see ``_row_objective``).
    """
    indptr, indices, values = csr
    (w0, w0_vec, w0_by_row, row_scale, col_scale, kind, alpha, eps, binary,
     has_scale) = weighting
    k = X.shape[1]
    dt = X.dtype.type
    w0 = dt(w0)
    per_item = w0_vec.shape[0] > 0
    scale_rows = per_item and w0_by_row
    alpha = dt(alpha)
    eps = dt(eps)
    B = CG_BLOCK
    track = loss.shape[0] > 0
    for c in prange(chunks.shape[0] - 1):
        i0 = chunks[c]
        stop = chunks[c + 1]
        scratch = block_nnz  # room for a block, or for the chunk's longest row alone
        for i in range(i0, stop):
            scratch = max(scratch, indptr[i + 1] - indptr[i])
        Xb = np.empty((B, k), dtype=X.dtype)
        R = np.empty((B, k), dtype=X.dtype)
        P = np.empty((B, k), dtype=X.dtype)
        AP = np.empty((B, k), dtype=X.dtype)
        rs = np.empty(B, dtype=X.dtype)
        active = np.empty(B, dtype=np.bool_)
        cw = np.empty(scratch, dtype=X.dtype)
        bw = np.empty(scratch, dtype=X.dtype)
        sx = np.empty(scratch, dtype=X.dtype)
        sp = np.empty(scratch, dtype=X.dtype)
        while i0 < stop:
            base = indptr[i0]
            nb = 1
            while nb < B and i0 + nb < stop and indptr[i0 + nb + 1] - base <= block_nnz:
                nb += 1
            for i in range(i0, i0 + nb):
                start = indptr[i]
                end = indptr[i + 1]
                if per_item:
                    _row_coefficients_items(start, end, i, indices, values, offsets, w0,
                                            w0_vec, w0_by_row, row_scale, col_scale, kind,
                                            alpha, eps, binary, has_scale, cw[start - base:],
                                            bw[start - base:])
                else:
                    _row_coefficients(start, end, i, indices, values, offsets, w0, row_scale,
                                      col_scale, kind, alpha, eps, binary, has_scale,
                                      cw[start - base:], bw[start - base:])
            _cg_block(i0, nb, indptr, indices, X, Y, gram, w0_vec, scale_rows, lam, cg_steps,
                      cw, bw, Xb, R, P, AP, rs, active, sx, sp, track)
            if track:
                part = 0.0
                for i in range(i0, i0 + nb):
                    o = indptr[i] - base
                    part += _row_terms(sx[o:], indptr[i], indptr[i + 1] - indptr[i], i, indices,
                                       values, offsets, binary, X[i], cw[o:], w0, w0_vec,
                                       w0_by_row, lam[i])
                loss[c] += part
            i0 += nb
