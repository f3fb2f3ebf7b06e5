"""Negative sampling for the ranking-loss SGD kernels: alias tables (O(1) draws from any
distribution, e.g. popularity), per-user Bloom filters of the seen items in front of a
binary search, and the in-block shuffle. See :mod:`fastmf._kernels.sgd_ranking`."""

from collections import namedtuple

import numpy as np
from numba import njit

from .sgd import _xorshift

Negatives = namedtuple("Negatives", ["prob", "alias", "seen_indptr", "seen_indices", "tries",
                                     "filter_ptr", "filter_words"])
Negatives.__doc__ = """How the kernels draw negative items.

prob, alias : float64 and int64 arrays of length n_items (:func:`alias_table`), or both of
    length 0 for uniform draws.
seen_indptr, seen_indices : the training matrix as CSR (sorted indices; same index dtype),
    or both of length 0 to accept any drawn item.
tries : int >= 1, draws per negative before the sample is skipped (with the seen check).
filter_ptr, filter_words : a per-user Bloom filter of the seen items (:func:`seen_filter`)
    that answers most checks with one load, or both of length 0 (binary search only).
"""


# ----------------------------------------------------------------------------- preparation
def alias_table(weights):
    """Walker's alias table for drawing ``j`` with probability ``weights[j] / sum``.

    Returns ``(prob, alias)`` (float64, int64). A draw takes ``r`` uniform in [0, 1):
    ``t = r * n``, ``j = int(t)``; keep ``j`` if ``t - j < prob[j]``, else take
    ``alias[j]``. Items of weight 0 are never drawn.
    """
    w = np.asarray(weights, np.float64)
    n = w.shape[0]
    total = w.sum()
    if n == 0 or not np.isfinite(total) or total <= 0 or np.any(w < 0):
        raise ValueError("alias_table needs finite non-negative weights with a positive sum")
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int64)
    _fill_alias(w * (n / total), prob, alias)
    return prob, alias


@njit(cache=True)
def _fill_alias(scaled, prob, alias):
    """Vose's method: pair each item below the mean with one above it."""
    n = scaled.shape[0]
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    n_small = 0
    n_large = 0
    for j in range(n):
        if scaled[j] < 1.0:
            small[n_small] = j
            n_small += 1
        else:
            large[n_large] = j
            n_large += 1
    while n_small > 0 and n_large > 0:
        n_small -= 1
        s = small[n_small]
        g = large[n_large - 1]
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] -= 1.0 - scaled[s]
        if scaled[g] < 1.0:
            n_large -= 1
            small[n_small] = g
            n_small += 1
    # What is left is 1 up to rounding: prob and alias keep their initial 1 and j.


def uniform_negatives(seen_indptr=None, seen_indices=None, tries=3):
    """A :class:`Negatives` drawing uniformly (with the seen check when the CSR is given)."""
    return _negatives(np.zeros(0), np.zeros(0, np.int64), seen_indptr, seen_indices, tries)


def _negatives(prob, alias, seen_indptr, seen_indices, tries):
    if seen_indptr is None:
        seen_indptr = np.zeros(0, np.int64)
        seen_indices = np.zeros(0, np.int64)
        filter_ptr, words = np.zeros(0, np.int64), np.zeros(0, np.uint64)
    else:
        filter_ptr, words = seen_filter(seen_indptr, seen_indices)
    return Negatives(prob, alias, seen_indptr, seen_indices, int(tries), filter_ptr, words)


# Bits of Bloom filter per seen item: with two bits set per item in one 64-bit word, about
# 5% of the unseen items pass the filter and go on to the binary search.
_FILTER_BITS = 8


def seen_filter(indptr, indices):
    """A Bloom filter of each user's items: user i owns ``words[ptr[i]:ptr[i + 1]]``
    (about ``_FILTER_BITS`` bits per item, at least one word), and item k sets two bits of
    one word (:func:`_filter_probe`). An item not in the row fails the probe with
    probability about 0.95; an item in the row always passes.

    Why: checking a sampled item against the user's row by binary search is a chain of
    dependent loads over a row that is rarely in cache (about 80 ns a check on a power-law
    matrix of 5.7M entries, as long as the rest of a BPR step); the user's filter words are
    one load, and the filters of a band of users fit in L2.
    """
    indptr = np.asarray(indptr)
    row_nnz = np.diff(indptr).astype(np.int64)
    ptr = np.zeros(row_nnz.shape[0] + 1, np.int64)
    np.cumsum(np.maximum(1, -(-row_nnz * _FILTER_BITS // 64)), out=ptr[1:])
    words = np.zeros(ptr[-1], np.uint64)
    _fill_filter(indptr, indices, ptr, words)
    return ptr, words


@njit(cache=True, inline="always")
def _filter_probe(k, n_words):
    """(word, bit mask) of item k in a filter of ``n_words`` words: from a multiplicative
    hash, the top 12 bits pick two bits and the next 32 the word (by multiply and shift,
    not a division)."""
    h = np.uint64(k) * np.uint64(0x9E3779B97F4A7C15)
    mask = (np.uint64(1) << (h >> np.uint64(58))) | (np.uint64(1) << ((h >> np.uint64(52))
                                                                      & np.uint64(63)))
    slot = (((h >> np.uint64(20)) & np.uint64(0xFFFFFFFF)) * np.uint64(n_words)) >> np.uint64(32)
    return np.int64(slot), mask


@njit(cache=True)
def _fill_filter(indptr, indices, ptr, words):
    for i in range(ptr.shape[0] - 1):
        n_words = ptr[i + 1] - ptr[i]
        for idx in range(indptr[i], indptr[i + 1]):
            slot, mask = _filter_probe(indices[idx], n_words)
            words[ptr[i] + slot] |= mask


def popularity_negatives(col_nnz, beta=1.0, seen_indptr=None, seen_indices=None, tries=3):
    """A :class:`Negatives` drawing item j with probability proportional to
    ``col_nnz[j] ** beta`` (items never seen get 0 with beta > 0)."""
    prob, alias = alias_table(np.asarray(col_nnz, np.float64) ** beta)
    return _negatives(prob, alias, seen_indptr, seen_indices, tries)


def item_visits(col_nnz, nnz, per_entry, neg_prob=None):
    """Expected visits of each item in an epoch: ``col_nnz[j]`` as a positive plus
    ``per_entry * nnz * q_j`` as a sampled negative (``q`` = ``neg_prob``, the sampling
    probabilities, uniform when None; draws rejected as seen are ignored). As ``col_div``
    it spreads each item's ridge penalty over its visits. At least 1."""
    n = np.asarray(col_nnz).shape[0]
    q = np.full(n, 1.0 / max(n, 1)) if neg_prob is None else np.asarray(neg_prob, float)
    return np.maximum(np.asarray(col_nnz, np.float64) + per_entry * nnz * q, 1.0)


def warp_rank_weights(n_items):
    """``L[r] = sum_{q=1}^{r} 1/q`` for r = 0 .. n_items - 1 (``L[0] = 0``)."""
    out = np.zeros(max(n_items, 1))
    if n_items > 1:
        out[1:] = np.cumsum(1.0 / np.arange(1, n_items))
    return out


# ----------------------------------------------------------------------------- pieces
@njit(cache=True, inline="always")
def _draw_item(state, n, prob, alias):
    """One item: uniform over [0, n) or, with an alias table, from its distribution."""
    state, r = _xorshift(state)
    t = r * n
    j = min(int(t), n - 1)
    if prob.shape[0] > 0 and t - j >= prob[j]:
        j = alias[j]
    return state, j


@njit(cache=True, inline="always")
def _in_sorted(ids, start, stop, j):
    """Whether ``j`` is in ``ids[start:stop]`` (ascending). Branch-free halving (the
    comparison selects, it does not jump): a binary search with branches mispredicts at
    nearly every step, and this check runs once per sampled item."""
    n = stop - start
    if n <= 0:
        return False
    base = start
    while n > 1:
        half = n >> 1
        base = base + half if ids[base + half] <= j else base
        n -= half
    return ids[base] == j


@njit(cache=True, inline="always")
def _draw_negative(state, i, n, sampler):
    """A negative item for user ``i``: (state, item, whether it is usable). Redrawn while
    in the user's row, ``sampler.tries`` draws in all."""
    state, k = _draw_item(state, n, sampler.prob, sampler.alias)
    if sampler.seen_indptr.shape[0] == 0:
        return state, k, True
    for t in range(sampler.tries):
        if t > 0:
            state, k = _draw_item(state, n, sampler.prob, sampler.alias)
        if not _seen(sampler, i, k):
            return state, k, True
    return state, k, False


@njit(cache=True, inline="always")
def _seen(sampler, i, k):
    """Whether user i has item k: the Bloom filter first, the row itself if it passes."""
    if sampler.filter_ptr.shape[0] > 0:
        start = sampler.filter_ptr[i]
        slot, mask = _filter_probe(k, sampler.filter_ptr[i + 1] - start)
        if sampler.filter_words[start + slot] & mask != mask:
            return False
    return _in_sorted(sampler.seen_indices, sampler.seen_indptr[i], sampler.seen_indptr[i + 1],
                      k)
