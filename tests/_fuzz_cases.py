"""Fuzz cases for the input checks: well-formed and malformed matrices in every format.

A case is a plain, picklable recipe (a dict); :func:`build` turns it into the object that
is handed to an entry point. Malformed structures are made the way a user could make them
without scipy noticing: build a valid matrix, then overwrite its arrays (``indptr``,
``indices``, ``data``, ``coords``, ``offsets``, ``rows``, the DOK dict or ``_shape``).

Each case says what must happen:

* ``reject``: the input is invalid; the entry point must raise ValueError or TypeError;
* ``accept``: the input is valid; the entry point must work (or raise one of the few
  errors that are about the data's content rather than its form, see ``CONTENT_ERRORS``);
* ``any``: valid in form but possibly unusable (huge values or shapes, negative values);
  an ordinary exception is as good as a result.
"""

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st

FORMATS = ("csr", "csc", "coo", "bsr", "dia", "lil", "dok")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
INDEX_DTYPES = INT_DTYPES + ("float32", "float64", "bool")
DATA_DTYPES = ("bool", "int8", "int32", "int64", "uint8", "uint64", "float16", "float32",
               "float64")
TARGETS = ("wals", "sgd", "objective", "recommend", "fold_in", "loss", "evaluate_train",
           "evaluate_test")
HUGE = (2**31, 2**32 + 1, 2**50, 2**63 - 1, 2**64 - 1)

# Errors about what a valid matrix holds, not about its form: an ``accept`` case may raise
# these (an empty test set cannot be evaluated).
CONTENT_ERRORS = ("test has no stored entries", "auc needs a user with both a test item")


def base_matrix(m, n, density, seed):
    """A valid m x n CSR array of small counts (1..5), deterministic in its arguments."""
    rng = np.random.default_rng(seed)
    mask = rng.random((m, n)) < density
    dense = np.where(mask, rng.integers(1, 6, (m, n)), 0).astype(np.float64)
    return sp.csr_array(dense)


def _container(A, fmt, container):
    if container == "matrix":
        return getattr(sp, f"{fmt}_matrix")(A)
    return A


def build(case):
    """The object a case describes."""
    if "raw" in case:
        return case["raw"]
    m, n, density, seed = case["base"]
    A = base_matrix(m, n, density, seed)
    fmt = case["format"]
    if fmt == "bsr":
        A = A.tobsr(blocksize=case.get("blocksize", (1, 1)))
    else:
        A = A.asformat(fmt)
    A = _container(A, fmt, case.get("container", "array"))
    for op in case.get("ops", ()):
        if op[0] == "set":
            setattr(A, op[1], op[2])
        else:  # ("item", attribute, key, value)
            getattr(A, op[1])[op[2]] = op[3]
    return A


def _reference(case):
    """The case's matrix before any overwriting, in its format (for arrays to corrupt)."""
    return build({k: v for k, v in case.items() if k != "ops"})


def _fitting_dtypes(values, dtypes=INT_DTYPES):
    """The integer dtypes that hold every value exactly."""
    values = [int(x) for x in np.asarray(values, dtype=object).ravel()]
    lo, hi = min(values, default=0), max(values, default=0)
    return [dt for dt in dtypes
            if np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max]


def _as_dtype(draw, values, extra=()):
    """``values`` (Python ints) as an array of a drawn integer dtype that holds them."""
    options = _fitting_dtypes(values) + list(extra)
    dt = draw(st.sampled_from(options))
    return np.array([int(x) for x in values], dtype=object).astype(dt)


# ------------------------------------------------------------------ families
def _well_formed(draw, case):
    fmt = case["format"]
    A = _reference(case)
    ops = []
    label = f"valid {fmt}"
    if fmt in ("csr", "csc", "bsr") and draw(st.booleans()):
        dt = draw(st.sampled_from(_fitting_dtypes(list(A.indptr) + list(A.indices))))
        ops += [("set", "indptr", A.indptr.astype(dt)), ("set", "indices", A.indices.astype(dt))]
        label += f", {dt} indices"
    if fmt == "coo" and draw(st.booleans()):
        dt = draw(st.sampled_from(_fitting_dtypes(list(A.row) + list(A.col))))
        ops.append(("set", "coords", (A.row.astype(dt), A.col.astype(dt))))
        label += f", {dt} coords"
    if fmt in ("csr", "csc", "coo", "bsr", "dia") and draw(st.booleans()):
        dt = draw(st.sampled_from(DATA_DTYPES))
        ops.append(("set", "data", A.data.astype(dt)))
        label += f", {dt} data"
    if fmt in ("csr", "csc", "coo") and A.nnz and draw(st.booleans()):
        ops = _non_canonical(draw, A, fmt)
        label += ", duplicates and unsorted indices"
    return label, ops, "accept"


def _non_canonical(draw, A, fmt):
    """The same matrix as unsorted entries with some split into duplicates (exact sums)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if fmt == "coo":
        rows, cols, vals = A.row.astype(np.int64), A.col.astype(np.int64), A.data.copy()
    else:
        major = np.repeat(np.arange(A.indptr.shape[0] - 1), np.diff(A.indptr))
        rows, cols, vals = major, A.indices.astype(np.int64), A.data.copy()
    split = (vals >= 2) & (rng.random(vals.shape[0]) < 0.5)
    rows = np.concatenate([rows, rows[split]])
    cols = np.concatenate([cols, cols[split]])
    vals = np.concatenate([vals, np.ones(int(split.sum()))])
    vals[:split.shape[0]][split] -= 1
    order = rng.permutation(rows.shape[0])
    rows, cols, vals = rows[order], cols[order], vals[order]
    if fmt == "coo":
        return [("set", "coords", (rows, cols)), ("set", "data", vals)]
    # compressed: group by major index (stable), leaving the minor indices unsorted
    by = np.argsort(rows, kind="stable")
    indptr = np.zeros(A.indptr.shape[0], np.int64)
    np.cumsum(np.bincount(rows, minlength=indptr.shape[0] - 1), out=indptr[1:])
    return [("set", "indptr", indptr.astype(A.indptr.dtype)),
            ("set", "indices", cols[by].astype(A.indices.dtype)), ("set", "data", vals[by])]


def _compressed_corruptions(draw, A, fmt):
    """(label, ops, expect) options for CSR, CSC and BSR."""
    ptr = [int(x) for x in A.indptr]
    idx = [int(x) for x in A.indices]
    nnz = ptr[-1]
    n_minor = A.shape[1] if fmt == "csr" else A.shape[0]
    if fmt == "bsr":
        n_minor = A.shape[1] // A.blocksize[1]
    out = []
    if len(ptr) >= 3:
        i = draw(st.integers(1, len(ptr) - 2))
        bad = list(ptr)
        bad[i] = ptr[-1] + draw(st.integers(1, 3))
        out.append(("indptr not monotone", "indptr", bad))
    bad = list(ptr)
    bad[0] = draw(st.sampled_from([1, -1, -(2**31), 2**40]))
    out.append(("indptr not starting at 0", "indptr", bad))
    bad = list(ptr)
    past = draw(st.sampled_from([1, 7] + list(HUGE)))
    bad[-1] = nnz + past if past < 100 else past
    out.append(("indptr ending past nnz", "indptr", bad))
    out.append(("indptr too short", "indptr", ptr[:-1]))
    out.append(("indptr too long", "indptr", ptr + [nnz]))
    if nnz:
        j = draw(st.integers(0, nnz - 1))
        for what, value in (("out of range", n_minor + draw(st.integers(0, 3))),
                            ("negative", -draw(st.integers(1, 2**31))),
                            ("huge", draw(st.sampled_from(HUGE)))):
            bad = list(idx)
            bad[j] = value
            out.append((f"index {what}", "indices", bad))
    options = []
    for label, attr, values in out:
        arr = _as_dtype(draw, values)
        options.append((f"{fmt} {label} ({arr.dtype})", [("set", attr, arr)], "reject"))
    # float / bool index arrays, NaN and fractions
    for attr, values in (("indptr", ptr), ("indices", idx)):
        fl = np.array(values, dtype=draw(st.sampled_from(["float32", "float64"])))
        if fl.size:
            k = draw(st.integers(0, fl.size - 1))
            fl2 = fl.copy()
            fl2[k] = draw(st.sampled_from([np.nan, 0.5, np.inf]))
            options.append((f"{fmt} {attr} with NaN/fraction", [("set", attr, fl2)], "reject"))
        options.append((f"{fmt} {attr} of integral floats", [("set", attr, fl)], "reject"))
        if attr == "indices" or len(values) > 1:
            options.append((f"{fmt} {attr} of bools",
                            [("set", attr, np.array(values).astype(bool))], "reject"))
        options.append((f"{fmt} 2-d {attr}",
                        [("set", attr, np.array(values, np.int64)[:, None])], "reject"))
    if nnz:
        options.append((f"{fmt} indices shorter than indptr says",
                        [("set", "indices", A.indices[:-1])], "reject"))
        options.append((f"{fmt} data shorter than indptr says",
                        [("set", "data", A.data[:-1])], "reject"))
    return options


def _data_corruptions(draw, A, fmt):
    """Bad data arrays for the formats that hold one (CSR, CSC, COO, BSR, DIA)."""
    data = A.data
    out = [(f"{fmt} data of one more dimension", data[..., None], "reject"),
           (f"{fmt} complex data", data.astype(np.complex128), "reject"),
           (f"{fmt} object data", data.astype(object), "reject"),
           (f"{fmt} string data", data.astype(str), "reject")]
    if fmt == "dia":
        out.append(("dia 1-d data", data.ravel(), "reject"))
    else:
        out.append((f"{fmt} data of 0 dimensions", np.float64(1.0), "reject"))
    entry = _stored_position(draw, A, fmt)
    if entry is not None:
        for label, value, expect in (("NaN", np.nan, "reject"), ("inf", np.inf, "reject"),
                                     ("-inf", -np.inf, "reject"),
                                     ("huge", draw(st.sampled_from([1e300, 3.5e38, 1e20])),
                                      "any"),
                                     ("negative", -2.0, "any")):
            bad = data.astype(np.float64)
            bad[entry] = value
            out.append((f"{fmt} {label} value", bad, expect))
    return [(label, [("set", "data", arr)], expect) for label, arr, expect in out]


def _stored_position(draw, A, fmt):
    """Index into ``A.data`` of a stored (visible) entry, or None."""
    if fmt == "dia":
        m, n = A.shape
        spots = [(k, j) for k, off in enumerate(A.offsets.tolist())
                 for j in range(max(0, off), min(n, A.data.shape[1], m + off))]
        return draw(st.sampled_from(spots)) if spots else None
    if fmt == "bsr":
        nb = int(A.indptr[-1])
        if not nb:
            return None
        return (draw(st.integers(0, nb - 1)), 0, 0)
    nnz = A.data.shape[0]
    return draw(st.integers(0, nnz - 1)) if nnz else None


def _coo_corruptions(draw, A):
    m, n = A.shape
    row, col = [int(x) for x in A.row], [int(x) for x in A.col]
    out = []
    if row:
        j = draw(st.integers(0, len(row) - 1))
        for axis, coords, size in (("row", row, m), ("col", col, n)):
            for what, value in (("out of range", size + draw(st.integers(0, 3))),
                                ("negative", -draw(st.integers(1, 2**40))),
                                ("huge", draw(st.sampled_from(HUGE)))):
                bad = list(coords)
                bad[j] = value
                arr = _as_dtype(draw, bad)
                pair = (arr, A.col) if axis == "row" else (A.row, arr)
                out.append((f"coo {axis} {what} ({arr.dtype})", [("set", "coords", pair)],
                            "reject"))
            fl = np.array(coords, dtype=np.float64)
            fl[j] = draw(st.sampled_from([np.nan, 0.5, np.inf]))
            pair = (fl, A.col) if axis == "row" else (A.row, fl)
            out.append((f"coo {axis} with NaN/fraction", [("set", "coords", pair)], "reject"))
        out.append(("coo row shorter than data", [("set", "coords", (A.row[:-1], A.col))],
                    "reject"))
        out.append(("coo data shorter than coords", [("set", "data", A.data[:-1])], "reject"))
    out.append(("coo coords one longer than data",
                [("set", "coords", (np.append(A.row, 0), np.append(A.col, 0)))], "reject"))
    out.append(("coo integral float coords",
                [("set", "coords", (A.row.astype(float), A.col.astype(float)))], "reject"))
    out.append(("coo bool coords",
                [("set", "coords", (A.row.astype(bool), A.col.astype(bool)))], "reject"))
    out.append(("coo three coordinate arrays",
                [("set", "coords", (A.row, A.col, A.col))], "reject"))
    out.append(("coo 2-d coordinates",
                [("set", "coords", (A.row[:, None], A.col[:, None]))], "reject"))
    return out


def _dia_corruptions(draw, A):
    offs = [int(x) for x in A.offsets]
    out = [("dia float offsets", [("set", "offsets", A.offsets.astype(float))], "reject"),
           ("dia offsets longer than data",
            [("set", "offsets", np.append(A.offsets, 1))], "reject")]
    if offs:
        out.append(("dia offsets shorter than data",
                    [("set", "offsets", A.offsets[:-1])], "reject"))
        bad = list(offs)
        bad[draw(st.integers(0, len(bad) - 1))] = draw(st.sampled_from(
            [2**40, -(2**40), 2**63 - 1, -(2**63)]))
        arr = _as_dtype(draw, bad)
        out.append((f"dia huge offset ({arr.dtype})", [("set", "offsets", arr)], "any"))
        arr = np.array([2**64 - 1 - k for k in range(len(offs))], dtype=np.uint64)
        out.append(("dia uint64 offsets past every column", [("set", "offsets", arr)], "any"))
    return out


def _lil_corruptions(draw, A):
    m, n = A.shape
    out = [("lil rows as a list", [("set", "rows", list(A.rows))], "reject")]
    if m:
        i = draw(st.integers(0, m - 1))
        for label, cols, vals, expect in (
                ("column out of range", [n + draw(st.integers(0, 3))], [1.0], "reject"),
                ("negative column", [-1], [1.0], "reject"),
                ("huge column", [2**63 - 1], [1.0], "reject"),
                ("too-huge column", [2**70], [1.0], "reject"),
                ("float column", [0.5], [1.0], "reject"),
                ("more columns than values", [0, 0], [1.0], "reject"),
                ("more values than columns", [], [1.0], "reject"),
                ("string values", [0], ["x"], "reject"),
                ("complex values", [0], [1j], "reject"),
                ("NaN value", [0], [np.nan], "reject"),
                ("unsorted duplicate columns", [0, 0], [1.0, 2.0], "accept")):
            if n == 0 and expect == "accept":
                continue
            out.append((f"lil row with {label}",
                        [("item", "rows", i, list(cols)), ("item", "data", i, list(vals))],
                        expect))
        out.append(("lil row that is not a list", [("item", "rows", i, "ab")], "reject"))
    return out


def _dok_corruptions(draw, A):
    m, n = A.shape
    out = []
    for label, key, value in (("row out of range", (m + draw(st.integers(0, 3)), 0), 1.0),
                              ("column out of range", (0, n + draw(st.integers(0, 3))), 1.0),
                              ("negative row", (-1, 0), 1.0),
                              ("huge row", (2**64 - 1, 0), 1.0),
                              ("float key", (0.5, 0), 1.0),
                              ("one-element key", (0,), 1.0),
                              ("string key", "ab", 1.0)):
        out.append((f"dok {label}", [("item", "_dict", key, value)], "reject"))
    if m and n:
        out.append(("dok NaN value", [("item", "_dict", (0, 0), np.nan)], "reject"))
        out.append(("dok complex value", [("item", "_dict", (0, 0), 1j)], "reject"))
    return out


def _shape_corruptions(draw, A, fmt):
    m, n = A.shape
    out = [(f"{fmt} shape of 3 dimensions", (m, n, 1), "reject"),
           (f"{fmt} shape of 1 dimension", (m,), "reject"),
           (f"{fmt} negative shape", (-1, n), "reject"),
           (f"{fmt} float shape", (float(m), float(n)), "reject"),
           (f"{fmt} huge shape", (2**50, n), "any")]
    if fmt in ("csr", "bsr"):
        out.append((f"{fmt} shape with a row more than indptr", (m + 1, n), "reject"))
    if fmt == "csc":
        out.append((f"{fmt} shape with a column more than indptr", (m, n + 1), "reject"))
    return [(label, [("set", "_shape", shape)], expect) for label, shape, expect in out]


def _raw_inputs(draw, dense):
    """Dense arrays and things that are no matrix at all."""
    dt = draw(st.sampled_from(DATA_DTYPES))
    out = [("dense array", dense.astype(dt), "accept"),
           ("dense np.matrix", dense.view(np.matrix), "accept"),
           ("dense 1-d array", dense.ravel(), "reject"),
           ("dense 3-d array", dense[..., None], "reject"),
           ("dense 0-d array", np.array(1.0), "reject"),
           ("dense complex array", dense.astype(complex), "reject"),
           ("dense object array", dense.astype(object), "reject"),
           ("dense string array", dense.astype(str), "reject"),
           ("None", None, "reject"),
           ("nested list", dense.tolist(), "reject"),
           ("string", "A", "reject"),
           ("dict", {"a": 1}, "reject"),
           ("int", 3, "reject")]
    if dense.size:
        for label, value, expect in (("NaN", np.nan, "reject"), ("inf", np.inf, "reject"),
                                     ("huge", 1e300, "any")):
            bad = dense.copy()
            bad.flat[draw(st.integers(0, dense.size - 1))] = value
            out.append((f"dense array with {label}", bad, expect))
    return out


FAMILIES = ("valid", "structure", "data", "shape", "raw")


@st.composite
def cases(draw, fmt=None, family=None):
    """One fuzz case: a recipe plus the entry point, model dtype and expectation. ``fmt``
    and ``family`` fix the format and the kind of input (else they are drawn too)."""
    m = draw(st.integers(1, 6))
    n = draw(st.integers(1, 6))
    # empty shapes (0 x n, m x 0, 0 x 0) now and then, not as often as hypothesis would
    empty = draw(st.sampled_from([None] * 7 + ["rows", "columns", "both"]))
    m = 0 if empty in ("rows", "both") else m
    n = 0 if empty in ("columns", "both") else n
    density = draw(st.sampled_from([0.0, 0.3, 0.6, 1.0]))
    seed = draw(st.integers(0, 2**16))
    target = draw(st.sampled_from(TARGETS))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    if family is None:
        family = draw(st.sampled_from(["valid", "valid", "structure", "data", "shape", "raw"]))
    if fmt is None:
        fmt = draw(st.sampled_from(FORMATS))
    case = {"base": (m, n, density, seed), "format": fmt,
            "container": draw(st.sampled_from(["array", "matrix"])),
            "target": target, "dtype": dtype}
    if fmt == "bsr":
        case["blocksize"] = draw(st.sampled_from(
            [b for b in [(1, 1), (2, 2), (1, 3), (3, 2)]
             if b[0] and b[1] and m % b[0] == 0 and n % b[1] == 0] or [(1, 1)]))
    A = _reference(case)
    if family == "valid":
        label, ops, expect = _well_formed(draw, case)
    elif family == "raw":
        label, raw, expect = draw(st.sampled_from(_raw_inputs(draw, A.toarray())))
        case = {k: v for k, v in case.items() if k not in ("format", "container")}
        case["raw"] = raw
        ops = ()
    else:
        if family == "structure":
            if fmt in ("csr", "csc", "bsr"):
                options = _compressed_corruptions(draw, A, fmt)
            else:
                options = {"coo": _coo_corruptions, "dia": _dia_corruptions,
                           "lil": _lil_corruptions, "dok": _dok_corruptions}[fmt](draw, A)
        elif family == "data" and fmt not in ("lil", "dok"):
            options = _data_corruptions(draw, A, fmt)
        else:
            options = _shape_corruptions(draw, A, fmt)
        label, ops, expect = draw(st.sampled_from(options))
    case["ops"] = ops
    case["label"] = f"{label} {m}x{n} -> {target} ({dtype})"
    case["expect"] = expect
    return case
