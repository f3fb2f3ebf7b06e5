"""Observation weights and targets, computed on the fly from the stored values.

Keeping only the raw values (no weight or target arrays) holds a fit's memory to the input
matrix, its transpose and the factors.

``kind``: 0 = no confidence (1), 1 = linear (1 + alpha * a), 2 = log
(1 + alpha * log(1 + a / eps)). With ``has_scale`` the weight is
``w0 + row_scale_i * col_scale_j * confidence`` (frequency-based weights as in weighted MF),
where ``w0`` is the entry's unobserved weight (per item with per-item weights, see
:func:`_entry_w0`).
"""

from collections import namedtuple

import numpy as np
from numba import njit

from .shared import FASTMATH

CONFIDENCE_KINDS = {"none": 0, "linear": 1, "log": 2}

#: The weighting as the kernels take it, one argument (``Weighting.kernel_args`` makes it):
#: the scalar unobserved weight ``w0``; ``w0_vec``, per-item unobserved weights (empty for
#: the scalar one; see :func:`_entry_w0`) and ``w0_by_row``, whether the kernel's rows are
#: the items; the frequency weights ``row_scale`` and ``col_scale`` (used with
#: ``has_scale``); the confidence ``kind`` (``CONFIDENCE_KINDS``), ``alpha`` and ``eps``; and
#: ``binary``, whether the targets are 1 rather than the values. A kernel unpacks it once,
#: outside its parallel loop, and hands the helpers below plain values.
KernelWeighting = namedtuple("KernelWeighting", ["w0", "w0_vec", "w0_by_row", "row_scale",
                                                 "col_scale", "kind", "alpha", "eps",
                                                 "binary", "has_scale"])


# ``one`` is 1 in the kernel's float type: a bare literal 1 is an int64 to Numba and would
# promote float32 arithmetic to float64.


# Kept twice on purpose: the NumPy twin over arrays is core/_weighting.py's `confidence`.
@njit(cache=True, inline="always")
def _confidence(a, kind, alpha, eps, one):
    if kind == 1:
        return one + alpha * a
    if kind == 2:
        return one + alpha * np.log1p(a / eps)
    return one


@njit(cache=True, inline="always")
def _obs_weight(a, rs, cs, w0, kind, alpha, eps, has_scale, one):
    c = _confidence(a, kind, alpha, eps, one)
    if has_scale:
        return w0 + rs * cs * c
    return c


@njit(cache=True, inline="always")
def _obs_target(a, binary, one):
    if binary:
        return one
    return a


@njit(cache=True, inline="always")
def _entry_w0(w0, w0_vec, w0_by_row, i, j):
    """The unobserved weight of entry (i, j): the scalar ``w0`` when ``w0_vec`` is empty,
    else the per-item weight, ``w0_vec[i]`` when rows are items (``w0_by_row``) and
    ``w0_vec[j]`` when columns are."""
    if w0_vec.shape[0] == 0:
        return w0
    if w0_by_row:
        return w0_vec[i]
    return w0_vec[j]


# The row coefficients of the WALS kernels (``_kernels.wals``), under the kernels' flags.
# Kept apart from _row_coefficients_items on purpose: no per-entry w0 lookup here.
@njit(cache=True, fastmath=FASTMATH, inline="always")
def _row_coefficients(start, end, i, indices, values, offsets, w0, row_scale, col_scale,
                      kind, alpha, eps, binary, has_scale, cw, bw):
    """cw[q] = w - w0 and bw[q] = w * (t - off_j) for the row's q-th nonzero."""
    rs = row_scale[i]
    one = cw.dtype.type(1)
    for q in range(end - start):
        idx = start + q
        j = indices[idx]
        a = values[idx]
        w = _obs_weight(a, rs, col_scale[j], w0, kind, alpha, eps, has_scale, one)
        cw[q] = w - w0
        bw[q] = w * (_obs_target(a, binary, one) - offsets[j])


# Kept apart from _row_coefficients on purpose: the per-item w0 costs a lookup per entry.
@njit(cache=True, fastmath=FASTMATH)
def _row_coefficients_items(start, end, i, indices, values, offsets, w0, w0_vec, w0_by_row,
                            row_scale, col_scale, kind, alpha, eps, binary, has_scale, cw,
                            bw):
    """As :func:`_row_coefficients` with per-item unobserved weights: cw[q] = w - w0_e,
    where w0_e is the entry's weight from ``w0_vec`` (see ``_entry_w0``)."""
    rs = row_scale[i]
    one = cw.dtype.type(1)
    for q in range(end - start):
        idx = start + q
        j = indices[idx]
        a = values[idx]
        w0e = _entry_w0(w0, w0_vec, w0_by_row, i, j)
        w = _obs_weight(a, rs, col_scale[j], w0e, kind, alpha, eps, has_scale, one)
        cw[q] = w - w0e
        bw[q] = w * (_obs_target(a, binary, one) - offsets[j])
