"""Objective terms, accumulated in float64 whatever the factor dtype."""

import numpy as np
from numba import njit, prange

from .shared import FASTMATH, _dot4
from .weights import _entry_w0, _obs_target, _obs_weight


@njit(parallel=True, cache=True)
def _loss_weighted(csr, X, Y, row_offsets, col_offsets, weighting, chunks):
    """Observed-entry sums over a CSR matrix (``csr``, a ``CsrRows``; ``weighting``, a
    ``KernelWeighting``).

    Returns per-chunk partial sums of ``sum_obs w_ij (t_ij - pred_ij)^2`` and
    ``sum_obs <x_i, y_j>^2``, where
    ``pred_ij = row_offsets[i] + col_offsets[j] + <x_i, y_j>``. The second sum lets the
    caller turn ``sum_i x_i^T G x_i`` into the sum over unobserved entries (Gram trick).
    With per-item unobserved weights (``w0_vec`` not empty, see ``_entry_w0``) the second
    sum is ``sum_obs w0_ij <x_i, y_j>^2``, and ``w_ij`` uses ``w0_ij``.
    """
    indptr, indices, values = csr
    (w0, w0_vec, w0_by_row, row_scale, col_scale, kind, alpha, eps, binary,
     has_scale) = weighting
    per_entry = w0_vec.shape[0] > 0
    k = X.shape[1]
    n_chunks = chunks.shape[0] - 1
    obs = np.zeros(n_chunks)
    sq = np.zeros(n_chunks)
    for c in prange(n_chunks):
        so = 0.0
        ss = 0.0
        for i in range(chunks[c], chunks[c + 1]):
            x = X[i]
            ro = float(row_offsets[i])
            rs = float(row_scale[i])
            for idx in range(indptr[i], indptr[i + 1]):
                j = indices[idx]
                y = Y[j]
                dot = 0.0
                for a in range(k):
                    dot += float(x[a]) * float(y[a])
                v = float(values[idx])
                if per_entry:
                    w0e = float(_entry_w0(w0, w0_vec, w0_by_row, i, j))
                    w = _obs_weight(v, rs, float(col_scale[j]), w0e, kind, alpha, eps,
                                    has_scale, 1.0)
                    err = _obs_target(v, binary, 1.0) - ro - float(col_offsets[j]) - dot
                    so += w * err * err
                    ss += w0e * dot * dot
                else:
                    w = _obs_weight(v, rs, float(col_scale[j]), w0, kind, alpha, eps,
                                    has_scale, 1.0)
                    err = _obs_target(v, binary, 1.0) - ro - float(col_offsets[j]) - dot
                    so += w * err * err
                    ss += dot * dot
        obs[c] = so
        sq[c] = ss
    # Summed by the caller: an array .sum() here would become a parallel reduction whose
    # rounding depends on the thread count.
    return obs, sq


@njit(cache=True, fastmath=FASTMATH)
def _row_terms(s, start, nnz, i, indices, values, offsets, binary, x, cw, w0, w0_vec,
               w0_by_row, lam_i):
    """A solved row's share of the objective, float64, from its predictions
    ``s[q] = <x, y_q>``: ``sum_q [w_q (t_q - s_q)^2 - w0_q s_q^2] + lam_i ||x||^2`` over the
    row's nonzeros, with ``cw[q] = w_q - w0_q`` as :func:`.weights._row_coefficients` made
    it and ``t_q`` the target less the column's offset. Adding ``x^T G x`` for every row
    gives the objective (Gram trick; the caller sums that part as ``<X^T X, G>``)."""
    by_col = w0_vec.shape[0] > 0 and not w0_by_row   # per-item weight of each column
    w0e = float(w0_vec[i]) if w0_vec.shape[0] > 0 and w0_by_row else float(w0)
    total = 0.0
    for q in range(nnz):
        j = indices[start + q]
        if by_col:
            w0e = float(w0_vec[j])
        sq = float(s[q])
        t = (1.0 if binary else float(values[start + q])) - float(offsets[j])
        e = t - sq
        total += (float(cw[q]) + w0e) * e * e - w0e * sq * sq
    sx = 0.0
    for a in range(x.shape[0]):
        sx += float(x[a]) * float(x[a])
    return total + float(lam_i) * sx


@njit(cache=True, fastmath=FASTMATH)
def _row_objective(start, nnz, i, indices, values, offsets, binary, Y, x, cw, w0, w0_vec,
                   w0_by_row, lam_i, s):
    """:func:`_row_terms` with the predictions computed here (into the scratch ``s``), four
    dot products at a time (independent, so they overlap)."""
    k = x.shape[0]
    q = 0
    # Kept also in wals.py's _sparse_update on purpose: there the axpy reuses the rows.
    while q + 4 <= nnz:
        y0 = Y[indices[start + q]]
        y1 = Y[indices[start + q + 1]]
        y2 = Y[indices[start + q + 2]]
        y3 = Y[indices[start + q + 3]]
        s0, s1, s2, s3 = _dot4(y0, y1, y2, y3, x, k, x[0] - x[0])
        s[q] = s0
        s[q + 1] = s1
        s[q + 2] = s2
        s[q + 3] = s3
        q += 4
    while q < nnz:
        y = Y[indices[start + q]]
        st = x[0] - x[0]
        for a in range(k):
            st += y[a] * x[a]
        s[q] = st
        q += 1
    return _row_terms(s, start, nnz, i, indices, values, offsets, binary, x, cw, w0, w0_vec,
                      w0_by_row, lam_i)
