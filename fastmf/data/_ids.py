"""Raw ids (integers or strings): checking, factorizing into indices, and looking them up in
a sorted catalogue."""

import numpy as np


def raw_ids(name, ids):
    """1-d array of raw ids (integers or strings), with missing ids rejected."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of ids; got shape {arr.shape}.")
    kind = arr.dtype.kind
    if kind == "f":
        if arr.size and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} holds missing ids (NaN) at position "
                             f"{int(np.flatnonzero(~np.isfinite(arr))[0])}.")
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{name} holds non-integer numbers; ids must be integers or "
                             f"strings.")
        arr = arr.astype(np.int64)
    elif kind == "O":
        missing = np.fromiter((x is None or (isinstance(x, float) and np.isnan(x)) for x in arr),
                              dtype=bool, count=arr.size)
        if missing.any():
            raise ValueError(f"{name} holds missing ids (None or NaN) at position "
                             f"{int(np.flatnonzero(missing)[0])}.")
        if all(isinstance(x, str) for x in arr):
            arr = arr.astype(str)
        elif all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in arr):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold only integers or only strings; got a mix of "
                             f"{sorted({type(x).__name__ for x in arr})}.")
    elif kind == "b":
        raise ValueError(f"{name} must hold integer or string ids; got booleans.")
    elif kind not in "iuUS":
        raise ValueError(f"{name} must hold integer or string ids; got dtype {arr.dtype}.")
    if arr.dtype.kind == "S":
        arr = arr.astype(str)
    if arr.dtype.kind == "U" and arr.size and np.any(arr == ""):
        raise ValueError(f"{name} holds empty-string ids at position "
                         f"{int(np.flatnonzero(arr == '')[0])}.")
    if arr.dtype.kind == "u":
        arr = arr.astype(np.int64)
    return arr


def factorize(name, ids):
    """(sorted unique raw ids, index of each entry's id in them).

    Strings in object arrays are factorized before anything is widened to a fixed-width
    array, so only the unique ids are ever stored as one (17.5M rows of 40-character user
    hashes would otherwise take gigabytes)."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of ids; got shape {arr.shape}.")
    if arr.dtype.kind != "O":
        uniq, codes = np.unique(raw_ids(name, arr), return_inverse=True)
        return uniq, codes.reshape(-1).astype(np.int64)
    try:
        import pandas as pd
    except ImportError:
        pd = None
    if pd is not None:
        codes, uniq = pd.factorize(arr, use_na_sentinel=True)
        if codes.size and codes.min() < 0:
            raise ValueError(f"{name} holds missing ids (None or NaN) at position "
                             f"{int(np.flatnonzero(codes < 0)[0])}.")
        uniq = raw_ids(name, np.asarray(uniq, dtype=object))
        order = np.argsort(uniq, kind="stable")
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        return uniq[order], rank[codes]
    arr = raw_ids(name, arr)
    uniq, codes = np.unique(arr, return_inverse=True)
    return uniq, codes.reshape(-1).astype(np.int64)


def show_id(x):
    """repr of a raw id without numpy's scalar wrapper."""
    return repr(x.item() if hasattr(x, "item") else x)


def lookup(catalogue, raw, name):
    """Index of each raw id in the sorted ``catalogue``; -1 where absent."""
    if catalogue.dtype.kind != raw.dtype.kind and raw.size:
        kinds = {"i": "integers", "U": "strings"}
        raise ValueError(f"{name} are {kinds.get(raw.dtype.kind, raw.dtype)} but the "
                         f"catalogue holds {kinds.get(catalogue.dtype.kind, catalogue.dtype)}.")
    pos = np.searchsorted(catalogue, raw)
    pos = np.minimum(pos, max(catalogue.size - 1, 0))
    found = catalogue[pos] == raw if catalogue.size else np.zeros(raw.size, bool)
    return np.where(found, pos, -1).astype(np.int64)


def lookup_ids(catalogue, raw, name, unknown="error"):
    """Indices of the raw ids ``raw`` in the sorted id ``catalogue`` (``name``: 'users' or
    'items', for messages). ``unknown='error'`` raises a KeyError naming the unknown ids;
    ``-1`` marks them with -1."""
    if unknown not in ("error", -1):
        raise ValueError(f"unknown must be 'error' or -1; got {unknown!r}.")
    raw = raw_ids(name, raw)
    if raw.size and catalogue.dtype.kind == "i" and raw.dtype.kind == "U":
        # ids typed on a command line or read as text: integers if they all parse
        try:
            raw = raw.astype(np.int64)
        except ValueError:
            pass
    idx = lookup(catalogue, raw, name)
    if unknown == "error" and np.any(idx < 0):
        bad = raw[np.flatnonzero(idx < 0)]
        shown = ", ".join(show_id(x) for x in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise KeyError(f"unknown {name[:-1]} id(s) {shown} ({bad.size} of {raw.size} not "
                       f"in the catalogue of {catalogue.size} {name}).")
    return idx
