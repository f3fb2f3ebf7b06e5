"""What a fitted factor model answers: predictions, top-k recommendations, similar items,
with raw ids in and out when the model was fitted on raw ids.

Ids: a model fitted on :class:`fastmf.Interactions` (or a DataFrame) holds ``user_ids_``
and ``item_ids_``. Its methods then take and return raw ids by default (``ids='auto'``);
``ids='index'`` switches a call to row/column indices (0 .. n-1), ``ids='raw'`` insists
on raw ids. The mode is set by the model and the argument, never guessed from the values,
so integer raw ids (MovieLens' 1 .. 943) are never mistaken for indices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import functools
import threading

import numpy as np

from ..core import _validation as v
from ..data._ids import lookup_ids
from .._kernels.topk import _topk_rows
from ..core._threads import thread_context

if TYPE_CHECKING:
    import scipy.sparse as sp
    from numpy.typing import ArrayLike


# Dense score blocks in recommend / similar_items are kept under this many bytes.
SCORE_BLOCK_BYTES = 64 * 2**20
ID_MODES = ("auto", "raw", "index")


class NotFittedError(RuntimeError):
    """A method that needs a fitted model was called before ``fit``."""


_LOCK_GUARD = threading.Lock()

#: what a fit publishes: every attribute of the fitted state
STATE = ("user_factors", "item_factors", "user_biases", "item_biases", "global_mean",
         "user_ids_", "item_ids_", "history_", "_seen", "_seen_values", "_grams",
         "_optimizer",
         "_weighting", "_fit_params", "resolved_params_")


def fitting(method):
    """Run ``method`` (a fit) holding the model's fit lock: two fits of one model run one
    after the other. Reads never take it."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._model_lock():
            return method(self, *args, **kwargs)
    return wrapper


def reads(method):
    """Run ``method`` (a read) on a snapshot of the model: the fitted state as it was when
    the call began, taken in one step (a fit publishes its state in one step too), so
    reads run concurrently with each other and with a fit."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return method(self._snapshot(), *args, **kwargs)
    return wrapper


class Scoring:
    """predict / recommend / similar_items over ``user_factors`` and ``item_factors``.

    Thread safety: reads (``predict``, ``recommend``, ``similar_items``, ``fold_in``,
    ``objective``, ``save``) work on a snapshot of the fitted state and run concurrently,
    with each other and with a fit; a fit builds its state on a working copy and publishes
    it in one step, so a read sees the old model or the new one, never a mix. Fits of one
    model run one at a time. (The parallel kernels of concurrent calls run at the same
    time under Numba's 'omp' and 'tbb' threading layers; under 'workqueue', which does not
    support concurrent callers, they take turns: see :func:`fastmf.core._threads.thread_context`.)
    """

    def _model_lock(self):
        lock = self.__dict__.get("_rlock")
        if lock is None:
            with _LOCK_GUARD:
                lock = self.__dict__.setdefault("_rlock", threading.RLock())
        return lock

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_rlock", None)
        return state

    def _snapshot(self):
        """A shallow copy of the model: parameters and fitted state as they are now."""
        view = object.__new__(type(self))
        view.__dict__.update(self.__getstate__())
        return view

    def _working_copy(self):
        """The model a fit works on (its state is published with :meth:`_publish`)."""
        return self._snapshot()

    def _publish(self, work):
        """Make ``work``'s fitted state this model's, in one dict update (atomic for
        other threads: they see all of it or none)."""
        self.__dict__.update({name: getattr(work, name) for name in STATE})

    # ------------------------------------------------------------------ ids
    def _raw_mode(self, ids):
        mode = v.check_option(type(self).__name__, "ids", ids, ID_MODES)
        if mode == "raw" and self.user_ids_ is None:
            raise ValueError(f"ids='raw' needs a model fitted on raw ids (fastmf.Interactions "
                             f"or a DataFrame); this {type(self).__name__} was fitted on a "
                             f"matrix and takes indices.")
        return mode == "raw" or (mode == "auto" and self.user_ids_ is not None)

    def _user_rows(self, users, raw):
        try:
            if raw:
                return lookup_ids(self.user_ids_, users, "users")
            return v.check_ids("users", users, self.n_users)
        except KeyError as exc:
            raise KeyError(f"{exc.args[0]} For users outside the model, pass their "
                           f"interactions instead of their ids: recommend(Interactions or a "
                           f"DataFrame of their rows) folds them in; partial_fit adds them "
                           f"to the model.") from None

    def _item_rows(self, items, raw):
        if raw:
            return lookup_ids(self.item_ids_, items, "items")
        return v.check_ids("items", items, self.n_items)

    def _item_out(self, ids, raw):
        """Item indices -> raw item ids (padding slots, score -inf, get a fill value: -1
        for integer ids, '' for string ids)."""
        if not raw:
            return ids
        cat = self.item_ids_
        out = cat[np.maximum(ids, 0)] if cat.size else np.zeros(ids.shape, cat.dtype)
        if np.any(ids < 0):
            out[ids < 0] = -1 if cat.dtype.kind in "iu" else ""
        return out

    # ------------------------------------------------------------------ scoring
    @reads
    def predict(self, users: ArrayLike, items: ArrayLike, *,
                ids: Literal["auto", "raw", "index"] = "auto") -> np.ndarray:
        """Predicted value :math:`\\hat a_{ij}` for each pair ``(users[q], items[q])``.

        Parameters
        ----------
        users, items : array-like, same length
            Raw ids (a model fitted on raw ids) or indices (see ``ids``).
        ids : {'auto', 'raw', 'index'}
            How ``users`` and ``items`` are read: 'auto' is 'raw' for a model fitted on
            raw ids and 'index' otherwise.

        Returns
        -------
        ndarray of shape (len(users),), float64.
        """
        self._check_fitted()
        raw = self._raw_mode(ids)
        users = self._user_rows(users, raw)
        items = self._item_rows(items, raw)
        if users.shape != items.shape:
            raise ValueError(f"users and items must have the same length; got {users.size} "
                             f"and {items.size}.")
        U = self.user_factors[users].astype(np.float64)
        V = self.item_factors[items].astype(np.float64)
        out = np.einsum("ij,ij->i", U, V)
        if self.user_biases is not None:
            out += self.global_mean + self.user_biases[users] + self.item_biases[items]
        return out

    def _topk(self, queries, targets, k, exclude, col_offsets=None):
        """Top-k of ``queries @ targets.T`` row by row, in bounded blocks.

        ``exclude(start, stop)`` returns (indptr, indices) of sorted column ids to skip.
        """
        n = targets.shape[0]
        q = queries.shape[0]
        from ..core._memory import check_memory
        check_memory(q * k * (8 + targets.itemsize) + min(SCORE_BLOCK_BYTES,
                                                         q * n * targets.itemsize),
                     f"the top {k} of {q:,} rows", "ask for fewer rows or a smaller k per "
                     "call")
        out_ids = np.empty((q, k), dtype=np.int64)
        scores = np.empty((q, k), dtype=targets.dtype)
        block = max(1, min(q, SCORE_BLOCK_BYTES // max(1, n * targets.itemsize)))
        with thread_context(self._threads()):
            for start in range(0, q, block):
                stop = min(q, start + block)
                s = queries[start:stop] @ targets.T
                if col_offsets is not None:
                    s += col_offsets
                ex_ptr, ex_idx = exclude(start, stop)
                _topk_rows(s, ex_ptr, ex_idx, out_ids[start:stop], scores[start:stop])
        return out_ids, scores

    @reads
    def recommend(self, users: ArrayLike, A: sp.sparray | sp.spmatrix | None = None,
                  k: int = 10, filter_seen: bool = True, *,
                  ids: Literal["auto", "raw", "index"] = "auto", as_frame: bool = False,
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items for each user, best first.

        Parameters
        ----------
        users : array-like, or the interactions of users outside the model
            Raw user ids (a model fitted on raw ids) or user indices (see ``ids``). Or
            the interaction rows of users the model has not seen -- a scipy.sparse matrix
            over the model's items, or :class:`fastmf.Interactions` / a DataFrame with
            columns user, item (and value) in raw ids: they are folded in (one exact row
            solve each, :meth:`fold_in`), scored with the biases, and their own items are
            filtered out with ``filter_seen``.
        A : scipy.sparse matrix, shape (n_users, n_items), optional
            Interactions whose stored entries are removed from the recommendations when
            ``filter_seen``; defaults to the training matrix.
        k : int
            Number of items per user. When fewer than ``k`` items remain after filtering,
            the remaining slots hold score -inf and id -1 ('' for string raw ids).
        filter_seen : bool
            Remove the items each user already has in ``A``.
        ids : {'auto', 'raw', 'index'}
            'auto': raw ids in and out for a model fitted on raw ids, indices otherwise.
        as_frame : bool
            Return a pandas DataFrame in long format instead: one row per recommendation
            with columns user, item, score, rank (1 = best), in the order of ``users``;
            no rows for the empty slots when fewer than ``k`` items remain.

        Returns
        -------
        ids : ndarray of shape (len(users), k)
            Raw item ids, or item indices (int64).
        scores : ndarray of shape (len(users), k)
            Predicted values; ties are broken by the lower item index.
        """
        self._check_fitted()
        as_frame = v.check_bool("recommend", "as_frame", as_frame)
        if _interaction_rows(users):
            labels, top, scores = self._recommend_rows(users, k, filter_seen, ids)
            return _frame(labels, top, scores) if as_frame else (top, scores)
        top, scores = self._recommend(users, A, k, filter_seen, ids)
        if as_frame:
            return _frame(np.asarray(users) if np.ndim(users) else np.asarray([users]),
                          top, scores)
        return top, scores

    def _recommend_rows(self, rows, k, filter_seen, ids):
        """(user labels, ids, scores) for users outside the model, from their rows."""
        raw = self._raw_mode(ids)
        k = v.check_int("recommend", "k", k, low=1)
        filter_seen = v.check_bool("recommend", "filter_seen", filter_seen)
        rows = self._as_input(rows)
        labels = getattr(rows, "user_ids", None)
        csr = v.check_matrix(self._rows_by_item_id(rows), "users", dtype=np.float64,
                             shape=(None, self.n_items))
        labels = np.arange(csr.shape[0]) if labels is None else labels
        seen_sp = csr.to_scipy()
        X, b = self.fold_in(seen_sp, return_biases=True)

        def exclude(start, stop):
            if not filter_seen:
                return np.zeros(stop - start + 1, np.int64), np.zeros(1, np.int64)
            sub = seen_sp[start:stop]
            return sub.indptr.astype(np.int64), sub.indices.astype(np.int64)

        offsets = None
        if self.user_biases is not None:
            offsets = self.item_biases.astype(self.item_factors.dtype)
        top, scores = self._topk(X.astype(self.item_factors.dtype), self.item_factors,
                                 min(k, self.n_items), exclude, offsets)
        if self.user_biases is not None:
            scores += (self.global_mean + b)[:, None].astype(scores.dtype)
        top, scores = _pad(top, scores, k)
        return labels, self._item_out(top, raw), scores

    def _recommend(self, users, A, k, filter_seen, ids):
        raw = self._raw_mode(ids)
        users = self._user_rows(users, raw)
        k = v.check_int("recommend", "k", k, low=1)
        filter_seen = v.check_bool("recommend", "filter_seen", filter_seen)
        n = self.n_items
        if filter_seen:
            if A is None:
                seen = self._seen
                if seen is None:
                    raise ValueError("filter_seen=True needs the interactions to filter: pass A "
                                     "(this model does not hold its training matrix).")
            else:
                seen = v.check_matrix(A, "A", dtype=np.float32,
                                      shape=(self.n_users, self.n_items))
            seen_sp = seen.to_scipy()

            def exclude(start, stop):
                sub = seen_sp[users[start:stop]]
                return sub.indptr.astype(np.int64), sub.indices.astype(np.int64)
        else:
            def exclude(start, stop):
                return np.zeros(stop - start + 1, np.int64), np.zeros(1, np.int64)

        queries = self.user_factors[users]
        offsets = None
        if self.user_biases is not None:
            offsets = self.item_biases.astype(self.item_factors.dtype)
        top, scores = self._topk(queries, self.item_factors, min(k, n), exclude, offsets)
        if self.user_biases is not None:
            scores += (self.global_mean + self.user_biases[users])[:, None].astype(
                scores.dtype)
        top, scores = _pad(top, scores, k)
        return self._item_out(top, raw), scores

    @reads
    def similar_items(self, items: ArrayLike, k: int = 10, *,
                      ids: Literal["auto", "raw", "index"] = "auto",
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items whose factors have the highest cosine similarity to each item.

        The item itself is left out. ``items`` and the returned ids are raw ids or indices
        as in :meth:`recommend`. Returns ``(ids, similarities)``, each of shape
        (len(items), k), best first.
        """
        self._check_fitted()
        raw = self._raw_mode(ids)
        items = self._item_rows(items, raw)
        k = v.check_int("similar_items", "k", k, low=1)
        V = self.item_factors
        norms = np.linalg.norm(V, axis=1)
        Vn = V / np.where(norms > 0, norms, 1)[:, None].astype(V.dtype)

        def exclude(start, stop):
            return (np.arange(stop - start + 1, dtype=np.int64),
                    np.ascontiguousarray(items[start:stop]))

        top, sims = self._topk(Vn[items], Vn, min(k, max(1, self.n_items - 1)), exclude)
        top, sims = _pad(top, sims, k)
        return self._item_out(top, raw), sims


def _interaction_rows(users):
    """Whether ``recommend``'s first argument holds interaction rows, not user ids."""
    import scipy.sparse as sp
    from ..data._interactions import Interactions
    return (sp.issparse(users) or isinstance(users, Interactions)
            or (hasattr(users, "columns") and type(users).__name__ == "DataFrame"))


def _frame(users, ids, scores):
    """Long-format recommendations (user, item, score, rank), empty slots left out."""
    import pandas as pd
    k = ids.shape[1]
    keep = np.isfinite(scores).ravel()
    return pd.DataFrame({"user": np.repeat(users, k)[keep], "item": ids.ravel()[keep],
                         "score": scores.ravel()[keep],
                         "rank": np.tile(np.arange(1, k + 1), len(users))[keep]})


def _pad(ids, scores, k):
    if ids.shape[1] == k:
        return ids, scores
    q = ids.shape[0]
    from ..core._memory import check_memory
    check_memory(q * k * (ids.itemsize + scores.itemsize), f"{q:,} rows of top {k:,}",
                 "ask for a smaller k")
    out_ids = np.full((q, k), -1, dtype=ids.dtype)
    out_scores = np.full((q, k), -np.inf, dtype=scores.dtype)
    out_ids[:, :ids.shape[1]] = ids
    out_scores[:, :ids.shape[1]] = scores
    return out_ids, out_scores
