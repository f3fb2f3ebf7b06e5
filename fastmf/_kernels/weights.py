"""Observation weights and targets, computed on the fly from the stored values.

Keeping only the raw values (no weight or target arrays) holds a fit's memory to the input
matrix, its transpose and the factors.

``kind``: 0 = no confidence (1), 1 = linear (1 + alpha * a), 2 = log
(1 + alpha * log(1 + a / eps)). With ``has_scale`` the weight is
``w0 + row_scale_i * col_scale_j * confidence`` (frequency-based weights as in weighted MF).
"""

import numpy as np
from numba import njit

CONFIDENCE_KINDS = {"none": 0, "linear": 1, "log": 2}


@njit(cache=True, inline="always")
def _confidence(a, kind, alpha, eps):
    if kind == 1:
        return 1 + alpha * a
    if kind == 2:
        return 1 + alpha * np.log1p(a / eps)
    return a * 0 + 1


@njit(cache=True, inline="always")
def _obs_weight(a, rs, cs, w0, kind, alpha, eps, has_scale):
    c = _confidence(a, kind, alpha, eps)
    if has_scale:
        return w0 + rs * cs * c
    return c


@njit(cache=True, inline="always")
def _obs_target(a, binary):
    if binary:
        return a * 0 + 1
    return a
