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

from . import _validation as v
from ._ids import raw_ids
from ._interactions import Interactions
from ._weighting import gram64
from .solvers import Side, half_sweep
from .solvers import get as get_solver

DUPLICATES = ("add", "replace")


def partial_fit(model, new, *, duplicates="add", sweeps=1):
    """Merge ``new`` into ``model`` (a working copy, changed in place) and re-solve the
    rows it touches; returns (users touched, items touched)."""
    owner = type(model).__name__
    duplicates = v.check_option(f"{owner}.partial_fit", "duplicates", duplicates, DUPLICATES)
    sweeps = v.check_int(f"{owner}.partial_fit", "sweeps", sweeps, low=1)
    model._check_fitted()
    w = model._weighting
    if model._seen is None or not model._seen_values:
        raise ValueError(f"{owner}.partial_fit needs the training matrix, which this model "
                         f"does not hold (fitted on a Dask DataFrame, or loaded from a file "
                         f"written without it); refit with fit.")
    if w.row_weights is not None or w.col_weights is not None:
        raise ValueError(f"{owner}.partial_fit does not support row_weights / col_weights "
                         f"(new rows would need weights of their own); refit with fit.")
    U, V = model.user_factors, model.item_factors
    dtype = U.dtype
    seen = model._seen
    rows, cols, vals, (m2, n2), u_pos, i_pos, ids = _new_entries(model, new, dtype)
    from ._memory import check_memory
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
                           (np.concatenate([o_rows, rows]), np.concatenate([o_cols, cols]))),
                          shape=(m2, n2))
    merged.sum_duplicates()
    csr = v.check_matrix(merged, "the merged training matrix", dtype=dtype,
                         nonnegative=w.confidence != "none")
    # factors, biases and per-item unobserved weights in the extended index space
    U2 = np.zeros((m2, U.shape[1]), dtype)
    V2 = np.zeros((n2, V.shape[1]), dtype)
    U2[u_pos], V2[i_pos] = U, V
    Ub2 = Vb2 = None
    if model.user_biases is not None:
        Ub2, Vb2 = np.zeros(m2, dtype), np.zeros(n2, dtype)
        Ub2[u_pos], Vb2[i_pos] = model.user_biases, model.item_biases
    if w.w0_items is not None:
        w0 = np.full(n2, float(w.w0))
        w0[i_pos] = w.w0_items
        w = dataclasses.replace(w, w0_items=w0)
    grams = model._grams
    if grams is None or grams[0].shape[0] != U.shape[1]:
        grams = (gram64(U), w.block_gram(V2, True) if w.has_unobserved else None)
    UtU, VtWV = grams
    touched_users = np.unique(rows)
    touched_items = np.unique(cols)
    solver = get_solver("cholesky", model._fit_params_ns())
    k = U.shape[1] + (1 if Ub2 is not None else 0)
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
    if not (np.isfinite(U2).all() and np.isfinite(V2).all()):
        raise FloatingPointError(f"{owner}.partial_fit produced non-finite factors; the "
                                 f"systems are ill-conditioned (try a larger reg).")
    model.user_factors, model.item_factors = U2, V2
    model.user_biases, model.item_biases = Ub2, Vb2
    model._seen = csr
    if ids is not None:
        model.user_ids_, model.item_ids_ = ids
    if w is not model._weighting:
        model._weighting = w
        model.resolved_params_ = dict(model.resolved_params_, w0=w.w0_items
                                      if w.w0_items is not None else w.w0)
    model._grams = (UtU, VtWV)
    return touched_users.size, touched_items.size


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
