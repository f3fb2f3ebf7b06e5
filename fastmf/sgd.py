"""Hogwild stochastic gradient descent on the weighted objective."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal
import numpy as np

from . import _validation as v
from ._kernels.loss import _loss_weighted
from ._kernels.partition import _balanced_chunks
from ._kernels.sgd import SCHEDULES, _sgd_epoch_hogwild, _sgd_gravity_rows
from ._model import OBJECTIVE_CONSTRAINTS, FactorModel, Run
from ._params import Int, Options, Real
from ._persistence import register_model
from ._threads import n_chunks_for

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp
    from numpy.typing import ArrayLike, DTypeLike

    from ._interactions import Interactions


UNOBSERVED = ("gravity", "negative_sampling")
# Bytes of factor rows per side of a block of the entry grid: the rows a block touches stay
# in L2 while its entries are visited (random order over the whole matrix makes every
# update two cache misses; this blocking more than doubles the update rate).
_BLOCK_BYTES = 1 << 18
# Rows of a factor matrix whose Gram-step products are formed at once (bounded scratch).
_GRAVITY_BYTES = 1 << 20


def _entry_grid(csr, rows, rng, k, itemsize):
    """Group the entries into blocks of (row range) x (column range) after a random
    relabelling of rows and columns (so blocks are not biased by id order). Returns the
    entries' rows, columns and values in block order, the block boundaries and the grid's
    shape (bands of rows, bands of columns); block b is (b // n_ib, b % n_ib)."""
    m, n = csr.shape
    per = max(1, _BLOCK_BYTES // (k * itemsize))
    urank = rng.permutation(m)
    irank = rng.permutation(n)
    n_ib = -(-n // per) if n else 1
    n_ub = -(-m // per) if m else 1
    block = (urank[rows] // per).astype(np.int64) * n_ib + irank[csr.indices[:csr.nnz]] // per
    order = np.argsort(block, kind="stable")
    block_ptr = np.zeros(n_ub * n_ib + 1, np.int64)
    np.cumsum(np.bincount(block, minlength=n_ub * n_ib), out=block_ptr[1:])
    del block
    return (rows[order], csr.indices[:csr.nnz][order], csr.data[:csr.nnz][order],
            block_ptr, (n_ub, n_ib))


def _block_order(rng, grid):
    """A fresh random visiting order of the grid's blocks: the bands of rows in random
    order, and within each band its blocks in random order. Consecutive blocks share their
    rows, which then stay in cache (a fully random block order made an epoch about 1.8x
    slower)."""
    n_ub, n_ib = grid
    bands = rng.permutation(n_ub)
    within = np.argsort(rng.random((n_ub, n_ib)), axis=1)
    return (bands[:, None] * n_ib + within).ravel()


class Epochs:
    """The state of an SGD fit and the body of one epoch: what :meth:`SGD.fit` runs, in a
    form that benchmarks can drive epoch by epoch (``SGD.prepare_epochs(A).epoch(e)``
    reproduces ``fit`` bit for bit on one thread).

    ``model`` holds the validated parameters (a namespace, as ``_validate_params``
    returns). Draws from one generator (from ``model.random_state``) in this order: the
    initial U, then V, then the entry grid's relabelling; then per epoch the block order
    and the blocks' seeds.
    """

    def __init__(self, model, weighting, csr):
        rng = v.make_rng(model.random_state)
        self.model = model
        self.rng = rng
        w = weighting
        dtype = model.dtype
        m, n = csr.shape
        d = model.factors
        self.U = (rng.standard_normal((m, d)) * model.init_scale).astype(dtype)
        self.V = (rng.standard_normal((n, d)) * model.init_scale).astype(dtype)
        self.ub = np.zeros(m, dtype)
        self.vb = np.zeros(n, dtype)
        self.mu = w.target_mean(csr) if model.biases else 0.0
        adagrad = model.lr_schedule == "adagrad"
        self.g2u = np.zeros_like(self.U) if adagrad else np.zeros((1, 1), dtype)
        self.g2v = np.zeros_like(self.V) if adagrad else np.zeros((1, 1), dtype)
        self.g2ub = np.zeros(m if adagrad else 1, dtype)
        self.g2vb = np.zeros(n if adagrad else 1, dtype)

        row_nnz = csr.row_nnz()
        col_nnz = np.bincount(csr.indices[:csr.nnz], minlength=n)
        rows = np.repeat(np.arange(m, dtype=csr.indices.dtype), row_nnz)
        self.lam_rows = w.row_penalty(row_nnz, n, dtype)
        self.lam_cols = w.row_penalty(col_nnz, m, dtype)
        self.kargs = w.kernel_args(csr.shape, False, dtype)
        self.w0 = w.w0
        self.gravity = model.unobserved == "gravity" and w.has_unobserved
        self.negatives = model.negatives if (model.unobserved == "negative_sampling"
                                             and w.has_unobserved) else 0
        # Rows without entries are never visited: keep their divisor at 1.
        self.row_div = np.maximum(row_nnz, 1).astype(dtype)
        self.col_div = np.maximum(col_nnz, 1).astype(dtype)
        # Rows without entries are never visited by the entry kernel: their penalty gets
        # one step of its own per epoch (see _penalty_step).
        self.empty_rows = np.flatnonzero((row_nnz == 0) & (self.lam_rows > 0))
        self.empty_cols = np.flatnonzero((col_nnz == 0) & (self.lam_cols > 0))
        (self.g_rows, self.g_cols, self.g_vals, self.block_ptr,
         self.grid) = _entry_grid(csr, rows, rng, d, np.dtype(dtype).itemsize)
        del rows
        self.schedule = SCHEDULES[model.lr_schedule]
        self.nnz = csr.nnz
        # Scratch for the Gram steps' products, a bounded number of rows at a time.
        self.gravity_buf = np.empty((_gravity_chunk(d, dtype) if self.gravity else 0, d),
                                    dtype)

    def lr(self, epoch):
        model = self.model
        if model.lr_schedule == "inverse":
            return model.lr / (1.0 + model.lr_decay * epoch)
        return model.lr

    def epoch(self, epoch):
        """Run epoch number ``epoch`` (0-based; it sets the step of the 'inverse'
        schedule)."""
        model = self.model
        U, V = self.U, self.V
        lr = self.lr(epoch)
        block_order = _block_order(self.rng, self.grid)
        seeds = self.rng.integers(1, 2**63 - 1, self.block_ptr.shape[0] - 1,
                                  dtype=np.uint64)
        w0, row_scale, col_scale, kind, alpha, eps, binary, has_scale = self.kargs
        # With gravity, the blocks run in ``gravity_steps`` parts, each followed by a step on
        # the Gram terms (with the Gram matrices of the moment) weighted 1 / gravity_steps:
        # the epoch's total gradient of the unobserved term is unchanged, but the per-entry
        # -w0 <u, v>^2 corrections no longer run a whole epoch unbalanced.
        parts = model.gravity_steps if self.gravity else 1
        for part in np.array_split(block_order, parts):
            _sgd_epoch_hogwild(self.g_rows, self.g_cols, self.g_vals, self.block_ptr,
                               np.ascontiguousarray(part), True, self.row_div, self.col_div,
                               U, V, self.ub, self.vb, self.g2u, self.g2v, self.g2ub,
                               self.g2vb, self.mu, w0, self.gravity, self.negatives,
                               self.lam_rows, self.lam_cols, row_scale, col_scale, kind,
                               alpha, eps, binary, has_scale, model.biases, lr, self.schedule,
                               seeds)
            if self.gravity:
                w0_part = self.w0 / parts
                _gravity_step(U, V, w0_part, lr, self.g2u, self.schedule, self.gravity_buf)
                _gravity_step(V, U, w0_part, lr, self.g2v, self.schedule, self.gravity_buf)
        adagrad = self.schedule == SCHEDULES["adagrad"]
        for rows, X, Xb, lam, g2, g2b in (
                (self.empty_rows, U, self.ub, self.lam_rows, self.g2u, self.g2ub),
                (self.empty_cols, V, self.vb, self.lam_cols, self.g2v, self.g2vb)):
            if rows.size:
                _penalty_step(rows, X, Xb, lam, lr, g2 if adagrad else None,
                              g2b if adagrad else None)

    def state(self):
        return self.U.copy(), self.V.copy(), self.ub.copy(), self.vb.copy()

    def restore(self, state):
        self.U[:], self.V[:], self.ub[:], self.vb[:] = state


def _penalty_step(rows, X, Xb, lam, lr, g2, g2b):
    """One step on the penalty lam_i (||x_i||^2 + b_i^2) of the given rows (rows without
    entries, which the entry kernel never visits; their factors decay towards the
    penalty's minimum, zero). Per-coordinate steps when ``g2`` (AdaGrad) is given."""
    dt = X.dtype.type
    two_lam = dt(2) * lam[rows]
    for x, acc in ((X[rows], None if g2 is None else g2[rows]),
                   (Xb[rows][:, None], None if g2b is None else g2b[rows][:, None])):
        g = two_lam[:, None] * x
        if acc is not None:
            acc += g * g
            x -= dt(lr) * g / np.sqrt(acc + dt(1e-8))
        else:
            x -= dt(lr) * g
        if x.shape[1] == X.shape[1]:
            X[rows] = x
            if acc is not None:
                g2[rows] = acc
        else:
            Xb[rows] = x[:, 0]
            if acc is not None:
                g2b[rows] = acc[:, 0]


def _gravity_chunk(d, dtype):
    return max(1, _GRAVITY_BYTES // (d * np.dtype(dtype).itemsize))


def _gravity_step(X, Y, w0, lr, g2x, schedule, buf):
    """x_i -= lr * 2 w0 (Y^T Y) x_i for every row of X (the gradient of the Gram terms
    w0 x_i^T (Y^T Y) x_i; per-coordinate steps with adagrad). BLAS forms the products
    chunk by chunk into ``buf``; the kernel applies them."""
    gram = (Y.T @ Y).astype(X.dtype)
    step = buf.shape[0]
    adagrad = schedule == SCHEDULES["adagrad"]
    for start in range(0, X.shape[0], step):
        stop = min(start + step, X.shape[0])
        XG = np.matmul(X[start:stop], gram, out=buf[:stop - start])
        _sgd_gravity_rows(X[start:stop], XG, w0, lr, g2x[start:stop] if adagrad else g2x,
                          schedule)


@register_model
class SGD(FactorModel):
    r"""Matrix factorization by Hogwild stochastic gradient descent.

    Minimizes the objective of :class:`fastmf.WALS` (same parameters, same meaning), so the
    two solvers can be compared on one axis. Each epoch visits the observed entries in a
    fresh random order; threads update the shared factors without locks (Recht et al.
    2011), walking a grid of blocks whose factor rows fit in cache (as in FPSGD) in a fresh
    random order each epoch, and the entries of each block in a fresh random order. The
    unobserved term :math:`w_0 \sum_{(i,j)\notin\Omega} \hat a_{ij}^2` is handled
    by

    * ``unobserved='gravity'``: its exact gradient through the Gram matrices
      :math:`V^\top V` and :math:`U^\top U`, so SGD minimizes exactly the WALS objective.
      The epoch's blocks run in ``gravity_steps`` parts; after each part a step on the
      Gram terms, weighted :math:`1/\text{gravity\_steps}`, uses the Gram matrices of that
      moment;
    * ``unobserved='negative_sampling'``: ``negatives`` uniformly drawn items per observed
      entry, each standing for :math:`n / (\text{negatives}\,|\Omega_i|)` unobserved
      entries of its row -- an approximation (a sampled item may be observed), cheaper when
      d is large.

    With ``w0 = 0`` (explicit ratings) neither applies. Regularization is spread over a
    row's entries (:math:`\lambda s_i / |\Omega_i|` per visit); a row without entries gets
    one step per epoch on its own penalty (it decays towards zero, its optimum).

    Parameters
    ----------
    factors : int, default 64
    lr : float, default 0.01
        Step size.
    lr_schedule : {'constant', 'inverse', 'adagrad'}, default 'constant'
        'inverse': ``lr / (1 + lr_decay * epoch)``; 'adagrad': per-coordinate steps
        ``lr / sqrt(sum of squared gradients)``.
    lr_decay : float, default 0.0
    epochs : int, default 20
    unobserved : {'gravity', 'negative_sampling'}, default 'gravity'
    negatives : int, default 5
        Samples per observed entry with ``unobserved='negative_sampling'``.
    gravity_steps : int, default 8
        Steps on the Gram terms per epoch with ``unobserved='gravity'``, each with the
        Gram matrices of its moment and a 1 / ``gravity_steps`` share of the term. Each
        costs O((m + n) d^2) (two Gram products and two factor-by-Gram products, by BLAS).
        One step per epoch lets the per-entry corrections
        :math:`-w_0 \langle u_i, v_j\rangle^2` run a whole epoch unchecked: SGD then
        oscillates and stalls above the minimum (on a 20k x 5k x 400k implicit matrix,
        d = 32, adagrad, 30 epochs: 1.13x the WALS objective with 1 step, 1.013x with 4,
        1.002x with 8, for epochs about 1.5x as long as with 1 step; on sparser data with
        larger d the extra cost is larger: 3.3x on 100k x 20k x 1M at d = 64).
    init_scale : float, default 0.1
        Standard deviation of the initial factors.
    w0, alpha, confidence, epsilon, target, row_weights, col_weights, reg, reg_exponent,
    biases, dtype, num_threads, random_state
        As in :class:`fastmf.WALS` (``biases`` needs ``w0 = 0``).

    Notes
    -----
    With ``num_threads=1`` and a fixed ``random_state`` a fit is reproducible bit for bit.
    With more threads it is not: Hogwild updates race by design, so results vary slightly
    from run to run. A non-finite factor after an epoch raises ``FloatingPointError``
    (usually: the learning rate is too high for the data) and the model keeps the factors
    of the last finite epoch.
    """

    _parameter_constraints = {
        **OBJECTIVE_CONSTRAINTS,
        "lr": Real(0, low_open=True),
        "lr_schedule": Options(tuple(SCHEDULES)),
        "lr_decay": Real(0),
        "epochs": Int(0),
        "unobserved": Options(UNOBSERVED),
        "negatives": Int(1),
        "gravity_steps": Int(1),
        "init_scale": Real(0),
    }

    def __init__(self, factors: int = 64, *, lr: float = 0.01,
                 lr_schedule: Literal["constant", "inverse", "adagrad"] = "constant",
                 lr_decay: float = 0.0, epochs: int = 20,
                 unobserved: Literal["gravity", "negative_sampling"] = "gravity",
                 negatives: int = 5, gravity_steps: int = 8, init_scale: float = 0.1,
                 w0: float = 1.0, alpha: float = 1.0,
                 confidence: Literal["linear", "log", "none"] = "linear",
                 epsilon: float = 1.0, target: Literal["binary", "value"] = "binary",
                 row_weights: ArrayLike | None = None,
                 col_weights: ArrayLike | None = None, reg: float = 0.005,
                 reg_exponent: float = 1.0, biases: bool = False,
                 dtype: DTypeLike = np.float32,
                 num_threads: int | None = None,
                 random_state: int | np.random.Generator | None = None) -> None:
        self.factors = factors
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.lr_decay = lr_decay
        self.epochs = epochs
        self.unobserved = unobserved
        self.negatives = negatives
        self.gravity_steps = gravity_steps
        self.init_scale = init_scale
        self.w0 = w0
        self.alpha = alpha
        self.confidence = confidence
        self.epsilon = epsilon
        self.target = target
        self.row_weights = row_weights
        self.col_weights = col_weights
        self.reg = reg
        self.reg_exponent = reg_exponent
        self.biases = biases
        self.dtype = dtype
        self.num_threads = num_threads
        self.random_state = random_state

    def fit(self, A: sp.sparray | sp.spmatrix | Interactions | pd.DataFrame, *,
            validation: sp.sparray | sp.spmatrix | None = None, patience: int = 3,
            callback: Callable[[Any, dict], bool | None] | None = None,
            show_progress: bool = False, track_objective: bool = True) -> SGD:
        """Fit the factors to ``A`` (users x items).

        Parameters
        ----------
        A : scipy.sparse matrix or array, fastmf.Interactions or pandas.DataFrame
            As in :meth:`fastmf.WALS.fit`.
        validation : scipy.sparse matrix, same shape, optional
            Held-out entries. After each epoch the weighted mean squared error on them,
            :math:`\\sum w (t - \\hat a)^2 / \\sum w`, is recorded as ``validation_loss``;
            when it has not improved for ``patience`` epochs, fitting stops and the factors
            of the best epoch are kept.
        patience : int
        callback, show_progress, track_objective
            As in :meth:`fastmf.WALS.fit`.

        Returns
        -------
        self
        """
        patience = v.check_int("fit", "patience", patience, low=1)
        return self._fit(A, callback=callback, show_progress=show_progress,
                         track_objective=track_objective, validation=validation,
                         patience=patience)

    def prepare_epochs(self, A):
        """Validate and return the :class:`Epochs` that :meth:`fit` runs (``.epoch(e)``
        runs epoch ``e``), for benchmarks that time epochs one by one."""
        p = self._validate_params()
        w = self._build_weighting(p)
        csr = self._check_data(A, weighting=w, dtype=p.dtype)
        return Epochs(p, w, csr)

    def _start(self, csr, p, validation=None, patience=3):
        valid = None
        if validation is not None:
            valid = self._check_data(validation, "validation", shape=csr.shape,
                                     weighting=self._weighting, dtype=p.dtype)
        return _SgdRun(self, Epochs(p, self._weighting, csr), p, valid, patience)


class _SgdRun(Run):
    """One epoch per step; early stopping on a validation set keeps the best epoch; a
    non-finite epoch puts the previous factors back and raises (the model stays fitted)."""

    keeps = (FloatingPointError,)

    def __init__(self, model, epochs, p, valid, patience):
        self.model, self.run, self.p = model, epochs, p
        self.valid, self.patience = valid, patience
        self.steps = p.epochs
        model.user_factors, model.item_factors = epochs.U, epochs.V
        model.user_biases = epochs.ub if p.biases else None
        model.item_biases = epochs.vb if p.biases else None
        model.global_mean = epochs.mu
        self.best, self.best_loss, self.stale = None, np.inf, 0

    def labels(self, it):
        return {"epoch": it + 1}

    def step(self, it):
        run = self.run
        state = run.state()
        run.epoch(it)
        if not (np.isfinite(run.U).all() and np.isfinite(run.V).all()
                and np.isfinite(run.ub).all() and np.isfinite(run.vb).all()):
            run.restore(state)
            raise FloatingPointError(
                f"{type(self.model).__name__} diverged at epoch {it + 1}: non-finite factors. "
                f"The learning rate (lr={self.p.lr:g}) is likely too high for this data; the "
                f"model keeps the factors of epoch {it}.")

    def after(self, record):
        if self.valid is None:
            return False
        m = self.model
        loss = _validation_loss(self.valid, m.user_factors, m.item_factors, m.user_biases,
                                m.item_biases, m.global_mean, m._weighting)
        record["validation_loss"] = loss
        if loss < self.best_loss:
            self.best_loss, self.stale = loss, 0
            self.best = self.run.state()
        else:
            self.stale += 1
        return self.stale >= self.patience

    def finish(self):
        if self.best is not None:
            self.run.restore(self.best)


def _validation_loss(csr, U, V, ub, vb, mu, w):
    """Weighted mean squared error on the stored entries of ``csr``."""
    m, n = csr.shape
    dtype = U.dtype
    chunks = _balanced_chunks(csr.indptr, U.shape[1], n_chunks_for(m))
    row_off = (ub + mu).astype(dtype) if ub is not None else np.zeros(m, dtype)
    col_off = vb.astype(dtype) if vb is not None else np.zeros(n, dtype)
    obs, _ = _loss_weighted(csr.indptr, csr.indices, csr.data, U, V, row_off, col_off,
                            *w.kernel_args(csr.shape, False, np.float64), chunks)
    total_w = float(w.weights_and_targets(csr)[0].sum())
    return float(np.sum(obs) / total_w) if total_w > 0 else 0.0
