"""New entries into a fitted WALS model without a full refit (``WALS.partial_fit``).

The model keeps its training matrix (the validated CSR of values it was fitted on; the
seen-item filter of ``recommend`` reads the same arrays). New entries are merged into it --
added to the values of pairs it already holds, or replacing them -- unknown raw ids extend
the catalogues and the factor matrices (new rows start at zero), and then the rows the new
entries touch are re-solved exactly, items then users, for ``sweeps`` rounds: each a
Cholesky solve of the row's full system against the other side, with the Gram matrices
kept up to date by adding the new rows' outer products and subtracting the old ones
(``model._grams``: ``U^T U`` and ``V^T diag(w0) V`` in float64, formed once at the first
update). The data-aware values resolved by the first fit stay fixed; new items get the
overall unobserved weight ``w0`` when the weights are per item.
"""

import dataclasses
import warnings

import numpy as np
import scipy.sparse as sp

from ..core import _interrupts as interrupts
from ..core import _validation as v
from ..data._ids import raw_ids
from ..data._interactions import Interactions
from ..solvers._sgd_epochs import Epochs
from ..core._weighting import gram64
from ..solvers import Side, half_sweep
from ..solvers import get as get_solver

DUPLICATES = ("add", "replace")


class Merged:
    """A fitted model's state with new entries merged in, in the extended index space:
    the training matrix ``csr``, factors and biases (new rows zero), the weighting (new
    items at the overall ``w0``), the new entries' ``rows`` / ``cols`` and the catalogues
    (``ids``, or None)."""

    def __init__(self, model, new, duplicates):
        owner = type(model).__name__
        w = model._weighting
        if model._seen is None or not model._seen_values:
            raise ValueError(f"{owner}.partial_fit needs the training matrix, which this "
                             f"model does not hold (fitted on a Dask DataFrame, or loaded "
                             f"from a file written without it); refit with fit.")
        if w.row_weights is not None or w.col_weights is not None:
            raise ValueError(f"{owner}.partial_fit does not support row_weights / "
                             f"col_weights (new rows would need weights of their own); "
                             f"refit with fit.")
        U, V = model.user_factors, model.item_factors
        dtype = U.dtype
        seen = model._seen
        rows, cols, vals, (m2, n2), u_pos, i_pos, ids = _new_entries(model, new, dtype)
        from ..core._memory import check_memory
        check_memory(2 * (m2 + n2) * (U.shape[1] + 1) * dtype.itemsize
                     + (seen.nnz + rows.size) * 24,
                     f"{owner}.partial_fit to {m2:,} users and {n2:,} items",
                     "pass fewer new users and items at a time")
        # the training matrix in the extended index space, the old entries moved to their
        # new positions, then merged with the new ones
        old = seen.to_scipy().tocoo()
        o_rows, o_cols = u_pos[old.row], i_pos[old.col]
        o_vals = old.data.astype(np.float64)
        if duplicates == "replace" and rows.size:
            fresh = np.unique(rows.astype(np.int64) * n2 + cols)
            keep = ~np.isin(o_rows.astype(np.int64) * n2 + o_cols, fresh)
            o_rows, o_cols, o_vals = o_rows[keep], o_cols[keep], o_vals[keep]
        merged = sp.csr_array((np.concatenate([o_vals, vals]),
                               (np.concatenate([o_rows, rows]),
                                np.concatenate([o_cols, cols]))), shape=(m2, n2))
        merged.sum_duplicates()
        self.csr = v.check_matrix(merged, "the merged training matrix", dtype=dtype,
                                  nonnegative=w.confidence != "none")
        self.U = np.zeros((m2, U.shape[1]), dtype)
        self.V = np.zeros((n2, V.shape[1]), dtype)
        self.U[u_pos], self.V[i_pos] = U, V
        self.ub = self.vb = None
        if model.user_biases is not None:
            self.ub, self.vb = np.zeros(m2, dtype), np.zeros(n2, dtype)
            self.ub[u_pos], self.vb[i_pos] = model.user_biases, model.item_biases
        if w.w0_items is not None:
            w0 = np.full(n2, float(w.w0))
            w0[i_pos] = w.w0_items
            w = dataclasses.replace(w, w0_items=w0)
        self.weighting, self.rows, self.cols, self.ids = w, rows, cols, ids
        self.u_pos, self.i_pos = u_pos, i_pos
        self.owner = owner

    def publish(self, model):
        """Put the merged state on ``model`` (after a check that the factors are finite)."""
        if not (np.isfinite(self.U).all() and np.isfinite(self.V).all()):
            raise FloatingPointError(f"{self.owner}.partial_fit produced non-finite factors; "
                                     f"the update is ill-conditioned (try a larger reg, or "
                                     f"for SGD a smaller lr).")
        model.user_factors, model.item_factors = self.U, self.V
        model.user_biases, model.item_biases = self.ub, self.vb
        model._seen = self.csr
        if self.ids is not None:
            model.user_ids_, model.item_ids_ = self.ids
        w = self.weighting
        if w is not model._weighting:
            model._weighting = w
            model.resolved_params_ = dict(model.resolved_params_, w0=w.w0_items
                                          if w.w0_items is not None else w.w0)


def partial_fit(model, new, *, duplicates="add", sweeps=1):
    """Merge ``new`` into ``model`` (a working copy, changed in place) and re-solve the
    rows it touches; returns (users touched, items touched)."""
    owner = type(model).__name__
    duplicates = v.check_option(f"{owner}.partial_fit", "duplicates", duplicates, DUPLICATES)
    sweeps = v.check_int(f"{owner}.partial_fit", "sweeps", sweeps, low=1)
    model._check_fitted()
    new = Merged(model, new, duplicates)
    csr, w, dtype = new.csr, new.weighting, new.U.dtype
    U2, V2, Ub2, Vb2 = new.U, new.V, new.ub, new.vb
    m2, n2 = csr.shape
    grams = model._grams
    if grams is None or grams[0].shape[0] != U2.shape[1]:
        grams = (gram64(model.user_factors),
                 w.block_gram(V2, True) if w.has_unobserved else None)
    UtU, VtWV = grams
    touched_users = np.unique(new.rows)
    touched_items = np.unique(new.cols)
    solver = get_solver("cholesky", model._fit_params_ns())
    k = U2.shape[1] + (1 if Ub2 is not None else 0)
    failed = 0
    if touched_users.size or touched_items.size:
        by_item = csr.to_scipy()[:, touched_items].T.tocsr()
        item_part = v.check_matrix(by_item, "items", dtype=dtype)
        user_part = v.check_matrix(csr.to_scipy()[touched_users], "users", dtype=dtype)
        for _ in range(sweeps):
            failed += _solve_rows(solver, w, item_part, touched_items, True, V2, Vb2, U2,
                                  Ub2, model.global_mean, UtU, k, m2, dtype,
                                  lambda old, new: _add(VtWV, w, new, old, touched_items))
            failed += _solve_rows(solver, w, user_part, touched_users, False, U2, Ub2, V2,
                                  Vb2, model.global_mean, VtWV, k, n2, dtype,
                                  lambda old, new: _add(UtU, None, new, old, None))
    if failed:
        warnings.warn(f"partial_fit: {failed} row solves had a singular system and kept "
                      f"their previous factors.", RuntimeWarning, stacklevel=4)
    new.publish(model)
    model._grams = (UtU, VtWV)
    return touched_users.size, touched_items.size


def partial_fit_sgd(model, new, *, duplicates="add", epochs=None, replay=1.0):
    """SGD's partial fit: merge ``new`` into ``model`` (a working copy) and run ``epochs``
    epochs over the new entries and a uniform sample of ``replay`` times as many old ones,
    from the model's factors; returns (users touched, items touched)."""
    owner = type(model).__name__
    duplicates = v.check_option(f"{owner}.partial_fit", "duplicates", duplicates, DUPLICATES)
    model._check_fitted()
    p = model._fit_params_ns()
    if epochs is None:
        epochs = max(1, p.epochs // 4)
    epochs = v.check_int(f"{owner}.partial_fit", "epochs", epochs, low=1)
    replay = v.check_float(f"{owner}.partial_fit", "replay", replay, low=0.0)
    new = Merged(model, new, duplicates)
    if new.rows.size == 0:
        return 0, 0
    csr = new.csr
    m2, n2 = csr.shape
    at_rows = np.repeat(np.arange(m2), csr.row_nnz())
    cols = csr.indices[:csr.nnz]
    keys = at_rows.astype(np.int64) * n2 + cols
    fresh = np.isin(keys, np.unique(new.rows.astype(np.int64) * n2 + new.cols))
    old = np.flatnonzero(~fresh)
    seed = p.random_state if isinstance(p.random_state, (int, np.integer)) else None
    rng = np.random.default_rng(None if seed is None else [int(seed), csr.nnz])
    n_old = min(old.size, int(round(replay * np.count_nonzero(fresh))))
    pick = np.sort(np.concatenate([np.flatnonzero(fresh),
                                   rng.choice(old, n_old, replace=False)]))
    visit = sp.csr_array((csr.data[pick], (at_rows[pick], cols[pick])), shape=(m2, n2))
    visit = v.check_matrix(visit, "the entries to visit", dtype=new.U.dtype)
    full = (csr.row_nnz(), np.bincount(cols, minlength=n2))
    run = Epochs(p, new.weighting, visit, start=(new.U, new.V, new.ub, new.vb,
                                                 model.global_mean), full=full)
    if model._optimizer is not None:
        # AdaGrad's accumulators go on from the fit's (new rows from zero)
        for name, pos in (("g2u", new.u_pos), ("g2v", new.i_pos), ("g2ub", new.u_pos),
                          ("g2vb", new.i_pos)):
            acc = getattr(run, name)
            if acc.shape[0] > 1:
                acc[pos] = model._optimizer[name]
    stop = interrupts.pending if interrupts.active() else None
    for e in range(epochs):
        if not run.epoch(p.epochs + e, stop=stop):
            interrupts.checkpoint()
    new.publish(model)  # (the epochs updated new's factors and biases in place)
    model._optimizer = run.optimizer_state()
    return np.unique(new.rows).size, np.unique(new.cols).size


def _solve_rows(solver, w, part, rows, transposed, X, Xb, Y, Yb, global_mean, summed, k,
                n_other, dtype, update_gram):
    """Re-solve rows ``rows`` of ``X`` exactly (``part``: their entries, over all
    columns) and update the Gram matrix of X's side through ``update_gram(old, new)``."""
    if rows.size == 0:
        return 0
    wr = w.restrict(rows, None, transposed)
    side = solver.prepare(Side(part, wr, transposed=transposed, k=k, n_other=n_other,
                               dtype=dtype))
    Xs = X[rows].copy()
    Xbs = None if Xb is None else Xb[rows].copy()
    gram = None
    if Xb is None and w.has_unobserved:
        gram = w.fixed_gram(summed, transposed, dtype)
    failed = half_sweep(solver, side, wr, Xs, Xbs, Y, Yb, global_mean, gram=gram)
    update_gram(X[rows], Xs)
    X[rows] = Xs
    if Xb is not None:
        Xb[rows] = Xbs
    return failed


def _add(G, w, new, old, rows):
    """G += new^T diag(w0) new - old^T diag(w0) old (plain without ``w``), in place."""
    if G is None:
        return
    if w is None or w.w0_items is None:
        scale = 1.0 if w is None else w.w0
        G += scale * (gram64(new) - gram64(old))
    else:
        G += gram64(new, w.w0_items[rows]) - gram64(old, w.w0_items[rows])


def _new_entries(model, new, dtype):
    """The new entries as (rows, cols, values) in the extended index space, the extended
    shape, where the old rows and columns go, and the new catalogues (or None)."""
    m, n = model.user_factors.shape[0], model.item_factors.shape[0]
    new = model._as_input(new)
    if isinstance(new, Interactions):
        if model.user_ids_ is None:
            raise ValueError("partial_fit with raw ids needs a model fitted on raw ids; pass "
                             "a sparse matrix over the model's indices instead.")
        users = _extend(model.user_ids_, new.user_ids, "users")
        items = _extend(model.item_ids_, new.item_ids, "items")
        u_pos = np.searchsorted(users, model.user_ids_)
        i_pos = np.searchsorted(items, model.item_ids_)
        rows = np.searchsorted(users, new.user_ids)[new.users]
        cols = np.searchsorted(items, new.item_ids)[new.items]
        vals = np.asarray(new.values, np.float64)
        return rows, cols, vals, (users.size, items.size), u_pos, i_pos, (users, items)
    A = v.check_matrix(new, "new", dtype=np.float64)
    m2, n2 = A.shape
    if model.user_ids_ is not None and (m2, n2) != (m, n):
        raise ValueError(f"A matrix passed to partial_fit of a model fitted on raw ids must "
                         f"have the model's shape {(m, n)} (got {(m2, n2)}); pass new users "
                         f"and items as Interactions or a DataFrame of raw ids.")
    if m2 < m or n2 < n:
        raise ValueError(f"The matrix passed to partial_fit has shape {(m2, n2)}, smaller "
                         f"than the model's {(m, n)}; extra rows and columns are new users "
                         f"and items.")
    coo = A.to_scipy().tocoo()
    return (coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(np.float64),
            (m2, n2), np.arange(m), np.arange(n), None)


def _extend(catalogue, found, name):
    """The sorted union of a model's raw ids and the new ones (of the same kind)."""
    found = raw_ids(name, found)
    if found.size and catalogue.size and found.dtype.kind != catalogue.dtype.kind:
        if catalogue.dtype.kind == "i" and found.dtype.kind == "U":
            try:
                found = found.astype(np.int64)
            except ValueError:
                pass
        if found.dtype.kind != catalogue.dtype.kind:
            raise ValueError(f"The new {name}' ids are {found.dtype} but the model's are "
                             f"{catalogue.dtype}.")
    return np.union1d(catalogue, found)
