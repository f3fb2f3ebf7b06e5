"""The weighting of the objective: observed weights and targets, the unobserved weight, and
the regularization, as one object that every solver asks.

Everything that depends on the unobserved weight ``w0`` goes through a method here -- the
Gram product of a half-sweep, the per-entry offset that observed entries carry in the row
kernels, the objective's unobserved term, the penalty's scale -- so that making ``w0`` per
item (``w0_j``: Gram ``V^T diag(w0) V`` on the user side, ``w0_j U^T U`` on the item side)
is a change to this module and to the kernels' offset argument, not to every caller.
"""

from dataclasses import dataclass

import numpy as np

from . import _validation as v
from ._kernels.weights import CONFIDENCE_KINDS

CONFIDENCES = tuple(CONFIDENCE_KINDS)
TARGETS = ("binary", "value")


@dataclass(frozen=True)
class Weighting:
    """How stored values become weights and targets, and how rows are regularized.

    Observed entry (i, j) with stored value a has target ``t = 1`` (``target='binary'``) or
    ``t = a`` (``target='value'``) and weight ``w = kappa(a)``, or
    ``w = w0 + r_i * c_j * kappa(a)`` when row or column weights are given, where kappa is
    the confidence: 1 ('none'), ``1 + alpha * a`` ('linear') or
    ``1 + alpha * log(1 + a / epsilon)`` ('log'). Every unobserved entry has target 0 and
    weight ``w0``. Row i's penalty is ``reg * (|row i| + w0 * n_cols) ** reg_exponent``.
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

    # ------------------------------------------------------------------ observed entries
    def kernel_args(self, shape, transposed, dtype):
        """(w0, row_scale, col_scale, kind, alpha, eps, binary, has_scale) for a kernel
        walking the rows of the matrix (``transposed=False``) or of its transpose. The
        kernels give each observed entry the offset ``w - w0`` against the Gram term."""
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

    def target_mean(self, csr):
        """Weighted mean of the observed targets: the fixed global mean of a biased
        model."""
        if csr.nnz == 0:
            return 0.0
        weights, targets = self.weights_and_targets(csr)
        total = weights.sum()
        return float((weights * targets).sum() / total) if total > 0 else 0.0

    def with_rows(self, row_weights):
        """The same weighting for other rows (fold-in of new users): their row weights
        replace the training ones when frequency weights are in use."""
        if self.row_weights is None and self.col_weights is None:
            return self
        from dataclasses import replace
        return replace(self, row_weights=row_weights)

    # ------------------------------------------------------------------ unobserved entries
    @property
    def has_unobserved(self):
        return self.w0 > 0

    def unobserved_gram(self, Y, dtype):
        """The d x d matrix of the unobserved term in a row's system when ``Y`` is fixed:
        ``w0 * Y^T Y`` (in ``dtype``, by BLAS)."""
        return (Y.T @ Y) * dtype.type(self.w0)

    def unobserved_gram_of(self, YtY, dtype):
        """The same matrix from ``Y^T Y`` computed elsewhere (float64, summed over the row
        blocks of :mod:`fastmf.distributed`), in ``dtype``."""
        return (np.asarray(YtY, np.float64) * self.w0).astype(dtype)

    def unobserved_term(self, U, V, observed_sq):
        """``w0 * sum over unobserved (i, j) of <u_i, v_j>^2`` by the Gram trick, given
        ``observed_sq`` = the sum of ``<u_i, v_j>^2`` over the observed entries:
        ``w0 * (<U^T U, V^T V> - observed_sq)``, float64."""
        if self.w0 == 0:
            return 0.0
        return self.unobserved_term_of(gram64(U), gram64(V), observed_sq)

    def unobserved_term_of(self, UtU, VtV, observed_sq):
        """:meth:`unobserved_term` from the float64 Gram matrices ``U^T U`` and ``V^T V``
        (summed over row blocks by :mod:`fastmf.distributed`)."""
        if self.w0 == 0:
            return 0.0
        return self.w0 * (float(np.sum(UtU * VtV)) - observed_sq)

    # ------------------------------------------------------------------ regularization
    def row_penalty(self, row_nnz, n_cols, dtype):
        """Per-row ridge penalty lam_i = reg * (nnz_i + w0 * n_cols) ** reg_exponent."""
        if self.reg_exponent == 0:
            return np.full(row_nnz.shape[0], self.reg, dtype=dtype)
        base = row_nnz.astype(np.float64) + self.w0 * n_cols
        return (self.reg * base ** self.reg_exponent).astype(dtype)


def check_weighting(owner, w0, confidence, alpha, epsilon, target, reg, reg_exponent,
                    row_weights=None, col_weights=None):
    """A :class:`Weighting` from unchecked arguments; errors name ``owner``."""
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


def gram64(X, block=1 << 15):
    """X^T X in float64, accumulated over blocks of rows (no float64 copy of all of X)."""
    d = X.shape[1]
    G = np.zeros((d, d))
    for start in range(0, X.shape[0], block):
        B = X[start:start + block].astype(np.float64)
        G += B.T @ B
    return G
