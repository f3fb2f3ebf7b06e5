"""The factor-model base class: parameters, one fit loop, fold-in, loss and persistence.

Every model (:class:`fastmf.WALS`, :class:`fastmf.SGD`, :class:`fastmf.SVD`) says in
``_start`` how a fit begins and returns a *run* whose ``step`` does one iteration; the loop
here does the rest the same way for all: validation of parameters and data, raw ids,
timing, the objective per iteration, history, progress, callback, and the reset after a
failed fit.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ..core import _interrupts as interrupts
from ..core import _validation as v
from ..core._compile_notice import first_compile_notice
from ..core._objective import objective_value
from ..core._params import (Auto, Bool, Dtype, Int, Options, Params, RandomState, Real,
                            Threads, UnobservedWeight, Weights)
from ..core._progress import progress_bar
from ..core._threads import resolve_num_threads, thread_context
from ..core._weighting import CONFIDENCES, TARGETS, Weighting
from ..data._ids import lookup_ids
from ..data._interactions import Interactions, named_columns
from ..solvers import Side, half_sweep
from ..solvers import get as get_solver
from ._defaults import KINDS, nonnegative_needed, resolve
from ._persistence import save_model
from ._run import Run
from ._scoring import NotFittedError, Scoring, fitting, reads

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike


#: constraints of the parameters that define the objective (every model has them);
#: 'auto' values are resolved from the data at fit (fastmf._defaults)
OBJECTIVE_CONSTRAINTS = {
    "factors": Int(1),
    "kind": Options(KINDS),
    "w0": Auto(UnobservedWeight()),
    "popularity_exponent": Auto(Real(0)),
    "alpha": Auto(Real(0)),
    "confidence": Auto(Options(CONFIDENCES)),
    "epsilon": Auto(Real(0, low_open=True)),
    "target": Auto(Options(TARGETS)),
    "row_weights": Weights(),
    "col_weights": Weights(),
    "reg": Auto(Real(0)),
    "reg_exponent": Real(0),
    "biases": Auto(Bool()),
    "dtype": Dtype(),
    "num_threads": Threads(),
    "random_state": RandomState(),
}

# Columns a DataFrame passed to fit may hold.
_FRAME_COLUMNS = ("user", "item", "value")


class _Unweighted:
    """Stands in for the weighting before 'auto' values are resolved (only the row and
    column weights are read)."""

    def __init__(self, p):
        self.row_weights = getattr(p, "row_weights", None)
        self.col_weights = getattr(p, "col_weights", None)


class FactorModel(Params, Scoring):
    """Shared surface of the factor models: a fitted model has ``user_factors`` (m x d),
    ``item_factors`` (n x d), optional biases and ``global_mean``, ``history_``, and (when
    fitted on raw ids) ``user_ids_`` / ``item_ids_``."""

    _parameter_constraints = OBJECTIVE_CONSTRAINTS

    user_factors = None
    item_factors = None
    user_biases = None
    item_biases = None
    global_mean = 0.0
    user_ids_ = None
    item_ids_ = None
    history_ = ()
    # The training matrix (validated CSR), for recommend's seen-item filter and partial_fit;
    # _seen_values: whether its values are the training values (a file written without
    # them gives the structure only); _grams: (U^T U, V^T diag(w0) V), float64, kept by
    # partial_fit.
    _seen = None
    _seen_values = False
    _grams = None
    _optimizer = None
    # The weighting of the last fit (what fold_in and loss use).
    _weighting = None
    _fit_params = None
    #: the parameters of the last fit with every 'auto' resolved from its data
    resolved_params_ = None

    # ------------------------------------------------------------------ parameters
    def _check_param_combination(self, p):
        if getattr(p, "biases", False) and np.any(np.asarray(p.w0) > 0):
            w0 = (f"per-item weights (mean {np.mean(p.w0):.3g})" if np.ndim(p.w0)
                  else f"{p.w0:.6g}")
            raise ValueError(f"The 'biases' option of {type(self).__name__} is for "
                             f"observed-only models (w0 = 0, ratings); got w0 = {w0}.")

    def _build_weighting(self, p):
        w0, w0_items = p.w0, None
        if isinstance(w0, np.ndarray):  # per-item weights (resolved from the data at fit)
            w0_items, w0 = w0, float(w0.mean()) if w0.size else 0.0
        return Weighting(w0=w0, confidence=p.confidence, alpha=p.alpha, epsilon=p.epsilon,
                         target=p.target, reg=p.reg, reg_exponent=p.reg_exponent,
                         row_weights=p.row_weights, col_weights=p.col_weights,
                         w0_items=w0_items)

    def _saved_params(self):
        """The parameters of the fit the state comes from (the current ones if unfitted)."""
        return self._fit_params if self.is_fitted and self._fit_params else self.get_params()

    def _saved_resolved_params(self):
        """The resolved parameters as saved (subclasses drop what is not part of a model,
        such as a cluster connection)."""
        return dict(self.resolved_params_)

    def _resolved_params(self):
        """The parameters the last fit ran with, every 'auto' resolved (or the current
        ones, checked, when unfitted)."""
        if self.resolved_params_ is not None:
            return dict(self.resolved_params_)
        return vars(self._validate_params())

    def _threads(self):
        return resolve_num_threads(type(self).__name__, self.num_threads)

    # ------------------------------------------------------------------ state
    @property
    def is_fitted(self):
        return self.user_factors is not None

    @property
    def n_users(self):
        self._check_fitted()
        return self.user_factors.shape[0]

    @property
    def n_items(self):
        self._check_fitted()
        return self.item_factors.shape[0]

    @property
    def seen_items(self):
        """The training interactions' structure (users x items ``scipy.sparse.csr_array``
        of ones) that ``recommend`` filters by default, or None."""
        return None if self._seen is None else self._seen.to_scipy()

    def _forget_fit(self):
        """Back to the unfitted state (a fit that raised leaves no half-fitted model)."""
        self.user_factors = self.item_factors = None
        self.user_biases = self.item_biases = None
        self.user_ids_ = self.item_ids_ = None
        self._seen = None
        self._seen_values = False
        self._grams = None
        self._optimizer = None

    def _check_fitted(self):
        if not self.is_fitted:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(A) "
                                 f"first.")

    # ------------------------------------------------------------------ input
    def _as_input(self, A):
        """A DataFrame becomes Interactions (columns user, item and optionally value)."""
        if type(A).__name__ == "DataFrame" and hasattr(A, "columns"):
            cols = [str(c) for c in A.columns]
            if "user" not in cols or "item" not in cols:
                raise ValueError(
                    f"A DataFrame passed to fit needs columns 'user' and 'item' (and "
                    f"optionally 'value'); it has {cols}. For other column names pass "
                    f"fit(df, user=..., item=..., value=...), or use "
                    f"fastmf.Interactions.from_dataframe(df, user=..., item=..., value=...).")
            return Interactions.from_dataframe(A, "user", "item",
                                               "value" if "value" in cols else None)
        return A

    def _check_data(self, A, name="A", shape=None, weighting=None, dtype=None,
                    nonnegative=None):
        """``A`` as validated canonical CSR, with the row and column weights checked against
        its shape."""
        w = weighting or self._weighting
        if nonnegative is None:
            nonnegative = w.confidence != "none"
        A = self._as_input(A)
        dtype = dtype or self.item_factors.dtype
        if isinstance(A, Interactions):
            A = A.to_csr(dtype)
        csr = v.check_matrix(A, name, dtype=dtype, nonnegative=nonnegative, shape=shape)
        owner = type(self).__name__
        rw = w.row_weights if w is not None else getattr(self, "row_weights", None)
        cw = w.col_weights if w is not None else getattr(self, "col_weights", None)
        v.check_weights_vector(owner, "row_weights", rw, csr.shape[0])
        v.check_weights_vector(owner, "col_weights", cw, csr.shape[1])
        return csr

    def _setup(self, A, **options):
        """What every fit starts with: the parameters checked and their 'auto' values
        resolved from the data, the weighting, the validated matrix and the raw ids.
        Returns (params, csr, ids); the weighting is ``self._weighting``."""
        p = self._validate_params()
        A = self._as_input(A)
        ids = (A.user_ids, A.item_ids) if isinstance(A, Interactions) else (None, None)
        csr = self._check_data(A, dtype=p.dtype, nonnegative=nonnegative_needed(p),
                               weighting=_Unweighted(p))
        p = resolve(p, csr)
        self._adopt_params(p)
        return p, csr, ids

    def _adopt_params(self, p):
        """Check the resolved parameters ``p`` together and make them the fit's: the
        weighting, ``resolved_params_`` and the parameters saved with the model."""
        self._check_param_combination(p)
        self._weighting = self._build_weighting(p)
        self.resolved_params_ = {k: val for k, val in vars(p).items()
                                 if k in self.get_params()}
        self._fit_params = self.get_params()

    # ------------------------------------------------------------------ the fit loop
    @fitting
    def _fit(self, A, *, callback=None, show_progress=False, track_objective=True,
             columns=None, **options):
        if columns is not None:
            A = named_columns(A, *columns)
        # The fit runs on a working copy and its state is published in one step at the
        # end (also after a Ctrl-C or an error, as the fit leaves it): a read from another
        # thread sees the old model or the new one, never a mix, and never waits.
        work = self._working_copy()
        started = []
        try:
            work._fit_here(A, callback, show_progress, track_objective, started, options)
        except BaseException:
            if started:
                self._publish(work)
            raise
        self._publish(work)
        return self

    def _fit_here(self, A, callback, show_progress, track_objective, started, options):
        # a warm start begins from the model as it is (see solvers._engine.warm_rows)
        warm = (self.user_factors, self.item_factors, self.user_biases, self.item_biases,
                self.user_ids_, self.item_ids_) if options.pop("warm_start", False) else None
        p, csr, ids = self._setup(A, **options)
        if warm is not None:
            p.warm_start = (warm, ids)
        if csr is not None and hasattr(csr, "nnz"):
            self._check_fit_memory(csr.shape, csr.nnz, p)
        self._forget_fit()
        self.history_ = []
        started.append(True)
        run = None
        try:
            with interrupts.deferred():
                run = self._start(csr, p, **options)
                self.user_ids_, self.item_ids_ = ids if run.ids is None else run.ids
                self._seen = run.seen(csr)
                self._seen_values = self._seen is csr
                self._loop(run, csr, p, callback, show_progress, track_objective)
                run.finish()
        except KeyboardInterrupt:
            done = len(self.history_)
            if run is None or done == 0:
                self._forget_fit()
                raise
            run.current()
            raise KeyboardInterrupt(
                f"{type(self).__name__}.fit interrupted; the model keeps the factors and "
                f"history_ of iteration {done} (of {run.steps}).") from None
        except BaseException as exc:
            if run is None or not isinstance(exc, run.keeps):
                self._forget_fit()
            raise

    def _loop(self, run, csr, p, callback, show_progress, track_objective):
        """The iterations of a fit; a Ctrl-C is taken between steps (or inside a step at
        the run's own safe points, which then restore the last complete iterate)."""
        elapsed = 0.0
        run.track_objective = bool(track_objective and run.shared_objective)
        with thread_context(p.num_threads), progress_bar(run.steps, show_progress,
                                                         type(self).__name__) as bar:
            for it in range(run.steps):
                interrupts.checkpoint()
                t0 = time.perf_counter()
                if it == 0:
                    with first_compile_notice(run.kernels):
                        run.step(it)
                else:
                    run.step(it)
                seconds = time.perf_counter() - t0
                elapsed += seconds
                record = {**run.labels(it), "iteration": it + 1, "seconds": seconds,
                          "time": elapsed}
                if run.track_objective:
                    record["objective"] = run.objective(self, csr)
                stop = run.after(record)
                self.history_.append(record)
                bar.update(record)
                if callback is not None:
                    run.current()
                    if callback(self, record):
                        break
                    run.resumed()
                if stop:
                    break
            interrupts.checkpoint()

    def _check_fit_memory(self, shape, nnz, p):
        """Refuse a fit whose factors and working copies cannot fit in memory: about
        three factor-sized arrays (the factors, a copy for interrupts or SGD's step
        sizes, the final snapshot) and the data's transpose."""
        from ..core._memory import check_memory
        m, n = shape
        itemsize = np.dtype(p.dtype).itemsize
        need = 3 * (m + n) * (p.factors + 1) * itemsize + nnz * (8 + itemsize)
        check_memory(need, f"{type(self).__name__}.fit of a {m:,} x {n:,} matrix with "
                           f"{p.factors} factors",
                     "reduce factors, use dtype=float32, or fit on a Dask cluster "
                     "(fastmf.distributed)")

    def _start(self, csr, params, **options):
        """Set the initial state on the model and return the :class:`Run`."""
        raise NotImplementedError

    def _objective(self, csr, csr_t=None):
        return objective_value(csr, self.user_factors, self.item_factors, self._weighting,
                               self.user_biases, self.item_biases, self.global_mean,
                               csr_t=csr_t)

    # ------------------------------------------------------------------ fold-in
    @reads
    def fold_in(self, A_rows: sp.sparray | sp.spmatrix | Interactions | pd.DataFrame, *,
                row_weights: ArrayLike | None = None, return_biases: bool = False,
                ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Factors for new users from their interactions, by one exact row solve.

        Each row is solved against the trained item factors with the model's objective
        (weights, ``w0``, regularization), exactly as a WALS user update: no refit. The
        solve goes through the row solver of a WALS model (an exact one: CG hands fold-in
        to Cholesky) and through Cholesky for the other models. A training user's row
        reproduces that user's factors when the last update of the fit was the user side
        (it is, for :class:`fastmf.WALS` with an exact solver).

        Parameters
        ----------
        A_rows : scipy.sparse matrix of shape (r, n_items), or Interactions / DataFrame
            The new users' interactions. A matrix is indexed by item index. An
            :class:`fastmf.Interactions` (or a DataFrame with columns user, item and
            optionally value) holds raw ids: its items are matched to the model's raw item
            ids (unknown items are dropped with a warning) and the rows of the result
            follow its ``user_ids``.
        row_weights : array-like of shape (r,), optional
            Row weights of the new users when the model uses frequency weights (default 1).
        return_biases : bool
            Also return the users' biases (models with ``biases=True``).

        Returns
        -------
        factors : ndarray of shape (r, factors)
        biases : ndarray of shape (r,), only with ``return_biases``
        """
        self._check_fitted()
        w = self._weighting
        V = self.item_factors
        dtype = V.dtype
        A_rows = self._rows_by_item_id(self._as_input(A_rows))
        csr = v.check_matrix(A_rows, "A_rows", dtype=dtype,
                             nonnegative=w.confidence != "none", shape=(None, self.n_items))
        r, n = csr.shape
        rw = v.check_weights_vector("fold_in", "row_weights", row_weights, r)
        w_rows = w.with_rows(np.ones(r) if rw is None else rw)
        d = V.shape[1]
        has_b = self.user_biases is not None
        k = d + 1 if has_b else d
        solver = self._fold_in_solver()
        side = solver.prepare(Side(csr, w_rows, transposed=False, k=k, n_other=n,
                                   dtype=dtype))
        X = np.zeros((r, d), dtype)
        Xb = np.zeros(r, dtype) if has_b else None
        with thread_context(self._threads()):
            failed = half_sweep(solver, side, w_rows, X, Xb, V, self.item_biases,
                                self.global_mean, fold_in=True)
        if failed:
            warnings.warn(f"{failed} fold-in rows had a singular system; their factors are "
                          f"zero.", RuntimeWarning, stacklevel=2)
        if return_biases:
            return X, (Xb if has_b else np.zeros(r, dtype))
        return X

    def _fold_in_solver(self):
        return get_solver("cholesky", self._fit_params_ns())

    def _fit_params_ns(self):
        from types import SimpleNamespace
        return SimpleNamespace(**self._resolved_params())

    def _rows_by_item_id(self, rows):
        """Interactions of new users -> CSR rows over this model's item columns."""
        if not isinstance(rows, Interactions):
            return rows
        if self.item_ids_ is None:
            raise ValueError("fold_in with raw ids needs a model fitted on raw ids; pass a "
                             "sparse matrix over item indices instead.")
        cols = lookup_ids(self.item_ids_, rows.item_ids, "items", unknown=-1)[rows.items]
        known = cols >= 0
        dropped = int((~known).sum())
        csr = sp.csr_array((rows.values[known], (rows.users[known], cols[known])),
                           shape=(rows.n_users, self.item_ids_.size))
        if dropped:
            warnings.warn(f"fold_in: {dropped} interactions with items unknown to the model "
                          f"were left out.", RuntimeWarning, stacklevel=3)
        return csr

    # ------------------------------------------------------------------ objective, I/O
    @reads
    def objective(self, A: sp.sparray | sp.spmatrix | Interactions | pd.DataFrame
                  ) -> float:
        """The shared objective (see :func:`fastmf.objective`) of ``A`` with this model's
        factors and weighting. (SGD's ranking losses do not minimize it; their own sampled
        loss is in ``history_``.)"""
        self._check_fitted()
        csr = self._check_data(A, shape=(self.n_users, self.n_items))
        with thread_context(self._threads()):
            return self._objective(csr)

    @reads
    def save(self, path: str | os.PathLike) -> None:
        """Write parameters and fitted state to ``path`` (a NumPy ``.npz`` archive, no
        pickle; written to a temporary file and renamed, so a failed save keeps any
        previous file). Read it back with :func:`fastmf.load`."""
        save_model(self, path)


__all__ = ["FactorModel", "NotFittedError", "OBJECTIVE_CONSTRAINTS", "Run"]
