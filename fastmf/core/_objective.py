"""The weighted objective shared by every solver, and the public :func:`objective`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from . import _validation as v
from .._kernels.loss import _loss_weighted
from .._kernels.partition import _balanced_chunks
from .._kernels.shared import CsrRows
from ._threads import n_chunks_for
from ._weighting import check_weighting

if TYPE_CHECKING:
    import scipy.sparse as sp
    from numpy.typing import ArrayLike


def objective_value(csr, U, V, weighting, user_biases=None, item_biases=None,
                    global_mean=0.0, csr_t=None):
    """Exact objective in O(nnz d + (m + n) d^2), float64. Inputs already validated."""
    m, n = csr.shape
    dtype = U.dtype
    # one compiled loss kernel for every caller: F-ordered factors (SVD's) are copied to C
    U = np.ascontiguousarray(U)
    V = np.ascontiguousarray(V)
    chunks = _balanced_chunks(csr.indptr, U.shape[1], n_chunks_for(m))
    has_b = user_biases is not None
    row_off = (user_biases + global_mean).astype(dtype) if has_b else np.zeros(m, dtype)
    col_off = item_biases.astype(dtype) if has_b else np.zeros(n, dtype)
    obs, sq = _loss_weighted(CsrRows(csr.indptr, csr.indices, csr.data), U, V, row_off,
                             col_off, weighting.kernel_args(csr.shape, False, np.float64),
                             chunks)
    obs, sq = float(np.sum(obs)), float(np.sum(sq))
    total = obs
    # sum_i u_i^T (V^T V) u_i = <U^T U, V^T V>: two d x d Gram matrices by BLAS (V^T diag(w0)
    # V with per-item weights, and then ``sq`` is weighted by w0_j)
    total += weighting.unobserved_term(U, V, sq)
    if weighting.reg > 0:
        col_nnz = (np.diff(csr_t.indptr) if csr_t is not None
                   else np.bincount(csr.indices[:csr.nnz], minlength=n))
        lam_u = weighting.row_penalty(csr.row_nnz(), n, np.float64)
        lam_v = weighting.row_penalty(col_nnz, m, np.float64, transposed=True)
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


def objective(A: sp.sparray | sp.spmatrix | ArrayLike, U: ArrayLike, V: ArrayLike, *,
              w0: float, confidence: Literal["linear", "log", "none"] = "linear",
              alpha: float = 1.0, epsilon: float = 1.0,
              target: Literal["binary", "value"] = "binary", reg: float = 0.0,
              reg_exponent: float = 0.0, row_weights: ArrayLike | None = None,
              col_weights: ArrayLike | None = None, user_biases: ArrayLike | None = None,
              item_biases: ArrayLike | None = None, global_mean: float = 0.0) -> float:
    r"""Exact value of the weighted matrix-factorization objective.

    .. math::

        L = \sum_{(i,j)\in\Omega} w_{ij} (t_{ij} - \hat a_{ij})^2
            + w_0 \sum_{(i,j)\notin\Omega} \hat a_{ij}^2
            + \lambda \sum_i s_i (\lVert u_i\rVert^2 + b_i^2)
            + \lambda \sum_j t_j (\lVert v_j\rVert^2 + c_j^2)

    with :math:`\hat a_{ij} = \mu + b_i + c_j + \langle u_i, v_j\rangle` (biases zero unless
    given), :math:`\Omega` the stored entries of ``A`` and
    :math:`s_i = (|\Omega_i| + w_0 n)^\nu`, :math:`t_j = (|\Omega_j| + w_0 m)^\nu` (1 when
    ``reg_exponent`` :math:`\nu` is 0).

    With per-item unobserved weights (``w0`` a vector :math:`w_{0j}`), the unobserved term
    is :math:`\sum_{(i,j)\notin\Omega} w_{0j} \hat a_{ij}^2` (through
    :math:`V^\top \mathrm{diag}(w_0) V`), observed weights with row or column weights are
    :math:`w_{0j} + r_i c_j \kappa`, and :math:`s_i = (|\Omega_i| + \sum_j w_{0j})^\nu`,
    :math:`t_j = (|\Omega_j| + w_{0j} m)^\nu`.
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
    w0 : float or ndarray of shape (n,)
        Weight of every unobserved entry (0 for observed-only MF), or one non-negative
        weight per item (column of ``A``).
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
    w0_items = None
    if np.ndim(w0) != 0:
        w0_items = v.check_weights_vector(owner, "w0", w0)
        w0 = float(w0_items.mean()) if w0_items.size else 0.0
    weighting = check_weighting(owner, w0, confidence, alpha, epsilon, target, reg,
                                reg_exponent, row_weights, col_weights, w0_items)
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
    if w0_items is not None:
        v.check_weights_vector(owner, "w0", w0_items, n)
    if (user_biases is None) != (item_biases is None):
        raise ValueError("user_biases and item_biases must be given together.")
    if user_biases is not None:
        if weighting.has_unobserved:
            raise ValueError("Biases are for observed-only models (w0 == 0); got w0 = "
                             f"{w0}{' (per item)' if w0_items is not None else ''}.")
        user_biases = np.asarray(user_biases, dtype=np.float64)
        item_biases = np.asarray(item_biases, dtype=np.float64)
        if user_biases.shape != (m,) or item_biases.shape != (n,):
            raise ValueError(f"user_biases and item_biases must have shapes ({m},) and "
                             f"({n},); got {user_biases.shape} and {item_biases.shape}.")
        global_mean = v.check_float(owner, "global_mean", global_mean)
    U = np.ascontiguousarray(U, dtype=dtype)
    V = np.ascontiguousarray(V, dtype=dtype)
    return objective_value(csr, U, V, weighting, user_biases, item_biases, global_mean)
