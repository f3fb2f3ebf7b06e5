"""The weighted objective shared by every solver, and the public :func:`objective`."""

from dataclasses import dataclass

import numpy as np

from . import _validation as v
from ._kernels.loss import _loss_weighted
from ._kernels.partition import _balanced_chunks
from ._kernels.weights import CONFIDENCE_KINDS
from ._threads import n_chunks_for

CONFIDENCES = tuple(CONFIDENCE_KINDS)
TARGETS = ("binary", "value")


@dataclass(frozen=True)
class Weighting:
    """How stored values become weights and targets, and how rows are regularized.

    Observed entry (i, j) with stored value a has target ``t = 1`` (``target='binary'``) or
    ``t = a`` (``target='value'``) and weight ``w = kappa(a)``, or
    ``w = w0 + r_i * c_j * kappa(a)`` when row or column weights are given, where kappa is
    the confidence: 1 ('none'), ``1 + alpha * a`` ('linear') or
    ``1 + alpha * log(1 + a / epsilon)`` ('log'). Row i's penalty is
    ``reg * (|row i| + w0 * n_cols) ** reg_exponent``.
    """

    w0: float
    confidence: str
    alpha: float
    epsilon: float
    target: str
    reg: float
    reg_exponent: float
    row_weights: np.ndarray | None = None
    col_weights: np.ndarray | None = None

    def kernel_args(self, shape, transposed, dtype):
        """(w0, row_scale, col_scale, kind, alpha, eps, binary, has_scale) for a kernel
        walking the rows of the matrix (``transposed=False``) or of its transpose."""
        rw, cw = self.row_weights, self.col_weights
        has_scale = rw is not None or cw is not None
        m, n = shape
        rs = np.ones(m, dtype) if rw is None else rw.astype(dtype)
        cs = np.ones(n, dtype) if cw is None else cw.astype(dtype)
        if transposed:
            rs, cs = cs, rs
        return (float(self.w0), rs, cs, CONFIDENCE_KINDS[self.confidence], float(self.alpha),
                float(self.epsilon), self.target == "binary", has_scale)

    def weights_and_targets(self, csr):
        """Weight and target of every stored entry of ``csr`` as float64 arrays (NumPy; for
        O(nnz) summaries outside the kernels)."""
        a = csr.data[:csr.nnz].astype(np.float64)
        if self.confidence == "linear":
            kappa = 1 + self.alpha * a
        elif self.confidence == "log":
            kappa = 1 + self.alpha * np.log1p(a / self.epsilon)
        else:
            kappa = np.ones_like(a)
        if self.row_weights is not None or self.col_weights is not None:
            m, n = csr.shape
            rw = np.ones(m) if self.row_weights is None else self.row_weights
            cw = np.ones(n) if self.col_weights is None else self.col_weights
            rows = np.repeat(np.arange(m), csr.row_nnz())
            kappa = self.w0 + rw[rows] * cw[csr.indices[:csr.nnz]] * kappa
        targets = np.ones_like(a) if self.target == "binary" else a
        return kappa, targets

    def row_penalty(self, row_nnz, n_cols, dtype):
        """Per-row ridge penalty lam_i = reg * (nnz_i + w0 * n_cols) ** reg_exponent."""
        if self.reg_exponent == 0:
            return np.full(row_nnz.shape[0], self.reg, dtype=dtype)
        base = row_nnz.astype(np.float64) + self.w0 * n_cols
        return (self.reg * base ** self.reg_exponent).astype(dtype)


def check_weighting(owner, w0, confidence, alpha, epsilon, target, reg, reg_exponent,
                    row_weights=None, col_weights=None):
    return Weighting(
        w0=v.check_float(owner, "w0", w0, low=0),
        confidence=v.check_option(owner, "confidence", confidence, CONFIDENCES),
        alpha=v.check_float(owner, "alpha", alpha, low=0),
        epsilon=v.check_float(owner, "epsilon", epsilon, low=0, low_open=True),
        target=v.check_option(owner, "target", target, TARGETS),
        reg=v.check_float(owner, "reg", reg, low=0),
        reg_exponent=v.check_float(owner, "reg_exponent", reg_exponent, low=0),
        row_weights=v.check_weights_vector(owner, "row_weights", row_weights),
        col_weights=v.check_weights_vector(owner, "col_weights", col_weights),
    )


def _gram64(X, block=1 << 15):
    """X^T X in float64, accumulated over blocks of rows (no float64 copy of all of X)."""
    d = X.shape[1]
    G = np.zeros((d, d))
    for start in range(0, X.shape[0], block):
        B = X[start:start + block].astype(np.float64)
        G += B.T @ B
    return G


def objective_value(csr, U, V, weighting, user_biases=None, item_biases=None,
                    global_mean=0.0, csr_t=None):
    """Exact objective in O(nnz d + (m + n) d^2), float64. Inputs already validated."""
    m, n = csr.shape
    dtype = U.dtype
    chunks = _balanced_chunks(csr.indptr, U.shape[1], n_chunks_for(m))
    has_b = user_biases is not None
    row_off = (user_biases + global_mean).astype(dtype) if has_b else np.zeros(m, dtype)
    col_off = item_biases.astype(dtype) if has_b else np.zeros(n, dtype)
    obs, sq = _loss_weighted(csr.indptr, csr.indices, csr.data, U, V, row_off, col_off,
                             *weighting.kernel_args(csr.shape, False, np.float64), chunks)
    obs, sq = float(np.sum(obs)), float(np.sum(sq))
    total = obs
    w0 = weighting.w0
    if w0 > 0:
        # sum_i u_i^T (V^T V) u_i = <U^T U, V^T V>: two d x d Gram matrices by BLAS
        quad = float(np.sum(_gram64(U) * _gram64(V)))
        total += w0 * (quad - sq)
    if weighting.reg > 0:
        col_nnz = (np.diff(csr_t.indptr) if csr_t is not None
                   else np.bincount(csr.indices[:csr.nnz], minlength=n))
        lam_u = weighting.row_penalty(csr.row_nnz(), n, np.float64)
        lam_v = weighting.row_penalty(col_nnz, m, np.float64)
        su = np.einsum("ij,ij->i", U, U, dtype=np.float64)
        sv = np.einsum("ij,ij->i", V, V, dtype=np.float64)
        if has_b:
            su = su + user_biases.astype(np.float64) ** 2
            sv = sv + item_biases.astype(np.float64) ** 2
        total += float(lam_u @ su + lam_v @ sv)
    if not np.isfinite(total):
        raise FloatingPointError(
            f"The objective is not finite ({total}): it overflows float64. The factors or "
            f"the values of A are too large (largest |factor| {_max_abs(U, V):.3g}, largest "
            f"|value| {_max_abs(csr.data[:csr.nnz]):.3g}).")
    return float(total)


def _max_abs(*arrays):
    return max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)


def objective(A, U, V, *, w0, confidence="linear", alpha=1.0, epsilon=1.0, target="binary",
              reg=0.0, reg_exponent=0.0, row_weights=None, col_weights=None,
              user_biases=None, item_biases=None, global_mean=0.0):
    r"""Exact value of the weighted matrix-factorization objective.

    .. math::

        L = \sum_{(i,j)\in\Omega} w_{ij} (t_{ij} - \hat a_{ij})^2
            + w_0 \sum_{(i,j)\notin\Omega} \hat a_{ij}^2
            + \lambda \sum_i s_i (\lVert u_i\rVert^2 + b_i^2)
            + \lambda \sum_j t_j (\lVert v_j\rVert^2 + c_j^2)

    with :math:`\hat a_{ij} = \mu + b_i + c_j + \langle u_i, v_j\rangle` (biases zero unless
    given), :math:`\Omega` the stored entries of ``A`` and
    :math:`s_i = (|\Omega_i| + w_0 n)^\nu` (1 when ``reg_exponent`` :math:`\nu` is 0).
    The unobserved sum uses the Gram trick
    :math:`\sum_i u_i^\top (V^\top V) u_i - \sum_{\Omega} \langle u_i, v_j\rangle^2`, so the
    cost is O(nnz d + (m + n) d^2) and no m x n array is formed. Weights and targets are
    described in :class:`fastmf.WALS`. Accumulation is in float64.

    Parameters
    ----------
    A : scipy.sparse matrix or array, shape (m, n)
        Feedback; duplicates are summed.
    U, V : ndarray, shapes (m, d) and (n, d)
        User and item factors.
    w0 : float
        Weight of every unobserved entry (0 for observed-only MF).
    confidence, alpha, epsilon, target, reg, reg_exponent, row_weights, col_weights
        As in :class:`fastmf.WALS`.
    user_biases, item_biases : ndarray, optional
        Biases of an explicit model (only with ``w0 == 0``); ``global_mean`` is then
        :math:`\mu`.

    Returns
    -------
    float

    Raises
    ------
    FloatingPointError
        When the value overflows float64 (factors or values far too large).
    """
    owner = "objective"
    weighting = check_weighting(owner, w0, confidence, alpha, epsilon, target, reg,
                                reg_exponent, row_weights, col_weights)
    U = np.asarray(U)
    V = np.asarray(V)
    for name, F in (("U", U), ("V", V)):
        if F.ndim != 2 or F.dtype.kind != "f":
            raise ValueError(f"{name} must be a 2-d float array; got shape {F.shape}, "
                             f"dtype {F.dtype}.")
        if not np.all(np.isfinite(F)):
            raise ValueError(f"{name} holds NaN or infinite values.")
    if U.shape[1] != V.shape[1]:
        raise ValueError(f"U and V must have the same number of columns; got {U.shape[1]} "
                         f"and {V.shape[1]}.")
    dtype = np.result_type(U.dtype, V.dtype, np.float32)
    csr = v.check_matrix(A, dtype=dtype, nonnegative=weighting.confidence != "none")
    if csr.shape != (U.shape[0], V.shape[0]):
        raise ValueError(f"A has shape {csr.shape}, but U has {U.shape[0]} rows and V has "
                         f"{V.shape[0]}: A must be (rows of U) x (rows of V).")
    m, n = csr.shape
    v.check_weights_vector(owner, "row_weights", weighting.row_weights, m)
    v.check_weights_vector(owner, "col_weights", weighting.col_weights, n)
    if (user_biases is None) != (item_biases is None):
        raise ValueError("user_biases and item_biases must be given together.")
    if user_biases is not None:
        if w0 > 0:
            raise ValueError("Biases are for observed-only models (w0 == 0); got w0 = "
                             f"{w0}.")
        user_biases = np.asarray(user_biases, dtype=np.float64)
        item_biases = np.asarray(item_biases, dtype=np.float64)
        if user_biases.shape != (m,) or item_biases.shape != (n,):
            raise ValueError(f"user_biases and item_biases must have shapes ({m},) and "
                             f"({n},); got {user_biases.shape} and {item_biases.shape}.")
        global_mean = v.check_float(owner, "global_mean", global_mean)
    U = np.ascontiguousarray(U, dtype=dtype)
    V = np.ascontiguousarray(V, dtype=dtype)
    return objective_value(csr, U, V, weighting, user_biases, item_biases, global_mean)
