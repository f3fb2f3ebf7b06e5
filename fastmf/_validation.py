"""Checks at the API boundary. Kernels trust their input; everything is checked here first."""

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


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return repr(value)


def check_int(owner, name, value, low=None, high=None):
    """An int (not bool) in [low, high]."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok:
        ok = (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"The {name!r} parameter of {owner} must be an int in the range "
                         f"[{lo}, {hi}]. Got {_describe(value)} instead.")
    return int(value)


def check_float(owner, name, value, low=None, high=None, low_open=False):
    """A finite real number in [low, high] (or (low, high] with ``low_open``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = np.isfinite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value <= high
    if not ok:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        bracket = "(" if low_open else "["
        raise ValueError(f"The {name!r} parameter of {owner} must be a finite float in the "
                         f"range {bracket}{lo}, {hi}]. Got {_describe(value)} instead.")
    return value


def check_option(owner, name, value, options):
    if not isinstance(value, str) or value not in options:
        opts = ", ".join(repr(o) for o in options)
        raise ValueError(f"The {name!r} parameter of {owner} must be one of {opts}. "
                         f"Got {_describe(value)} instead.")
    return value


def check_bool(owner, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"The {name!r} parameter of {owner} must be a bool. "
                         f"Got {_describe(value)} instead.")
    return bool(value)


def check_dtype(owner, value):
    try:
        dt = np.dtype(value)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"The 'dtype' parameter of {owner} must be float32 or float64. "
                         f"Got {_describe(value)} instead.")
    return dt


def check_random_state(owner, value):
    if value is None or isinstance(value, np.random.Generator):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise ValueError(f"The 'random_state' parameter of {owner} must be None, a non-negative "
                     f"int or a numpy.random.Generator. Got {_describe(value)} instead.")


def make_rng(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def check_weights_vector(owner, name, value, length=None):
    """Optional non-negative finite vector (row or column weights)."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"The {name!r} parameter of {owner} must be a 1-d array. "
                         f"Got an array of shape {arr.shape} instead.")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"The {name!r} parameter of {owner} must hold finite, non-negative "
                         f"values.")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"The {name!r} parameter of {owner} has length {arr.shape[0]}, but "
                         f"the matrix has {length} {'rows' if name.startswith('row') else 'columns'}.")
    return arr


def check_matrix(A, name="A", *, dtype, nonnegative=False, shape=None):
    """Validate a scipy.sparse input (or :class:`fastmf.Interactions`, whose matrix is used)
    and return it as canonical :class:`Csr`, ``dtype`` values.

    Canonical means sorted indices without duplicates (duplicates are summed). The input's
    arrays are reused when they already have that form; otherwise a copy is made. Index
    arrays keep their int32/int64 type; indptr and indices are given one common type.
    """
    # fastmf.Interactions (or anything that holds its matrix) hands over its CSR
    if not sp.issparse(A) and callable(getattr(A, "to_csr", None)):
        A = A.to_csr(dtype)
    if not sp.issparse(A):
        kind = type(A).__module__ + "." + type(A).__name__
        raise TypeError(f"{name} must be a scipy.sparse matrix or array; got {kind}. "
                        f"Convert it with scipy.sparse.csr_array({name}).")
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional; got {A.ndim} dimensions.")
    if shape is not None:
        for axis, (want, got) in enumerate(zip(shape, A.shape)):
            if want is not None and want != got:
                what = "rows" if axis == 0 else "columns"
                raise ValueError(f"{name} must have {want} {what}; got shape {A.shape}.")
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {A.dtype}.")
    if A.format != "csr":
        A = A.tocsr()
    else:
        # Structure first: a corrupt indptr or out-of-range index must not reach a kernel.
        indptr = np.asarray(A.indptr)
        indices = np.asarray(A.indices)
        m, n = A.shape
        if indptr.ndim != 1 or indptr.shape[0] != m + 1:
            raise ValueError(f"{name} is not a valid CSR matrix: indptr has length "
                             f"{indptr.shape[0]}, expected {m + 1}.")
        if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise ValueError(f"{name} is not a valid CSR matrix: indptr must start at 0 and "
                             f"never decrease.")
        nnz = int(indptr[-1])
        if indices.shape[0] < nnz or np.asarray(A.data).shape[0] < nnz:
            raise ValueError(f"{name} is not a valid CSR matrix: indptr ends at {nnz} but "
                             f"indices has {indices.shape[0]} entries and data "
                             f"{np.asarray(A.data).shape[0]}.")
        if nnz and (indices[:nnz].min() < 0 or indices[:nnz].max() >= n):
            raise ValueError(f"{name} is not a valid CSR matrix: column indices must lie in "
                             f"[0, {n}); found {int(indices[:nnz].min())}.."
                             f"{int(indices[:nnz].max())}.")
        if indices.shape[0] > nnz or np.asarray(A.data).shape[0] > nnz:
            A = sp.csr_array((A.data[:nnz], indices[:nnz], indptr), shape=A.shape)
    data = np.asarray(A.data)
    if data.size and not np.all(np.isfinite(data)):
        raise ValueError(f"{name} holds NaN or infinite values.")
    if nonnegative and data.size and data.min() < 0:
        raise ValueError(f"{name} holds negative values ({data.min():g}); confidence "
                         f"weighting needs values >= 0 (use confidence='none' for signed data).")
    if not A.has_canonical_format:
        A = A.copy()
        A.sum_duplicates()
    return _csr_from_scipy(A, dtype)


def check_ids(name, ids, upper):
    """1-d int64 array of ids in [0, upper)."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of ids; got shape {arr.shape}.")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer ids; got dtype {arr.dtype}.")
    arr = arr.astype(np.int64, copy=False)
    if arr.min() < 0 or arr.max() >= upper:
        raise ValueError(f"{name} must lie in [0, {upper}); got values from {arr.min()} to "
                         f"{arr.max()}.")
    return arr
