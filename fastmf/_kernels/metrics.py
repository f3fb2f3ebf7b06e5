"""Per-user ranking metrics (binary relevance) and AUC, in parallel over users."""

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _contains(sorted_ids, start, stop, j):
    """Whether ``j`` is in ``sorted_ids[start:stop]`` (ascending), by binary search."""
    lo = start
    hi = stop
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorted_ids[mid] < j:
            lo = mid + 1
        else:
            hi = mid
    return lo < stop and sorted_ids[lo] == j


# Up to this many positives, a user's pairs are counted by a plain scan of the positives
# (it vectorizes; a binary search mispredicts a branch at nearly every step).
_SCAN_MAX = 16


@njit(cache=True)
def _twice_wins(pos, x):
    """2 * #(pos > x) + #(pos == x): twice the pairs that the positives ``pos`` (sorted)
    win against a negative scored ``x``, ties counting one half."""
    n_pos = pos.shape[0]
    if n_pos <= _SCAN_MAX:
        c = 0
        for p in range(n_pos):
            y = pos[p]
            c += 2 * (y > x) + (y == x)
        return c
    # Branch-free binary search for the number of positives <= x.
    base = 0
    size = n_pos
    while size > 1:
        half = size >> 1
        base = base + half if pos[base + half] <= x else base
        size -= half
    at_or_below = base + (1 if pos[base] <= x else 0)
    below = at_or_below
    while below > 0 and pos[below - 1] == x:  # ties are rare
        below -= 1
    return 2 * (n_pos - at_or_below) + (at_or_below - below)


@njit(parallel=True, cache=True)
def _ranking_rows(ids, rows, test_indptr, test_indices, k, out):
    """Hits, precision, recall, nDCG and AP at ``k`` of each user's top-k list.

    Row ``b`` of ``ids`` is the list of user ``rows[b]``, best first; ids < 0 are padding
    and never hit (the list may be narrower than ``k`` when there are fewer items). The
    user's relevant items are ``test_indices[test_indptr[u]:test_indptr[u + 1]]``, sorted,
    at least one. Writes ``out[b] = (hits, precision, recall, ndcg, ap)``.
    """
    width = ids.shape[1]
    for b in prange(ids.shape[0]):
        u = rows[b]
        start = test_indptr[u]
        stop = test_indptr[u + 1]
        denom = min(k, stop - start)
        hits = 0
        dcg = 0.0
        ap = 0.0
        for r in range(width):
            j = ids[b, r]
            if j >= 0 and _contains(test_indices, start, stop, j):
                hits += 1
                dcg += 1.0 / np.log2(r + 2.0)
                ap += hits / (r + 1.0)
        idcg = 0.0
        for r in range(denom):
            idcg += 1.0 / np.log2(r + 2.0)
        out[b, 0] = hits
        out[b, 1] = hits / k
        out[b, 2] = hits / denom
        out[b, 3] = dcg / idcg
        out[b, 4] = ap / denom


@njit(parallel=True, cache=True)
def _auc_rows(scores, rows, train_indptr, train_indices, test_indptr, test_indices, out):
    """Per-user AUC from a block of dense scores.

    Row ``b`` of ``scores`` holds every item's score for user ``u = rows[b]``. Positives are
    the user's test items; negatives the items in neither the user's train row nor test row
    (both sorted). ``out[b]`` is the fraction of (positive, negative) pairs with the positive
    scored higher, ties counting 1/2, or NaN when the user has no positive or no negative.
    """
    n = scores.shape[1]
    for b in prange(scores.shape[0]):
        u = rows[b]
        t0 = test_indptr[u]
        t1 = test_indptr[u + 1]
        n_pos = t1 - t0
        row = scores[b]
        pos = np.empty(n_pos, scores.dtype)
        for p in range(n_pos):
            pos[p] = row[test_indices[t0 + p]]
        pos = np.sort(pos)
        # Count against every item, then take back the items that are not negatives (the
        # user's test items and train-only items, a short list): the long loop has no
        # membership test. Integer counts, so the subtraction is exact.
        wins = 0
        for j in range(n):
            wins += _twice_wins(pos, row[j])
        for p in range(t0, t1):
            wins -= _twice_wins(pos, row[test_indices[p]])
        n_neg = n - n_pos
        t = t0
        for s in range(train_indptr[u], train_indptr[u + 1]):
            j = train_indices[s]
            while t < t1 and test_indices[t] < j:
                t += 1
            if not (t < t1 and test_indices[t] == j):
                wins -= _twice_wins(pos, row[j])
                n_neg -= 1
        if n_neg == 0 or n_pos == 0:
            out[b] = np.nan
        else:
            out[b] = wins / (2.0 * n_pos * n_neg)
