"""Interactions: feedback entries with raw user and item ids, and the matrix the models fit."""

import numpy as np
import scipy.sparse as sp

from ._ids import factorize, lookup, lookup_ids, raw_ids, show_id

DUPLICATES = ("sum", "last", "error")
UNKNOWN = ("error", "drop")


def entry_values(values, n=None):
    """The values of ``n`` entries as finite float64 (a clear error otherwise)."""
    values = np.asarray(values)
    if values.ndim != 1 or (n is not None and values.size != n):
        raise ValueError(f"values must be 1-d with one value per entry ({n}); got shape "
                         f"{values.shape}.")
    if values.dtype.kind not in "biuf":
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"values must be numbers; got dtype {values.dtype}.") from None
    values = values.astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"values hold NaN or inf ({int(bad.sum())} entries, first at "
                         f"position {int(np.flatnonzero(bad)[0])}).")
    return values


class Interactions:
    """Feedback entries keyed by raw user and item ids, with the matrix the models fit.

    Raw ids (integers or strings) are mapped to consecutive indices in sorted order of the
    ids: user index ``i`` is ``user_ids[i]``, item index ``j`` is ``item_ids[j]``, and
    :attr:`matrix` is the users x items CSR matrix of the values. Entries are kept in CSR
    order (by user index, then item index), aligned with :attr:`users`, :attr:`items`,
    :attr:`values` and :attr:`timestamps`.

    Parameters
    ----------
    users, items : array-like of int or str, same length
        Raw user and item id of each entry.
    values : array-like of float, optional
        Value of each entry (rating, play count, ...); 1.0 when omitted. NaN and inf raise.
    timestamps : array-like of int or datetime64, optional
        Time of each entry, stored as int64 (seconds for datetime64 input).
    user_ids, item_ids : array-like, optional
        Catalogues to index into instead of the ids found in the data, for example a
        training set's so that a test set gets the same indices; sorted and de-duplicated
        here. Entries whose id is not in a given catalogue follow ``unknown``.
    duplicates : {'sum', 'last', 'error'}, default 'sum'
        What to do with several entries for one (user, item) pair: add their values (play
        counts, clicks; the latest timestamp is kept), keep the last one in input order
        (re-rated items), or raise.
    unknown : {'error', 'drop'}, default 'error'
        With ``user_ids`` / ``item_ids`` given: raise on an id outside them, or drop those
        entries (their number is in :attr:`n_dropped`).

    Examples
    --------
    >>> data = Interactions(["ann", "bob", "ann"], ["x", "y", "y"], [5.0, 3.0, 4.0])
    >>> data.shape, data.user_ids.tolist(), data.matrix.toarray().tolist()
    ((2, 2), ['ann', 'bob'], [[5.0, 4.0], [0.0, 3.0]])
    """

    def __init__(self, users, items, values=None, timestamps=None, *, user_ids=None,
                 item_ids=None, duplicates="sum", unknown="error"):
        if duplicates not in DUPLICATES:
            raise ValueError(f"The 'duplicates' parameter of Interactions must be one of "
                             f"{DUPLICATES}. Got {duplicates!r} instead.")
        if unknown not in UNKNOWN:
            raise ValueError(f"The 'unknown' parameter of Interactions must be one of "
                             f"{UNKNOWN}. Got {unknown!r} instead.")
        u_found, u = factorize("users", users)
        i_found, it = factorize("items", items)
        n = u.size
        if it.size != n:
            raise ValueError(f"users and items must have the same length; got {n} and "
                             f"{it.size}.")
        if values is None:
            values = np.ones(n, dtype=np.float64)
        else:
            values = entry_values(values, n)
        if timestamps is not None:
            timestamps = _timestamps(timestamps, n)

        self.user_ids, u = _recode("user_ids", user_ids, u_found, u, "users")
        self.item_ids, it = _recode("item_ids", item_ids, i_found, it, "items")
        self.n_dropped = 0
        if user_ids is not None or item_ids is not None:
            missing = (u < 0) | (it < 0)
            if missing.any():
                if unknown == "error":
                    q = int(np.flatnonzero(missing)[0])
                    which = (f"user {show_id(np.asarray(users)[q])}" if u[q] < 0
                             else f"item {show_id(np.asarray(items)[q])}")
                    raise ValueError(f"{int(missing.sum())} entries have ids outside the given "
                                     f"catalogue (first: {which} at position {q}); pass "
                                     f"unknown='drop' to drop them.")
                keep = ~missing
                self.n_dropped = int(missing.sum())
                u, it, values = u[keep], it[keep], values[keep]
                if timestamps is not None:
                    timestamps = timestamps[keep]
        self._build(u, it, values, timestamps, duplicates)

    # ------------------------------------------------------------------ construction
    def _build(self, u, it, values, timestamps, duplicates):
        n_items = self.item_ids.size
        key = u * np.int64(max(n_items, 1)) + it
        order = np.argsort(key, kind="stable")
        key = key[order]
        values = values[order]
        if timestamps is not None:
            timestamps = timestamps[order]
        if key.size:
            first = np.ones(key.size, dtype=bool)
            first[1:] = key[1:] != key[:-1]
            if not first.all():
                if duplicates == "error":
                    q = int(np.flatnonzero(~first)[0])
                    raise ValueError(
                        f"{int((~first).sum())} duplicate (user, item) entries (first: user "
                        f"{show_id(self.user_ids[key[q] // n_items])}, item "
                        f"{show_id(self.item_ids[key[q] % n_items])}); pass duplicates='sum' or "
                        f"'last'.")
                starts = np.flatnonzero(first)
                if duplicates == "sum":
                    values = np.add.reduceat(values, starts)
                    if timestamps is not None:
                        timestamps = np.maximum.reduceat(timestamps, starts)
                else:
                    last = np.append(starts[1:], key.size) - 1
                    values = values[last]
                    if timestamps is not None:
                        timestamps = timestamps[last]
                key = key[starts]
        self._set_entries(key // max(n_items, 1), key % max(n_items, 1), values, timestamps)

    def _set_entries(self, u, it, values, timestamps):
        """Store entries already in CSR order (sorted by user, then item, no duplicates)."""
        m = self.user_ids.size
        index = np.int32 if max(m, self.item_ids.size, u.size) < 2**31 - 1 else np.int64
        self.users = u.astype(index)
        self.items = it.astype(index)
        self.values = np.asarray(values, dtype=np.float64)
        self.timestamps = timestamps
        indptr = np.zeros(m + 1, dtype=index)
        np.cumsum(np.bincount(self.users, minlength=m), out=indptr[1:])
        self._indptr = indptr
        self._matrix = {}

    @classmethod
    def from_dataframe(cls, df, user="user", item="item", value=None, timestamp=None,
                       **kwargs):
        """Interactions from a pandas DataFrame's columns.

        Parameters
        ----------
        df : pandas.DataFrame
        user, item : str
            Columns holding the raw user and item ids.
        value, timestamp : str, optional
            Columns holding the values and the timestamps.
        **kwargs
            Passed to :class:`Interactions` (``duplicates``, ``user_ids``, ...).
        """
        columns = [c for c in (user, item, value, timestamp) if c is not None]
        missing = [c for c in columns if c not in getattr(df, "columns", ())]
        if missing:
            have = list(getattr(df, "columns", []))
            raise ValueError(f"column(s) {missing} not in the DataFrame; it has {have}.")
        col = lambda c: None if c is None else df[c].to_numpy()
        return cls(col(user), col(item), col(value), col(timestamp), **kwargs)

    @classmethod
    def from_matrix(cls, A, user_ids=None, item_ids=None):
        """Interactions holding the stored entries of a sparse matrix; ids default to the
        row and column indices."""
        from ..core._validation import check_matrix
        if not sp.issparse(A):
            raise TypeError(f"A must be a scipy.sparse matrix; got {type(A).__name__}.")
        # structure checked before scipy touches it (a corrupt matrix must not crash)
        coo = sp.coo_array(check_matrix(A, "A", dtype=np.float64).to_scipy())
        m, n = A.shape
        users = coo.row.astype(np.int64)
        items = coo.col.astype(np.int64)
        uid = np.arange(m) if user_ids is None else np.asarray(user_ids)
        iid = np.arange(n) if item_ids is None else np.asarray(item_ids)
        if uid.size != m or iid.size != n:
            raise ValueError(f"user_ids / item_ids must have {m} and {n} entries; got "
                             f"{uid.size} and {iid.size}.")
        return cls(uid[users], iid[items], coo.data, user_ids=uid, item_ids=iid)

    def _like(self, rows, values=None, timestamps=None):
        """New Interactions on the same catalogues from entry positions ``rows``."""
        out = object.__new__(type(self))
        out.user_ids, out.item_ids, out.n_dropped = self.user_ids, self.item_ids, 0
        ts = None if self.timestamps is None else self.timestamps[rows]
        out._set_entries(self.users[rows].astype(np.int64), self.items[rows].astype(np.int64),
                         self.values[rows] if values is None else values,
                         ts if timestamps is None else timestamps)
        return out

    def subset(self, mask):
        """The entries selected by a boolean mask (or positions) in entry order, on the
        same user and item catalogues."""
        mask = np.asarray(mask)
        if mask.dtype == bool:
            if mask.shape != (self.nnz,):
                raise ValueError(f"mask must have one flag per entry ({self.nnz}); got shape "
                                 f"{mask.shape}.")
            rows = np.flatnonzero(mask)
        else:
            from ..core._validation import check_ids
            rows = np.unique(check_ids("positions", mask, self.nnz))
        return self._like(rows)

    def like(self, users, items, values=None, timestamps=None, *, duplicates="sum",
             unknown="error"):
        """New entries indexed by this set's user and item catalogues (a test set for this
        training set, or new data for a fitted model)."""
        return Interactions(users, items, values, timestamps, user_ids=self.user_ids,
                            item_ids=self.item_ids, duplicates=duplicates, unknown=unknown)

    # ------------------------------------------------------------------ views
    @property
    def shape(self):
        return (self.user_ids.size, self.item_ids.size)

    @property
    def n_users(self):
        return self.user_ids.size

    @property
    def n_items(self):
        return self.item_ids.size

    @property
    def nnz(self):
        return self.values.size

    def __len__(self):
        return self.nnz

    @property
    def matrix(self):
        """Users x items ``scipy.sparse.csr_array`` of the values, float32."""
        return self.to_csr(np.float32)

    def to_csr(self, dtype=np.float32):
        """The values as a users x items CSR array of ``dtype`` (cached)."""
        dtype = np.dtype(dtype)
        if dtype not in self._matrix:
            self._matrix[dtype] = sp.csr_array(
                (self.values.astype(dtype), self.items, self._indptr), shape=self.shape)
        return self._matrix[dtype]

    def user_index(self, raw, unknown="error"):
        """Indices of raw user ids; ``unknown='error'`` raises on an unknown id, ``-1`` marks
        it with -1."""
        return lookup_ids(self.user_ids, raw, "users", unknown)

    def item_index(self, raw, unknown="error"):
        """Indices of raw item ids (see :meth:`user_index`)."""
        return lookup_ids(self.item_ids, raw, "items", unknown)

    def rows_for(self, users, items, values=None):
        """Rows for new (or known) users, for ``model.fold_in``: the raw user ids in sorted
        order and a CSR matrix with one row per user and this set's item columns. Items
        not in the catalogue are dropped (the count is returned third)."""
        users = raw_ids("users", users)
        items = raw_ids("items", items)
        if users.size != items.size:
            raise ValueError(f"users and items must have the same length; got {users.size} "
                             f"and {items.size}.")
        vals = np.ones(users.size) if values is None else np.asarray(values, np.float64)
        if vals.shape != users.shape or not np.all(np.isfinite(vals)):
            raise ValueError("values must be finite, one per entry.")
        cols = lookup(self.item_ids, items, "items")
        known = cols >= 0
        uniq, rows = np.unique(users, return_inverse=True)
        A = sp.csr_array((vals[known], (rows[known], cols[known])),
                         shape=(uniq.size, self.n_items))
        A.sum_duplicates()
        return uniq, A, int((~known).sum())

    def __repr__(self):
        ts = ", timestamps" if self.timestamps is not None else ""
        return (f"Interactions({self.n_users:,} users x {self.n_items:,} items, "
                f"{self.nnz:,} entries{ts})")


def _recode(name, given, found, codes, what):
    """(catalogue, entry indices): the ids found, or a given catalogue (sorted, unique)
    with -1 for the ids outside it."""
    if given is None:
        return found, codes
    cat = np.unique(raw_ids(name, given))
    return cat, lookup(cat, found, what)[codes]


def _timestamps(ts, n):
    ts = np.asarray(ts)
    if ts.ndim != 1 or ts.size != n:
        raise ValueError(f"timestamps must be 1-d with one per entry ({n}); got shape "
                         f"{ts.shape}.")
    if ts.dtype.kind == "M":
        if np.any(np.isnat(ts)):
            raise ValueError("timestamps hold missing values (NaT).")
        return ts.astype("datetime64[s]").astype(np.int64)
    if ts.dtype.kind == "f":
        if not np.all(np.isfinite(ts)):
            raise ValueError("timestamps hold NaN or inf.")
        return ts.astype(np.int64)
    if ts.dtype.kind not in "iu":
        raise ValueError(f"timestamps must be integers or datetime64; got dtype {ts.dtype}.")
    return ts.astype(np.int64)


def named_columns(A, user, item, value):
    """A DataFrame whose columns ``user``, ``item`` (and ``value``) hold the entries, as
    fit reads it: pandas -> Interactions, Dask -> the same frame with the columns renamed
    to user, item, value. Anything else as it is."""
    if not hasattr(A, "columns") or type(A).__name__ != "DataFrame":
        return A
    if (user, item, value) == ("user", "item", None):
        return A  # the default names: read (and refused, naming them) where fit reads A
    names = {"user": user, "item": item, "value": value}
    for key, name in names.items():
        if name is not None and not isinstance(name, str):
            raise TypeError(f"The {key!r} column name passed to fit must be a str; got "
                            f"{type(name).__name__}.")
    cols = [str(c) for c in A.columns]
    if value is None and "value" in cols:
        value = names["value"] = "value"
    missing = [name for name in (user, item, value) if name is not None and name not in cols]
    if missing:
        raise ValueError(f"The DataFrame passed to fit has no column {missing[0]!r}; its "
                         f"columns are {cols}.")
    if callable(getattr(A, "to_delayed", None)):  # a Dask DataFrame stays on the workers
        keep = {name: key for key, name in names.items() if name is not None}
        return A[list(keep)].rename(columns=keep)
    return Interactions.from_dataframe(A, user, item, value)
