"""Truncated SVD of the target matrix: the baseline that treats every unobserved entry as 0."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal
import numpy as np
from scipy.sparse.linalg import svds
from threadpoolctl import threadpool_limits

from ..core import _validation as v
from ._base import OBJECTIVE_CONSTRAINTS, FactorModel, Run
from ..core._params import Real
from ._persistence import register_model

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp
    from numpy.typing import DTypeLike

    from ..data._interactions import Interactions


@register_model
class SVD(FactorModel):
    r"""Rank-``factors`` truncated SVD of the target matrix (scipy's sparse ``svds``).

    With :math:`T` the targets of the stored entries (1 for ``target='binary'``, the value
    for ``target='value'``) and 0 everywhere else, the fit is the best rank-d approximation
    :math:`T \approx U_d S_d V_d^\top` in the Frobenius norm, split symmetrically:
    :math:`U = U_d S_d^{1/2}`, :math:`V = V_d S_d^{1/2}`. It minimizes
    :math:`\sum_{ij} (t_{ij} - \langle u_i, v_j\rangle)^2` over every entry with weight 1:
    every unobserved entry counts as an observed 0 and there is no regularization. It is the
    third picture of the classic comparison, next to observed-only MF (``w0 = 0``) and
    weighted MF (``0 < w0 < 1`` with confidence weights).

    Parameters
    ----------
    factors : int, default 64
        Rank d; must be below min(n_users, n_items).
    target : {'binary', 'value'}, default 'binary'
    w0, alpha, confidence, epsilon, reg, reg_exponent
        Define the weighted objective that :meth:`loss` and ``history_`` report (as for
        :class:`fastmf.WALS`), so SVD can be compared with the other solvers on one axis;
        they do not change the fit.
    tol : float, default 0
        Tolerance of the ARPACK eigensolver (0: machine precision).
    dtype : float32 or float64, default float32
        Of the factors; the decomposition runs in float64.
    num_threads : int, optional
        Threads for BLAS and the objective.
    random_state : int, numpy.random.Generator or None
        Seeds ARPACK's starting vector, so the result is reproducible.
    """

    _parameter_constraints = {**OBJECTIVE_CONSTRAINTS, "tol": Real(0.0)}

    def __init__(self, factors: int = 64, *, target: Literal["binary", "value"] = "binary",
                 w0: float = 1.0, alpha: float = 1.0,
                 confidence: Literal["linear", "log", "none"] = "linear",
                 epsilon: float = 1.0, reg: float = 0.005, reg_exponent: float = 1.0,
                 tol: float = 0.0, dtype: DTypeLike = np.float32,
                 num_threads: int | None = None,
                 random_state: int | np.random.Generator | None = None) -> None:
        # Kept in each model on purpose: scikit-learn's __init__ stores each argument as given.
        self.factors = factors
        self.target = target
        self.w0 = w0
        self.alpha = alpha
        self.confidence = confidence
        self.epsilon = epsilon
        self.reg = reg
        self.reg_exponent = reg_exponent
        self.tol = tol
        self.dtype = dtype
        self.num_threads = num_threads
        self.random_state = random_state

    # the objective's other parameters, fixed for SVD (it reports, never fits, them)
    row_weights = col_weights = None
    biases = False

    def fit(self, A: sp.sparray | sp.spmatrix | Interactions | pd.DataFrame, *,
            callback: Callable[[Any, dict], bool | None] | None = None,
            show_progress: bool = False, track_objective: bool = True, user: str = "user",
            item: str = "item", value: str | None = None) -> SVD:
        """Decompose the target matrix of ``A`` (users x items).

        ``history_`` gets one record (``iteration`` 1, ``seconds``, ``time``,
        ``objective``); ``callback(model, record)`` is called with it. ``show_progress`` is
        accepted for a uniform interface (there is a single step). ``user``, ``item`` and
        ``value`` name a DataFrame's columns, as in :meth:`fastmf.WALS.fit`.
        """
        return self._fit(A, callback=callback, show_progress=show_progress,
                         track_objective=track_objective, columns=(user, item, value))

    def _start(self, csr, p):
        m, n = csr.shape
        if p.factors >= min(m, n):
            raise ValueError(f"The 'factors' parameter of SVD must be below min(n_users, "
                             f"n_items) = {min(m, n)}; got {p.factors}.")
        return _SvdRun(self, csr, p)

    def _preset(self, p):
        # no 'auto' parameters: the preset only says the values may be counts (>= 0)
        # when the confidence is 'auto', which SVD's never is
        return "implicit"

    def _validate_params(self):
        p = super()._validate_params()
        p.row_weights = p.col_weights = None
        p.biases = False
        return p


class _SvdRun(Run):
    """A single step: the truncated SVD by ARPACK."""

    steps = 1

    def __init__(self, model, csr, p):
        self.model, self.csr, self.p = model, csr, p
        d, m, n = p.factors, *csr.shape
        # Placeholder factors until the step runs (a fit that fails leaves none).
        model.user_factors = np.zeros((m, d), p.dtype)
        model.item_factors = np.zeros((n, d), p.dtype)
        model.user_biases = model.item_biases = None
        model.global_mean = 0.0

    def step(self, it):
        model, csr, p = self.model, self.csr, self.p
        rng = v.make_rng(p.random_state)
        T = csr.to_scipy().astype(np.float64)
        if p.target == "binary":
            T.data[:] = 1.0
        with threadpool_limits(limits=p.num_threads, user_api="blas"):
            v0 = rng.uniform(-1.0, 1.0, min(csr.shape))
            Ud, s, Vt = svds(T, k=p.factors, tol=p.tol, v0=v0)
        order = np.argsort(s)[::-1]
        root = np.sqrt(np.maximum(s[order], 0.0))
        model.user_factors = (Ud[:, order] * root).astype(p.dtype)
        model.item_factors = (Vt[order].T * root).astype(p.dtype)
