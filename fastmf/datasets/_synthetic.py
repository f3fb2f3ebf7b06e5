"""Deterministic power-law interaction matrices with planted low-rank structure."""

import numpy as np
import scipy.sparse as sp

from ..core import _validation as v


def _zipf_cdf(size, exponent):
    w = (np.arange(1, size + 1, dtype=np.float64)) ** -exponent
    c = np.cumsum(w)
    return c / c[-1]


def _merge_counts(k1, c1, k2, c2):
    keys = np.concatenate([k1, k2])
    counts = np.concatenate([c1, c2])
    uniq, inv = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inv, weights=counts).astype(np.int64)


def make_synthetic(n_users=10_000, n_items=2_000, nnz=200_000, *, kind="implicit",
                   topics=32, topic_affinity=0.8, user_exponent=0.6, item_exponent=0.9,
                   noise=0.5, dtype=np.float32, random_state=0):
    """A sparse users x items matrix shaped like real feedback data.

    User activity and item popularity follow Zipf laws (a few users and items hold most
    entries). Structure is planted through ``topics``: every user and item belongs to one
    topic, and a user picks an item of their own topic with probability
    ``topic_affinity`` (else any item by global popularity), so the matrix has a low-rank
    signal a factorization can recover. Repeated draws of a pair merge into one entry, and
    drawing goes on until the matrix holds exactly ``nnz`` entries; only settings close to
    dense (where popular pairs are drawn over and over) may stop short after 20 rounds.

    Parameters
    ----------
    n_users, n_items, nnz : int
        Shape and number of stored entries.
    kind : {'implicit', 'explicit'}
        'implicit': values are interaction counts (1 + Poisson). 'explicit': integer
        ratings 1..5 from user and item biases, a topic-match bonus and Gaussian ``noise``.
    topics : int
        Number of planted topics (the rank of the signal).
    topic_affinity : float in [0, 1]
    user_exponent, item_exponent : float
        Zipf exponents of user activity and item popularity.
    noise : float
        Rating noise (explicit only).
    dtype : float32 or float64
    random_state : int or numpy.random.Generator
        The same seed gives the same matrix.

    Returns
    -------
    scipy.sparse.csr_array of shape (n_users, n_items), canonical (sorted, no duplicates).
    """
    owner = "make_synthetic"
    n_users = v.check_int(owner, "n_users", n_users, low=1)
    n_items = v.check_int(owner, "n_items", n_items, low=1)
    nnz = v.check_int(owner, "nnz", nnz, low=0)
    kind = v.check_option(owner, "kind", kind, ("implicit", "explicit"))
    topics = v.check_int(owner, "topics", topics, low=1, high=n_items)
    topic_affinity = v.check_float(owner, "topic_affinity", topic_affinity, low=0, high=1)
    v.check_float(owner, "user_exponent", user_exponent, low=0)
    v.check_float(owner, "item_exponent", item_exponent, low=0)
    noise = v.check_float(owner, "noise", noise, low=0)
    dtype = v.check_dtype(owner, dtype)
    rng = v.make_rng(random_state)

    # Random relabelling so that id order carries no popularity information.
    user_perm = rng.permutation(n_users)
    item_perm = rng.permutation(n_items)
    user_topic = rng.integers(0, topics, n_users)

    # Items: topic t owns the contiguous popularity-ranked block [bounds[t], bounds[t + 1]).
    bounds = np.linspace(0, n_items, topics + 1).astype(np.int64)
    item_cdf = _zipf_cdf(n_items, item_exponent)
    # Popularity ranks are dealt round-robin to topics so every topic has popular items.
    rank_to_item = np.argsort(np.arange(n_items) % topics, kind="stable")
    item_topic = np.empty(n_items, np.int64)
    item_topic[rank_to_item] = np.arange(n_items) % topics

    user_cdf = _zipf_cdf(n_users, user_exponent)
    nnz = min(nnz, n_users * n_items)

    def draw(count):
        users = np.minimum(np.searchsorted(user_cdf, rng.random(count)), n_users - 1)
        in_topic = rng.random(count) < topic_affinity
        items = np.minimum(np.searchsorted(item_cdf, rng.random(count)), n_items - 1)
        # In-topic draws: a Zipf-like rank inside the user's topic block.
        t = user_topic[users[in_topic]]
        size = bounds[t + 1] - bounds[t]
        local = np.minimum((rng.random(t.shape[0]) ** (1 + item_exponent) * size)
                           .astype(np.int64), size - 1)
        items[in_topic] = rank_to_item[bounds[t] + local]
        return users.astype(np.int64) * n_items + items

    # Repeated draws merge into one entry (its count); draw until nnz distinct pairs exist,
    # then keep exactly nnz of them.
    keys, counts = np.unique(draw(nnz), return_counts=True)
    for _ in range(20):
        if keys.shape[0] >= nnz:
            break
        more = draw(int((nnz - keys.shape[0]) * 1.3) + 16)
        keys, counts = _merge_counts(keys, counts, *np.unique(more, return_counts=True))
    if keys.shape[0] > nnz:
        keep = np.sort(rng.choice(keys.shape[0], nnz, replace=False))
        keys, counts = keys[keep], counts[keep]
    rows = user_perm[keys // n_items]
    cols = item_perm[keys % n_items]
    A = sp.csr_array((counts.astype(dtype), (rows, cols)), shape=(n_users, n_items))
    A.sum_duplicates()
    counts = A.data
    # Values from the planted structure, per stored entry.
    row_of = np.repeat(np.arange(n_users), np.diff(A.indptr))
    inv_user = np.empty(n_users, np.int64)
    inv_user[user_perm] = np.arange(n_users)
    inv_item = np.empty(n_items, np.int64)
    inv_item[item_perm] = np.arange(n_items)
    match = user_topic[inv_user[row_of]] == item_topic[inv_item[A.indices]]
    if kind == "implicit":
        A.data = (counts + rng.poisson(np.where(match, 2.0, 0.5))).astype(dtype)
    else:
        user_bias = rng.normal(0, 0.4, n_users)
        item_bias = rng.normal(0, 0.4, n_items)
        raw = (3.4 + user_bias[row_of] + item_bias[A.indices] + 0.9 * match
               + rng.normal(0, noise, A.nnz))
        A.data = np.clip(np.rint(raw), 1, 5).astype(dtype)
    # 32-bit indices while they fit: half the index memory, and what real loaders produce.
    if A.nnz < 2**31 and max(A.shape) < 2**31:
        A.indptr = A.indptr.astype(np.int32)
        A.indices = A.indices.astype(np.int32)
    return A
