"""The one validation gate for matrices: any scipy.sparse format or a dense array, checked
structure first (index dtypes, ranges, monotone pointers, lengths, finiteness) before any
conversion, then canonical CSR for the kernels."""

import itertools
import numbers
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp


class Csr(NamedTuple):
    """Plain CSR arrays, as the kernels take them."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple

    @property
    def nnz(self):
        return int(self.indptr[-1])

    def row_nnz(self):
        return np.diff(self.indptr)

    def to_scipy(self):
        return sp.csr_array((self.data, self.indices, self.indptr), shape=self.shape,
                            copy=False)

    def transpose(self):
        """CSR of the transpose (a new index and value array; the input is untouched)."""
        t = self.to_scipy().T.tocsr()
        t.sum_duplicates()
        return _csr_from_scipy(t, self.data.dtype)


def _csr_from_scipy(A, dtype):
    index_dtype = np.int64 if (A.indptr.dtype == np.int64 or A.indices.dtype == np.int64) \
        else np.int32
    return Csr(A.indptr.astype(index_dtype, copy=False),
               A.indices.astype(index_dtype, copy=False),
               A.data.astype(dtype, copy=False), tuple(A.shape))


def describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return repr(value)


_INT32_MAX = int(np.iinfo(np.int32).max)
_INT64_MAX = int(np.iinfo(np.int64).max)


def _type_name(value):
    return type(value).__module__ + "." + type(value).__name__


def _invalid(name, fmt, message):
    return ValueError(f"{name} is not a valid {fmt} matrix: {message}")


def _index_array(name, fmt, what, value):
    """``value`` as a 1-d array of an integer dtype (signed or unsigned), not cast."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise _invalid(name, fmt, f"{what} must have an integer dtype; got dtype "
                                  f"{arr.dtype}.")
    if arr.ndim != 1:
        raise _invalid(name, fmt, f"{what} must be 1-d; got shape {arr.shape}.")
    return arr


def _data_array(name, fmt, value, ndim=1):
    """``value`` as an array of real numbers (bool, int, uint or float) with ``ndim``
    dimensions, not cast."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (bool, int or float); got dtype "
                        f"{arr.dtype}.")
    if arr.ndim != ndim:
        raise _invalid(name, fmt, f"data must be {ndim}-d; got shape {arr.shape}.")
    return arr


def _check_range(name, fmt, what, arr, upper):
    """Every value of the integer array ``arr`` in [0, upper), compared exactly (no cast)."""
    if arr.size:
        low, high = int(arr.min()), int(arr.max())
        if low < 0 or high >= upper:
            raise _invalid(name, fmt, f"{what} must lie in [0, {upper}); found {low}..{high}.")


def _check_shape(name, A, shape):
    """``A.shape`` as a tuple of two non-negative Python ints, checked against ``shape``."""
    got = getattr(A, "shape", None)
    try:
        got = tuple(got)
    except TypeError:
        raise ValueError(f"{name} must be 2-dimensional; got shape {got!r}.") from None
    if len(got) != 2:
        raise ValueError(f"{name} must be 2-dimensional; got {len(got)} dimensions "
                         f"(shape {got}).")
    for s in got:
        if (not isinstance(s, numbers.Integral) or isinstance(s, (bool, np.bool_))
                or not 0 <= s <= _INT64_MAX):
            raise ValueError(f"{name} must have a shape of two non-negative ints; got "
                             f"{got!r}.")
    got = (int(got[0]), int(got[1]))
    if shape is not None:
        for axis, (want, size) in enumerate(zip(shape, got)):
            if want is not None and want != size:
                what = "rows" if axis == 0 else "columns"
                raise ValueError(f"{name} must have {want} {what}; got shape {got}.")
    return got


def _check_compressed(name, fmt, indptr, indices, data, n_major, n_minor, what, ndim=1):
    """Validated (indptr, indices[:nnz], data[:nnz]) of a CSR, CSC or BSR structure."""
    indptr = _index_array(name, fmt, "indptr", indptr)
    indices = _index_array(name, fmt, "indices", indices)
    data = _data_array(name, fmt, data, ndim)
    if indptr.shape[0] != n_major + 1:
        raise _invalid(name, fmt, f"indptr has length {indptr.shape[0]}, expected "
                                  f"{n_major + 1}.")
    if int(indptr[0]) != 0 or np.any(indptr[1:] < indptr[:-1]):
        raise _invalid(name, fmt, "indptr must start at 0 and never decrease.")
    nnz = int(indptr[-1])
    if indices.shape[0] < nnz or data.shape[0] < nnz:
        raise _invalid(name, fmt, f"indptr ends at {nnz} but indices has "
                                  f"{indices.shape[0]} entries and data {data.shape[0]}.")
    indices = indices[:nnz] if indices.shape[0] > nnz else indices
    data = data[:nnz] if data.shape[0] > nnz else data
    _check_range(name, fmt, what, indices, n_minor)
    return indptr, indices, data


def _major_coordinates(indptr):
    """Row (CSR) or column (CSC) of every stored entry of a validated indptr."""
    counts = np.diff(indptr.astype(np.int64, copy=False))
    return np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)


def _bsr_coordinates(name, A, m, n):
    data = _data_array(name, "BSR", A.data, ndim=3)
    R, C = data.shape[1], data.shape[2]
    if R < 1 or C < 1 or m % R or n % C:
        raise _invalid(name, "BSR", f"blocks of shape ({R}, {C}) do not tile shape "
                                    f"({m}, {n}).")
    indptr, bcols, data = _check_compressed(name, "BSR", A.indptr, A.indices, data,
                                            m // R, n // C, "block column indices", ndim=3)
    brows = _major_coordinates(indptr)
    bcols = bcols.astype(np.int64)
    shape3 = data.shape
    rows = brows[:, None, None] * R + np.arange(R)[None, :, None]
    cols = bcols[:, None, None] * C + np.arange(C)[None, None, :]
    return (np.broadcast_to(rows, shape3).ravel(), np.broadcast_to(cols, shape3).ravel(),
            data.ravel())


def _dia_coordinates(name, A, m, n):
    data = _data_array(name, "DIA", A.data, ndim=2)
    offsets = _index_array(name, "DIA", "offsets", A.offsets)
    if offsets.shape[0] != data.shape[0]:
        raise _invalid(name, "DIA", f"offsets has {offsets.shape[0]} entries but data has "
                                    f"{data.shape[0]} diagonals.")
    length = data.shape[1]
    rows, cols, vals = [], [], []
    for k, off in enumerate(offsets.tolist()):  # Python ints: no overflow
        # data[k, j] is entry (j - off, j), for the columns j of the matrix and of data
        j0, j1 = max(0, off), min(n, length, m + off)
        if j1 > j0:
            j = np.arange(j0, j1, dtype=np.int64)
            rows.append(j - off)
            cols.append(j)
            vals.append(data[k, j0:j1])
    if not vals:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, data.dtype)
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    keep = vals != 0  # as scipy's own conversion: a DIA matrix stores no zeros
    return rows[keep], cols[keep], vals[keep]


def _flat(name, fmt, what, seq, integer):
    """Concatenate Python sequences into one 1-d array (LIL and DOK hold lists)."""
    flat = list(seq)
    if not flat:
        return np.zeros(0, np.int64 if integer else np.float64)
    try:
        arr = np.asarray(flat)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _invalid(name, fmt, f"{what} cannot be read as an array ({exc}).") from None
    if integer:
        return _index_array(name, fmt, what, arr)
    return _data_array(name, fmt, arr)


def _lil_coordinates(name, A, m):
    rows_obj, data_obj = A.rows, A.data
    for what, arr in (("rows", rows_obj), ("data", data_obj)):
        if not isinstance(arr, np.ndarray) or arr.dtype != object or arr.shape != (m,):
            raise _invalid(name, "LIL", f"{what} must be an object array of {m} lists; got "
                                        f"{describe(arr)}.")
    lengths = np.zeros(m, np.int64)
    for i in range(m):
        r, d = rows_obj[i], data_obj[i]
        if not isinstance(r, list) or not isinstance(d, list) or len(r) != len(d):
            raise _invalid(name, "LIL", f"row {i} must hold two lists of one length (column "
                                        f"indices and values); got {describe(r)} and "
                                        f"{describe(d)}.")
        lengths[i] = len(r)
    cols = _flat(name, "LIL", "column indices", itertools.chain.from_iterable(rows_obj), True)
    vals = _flat(name, "LIL", "data", itertools.chain.from_iterable(data_obj), False)
    rows = np.repeat(np.arange(m, dtype=np.int64), lengths)
    return rows, cols, vals


def _dok_coordinates(name, A):
    keys = list(A.keys())
    for key in keys:
        if not isinstance(key, tuple) or len(key) != 2:
            raise _invalid(name, "DOK", f"keys must be (row, column) pairs; got {key!r}.")
    rows = _flat(name, "DOK", "row coordinates", (k[0] for k in keys), True)
    cols = _flat(name, "DOK", "column coordinates", (k[1] for k in keys), True)
    vals = _flat(name, "DOK", "data", A.values(), False)
    return rows, cols, vals


def _check_finite(name, data):
    if data.dtype.kind == "f" and data.size and not np.all(np.isfinite(data)):
        raise ValueError(f"{name} holds NaN or infinite values.")


def _csr_from_coordinates(name, fmt, rows, cols, data, shape, dtype):
    """Canonical CSR arrays of coordinates (duplicates summed), after checking them."""
    m, n = shape
    rows = _index_array(name, fmt, "row coordinates", rows)
    cols = _index_array(name, fmt, "column coordinates", cols)
    data = _data_array(name, fmt, data)
    if not rows.shape[0] == cols.shape[0] == data.shape[0]:
        raise _invalid(name, fmt, f"row, column and data arrays must have one length; got "
                                  f"{rows.shape[0]}, {cols.shape[0]} and {data.shape[0]}.")
    _check_range(name, fmt, "row coordinates", rows, m)
    _check_range(name, fmt, "column coordinates", cols, n)
    _check_finite(name, data)
    # Checked: scipy's conversion now only sees in-range coordinates.
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported later
        coo = sp.coo_array((data.astype(dtype, copy=False),
                            (_native_index(rows), _native_index(cols))), shape=shape)
        B = coo.tocsr()
    return B.indptr, B.indices, B.data


def _native_index(arr):
    """A checked index array as int32 or int64 (values already known to be in range)."""
    if arr.dtype in (np.dtype(np.int32), np.dtype(np.int64)):
        return arr
    return arr.astype(np.int64)


def _is_canonical(indptr, indices):
    """Whether the column indices of every row of a validated CSR strictly increase."""
    nnz = indices.shape[0]
    if nnz < 2:
        return True
    increasing = indices[1:] > indices[:-1]
    if increasing.all():
        return True
    starts = indptr[1:-1]
    starts = starts[(starts > 0) & (starts < nnz)]
    increasing[starts - 1] = True  # a row's first entry may be below its predecessor's
    return bool(increasing.all())


def _canonical_csr(name, indptr, indices, data, shape, dtype, nonnegative, keep_int64=False):
    """:class:`Csr` from checked CSR arrays: int32 indices when they fit (int64 index
    arrays are kept as they are with ``keep_int64``), ``dtype`` values, sorted indices with
    duplicates summed, finite values."""
    raw = data
    nnz, n = indices.shape[0], shape[1]
    int64 = np.dtype(np.int64)
    index_dtype = (np.int64 if (keep_int64 and int64 in (indptr.dtype, indices.dtype))
                   or max(nnz, n) > _INT32_MAX else np.int32)
    indptr = np.ascontiguousarray(indptr, dtype=index_dtype)
    indices = np.ascontiguousarray(indices, dtype=index_dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        data = np.ascontiguousarray(data, dtype=dtype)
        if not _is_canonical(indptr, indices):
            B = sp.csr_array((data, indices, indptr), shape=shape, copy=True)
            B.sum_duplicates()
            indptr = np.ascontiguousarray(B.indptr, dtype=index_dtype)
            indices = np.ascontiguousarray(B.indices, dtype=index_dtype)
            data = np.ascontiguousarray(B.data, dtype=dtype)
    if data.size and not np.all(np.isfinite(data)):
        _check_finite(name, raw)  # NaN or inf in the input itself
        raise ValueError(f"{name} holds values too large for {dtype.name}: they overflow to "
                         f"infinity when converted or when duplicate entries are summed.")
    if nonnegative and data.size and data.min() < 0:
        raise ValueError(f"{name} holds negative values ({data.min():g}); confidence "
                         f"weighting needs values >= 0 (use confidence='none' for signed data).")
    return Csr(indptr, indices, data, shape)


def check_matrix(A, name="A", *, dtype, nonnegative=False, shape=None):
    """Validate a matrix and return it as canonical :class:`Csr` with ``dtype`` values.

    ``A`` may be any scipy.sparse matrix or array (CSR, CSC, COO, BSR, DIA, LIL, DOK), a
    2-d NumPy array (its zeros are not stored; every other value is an entry), or an object
    with a ``to_csr(dtype)`` method such as :class:`fastmf.Interactions`.

    Everything is checked before any conversion or scipy call that could read a corrupt
    structure: index arrays of an integer dtype (compared exactly, before any cast), 1-d,
    of consistent lengths; indptr of length rows + 1 (columns + 1 for CSC), starting at 0,
    never decreasing and ending within indices and data; indices and coordinates within
    the shape; real (bool, int or float), finite, 1-d data; a shape of two non-negative
    ints. Values must also stay finite once cast to ``dtype`` and summed, and be
    non-negative when ``nonnegative``.

    Canonical means sorted column indices within each row and no duplicates: duplicate
    entries (the same row and column stored twice, as COO input or a hand-made CSR may
    hold) are summed, and unsorted rows are sorted. Explicitly stored zeros of a sparse
    input stay entries (except in DIA, whose conversion drops them). A CSR input already in
    that form, with ``dtype`` values and int32 or int64 index arrays, is returned without
    copying its arrays; otherwise a copy is made. Indices are int32 when they fit and int64
    otherwise (int64 input stays int64).
    """
    dtype = np.dtype(dtype)
    if not sp.issparse(A) and callable(getattr(A, "to_csr", None)):
        A = A.to_csr(dtype)  # fastmf.Interactions (duck-typed: no import cycle)
    if isinstance(A, np.ndarray):
        arr = np.asarray(A)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers (bool, int or float); got dtype "
                            f"{arr.dtype}.")
        m, n = _check_shape(name, arr, shape)
        _check_finite(name, arr)
        mask = arr != 0
        indptr = np.zeros(m + 1, np.int64)
        np.cumsum(np.count_nonzero(mask, axis=1), out=indptr[1:])
        data = arr[mask]  # row-major: already sorted
        indices = np.nonzero(mask)[1]
        return _canonical_csr(name, indptr, indices, data, (m, n), dtype, nonnegative)
    if not sp.issparse(A):
        raise TypeError(f"{name} must be a scipy.sparse matrix or array, or a 2-d numpy "
                        f"array; got {_type_name(A)}. Convert it with "
                        f"scipy.sparse.csr_array({name}).")
    fmt = getattr(A, "format", None)
    shape = _check_shape(name, A, shape)
    m, n = shape
    if fmt != "csr":
        # a conversion allocates the row pointers (m + 1) and a copy of the entries
        from ._memory import check_memory
        try:
            nnz = int(np.size(getattr(A, "data", 0)))
        except (TypeError, ValueError):
            nnz = 0
        check_memory((m + 1) * 8 + nnz * (16 + np.dtype(dtype).itemsize),
                     f"converting {name} ({m:,} x {n:,}, {fmt}) to CSR",
                     "pass a CSR matrix of the real shape")
    if fmt == "csr":
        indptr, indices, data = _check_compressed(name, "CSR", A.indptr, A.indices, A.data,
                                                  m, n, "column indices")
        return _canonical_csr(name, indptr, indices, data, shape, dtype, nonnegative,
                              keep_int64=True)
    if fmt == "csc":
        indptr, rows, data = _check_compressed(name, "CSC", A.indptr, A.indices, A.data,
                                               n, m, "row indices")
        _check_finite(name, data)
        # Checked: scipy's transposition now only sees a valid structure.
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported later
            C = sp.csc_array((data.astype(dtype, copy=False), _native_index(rows),
                              _native_index(indptr)), shape=shape)
            B = C.tocsr()
        return _canonical_csr(name, B.indptr, B.indices, B.data, shape, dtype, nonnegative)
    if fmt == "coo":
        coords = getattr(A, "coords", None)
        if coords is None:
            coords = (A.row, A.col)
        if not isinstance(coords, (tuple, list)) or len(coords) != 2:
            raise _invalid(name, "COO", f"coords must be a pair of arrays (row, col); got "
                                        f"{describe(coords)}.")
        coords = coords[0], coords[1], A.data
    elif fmt == "bsr":
        coords = _bsr_coordinates(name, A, m, n)
    elif fmt == "dia":
        coords = _dia_coordinates(name, A, m, n)
    elif fmt == "lil":
        coords = _lil_coordinates(name, A, m)
    elif fmt == "dok":
        coords = _dok_coordinates(name, A)
    else:
        raise TypeError(f"{name} has the unsupported sparse format {fmt!r}; convert it with "
                        f"scipy.sparse.csr_array({name}).")
    indptr, indices, data = _csr_from_coordinates(name, fmt.upper(), *coords, shape, dtype)
    return _canonical_csr(name, indptr, indices, data, shape, dtype, nonnegative)
