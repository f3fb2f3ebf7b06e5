"""Objective terms, accumulated in float64 whatever the factor dtype."""

import numpy as np
from numba import njit, prange

from .weights import _entry_w0, _obs_target, _obs_weight


@njit(parallel=True, cache=True)
def _loss_weighted(indptr, indices, values, X, Y, row_offsets, col_offsets, w0, w0_vec,
                   w0_by_row, row_scale, col_scale, kind, alpha, eps, binary, has_scale,
                   chunks):
    """Observed-entry sums over a CSR matrix.

    Returns per-chunk partial sums of ``sum_obs w_ij (t_ij - pred_ij)^2`` and
    ``sum_obs <x_i, y_j>^2``, where
    ``pred_ij = row_offsets[i] + col_offsets[j] + <x_i, y_j>``. The second sum lets the
    caller turn ``sum_i x_i^T G x_i`` into the sum over unobserved entries (Gram trick).
    With per-item unobserved weights (``w0_vec`` not empty, see ``_entry_w0``) the second
    sum is ``sum_obs w0_ij <x_i, y_j>^2``, and ``w_ij`` uses ``w0_ij``.
    """
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
