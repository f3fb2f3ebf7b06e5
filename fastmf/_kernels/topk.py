"""Parallel top-k over a block of dense scores, with seen items removed."""

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _better(s1, i1, s2, i2):
    # Higher score first; equal scores: lower item id first (deterministic ties).
    return s1 > s2 or (s1 == s2 and i1 < i2)


@njit(cache=True)
def _sift_down(hs, hi, pos, size):
    # Min-heap on the "worse first" order: the root is the worst kept candidate.
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        worst = left
        right = left + 1
        if right < size and _better(hs[worst], hi[worst], hs[right], hi[right]):
            worst = right
        if _better(hs[pos], hi[pos], hs[worst], hi[worst]):
            hs[pos], hs[worst] = hs[worst], hs[pos]
            hi[pos], hi[worst] = hi[worst], hi[pos]
            pos = worst
        else:
            return


@njit(cache=True)
def _topk_row(scores, exclude, n_exclude, out_ids, out_scores):
    """Best ``k = len(out_ids)`` entries of ``scores`` outside ``exclude[:n_exclude]``.

    ``exclude`` must be sorted. Slots beyond the number of candidates hold id -1 and
    score -inf.
    """
    k = out_ids.shape[0]
    n = scores.shape[0]
    # np.intp(0), not the literal 0: a literal argument compiles _sift_down a second time
    root = np.intp(0)
    size = np.intp(0)
    e = 0
    for j in range(n):
        while e < n_exclude and exclude[e] < j:
            e += 1
        if e < n_exclude and exclude[e] == j:
            continue
        s = scores[j]
        if size < k:
            # Sift up.
            pos = size
            out_scores[pos] = s
            out_ids[pos] = j
            size += 1
            while pos > 0:
                parent = (pos - 1) // 2
                if _better(out_scores[parent], out_ids[parent], out_scores[pos], out_ids[pos]):
                    out_scores[parent], out_scores[pos] = out_scores[pos], out_scores[parent]
                    out_ids[parent], out_ids[pos] = out_ids[pos], out_ids[parent]
                    pos = parent
                else:
                    break
        elif _better(s, j, out_scores[0], out_ids[0]):
            out_scores[0] = s
            out_ids[0] = j
            _sift_down(out_scores, out_ids, root, size)
    # Heap sort: repeatedly move the worst kept candidate to the end.
    for end in range(size - 1, 0, -1):
        out_scores[0], out_scores[end] = out_scores[end], out_scores[0]
        out_ids[0], out_ids[end] = out_ids[end], out_ids[0]
        _sift_down(out_scores, out_ids, root, end)
    for q in range(size, k):
        out_ids[q] = -1
        out_scores[q] = -np.inf


@njit(parallel=True, cache=True)
def _topk_rows(scores, excl_indptr, excl_indices, out_ids, out_scores):
    """Row-wise top-k of ``scores`` (B x n); row ``r`` skips the sorted column ids
    ``excl_indices[excl_indptr[r]:excl_indptr[r + 1]]``."""
    for r in prange(scores.shape[0]):
        start = excl_indptr[r]
        _topk_row(scores[r], excl_indices[start:], excl_indptr[r + 1] - start,
                  out_ids[r], out_scores[r])
