"""Train/test splits of interactions: random holdout, per-user holdout, time-based.

Every split takes :class:`fastmf.Interactions` (or a scipy.sparse matrix, whose row and
column indices then serve as ids), is seeded, and returns a :class:`Split` that unpacks as
``train, test``. Both sides keep the full user and item catalogues, so their matrices have
the same shape and indices. Users and items whose entries all landed in the test side are
reported in ``cold_users`` / ``cold_items`` (and by a warning), never silently dropped: a
model cannot score them from the training data alone.
"""

import warnings

import numpy as np
import scipy.sparse as sp

from ..core import _validation as v
from ._interactions import Interactions

__all__ = ["Split", "by_time", "per_user", "random_holdout"]


class Split:
    """Result of a split: ``train``, ``test`` and the raw ids of cold users and items.

    Unpacks as ``train, test = split``.
    """

    def __init__(self, train, test, cold_users, cold_items):
        self.train, self.test = train, test
        self.cold_users, self.cold_items = cold_users, cold_items

    def __iter__(self):
        return iter((self.train, self.test))

    def __repr__(self):
        return (f"Split(train={self.train!r}, test={self.test!r}, "
                f"cold_users={self.cold_users.size}, cold_items={self.cold_items.size})")


def _as_interactions(data):
    if isinstance(data, Interactions):
        return data, None
    if sp.issparse(data):
        csr = v.check_matrix(data, "data", dtype=np.float64)
        return Interactions.from_matrix(csr.to_scipy()), data.dtype
    raise TypeError(f"data must be fastmf.Interactions or a scipy.sparse matrix; got "
                    f"{type(data).__name__}.")


def _finish(data, is_test, sparse_dtype, warn=True):
    train, test = data.subset(~is_test), data.subset(is_test)
    in_train_u = np.bincount(train.users, minlength=data.n_users) > 0
    in_test_u = np.bincount(test.users, minlength=data.n_users) > 0
    in_train_i = np.bincount(train.items, minlength=data.n_items) > 0
    in_test_i = np.bincount(test.items, minlength=data.n_items) > 0
    cold_users = data.user_ids[in_test_u & ~in_train_u]
    cold_items = data.item_ids[in_test_i & ~in_train_i]
    if warn and (cold_users.size or cold_items.size):
        warnings.warn(f"{cold_users.size} users and {cold_items.size} items have entries only "
                      f"in the test side (see Split.cold_users / cold_items); they are kept "
                      f"there but a model cannot score them from the training data.",
                      UserWarning, stacklevel=3)
    if sparse_dtype is not None:
        train, test = train.to_csr(sparse_dtype), test.to_csr(sparse_dtype)
    return Split(train, test, cold_users, cold_items)


def _check_fraction(name, value):
    return v.check_float("split", name, value, low=0.0, high=1.0, low_open=True)


def random_holdout(data, test_size=0.2, *, random_state=None, warn=True):
    """Hold out ``round(test_size * nnz)`` entries chosen uniformly at random.

    Parameters
    ----------
    data : Interactions or scipy.sparse matrix
    test_size : float in (0, 1]
        Fraction of the entries held out.
    random_state : int, numpy.random.Generator or None
    warn : bool
        Warn when users or items end up only in the test side.

    Returns
    -------
    Split
    """
    data, dtype = _as_interactions(data)
    test_size = _check_fraction("test_size", test_size)
    rng = v.make_rng(v.check_random_state("split", random_state))
    n_test = int(np.floor(test_size * data.nnz + 0.5))
    is_test = np.zeros(data.nnz, dtype=bool)
    is_test[rng.permutation(data.nnz)[:n_test]] = True
    return _finish(data, is_test, dtype, warn)


def _per_user_counts(row_nnz, test_size, k, min_train):
    if (test_size is None) == (k is None):
        raise ValueError("Pass exactly one of test_size (a fraction per user) and k (leave-k-"
                         "out).")
    if k is not None:
        k = v.check_int("split", "k", k, low=1)
        want = np.full(row_nnz.shape, k, dtype=np.int64)
    else:
        test_size = _check_fraction("test_size", test_size)
        want = np.floor(test_size * row_nnz + 0.5).astype(np.int64)
    return np.clip(np.minimum(want, row_nnz - min_train), 0, None)


def _rank_within_user(users, order):
    """Position of each entry inside its user's group, groups ordered by ``order``."""
    ranks = np.empty(users.size, dtype=np.int64)
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, users.size]))
    ranks[order] = np.arange(users.size) - group_start
    return ranks


def per_user(data, test_size=None, *, k=None, min_train=1, random_state=None, warn=True):
    """Hold out, for every user, a fraction of their entries or ``k`` of them at random.

    A user keeps at least ``min_train`` entries in training: a user with ``n`` entries gives
    ``min(round(test_size * n), n - min_train)`` (or ``min(k, n - min_train)``) to the test
    side, and nothing when that is negative.

    Parameters
    ----------
    data : Interactions or scipy.sparse matrix
    test_size : float in (0, 1], optional
        Fraction of each user's entries held out.
    k : int >= 1, optional
        Leave-k-out: entries held out per user. Give ``test_size`` or ``k``.
    min_train : int >= 0
    random_state : int, numpy.random.Generator or None
    warn : bool

    Returns
    -------
    Split
    """
    data, dtype = _as_interactions(data)
    min_train = v.check_int("split", "min_train", min_train, low=0)
    rng = v.make_rng(v.check_random_state("split", random_state))
    row_nnz = np.bincount(data.users, minlength=data.n_users).astype(np.int64)
    n_test = _per_user_counts(row_nnz, test_size, k, min_train)
    order = np.lexsort((rng.random(data.nnz), data.users))
    rank = _rank_within_user(data.users, order)
    is_test = rank < n_test[data.users]
    return _finish(data, is_test, dtype, warn)


def by_time(data, test_size=None, *, cutoff=None, per_user=False, k=None, min_train=1,
            random_state=None, warn=True):
    """Hold out the latest entries by timestamp.

    Globally (default): the latest ``test_size`` fraction of all entries, or every entry
    with a timestamp ``>= cutoff``. Per user (``per_user=True``): each user's latest
    ``test_size`` fraction or latest ``k`` entries, keeping ``min_train`` in training.
    Entries with equal timestamps are ordered at random (seeded).

    Parameters
    ----------
    data : Interactions with timestamps
    test_size : float in (0, 1], optional
    cutoff : int or numpy.datetime64, optional
        Global split only: timestamps at or after it go to the test side.
    per_user : bool
    k : int, optional
        Per user only: leave the latest ``k`` out.
    min_train : int >= 0
        Per user only.
    random_state : int, numpy.random.Generator or None
        Breaks timestamp ties.
    warn : bool

    Returns
    -------
    Split
    """
    if not isinstance(data, Interactions) or data.timestamps is None:
        raise ValueError("by_time needs fastmf.Interactions with timestamps.")
    rng = v.make_rng(v.check_random_state("split", random_state))
    ts = data.timestamps
    tie = rng.random(data.nnz)
    if per_user:
        if cutoff is not None:
            raise ValueError("cutoff applies to the global time split; with per_user=True "
                             "give test_size or k.")
        min_train = v.check_int("split", "min_train", min_train, low=0)
        row_nnz = np.bincount(data.users, minlength=data.n_users).astype(np.int64)
        n_test = _per_user_counts(row_nnz, test_size, k, min_train)
        order = np.lexsort((tie, ts, data.users))
        rank = _rank_within_user(data.users, order)
        is_test = rank >= (row_nnz - n_test)[data.users]
    else:
        if k is not None:
            raise ValueError("k (leave-k-out) applies to per_user=True.")
        if (test_size is None) == (cutoff is None):
            raise ValueError("Pass exactly one of test_size and cutoff.")
        if cutoff is not None:
            c = np.asarray(cutoff)
            if c.dtype.kind == "M":
                c = c.astype("datetime64[s]").astype(np.int64)
            elif c.dtype.kind not in "iuf":
                raise ValueError(f"cutoff must be a number or datetime64; got {cutoff!r}.")
            is_test = ts >= c
        else:
            test_size = _check_fraction("test_size", test_size)
            n_test = int(np.floor(test_size * data.nnz + 0.5))
            order = np.lexsort((tie, ts))
            is_test = np.zeros(data.nnz, dtype=bool)
            is_test[order[data.nnz - n_test:]] = True
    return _finish(data, is_test, None, warn)
