"""Checks at the API boundary. Kernels trust their input; everything is checked here first."""

import numbers

import numpy as np

from ._matrix import Csr, check_matrix, describe  # noqa: F401  (Csr, check_matrix re-exported)


def check_int(owner, name, value, low=None, high=None):
    """An int (not bool) in [low, high]."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok:
        ok = (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"The {name!r} parameter of {owner} must be an int in the range "
                         f"[{lo}, {hi}]. Got {describe(value)} instead.")
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
                         f"range {bracket}{lo}, {hi}]. Got {describe(value)} instead.")
    return value


def check_option(owner, name, value, options):
    if not isinstance(value, str) or value not in options:
        opts = ", ".join(repr(o) for o in options)
        raise ValueError(f"The {name!r} parameter of {owner} must be one of {opts}. "
                         f"Got {describe(value)} instead.")
    return value


def check_bool(owner, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"The {name!r} parameter of {owner} must be a bool. "
                         f"Got {describe(value)} instead.")
    return bool(value)


def check_dtype(owner, value):
    """float32 or float64, given as anything ``np.dtype`` reads (None is refused: numpy
    would read it as float64)."""
    dt = None
    if value is not None:
        try:
            dt = np.dtype(value)
        except (TypeError, ValueError, SyntaxError):
            dt = None
    if dt is None or dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"The 'dtype' parameter of {owner} must be float32 or float64. "
                         f"Got {describe(value)} instead.")
    return dt


def check_random_state(owner, value):
    if value is None or isinstance(value, np.random.Generator):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise ValueError(f"The 'random_state' parameter of {owner} must be None, a non-negative "
                     f"int or a numpy.random.Generator. Got {describe(value)} instead.")


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


def check_ids(name, ids, upper):
    """1-d int64 array of ids in [0, upper). Ids are ints, or floats with integral values;
    bools, strings and other objects are refused. The range is checked before any cast."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of ids; got shape {arr.shape}.")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold integer ids; got dtype {arr.dtype}.")
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        bad[~bad] = arr[~bad] != np.round(arr[~bad])
        if bad.any():
            raise ValueError(f"{name} must hold integer ids; got dtype {arr.dtype} with "
                             f"the non-integral value {arr[bad][0]!r}.")
    low, high = arr.min(), arr.max()
    if low < 0 or high >= upper:
        raise ValueError(f"{name} must lie in [0, {upper}); got values from {int(low)} to "
                         f"{int(high)}.")
    return arr.astype(np.int64, copy=False)
