"""Data-aware default hyperparameters for fastmf, as pure functions of the training matrix.

Each function takes a scipy.sparse matrix (users x items, the training data) and returns a
dict of keyword arguments for ``fastmf.WALS`` or ``fastmf.SGD``. Only NumPy is used, and
only O(nnz) summaries of the data: its shape, number of stored entries and the distribution
of the stored values. The rules and the evidence behind their constants are in DEFAULTS.md.

Implicit feedback (``wals_implicit`` / ``sgd_implicit``):

* confidence: binary data (all stored values equal) -> 'none' (every observed entry weighs
  1); counts -> 'log' with epsilon = the median stored value and alpha = 1, so one very
  large count cannot outweigh its row (linear confidence on raw counts gives weights in the
  hundreds on count data with a heavy tail).
* unobserved weight: w0 = mean_kappa * density / RATIO, i.e. the observed entries carry
  ``RATIO`` times the total weight of the unobserved ones, whatever the density (implicit's
  tuned ``alpha = 40`` on CiteULike-a, training density 0.17%, is this rule with
  RATIO ~ 0.07; RATIO = 0.3 was the best worst case over five data sets).
* penalty: reg_exponent = 1 (lambda_i = reg * (nnz_i + w0 * n)), so the ridge term grows with
  each row's total weight, and reg = REG * mean_kappa (a relative penalty: with the w0 above,
  nnz_i + w0 * n = nnz_i + mean_kappa * mean row length / RATIO, so one REG serves data
  sets of any size).

Explicit ratings (``ratings``): the penalty and the step scale with the
spread of the ratings (the objective is invariant when ratings are scaled by s, factors by
sqrt(s), reg by s and the SGD step by 1/s).
"""

import numpy as np
import scipy.sparse as sp

# The constants (one set for every data set; see DEFAULTS.md for how they were chosen).
RATIO = 0.3          # total observed weight / total unobserved weight
REG = 0.03           # relative ridge penalty (reg_exponent = 1)
LOG_ALPHA = 1.0      # alpha of the log confidence on counts
RATING_REG = 0.08    # per-visit penalty of ratings, in units of the ratings' std
RATING_LR = 0.01     # SGD step of ratings, times 1 / std (constant schedule)
SGD_IMPLICIT_LR = 0.05  # adagrad step of implicit-feedback SGD


def _csr(A):
    A = sp.csr_array(A)
    A.sum_duplicates()
    return A


def summary(A):
    """Shape, density and value statistics that the rules read."""
    A = _csr(A)
    m, n = A.shape
    a = A.data.astype(np.float64)
    nnz = a.size
    binary = nnz == 0 or bool(np.all(a == a[0]))
    return {"m": m, "n": n, "nnz": nnz, "density": nnz / max(1, m * n), "binary": binary,
            "median": float(np.median(a)) if nnz else 1.0,
            "mean": float(a.mean()) if nnz else 1.0,
            "std": float(a.std()) if nnz else 1.0,
            "p99": float(np.percentile(a, 99)) if nnz else 1.0}


def confidence_rule(A, s=None):
    """(confidence kwargs, mean observed weight kappa)."""
    A = _csr(A)
    s = s or summary(A)
    if s["binary"]:
        return {"confidence": "none"}, 1.0
    eps = s["median"] if s["median"] > 0 else max(s["mean"], 1e-12)
    kappa = 1 + LOG_ALPHA * np.log1p(A.data.astype(np.float64) / eps)
    return ({"confidence": "log", "alpha": LOG_ALPHA, "epsilon": eps},
            float(kappa.mean()))


def wals_implicit(A, ratio=RATIO, reg=REG, confidence=None):
    """WALS keyword arguments for implicit feedback (counts or binary) in ``A``."""
    A = _csr(A)
    s = summary(A)
    conf, kappa = confidence_rule(A, s)
    if confidence is not None:            # for experiments: force a confidence family
        conf, kappa = confidence
    w0 = kappa * s["density"] / ratio
    return {**conf, "w0": float(w0), "target": "binary", "reg": float(reg * kappa),
            "reg_exponent": 1.0}


def sgd_implicit(A, **kw):
    """SGD keyword arguments for implicit feedback: the WALS weighting, adagrad steps."""
    out = wals_implicit(A, **kw)
    out.update(lr=SGD_IMPLICIT_LR, lr_schedule="adagrad")
    return out


def ratings(A, reg=RATING_REG, lr=RATING_LR):
    """SGD keyword arguments for explicit ratings in ``A`` (drop ``lr`` for WALS)."""
    s = summary(_csr(A))
    scale = s["std"] if s["std"] > 0 else 1.0
    return {"w0": 0.0, "target": "value", "confidence": "none", "biases": True,
            "reg": float(reg * scale), "reg_exponent": 1.0, "lr": float(lr / scale)}
