"""The weighting of the objective: observed weights and targets, the unobserved weight, and
the regularization, as one object that every solver asks.

Everything that depends on the unobserved weight ``w0`` goes through a method here -- the
Gram product of a half-sweep, the per-entry offset that observed entries carry in the row
kernels, the objective's unobserved term, the penalty's scale -- so that making ``w0`` per
item (``w0_j``: Gram ``V^T diag(w0) V`` on the user side, ``w0_j U^T U`` on the item side)
is a change to this module and to the kernels' offset argument, not to every caller.

Per-item unobserved weights (He et al. 2016, "eALS"): with ``w0_items`` given, unobserved
entry (i, j) weighs ``w0_items[j]`` instead of ``w0``. The Gram trick stays exact: rows of
users see ``V^T diag(w0) V`` (one weighted Gram matrix per half-sweep); rows of items see the
plain ``U^T U`` scaled by their own ``w0_j`` (in the kernels, which receive the per-entry
weights through :meth:`Weighting.kernel_args`).
"""

from dataclasses import dataclass, replace

import numpy as np

from . import _validation as v
from .._kernels.weights import CONFIDENCE_KINDS, KernelWeighting
from ._threads import gram

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

    ``w0_items`` (float64, one non-negative weight per item, or None): the unobserved weight
    of item j is then ``w0_items[j]`` and replaces ``w0`` everywhere (``w0`` is only kept as
    the overall level, e.g. the ``w0`` given to :func:`popularity_weights`): observed entries
    weigh ``w0_j + r_i * c_j * kappa(a)`` with row or column weights, and the penalty scales
    are ``(|Omega_i| + sum_j w0_j) ** reg_exponent`` for user i and
    ``(|Omega_j| + w0_j * n_users) ** reg_exponent`` for item j (the scalar formula when every
    ``w0_j`` equals ``w0``). A ``w0_items`` whose entries are all equal is stored as that
    scalar ``w0`` (and ``w0_items`` None): the scalar path, with its exact results.
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
    w0_items: np.ndarray | None = None
    #: sum of the unobserved weights over *all* items, when this weighting sees only some
    #: of them (a row block of :mod:`fastmf.distributed`, whose ``w0_items`` is cut to the
    #: items it references); None: ``sum(w0_items)``, or ``w0 * n_items``
    unobserved_total: float | None = None

    def __post_init__(self):
        # A constant per-item vector is the scalar case: it becomes ``w0`` (the scalar path
        # is cheaper, and gives exactly the scalar results).
        w = self.w0_items
        if w is None:
            return
        w = np.ascontiguousarray(w, dtype=np.float64)
        if w.size == 0 or np.all(w == w[0]):
            if w.size:
                object.__setattr__(self, "w0", float(w[0]))
            w = None
        object.__setattr__(self, "w0_items", w)

    # ------------------------------------------------------------------ observed entries
    def kernel_args(self, shape, transposed, dtype):
        """The kernels' weighting argument, a ``KernelWeighting`` (w0, w0_vec, w0_by_row,
        row_scale, col_scale, kind, alpha, eps, binary, has_scale), for a kernel walking the
        rows of the matrix (``transposed=False``, rows are users) or of its transpose (rows
        are items). ``shape`` is the matrix's (users x items).

        The kernels give each observed entry the offset ``w - w0_e`` against the Gram term,
        where ``w0_e`` is the entry's unobserved weight: the scalar ``w0`` when ``w0_vec``
        is empty, else ``w0_vec[i]`` for the row's own weight (``w0_by_row``, item rows) or
        ``w0_vec[j]`` for the column's (user rows). ``w0_vec`` is in ``dtype``."""
        rw, cw = self.row_weights, self.col_weights
        has_scale = rw is not None or cw is not None
        m, n = shape
        rs = np.ones(m, dtype) if rw is None else rw.astype(dtype)
        cs = np.ones(n, dtype) if cw is None else cw.astype(dtype)
        if transposed:
            rs, cs = cs, rs
        if self.w0_items is not None and self.w0_items.shape[0] != n:
            raise ValueError(f"w0_items has length {self.w0_items.shape[0]}, but the matrix "
                             f"has {n} items (columns).")
        w0_vec = (np.zeros(0, dtype) if self.w0_items is None
                  else np.ascontiguousarray(self.w0_items, dtype=dtype))
        return KernelWeighting(float(self.w0), w0_vec, bool(transposed), rs, cs,
                               CONFIDENCE_KINDS[self.confidence], float(self.alpha),
                               float(self.epsilon), self.target == "binary", has_scale)

    def weights_and_targets(self, csr):
        """Weight and target of every stored entry of ``csr`` as float64 arrays (NumPy; for
        O(nnz) summaries outside the kernels)."""
        a = csr.data[:csr.nnz].astype(np.float64)
        kappa = confidence(a, self.confidence, self.alpha, self.epsilon)
        if self.row_weights is not None or self.col_weights is not None:
            m, n = csr.shape
            rw = np.ones(m) if self.row_weights is None else self.row_weights
            cw = np.ones(n) if self.col_weights is None else self.col_weights
            rows = np.repeat(np.arange(m), csr.row_nnz())
            cols = csr.indices[:csr.nnz]
            w0 = self.w0 if self.w0_items is None else self.w0_items[cols]
            kappa = w0 + rw[rows] * cw[cols] * kappa
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
        return replace(self, row_weights=row_weights)

    # ------------------------------------------------------------------ unobserved entries
    @property
    def has_unobserved(self):
        """Whether any unobserved entry has a positive weight."""
        if self.unobserved_total is not None:
            return self.unobserved_total > 0
        if self.w0_items is not None:
            return bool(np.any(self.w0_items > 0))
        return self.w0 > 0

    def unobserved_gram(self, Y, dtype, transposed=False, YtY=None):
        """The d x d matrix of the unobserved term in a row's system when ``Y`` is fixed
        (in ``dtype``, by BLAS): ``w0 * Y^T Y`` with a scalar ``w0``. With ``w0_items``:
        ``Y^T diag(w0) Y`` for user rows (``transposed=False``, ``Y`` = item factors), and
        the plain ``Y^T Y`` for item rows (``transposed=True``, ``Y`` = user factors), which
        the kernels scale by each row's ``w0_j`` (see :meth:`kernel_args`).

        ``YtY``: ``Y^T Y`` when the caller already has it (used unless the user-row form
        with ``w0_items`` needs the weighted product)."""
        weighted = self.w0_items is not None and not transposed
        if YtY is None or weighted:
            YtY = gram(Y, self.w0_items) if weighted else gram(Y)
            if weighted:
                return YtY
        if self.w0_items is None:
            return YtY * dtype.type(self.w0)
        return YtY

    def block_gram(self, X, transposed):
        """One row block's share of the Gram matrices, float64: ``X^T X`` for user rows
        (``transposed=False``), ``X^T diag(w0) X`` for item rows (``w0 * X^T X`` with a
        scalar ``w0``). Summed over the blocks of each side they give :meth:`fixed_gram`'s
        input and :meth:`unobserved_term_from`'s."""
        if not transposed:
            return gram64(X)
        if self.w0_items is None:
            return gram64(X) * self.w0
        return gram64(X, self.w0_items)

    def fixed_gram(self, summed, transposed, dtype):
        """The unobserved term's d x d matrix of a half-sweep over user rows
        (``transposed=False``) or item rows from the other side's summed
        :meth:`block_gram`: ``V^T diag(w0) V`` as it is for user rows; for item rows
        ``w0 U^T U`` (scalar ``w0``) or ``U^T U`` (per-item weights, which the kernels
        apply per row). In ``dtype``."""
        G = np.asarray(summed, np.float64)
        if transposed and self.w0_items is None:
            G = G * self.w0
        return G.astype(dtype)

    def unobserved_term_from(self, UtU, VtWV, observed_sq):
        """The objective's unobserved term from the summed :meth:`block_gram` of the
        users (``U^T U``) and of the items (``V^T diag(w0) V``), and the loss kernel's
        second sum over the observed entries (``sum <u_i, v_j>^2``, weighted by ``w0_j``
        with per-item weights)."""
        if not self.has_unobserved:
            return 0.0
        sq = observed_sq if self.w0_items is not None else self.w0 * observed_sq
        return float(np.sum(UtU * VtWV)) - sq

    def restrict(self, rows, cols, transposed):
        """This weighting for a row block: rows ``rows`` (a slice) of one orientation of
        the data and the columns it references (``cols``: sorted indices, or None for
        all). Row, column and per-item unobserved weights are cut to them; the total
        unobserved weight stays that of all items (it scales the user rows' penalty)."""
        own = rows
        other = slice(None) if cols is None else cols
        rw, cw, w0 = self.row_weights, self.col_weights, self.w0_items
        if transposed:  # the rows are items: A^T's rows carry the column weights
            rw, cw = (None if rw is None else rw[other]), (None if cw is None else cw[own])
            w0 = None if w0 is None else w0[own]
        else:
            rw, cw = (None if rw is None else rw[own]), (None if cw is None else cw[other])
            w0 = None if w0 is None else w0[other]
        total = None if self.w0_items is None else float(np.sum(self.w0_items))
        out = replace(self, row_weights=rw, col_weights=cw, w0_items=None,
                      unobserved_total=total)
        if w0 is not None:  # kept as a vector even when constant (exactly as the full one)
            object.__setattr__(out, "w0_items", np.ascontiguousarray(w0, np.float64))
        return out

    def unobserved_term(self, U, V, observed_sq):
        """The objective's unobserved term ``sum over unobserved (i, j) of w0_ij <u_i,
        v_j>^2`` by the Gram trick, float64. ``observed_sq`` is the loss kernel's second
        sum over the observed entries: ``sum <u_i, v_j>^2`` with a scalar ``w0`` (the term is
        then ``w0 * (<U^T U, V^T V> - observed_sq)``), ``sum w0_j <u_i, v_j>^2`` with
        ``w0_items`` (the term is then ``<U^T U, V^T diag(w0) V> - observed_sq``)."""
        if self.w0_items is not None:
            if not self.has_unobserved:
                return 0.0
            quad = float(np.sum(gram64(U) * gram64(V, self.w0_items)))
            return quad - observed_sq
        if self.w0 == 0:
            return 0.0
        return self.w0 * (float(np.sum(gram64(U) * gram64(V))) - observed_sq)

    # ------------------------------------------------------------------ regularization
    def row_penalty(self, row_nnz, n_cols, dtype, transposed=False):
        """Per-row ridge penalty lam_i = reg * (nnz_i + w0 * n_cols) ** reg_exponent.

        With ``w0_items``, ``w0 * n_cols`` becomes the row's total unobserved weight
        bound: ``sum_j w0_j`` for user rows (``transposed=False``) and ``w0_j * n_cols``
        for item rows (``transposed=True``; ``n_cols`` is then the number of users)."""
        if self.reg_exponent == 0:
            return np.full(row_nnz.shape[0], self.reg, dtype=dtype)
        if self.w0_items is None:
            base = row_nnz.astype(np.float64) + self.w0 * n_cols
        elif transposed:
            base = row_nnz.astype(np.float64) + self.w0_items * n_cols
        else:
            total = (self.unobserved_total if self.unobserved_total is not None
                     else float(np.sum(self.w0_items)))
            base = row_nnz.astype(np.float64) + total
        return (self.reg * base ** self.reg_exponent).astype(dtype)

    def free_row_mask(self, row_nnz, lam, transposed=False):
        """Rows whose system is zero: no entries, no penalty and no unobserved weight.
        Nothing determines them (solvers hold them at zero)."""
        empty = (row_nnz == 0) & (lam == 0)
        if self.w0_items is not None and transposed:
            return empty & (self.w0_items == 0)
        if self.has_unobserved:
            return np.zeros(row_nnz.shape[0], bool)
        return empty


def popularity_weights(w0, col_nnz, beta):
    """Per-item unobserved weights from popularity (He et al. 2016):
    ``w0 * n * f_j ** beta / sum_k f_k ** beta`` with ``f = col_nnz`` (the items' counts of
    observed entries), float64, summing to ``w0 * n``. ``beta = 0`` gives ``w0`` for every
    item exactly; with ``beta > 0`` items without entries get 0 (and all items get ``w0``
    when no item has an entry)."""
    f = np.asarray(col_nnz, dtype=np.float64)
    n = f.shape[0]
    w0 = float(w0)
    beta = float(beta)
    if beta == 0 or n == 0:
        return np.full(n, w0)
    p = np.where(f > 0, f, 0.0) ** beta
    total = p.sum()
    if not total > 0:
        return np.full(n, w0)
    return w0 * n * (p / total)


# Kept twice on purpose: _kernels/weights.py's `_confidence` is the scalar twin kernels inline.
def confidence(a, kind, alpha, epsilon):
    """The confidence weight of the stored values ``a`` (an array): 1 ('none'),
    ``1 + alpha * a`` ('linear') or ``1 + alpha * log(1 + a / epsilon)`` ('log')."""
    if kind == "linear":
        return 1 + alpha * a
    if kind == "log":
        return 1 + alpha * np.log1p(a / epsilon)
    return np.ones_like(a)


def check_weighting(owner, w0, confidence, alpha, epsilon, target, reg, reg_exponent,
                    row_weights=None, col_weights=None, w0_items=None):
    """A :class:`Weighting` from unchecked arguments; errors name ``owner``. ``w0_items``
    (per-item unobserved weights, see :class:`Weighting`) is checked for being 1-d, finite
    and non-negative; its length is checked against the matrix by the caller."""
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
        w0_items=v.check_weights_vector(owner, "w0_items", w0_items),
    )


def gram64(X, weights=None, block=1 << 15):
    """X^T X (or X^T diag(weights) X) in float64, accumulated over blocks of rows (no
    float64 copy of all of X)."""
    d = X.shape[1]
    G = np.zeros((d, d))
    for start in range(0, X.shape[0], block):
        B = X[start:start + block].astype(np.float64)
        if weights is None:
            G += B.T @ B
        else:
            G += (B.T * weights[start:start + block]) @ B
    return G
