"""Truncated SVD of the target matrix: the baseline that treats every unobserved entry as 0."""

import time

import numpy as np
from scipy.sparse.linalg import svds
from threadpoolctl import threadpool_limits

from . import _validation as v
from ._base import FactorModel, _register
from ._objective import objective_value
from ._threads import thread_context


@_register
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

    _param_names = ("factors", "target", "w0", "alpha", "confidence", "epsilon", "reg",
                    "reg_exponent", "tol", "dtype", "num_threads", "random_state")

    def __init__(self, factors=64, *, target="binary", w0=1.0, alpha=1.0,
                 confidence="linear", epsilon=1.0, reg=0.005, reg_exponent=1.0, tol=0.0,
                 dtype=np.float32, num_threads=None, random_state=None):
        self._set_common_params(factors, w0, alpha, confidence, epsilon, target, None, None,
                                reg, reg_exponent, False, dtype, num_threads, random_state)
        self.tol = v.check_float(type(self).__name__, "tol", tol, low=0.0)

    def fit(self, A, *, callback=None, show_progress=False, track_objective=True):
        """Decompose the target matrix of ``A`` (users x items).

        ``history_`` gets one record (``iteration`` 1, ``seconds``, ``time``,
        ``objective``); ``callback(model, record)`` is called with it. ``show_progress`` is
        accepted for a uniform interface (there is a single step).
        """
        w = self._weighting
        csr = self._check_data(A, fitting=True)
        m, n = csr.shape
        d = self.factors
        if d >= min(m, n):
            raise ValueError(f"The 'factors' parameter of SVD must be below min(n_users, "
                             f"n_items) = {min(m, n)}; got {d}.")
        n_threads = self._threads()
        rng = v.make_rng(self.random_state)
        T = csr.to_scipy().astype(np.float64)
        if w.target == "binary":
            T.data[:] = 1.0
        t0 = time.perf_counter()
        with threadpool_limits(limits=n_threads, user_api="blas"):
            v0 = rng.uniform(-1.0, 1.0, min(m, n))
            Ud, s, Vt = svds(T, k=d, tol=self.tol, v0=v0)
        seconds = time.perf_counter() - t0
        order = np.argsort(s)[::-1]
        root = np.sqrt(np.maximum(s[order], 0.0))
        self.user_factors = (Ud[:, order] * root).astype(self.dtype)
        self.item_factors = (Vt[order].T * root).astype(self.dtype)
        self.user_biases = self.item_biases = None
        self.global_mean = 0.0
        self._seen = csr
        record = {"iteration": 1, "seconds": seconds, "time": seconds}
        if track_objective:
            with thread_context(n_threads):
                record["objective"] = objective_value(csr, self.user_factors,
                                                      self.item_factors, w)
        self.history_ = [record]
        if callback is not None:
            callback(self, record)
        return self
