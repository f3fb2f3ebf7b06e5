"""Weighted alternating least squares."""

import time
import warnings

import numpy as np

from . import _validation as v
from ._base import FactorModel, _register
from ._kernels.partition import _balanced_chunks
from ._kernels.wals import _wals_rows_cg, _wals_rows_cholesky, cg_block_nnz
from ._objective import objective_value
from ._progress import progress_bar
from ._threads import n_chunks_for, thread_context

SOLVERS = ("cg", "cholesky")


@_register
class WALS(FactorModel):
    r"""Matrix factorization by weighted alternating least squares.

    Learns user factors :math:`U` (m x d) and item factors :math:`V` (n x d) minimizing

    .. math::

        L = \sum_{(i,j)\in\Omega} w_{ij} (t_{ij} - \hat a_{ij})^2
            + w_0 \sum_{(i,j)\notin\Omega} \hat a_{ij}^2
            + \lambda \sum_i s_i \lVert u_i\rVert^2 + \lambda \sum_j s'_j \lVert v_j\rVert^2

    with :math:`\hat a_{ij} = \langle u_i, v_j\rangle` (plus :math:`\mu + b_i + c_j` with
    ``biases``) and :math:`\Omega` the stored entries of the feedback matrix. Each iteration
    solves every item row with the users fixed, then every user row with the items fixed;
    each row solve is exact (``solver='cholesky'``) or a few warm-started conjugate-gradient
    steps (``solver='cg'``). The unobserved term goes through the Gram matrix
    :math:`V^\top V`, so nothing of size m x n is ever formed.

    Two regimes, one estimator:

    * implicit feedback (the defaults): ``w0 > 0``, ``target='binary'`` and the stored value
      feeding a confidence weight, :math:`t_{ij} = 1`, :math:`w_{ij} = 1 + \alpha a_{ij}` --
      Hu, Koren & Volinsky (2008) with ``w0 = 1``;
    * explicit ratings: ``w0 = 0``, ``target='value'``, ``confidence='none'``, usually with
      ``biases=True`` -- observed-only MF.

    Parameters
    ----------
    factors : int, default 64
        Embedding dimension d.
    w0 : float, default 1.0
        Weight of each unobserved entry (whose target is 0). 0 ignores unobserved entries.
    alpha : float, default 1.0
        Confidence scale.
    confidence : {'linear', 'log', 'none'}, default 'linear'
        Confidence :math:`\kappa(a)`: ``1 + alpha * a``, ``1 + alpha * log(1 + a / epsilon)``
        or 1. Needs non-negative values unless 'none'.
    epsilon : float, default 1.0
        Scale inside the 'log' confidence.
    target : {'binary', 'value'}, default 'binary'
        Target of an observed entry: 1 (implicit feedback, the value feeds the weight) or
        the stored value itself (weighted MF of ratings).
    row_weights, col_weights : array-like, optional
        Frequency-based observation weights as in weighted MF: when either is given, an
        observed entry weighs :math:`w_0 + r_i c_j \kappa(a_{ij})` (a missing side counts
        as 1).
    reg : float, default 0.005
        :math:`\lambda`, the ridge penalty.
    reg_exponent : float, default 1.0
        :math:`\nu` in the frequency-scaled penalty :math:`s_i = (|\Omega_i| + w_0 n)^\nu`
        (Rendle et al. 2021); 0 gives the plain penalty :math:`\lambda`. Scaling by the
        row's total weight keeps one ``reg`` sensible across data sets of different sizes:
        the defaults (``alpha=1, reg=0.005, reg_exponent=1``) were within a few percent of
        the best validation NDCG@20 found by grid search on MovieLens 100K and on
        synthetic power-law data, where a plain ``reg`` had to be re-tuned for each.
    biases : bool, default False
        Fit a global mean :math:`\mu` (the weighted mean of the targets, held fixed) and
        user and item biases, regularized like the factors. Ratings only: needs ``w0 = 0``.
    solver : {'cg', 'cholesky'}, default 'cg'
        Row solver.
    cg_steps : int, default 3
        Conjugate-gradient steps per row and half-sweep.
    iterations : int, default 15
        Full sweeps (items then users).
    init_scale : float, optional
        Standard deviation of the random initial factors. By default 0.01 with ``w0 > 0``
        and 0.1 with ``w0 = 0``: without the unobserved term, factors started near zero are
        pulled back to zero by the penalty and leave that saddle point only slowly (on
        MovieLens 100K ratings, 10 iterations end 25% higher in objective from 0.01 than
        from 0.1).
    dtype : float32 or float64, default float32
    num_threads : int, optional
        Threads for the kernels (default: all). Results do not depend on it.
    random_state : int, numpy.random.Generator or None
        Seed of the initial factors.

    Attributes
    ----------
    user_factors, item_factors : ndarray
    user_biases, item_biases : ndarray or None
    global_mean : float
    history_ : list of dict
        Per iteration: ``iteration``, ``seconds`` (that iteration's solve time), ``time``
        (cumulative solve time) and ``objective`` (when tracked).

    Notes
    -----
    The input is any scipy.sparse matrix or array; it is converted to CSR once (reusing its
    arrays when they are already canonical CSR of the right dtype) and duplicate entries are
    summed. Every stored entry, explicit zeros included, is an observation.
    """

    _param_names = ("factors", "w0", "alpha", "confidence", "epsilon", "target",
                    "row_weights", "col_weights", "reg", "reg_exponent", "biases", "solver",
                    "cg_steps", "iterations", "init_scale", "dtype", "num_threads",
                    "random_state")

    def __init__(self, factors=64, *, w0=1.0, alpha=1.0, confidence="linear", epsilon=1.0,
                 target="binary", row_weights=None, col_weights=None, reg=0.005,
                 reg_exponent=1.0, biases=False, solver="cg", cg_steps=3, iterations=15,
                 init_scale=None, dtype=np.float32, num_threads=None, random_state=None):
        owner = type(self).__name__
        self._set_common_params(factors, w0, alpha, confidence, epsilon, target, row_weights,
                                col_weights, reg, reg_exponent, biases, dtype, num_threads,
                                random_state)
        self.solver = v.check_option(owner, "solver", solver, SOLVERS)
        self.cg_steps = v.check_int(owner, "cg_steps", cg_steps, low=1)
        self.iterations = v.check_int(owner, "iterations", iterations, low=0)
        self.init_scale = None if init_scale is None else v.check_float(
            owner, "init_scale", init_scale, low=0.0, low_open=True)

    def fit(self, A, *, callback=None, show_progress=False, track_objective=True):
        """Fit the factors to the feedback matrix ``A`` (users x items).

        Parameters
        ----------
        A : scipy.sparse matrix or array, or fastmf.Interactions, shape (n_users, n_items)
            With Interactions, the raw ids are kept as ``user_ids_`` and ``item_ids_``.
        callback : callable, optional
            ``callback(model, record)`` after each iteration, ``record`` being the new
            ``history_`` entry. Returning True stops the fit.
        show_progress : bool
            Show a progress bar (needs tqdm).
        track_objective : bool
            Evaluate the objective after each iteration (O(nnz d + (m + n) d^2), outside the
            timed solve).

        Returns
        -------
        self
        """
        owner = type(self).__name__
        w = self._weighting
        n_threads = self._threads()
        csr, csr_t, sides = self._prepare(A)
        U, V = self.user_factors, self.item_factors
        elapsed = 0.0
        try:
            with thread_context(n_threads), progress_bar(self.iterations, show_progress,
                                                         owner) as bar:
                for it in range(self.iterations):
                    t0 = time.perf_counter()
                    failed = self._half_sweep(sides["items"], V, self.item_biases, U,
                                              self.user_biases)
                    failed += self._half_sweep(sides["users"], U, self.user_biases, V,
                                               self.item_biases)
                    seconds = time.perf_counter() - t0
                    elapsed += seconds
                    if not (np.isfinite(U).all() and np.isfinite(V).all()):
                        raise FloatingPointError(
                            f"{owner} produced non-finite factors at iteration {it + 1}; the "
                            f"systems are ill-conditioned (try a larger reg, or float64).")
                    if failed:
                        warnings.warn(f"{failed} rows had a singular system at iteration "
                                      f"{it + 1} (empty rows with reg = 0?) and kept their "
                                      f"previous factors.", RuntimeWarning, stacklevel=2)
                    record = {"iteration": it + 1, "seconds": seconds, "time": elapsed}
                    if track_objective:
                        record["objective"] = objective_value(
                            csr, U, V, w, self.user_biases, self.item_biases,
                            self.global_mean, csr_t=csr_t)
                    self.history_.append(record)
                    bar.update(record)
                    if callback is not None and callback(self, record):
                        break
        except BaseException:
            self._forget_fit()
            raise
        return self

    def _prepare(self, A):
        """What ``fit`` sets up before its first iteration: the validated matrix and its
        transpose, the per-side solver state, and the initial factors (and biases) stored
        on the model. Returns (csr, csr_t, {'items': side, 'users': side})."""
        w = self._weighting
        dtype = self.dtype
        csr = self._check_data(A, fitting=True)
        m, n = csr.shape
        csr_t = csr.transpose()
        d = self.factors
        rng = v.make_rng(self.random_state)
        scale = self.init_scale
        if scale is None:
            scale = 0.01 if w.w0 > 0 else 0.1
        U = _initial_factors(rng, m, d, scale, dtype)
        V = _initial_factors(rng, n, d, scale, dtype)
        self.user_factors, self.item_factors = U, V
        self.user_biases = self.item_biases = None
        self.global_mean = 0.0
        if self.biases:
            self.user_biases = np.zeros(m, dtype)
            self.item_biases = np.zeros(n, dtype)
            self.global_mean = _weighted_target_mean(csr, w)
        self._seen = csr
        self.history_ = []
        k = d + 1 if self.biases else d
        sides = {
            "items": _Side(csr_t, w, transposed=True, k=k, n_other=m, dtype=dtype),
            "users": _Side(csr, w, transposed=False, k=k, n_other=n, dtype=dtype),
        }
        V[sides["items"].free_rows] = 0
        U[sides["users"].free_rows] = 0
        return csr, csr_t, sides

    def _half_sweep(self, side, X, Xb, Y, Yb):
        """Solve every row of X (and its biases Xb) with Y (and Yb) fixed."""
        dtype = X.dtype
        if self.biases:
            d = X.shape[1]
            Xa = np.concatenate([X, Xb[:, None]], axis=1)
            Ya = np.concatenate([Y, np.ones((Y.shape[0], 1), dtype)], axis=1)
            offsets = (self.global_mean + Yb).astype(dtype)
            gram = np.zeros((d + 1, d + 1), dtype)
        else:
            Xa, Ya, offsets = X, Y, side.zero_offsets
            gram = (Y.T @ Y) * dtype.type(side.w0)
        if self.solver == "cg":
            _wals_rows_cg(side.indptr, side.indices, side.values, Xa, Ya, offsets, gram,
                          side.lam, *side.kargs, self.cg_steps, side.block_nnz,
                          side.chunks)
            failed = 0
        else:
            failed = _wals_rows_cholesky(side.indptr, side.indices, side.values, Xa, Ya,
                                         offsets, gram, side.lam, *side.kargs, side.max_nnz,
                                         side.chunks)
        if self.biases:
            X[:] = Xa[:, :-1]
            Xb[:] = Xa[:, -1]
        # free rows (see _Side) fail the Cholesky solve by construction and stay at zero
        return int(failed) - (side.free_rows.size if self.solver == "cholesky" else 0)


class _Side:
    """Everything a half-sweep over the rows of one orientation of the data needs."""

    def __init__(self, csr, weighting, *, transposed, k, n_other, dtype):
        full_shape = csr.shape[::-1] if transposed else csr.shape
        self.kargs = weighting.kernel_args(full_shape, transposed, dtype)
        self.w0 = weighting.w0
        self.indptr, self.indices, self.values = csr.indptr, csr.indices, csr.data
        row_nnz = csr.row_nnz()
        self.lam = weighting.row_penalty(row_nnz, n_other, dtype)
        self.max_nnz = max(1, int(row_nnz.max(initial=0)))
        self.block_nnz = cg_block_nnz(self.max_nnz, k, np.dtype(dtype).itemsize)
        self.chunks = _balanced_chunks(csr.indptr, k, n_chunks_for(csr.shape[0]))
        self.zero_offsets = np.zeros(n_other, dtype)
        # Without the unobserved term, a row with no entries and no penalty has the zero
        # system: nothing determines it. Such rows are held at zero (they predict the biases
        # only) instead of being reported as singular.
        self.free_rows = (np.flatnonzero((row_nnz == 0) & (self.lam == 0))
                          if weighting.w0 == 0 else np.zeros(0, np.int64))


def _initial_factors(rng, rows, d, scale, dtype):
    """Gaussian factors of standard deviation ``scale``, drawn in float32 and scaled in
    place (no float64 temporary of rows x d), so float32 and float64 fits of one seed
    start from the same values."""
    X = rng.standard_normal((rows, d), dtype=np.float32)
    X *= np.float32(scale)
    return X if dtype == np.float32 else X.astype(dtype)


def _weighted_target_mean(csr, w):
    """Weighted mean of the observed targets: the fixed global mean of a biased model."""
    if csr.nnz == 0:
        return 0.0
    weights, targets = w.weights_and_targets(csr)
    total = weights.sum()
    return float((weights * targets).sum() / total) if total > 0 else 0.0
