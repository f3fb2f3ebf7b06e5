"""What every fastmf model answers once fitted: scores, recommendations, fold-in, loss, I/O."""

import json
import warnings
from dataclasses import replace

import numpy as np

from . import _validation as v
from ._kernels.partition import _balanced_chunks
from ._kernels.topk import _topk_rows
from ._kernels.wals import _wals_rows_cholesky
from ._objective import check_weighting, objective_value
from ._threads import n_chunks_for, resolve_num_threads, thread_context

# Dense score blocks in recommend / similar_items are kept under this many bytes.
_SCORE_BLOCK_BYTES = 64 * 2**20

_REGISTRY = {}


def _register(cls):
    _REGISTRY[cls.__name__] = cls
    return cls


class NotFittedError(RuntimeError):
    """A method that needs a fitted model was called before ``fit``."""


class FactorModel:
    """Shared surface of the factor models (:class:`fastmf.WALS`, :class:`fastmf.SGD`).

    Subclasses call ``_set_common_params`` (which validates the objective's parameters into
    ``self._weighting``) and store their own parameters in ``__init__``, and implement
    ``fit``.
    """

    #: names of the constructor parameters, in order (subclasses extend this).
    _param_names = ()

    user_factors = None
    item_factors = None
    user_biases = None
    item_biases = None
    global_mean = 0.0
    # Raw ids of the rows and columns when fitted on fastmf.Interactions.
    user_ids_ = None
    item_ids_ = None
    # Structure (indptr, indices) of the training matrix, for recommend's seen-item filter.
    _seen = None

    # ------------------------------------------------------------------ parameters
    def _set_common_params(self, factors, w0, alpha, confidence, epsilon, target,
                           row_weights, col_weights, reg, reg_exponent, biases, dtype,
                           num_threads, random_state):
        """Validate and store the parameters every model shares (the objective's among
        them); raises before anything is stored elsewhere."""
        owner = type(self).__name__
        self.factors = v.check_int(owner, "factors", factors, low=1)
        self._weighting = check_weighting(owner, w0, confidence, alpha, epsilon, target,
                                          reg, reg_exponent, row_weights, col_weights)
        w = self._weighting
        self.w0, self.alpha, self.confidence = w.w0, w.alpha, w.confidence
        self.epsilon, self.target = w.epsilon, w.target
        self.reg, self.reg_exponent = w.reg, w.reg_exponent
        self.row_weights, self.col_weights = w.row_weights, w.col_weights
        self.biases = v.check_bool(owner, "biases", biases)
        if self.biases and w.w0 > 0:
            raise ValueError(f"The 'biases' option of {owner} is for observed-only models "
                             f"(w0 = 0, ratings); got w0 = {w.w0}.")
        self.dtype = v.check_dtype(owner, dtype)
        self.num_threads = num_threads
        self._threads()  # validates num_threads
        self.random_state = v.check_random_state(owner, random_state)
        self.history_ = []

    def get_params(self):
        """Constructor parameters as a dict."""
        return {name: getattr(self, name) for name in self._param_names}

    def __repr__(self):
        args = ", ".join(f"{k}={_short(v_)}" for k, v_ in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ state
    @property
    def is_fitted(self):
        return self.user_factors is not None

    def _forget_fit(self):
        """Back to the unfitted state (a fit that raised leaves no half-fitted model)."""
        self.user_factors = self.item_factors = None
        self.user_biases = self.item_biases = None
        self.user_ids_ = self.item_ids_ = None
        self._seen = None

    def _check_fitted(self):
        if not self.is_fitted:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(A) "
                                 f"first.")

    @property
    def n_users(self):
        self._check_fitted()
        return self.user_factors.shape[0]

    @property
    def n_items(self):
        self._check_fitted()
        return self.item_factors.shape[0]

    def _check_data(self, A, name="A", shape=None, fitting=False):
        """``A`` as validated canonical CSR in the model's dtype, with the row and column
        weights checked against its shape. When ``fitting``, the raw ids of
        :class:`fastmf.Interactions` input are kept as ``user_ids_`` / ``item_ids_``."""
        from ._interactions import Interactions
        if fitting:
            is_inter = isinstance(A, Interactions)
            self.user_ids_ = A.user_ids if is_inter else None
            self.item_ids_ = A.item_ids if is_inter else None
        w = self._weighting
        csr = v.check_matrix(A, name, dtype=self.dtype, nonnegative=w.confidence != "none",
                             shape=shape)
        owner = type(self).__name__
        v.check_weights_vector(owner, "row_weights", w.row_weights, csr.shape[0])
        v.check_weights_vector(owner, "col_weights", w.col_weights, csr.shape[1])
        return csr

    def _threads(self):
        return resolve_num_threads(type(self).__name__, self.num_threads)

    # ------------------------------------------------------------------ scoring
    def predict(self, users, items):
        """Predicted value :math:`\\hat a_{ij}` for each pair ``(users[q], items[q])``.

        Returns
        -------
        ndarray of shape (len(users),), float64.
        """
        self._check_fitted()
        users = v.check_ids("users", users, self.n_users)
        items = v.check_ids("items", items, self.n_items)
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

        ``exclude(block_slice)`` returns (indptr, indices) of sorted column ids to skip.
        """
        n = targets.shape[0]
        q = queries.shape[0]
        ids = np.empty((q, k), dtype=np.int64)
        scores = np.empty((q, k), dtype=targets.dtype)
        block = max(1, min(q, _SCORE_BLOCK_BYTES // max(1, n * targets.itemsize)))
        with thread_context(self._threads()):
            for start in range(0, q, block):
                stop = min(q, start + block)
                s = queries[start:stop] @ targets.T
                if col_offsets is not None:
                    s += col_offsets
                ex_ptr, ex_idx = exclude(start, stop)
                _topk_rows(s, ex_ptr, ex_idx, ids[start:stop], scores[start:stop])
        return ids, scores

    def recommend(self, users, A=None, k=10, filter_seen=True):
        """Top-``k`` items for each user, best first.

        Parameters
        ----------
        users : array-like of int
            User indices.
        A : scipy.sparse matrix, shape (n_users, n_items), optional
            Interactions whose stored entries are removed from the recommendations when
            ``filter_seen``; defaults to the training matrix.
        k : int
            Number of items per user. When fewer than ``k`` items remain after filtering,
            the remaining slots hold id -1 and score -inf.
        filter_seen : bool
            Remove the items each user already has in ``A``.

        Returns
        -------
        ids : ndarray of shape (len(users), k), int64
        scores : ndarray of shape (len(users), k)
            Predicted values; ties are broken by the lower item id.
        """
        self._check_fitted()
        users = v.check_ids("users", users, self.n_users)
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
        ids, scores = self._topk(queries, self.item_factors, min(k, n), exclude, offsets)
        if self.user_biases is not None:
            scores += (self.global_mean + self.user_biases[users])[:, None].astype(
                scores.dtype)
        return _pad(ids, scores, k)

    def similar_items(self, items, k=10):
        """The ``k`` items whose factors have the highest cosine similarity to each item.

        The item itself is left out. Returns ``(ids, similarities)``, each of shape
        (len(items), k), best first.
        """
        self._check_fitted()
        items = v.check_ids("items", items, self.n_items)
        k = v.check_int("similar_items", "k", k, low=1)
        V = self.item_factors
        norms = np.linalg.norm(V, axis=1)
        Vn = V / np.where(norms > 0, norms, 1)[:, None].astype(V.dtype)

        def exclude(start, stop):
            return (np.arange(stop - start + 1, dtype=np.int64),
                    np.ascontiguousarray(items[start:stop]))

        ids, sims = self._topk(Vn[items], Vn, min(k, max(1, self.n_items - 1)), exclude)
        return _pad(ids, sims, k)

    # ------------------------------------------------------------------ fold-in
    def fold_in(self, A_rows, *, row_weights=None, return_biases=False):
        """Factors for new users from their interactions, by one exact row solve.

        Each row is solved against the trained item factors with the model's objective
        (weights, ``w0``, regularization), exactly as a WALS user update: no refit. A
        training user's row reproduces that user's factors when the last update of the fit
        was the user side (it is, for :class:`fastmf.WALS` with ``solver='cholesky'``).

        Parameters
        ----------
        A_rows : scipy.sparse matrix, shape (r, n_items)
        row_weights : array-like of shape (r,), optional
            Row weights of the new users when the model uses frequency weights (default 1).
        return_biases : bool
            Also return the users' biases (models with ``biases=True``).

        Returns
        -------
        factors : ndarray of shape (r, factors)
        biases : ndarray of shape (r,), only with ``return_biases``
        """
        self._check_fitted()
        w = self._weighting
        V = self.item_factors
        dtype = V.dtype
        csr = v.check_matrix(A_rows, "A_rows", dtype=dtype,
                             nonnegative=w.confidence != "none", shape=(None, self.n_items))
        r, n = csr.shape
        rw = v.check_weights_vector("fold_in", "row_weights", row_weights, r)
        w_rows = w
        if w.row_weights is not None or w.col_weights is not None:
            w_rows = replace(w, row_weights=np.ones(r) if rw is None else rw)
        d = V.shape[1]
        has_b = self.user_biases is not None
        if has_b:
            Y = np.concatenate([V, np.ones((n, 1), dtype)], axis=1)
            offsets = (self.global_mean + self.item_biases).astype(dtype)
        else:
            Y = V
            offsets = np.zeros(n, dtype)
        k = Y.shape[1]
        gram = (w.w0 * (Y.T @ Y)).astype(dtype)
        X = np.zeros((r, k), dtype)
        lam = w_rows.row_penalty(csr.row_nnz(), n, dtype)
        kargs = w_rows.kernel_args((r, n), False, dtype)
        max_nnz = max(1, int(csr.row_nnz().max(initial=0)))
        chunks = _balanced_chunks(csr.indptr, k, n_chunks_for(r))
        with thread_context(self._threads()):
            failed = _wals_rows_cholesky(csr.indptr, csr.indices, csr.data, X, Y, offsets,
                                         gram, lam, *kargs, max_nnz, chunks)
        if failed:
            warnings.warn(f"{failed} fold-in rows had a singular system (empty rows with "
                          f"reg=0?); their factors are zero.", RuntimeWarning, stacklevel=2)
        factors = np.ascontiguousarray(X[:, :d])
        if return_biases:
            biases = X[:, d].copy() if has_b else np.zeros(r, dtype)
            return factors, biases
        return factors

    # ------------------------------------------------------------------ objective
    def loss(self, A):
        """The model's objective (see :func:`fastmf.objective`) on ``A`` with its factors."""
        self._check_fitted()
        w = self._weighting
        csr = self._check_data(A, shape=(self.n_users, self.n_items))
        with thread_context(self._threads()):
            return objective_value(csr, self.user_factors, self.item_factors, w,
                                   self.user_biases, self.item_biases, self.global_mean)

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write parameters and fitted state to ``path`` (a NumPy ``.npz`` archive; no
        pickle). Read it back with :func:`fastmf.load`."""
        params = {}
        arrays = {}
        for name, value in self.get_params().items():
            if isinstance(value, np.ndarray):
                arrays["param__" + name] = value
            elif isinstance(value, np.random.Generator):
                params[name] = None
            elif isinstance(value, np.dtype) or (isinstance(value, type)
                                                 and issubclass(value, np.generic)):
                params[name] = np.dtype(value).name
            else:
                params[name] = value
        meta = {"class": type(self).__name__, "params": params,
                "global_mean": float(self.global_mean), "format": 1}
        state = {"meta": np.array(json.dumps(meta))}
        if self.is_fitted:
            state["user_factors"] = self.user_factors
            state["item_factors"] = self.item_factors
            if self.user_biases is not None:
                state["user_biases"] = self.user_biases
                state["item_biases"] = self.item_biases
            if self._seen is not None:
                state["seen_indptr"] = self._seen.indptr
                state["seen_indices"] = self._seen.indices
                state["seen_shape"] = np.array(self._seen.shape)
            if self.user_ids_ is not None:
                state["user_ids"] = np.asarray(self.user_ids_)
                state["item_ids"] = np.asarray(self.item_ids_)
        for extra_name, arr in self._extra_state().items():
            state["extra__" + extra_name] = arr
        with open(path, "wb") as f:
            np.savez(f, **state, **arrays)

    def _extra_state(self):
        return {"history": np.array(json.dumps(getattr(self, "history_", [])))}


def load(path):
    """Read a model written by ``save``."""
    with np.load(path, allow_pickle=False) as z:
        try:
            meta = json.loads(str(z["meta"]))
            cls = _REGISTRY[meta["class"]]
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path} is not a fastmf model file.") from exc
        params = dict(meta["params"])
        for key in z.files:
            if key.startswith("param__"):
                params[key[len("param__"):]] = z[key]
        model = cls(**params)
        if "user_factors" in z.files:
            model.user_factors = z["user_factors"]
            model.item_factors = z["item_factors"]
            if "user_biases" in z.files:
                model.user_biases = z["user_biases"]
                model.item_biases = z["item_biases"]
            model.global_mean = meta["global_mean"]
            if "user_ids" in z.files:
                model.user_ids_ = z["user_ids"]
                model.item_ids_ = z["item_ids"]
            if "seen_indptr" in z.files:
                data = np.ones(z["seen_indices"].shape[0], np.float32)
                model._seen = v.Csr(z["seen_indptr"], z["seen_indices"], data,
                                    tuple(int(s) for s in z["seen_shape"]))
        if "extra__history" in z.files:
            model.history_ = json.loads(str(z["extra__history"]))
    return model


def _pad(ids, scores, k):
    if ids.shape[1] == k:
        return ids, scores
    q = ids.shape[0]
    out_ids = np.full((q, k), -1, dtype=ids.dtype)
    out_scores = np.full((q, k), -np.inf, dtype=scores.dtype)
    out_ids[:, :ids.shape[1]] = ids
    out_scores[:, :ids.shape[1]] = scores
    return out_ids, out_scores


def _short(value):
    if isinstance(value, np.ndarray):
        return f"<array {value.shape}>"
    if isinstance(value, np.dtype):
        return repr(value.name)
    return repr(value)


__all__ = ["FactorModel", "NotFittedError", "load"]
