"""Weighted alternating least squares."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from .. import solvers
from ._base import OBJECTIVE_CONSTRAINTS, FactorModel, Run
from ..core._params import Auto, Int, Optional, Options, Real
from ..core import _interrupts as interrupts
from ._persistence import register_model
from ._scoring import fitting
from ..core._threads import thread_context

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp
    from numpy.typing import ArrayLike, DTypeLike

    from ..data._interactions import Interactions


@register_model
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

    * implicit feedback (``kind='implicit'``, the default): ``w0 > 0``, ``target='binary'``
      and the stored value feeding a confidence weight, :math:`t_{ij} = 1`,
      :math:`w_{ij} = \kappa(a_{ij})` -- Hu, Koren & Volinsky (2008) with ``w0 = 1`` and
      linear confidence;
    * explicit ratings (``kind='ratings'``): ``w0 = 0``, ``target='value'``,
      ``confidence='none'``, ``biases=True`` -- observed-only MF.

    Parameters
    ----------
    factors : int, default 64
        Embedding dimension d.
    kind : {'implicit', 'ratings'}, default 'implicit'
        Preset of the objective. 'implicit': implicit feedback (binary targets, confidence
        weights, unobserved entries with target 0). 'ratings': explicit ratings
        (observed-only, ``w0 = 0``, the value as target, no confidence, biases). Explicit
        parameters override the preset.
    w0 : float, array of shape (n_items,) or 'auto', default 'auto'
        Weight of each unobserved entry (whose target is 0), or one weight per item (the
        unobserved entries of item j weigh ``w0[j]``, exact through the Gram trick). 0
        ignores unobserved entries.
        'auto': 0 for ratings; for implicit feedback ``mean(kappa) * density / 0.3``, so
        that observed entries carry 0.3 times the unobserved entries' total weight.
    alpha : float or 'auto', default 'auto'
        Confidence scale ('auto': 1).
    confidence : {'linear', 'log', 'none', 'auto'}, default 'auto'
        Confidence :math:`\kappa(a)`: ``1 + alpha * a``, ``1 + alpha * log(1 + a / epsilon)``
        or 1. Needs non-negative values unless 'none'. 'auto': 'none' for ratings and for
        binary data, 'log' for counts.
    epsilon : float or 'auto', default 'auto'
        Scale inside the 'log' confidence ('auto': the median stored value).
    target : {'binary', 'value', 'auto'}, default 'auto'
        Target of an observed entry: 1 (implicit feedback, the value feeds the weight) or
        the stored value itself (ratings). 'auto' follows ``kind``.
    row_weights, col_weights : array-like, optional
        Frequency-based observation weights as in weighted MF: when either is given, an
        observed entry weighs :math:`w_0 + r_i c_j \kappa(a_{ij})` (a missing side counts
        as 1).
    reg : float or 'auto', default 'auto'
        :math:`\lambda`, the ridge penalty. 'auto': ``0.03 * mean(kappa)`` for implicit
        feedback, ``0.08 * std(ratings)`` for ratings.
    reg_exponent : float, default 1.0
        :math:`\nu` in the frequency-scaled penalty :math:`s_i = (|\Omega_i| + w_0 n)^\nu`
        (Rendle et al. 2021); 0 gives the plain penalty :math:`\lambda`. Scaling by the
        row's total weight keeps one ``reg`` sensible across data sets of different sizes.

    The 'auto' rules and the evidence for them are in :mod:`fastmf.models._defaults`; the values a
    fit used are in ``resolved_params_``.
    popularity_exponent : float or 'auto', default 'auto'
        :math:`\beta` of popularity-weighted unobserved entries (He et al. 2016, "eALS"):
        with :math:`\beta > 0` the unobserved weight of item j is
        :math:`w_0 n f_j^\beta / \sum_k f_k^\beta` (f: the items' counts in the training
        data), the same total as a uniform ``w0``, shifted towards popular items. ('auto':
        0.5 for implicit feedback with ``w0='auto'``, else 0: a ``w0`` given as a number
        stays uniform unless ``popularity_exponent`` is given too.)
    biases : bool or 'auto', default 'auto'
        ('auto': True for ratings with ``w0 = 0``.) Fit a global mean :math:`\mu` (the weighted mean of the targets, held fixed) and
        user and item biases, regularized like the factors. Ratings only: needs ``w0 = 0``.
    solver : {'auto', 'cg', 'cholesky', 'ials++'} or a registered solver name, default 'auto'
        Row solver (see :mod:`fastmf.solvers`): a few warm-started conjugate-gradient
        steps, the exact Cholesky solve, or iALS++'s block-coordinate updates (see
        ``block_size``). 'auto' applies the measured rule of :func:`fastmf.solvers.choose`:
        CG below 1024 factors, iALS++ from 1024 on (where 3 CG steps per iteration fall
        behind); the choice is in ``resolved_params_``.
    cg_steps : int, default 3
        Conjugate-gradient steps per row and half-sweep.
    block_size : int, default 32
        Coordinates per block of ``solver='ials++'`` (iALS++, Rendle et al. 2021): each
        half-sweep updates every row one block of coordinates at a time, each block solved
        exactly with the others fixed. ``block_size >= factors`` is the exact solve. Far
        cheaper than Cholesky at large ``factors`` (d^3 per row); at 1024 factors it
        reached objectives that 3 CG steps per iteration did not in the same time
        (``benchmarks/large_factors.py``), below that CG was faster.
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

    _parameter_constraints = {
        **OBJECTIVE_CONSTRAINTS,
        "solver": Auto(Options(solvers.available)),
        "cg_steps": Int(1),
        "block_size": Int(1),
        "iterations": Int(0),
        "init_scale": Optional(Real(0.0, low_open=True)),
    }

    def __init__(self, factors: int = 64, *, kind: Literal["implicit", "ratings"] = "implicit",
                 w0: float | Literal["auto"] = "auto", alpha: float | Literal["auto"] = "auto",
                 confidence: Literal["linear", "log", "none", "auto"] = "auto",
                 epsilon: float | Literal["auto"] = "auto",
                 target: Literal["binary", "value", "auto"] = "auto",
                 row_weights: ArrayLike | None = None,
                 col_weights: ArrayLike | None = None, reg: float | Literal["auto"] = "auto",
                 reg_exponent: float = 1.0, biases: bool | Literal["auto"] = "auto",
                 popularity_exponent: float | Literal["auto"] = "auto",
                 solver: str = "auto", cg_steps: int = 3, block_size: int = 32,
                 iterations: int = 15,
                 init_scale: float | None = None, dtype: DTypeLike = np.float32,
                 num_threads: int | None = None,
                 random_state: int | np.random.Generator | None = None) -> None:
        # Kept in each model on purpose: scikit-learn's __init__ stores each argument as given.
        self.factors = factors
        self.kind = kind
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
        self.popularity_exponent = popularity_exponent
        self.solver = solver
        self.cg_steps = cg_steps
        self.block_size = block_size
        self.iterations = iterations
        self.init_scale = init_scale
        self.dtype = dtype
        self.num_threads = num_threads
        self.random_state = random_state

    def fit(self, A: sp.sparray | sp.spmatrix | Interactions | pd.DataFrame, *,
            callback: Callable[[Any, dict], bool | None] | None = None,
            show_progress: bool = False, track_objective: bool = True,
            engine: solvers.Engine | None = None, user: str = "user", item: str = "item",
            value: str | None = None, warm_start: bool = False) -> WALS:
        """Fit the factors to the feedback matrix ``A`` (users x items).

        Parameters
        ----------
        A : scipy.sparse matrix or array, fastmf.Interactions or pandas.DataFrame
            Users x items feedback. With Interactions (or a DataFrame with columns user,
            item and optionally value) the raw ids are kept as ``user_ids_`` and
            ``item_ids_``, and the model then answers in raw ids.
        callback : callable, optional
            ``callback(model, record)`` after each iteration, ``record`` being the new
            ``history_`` entry. Returning True stops the fit.
        show_progress : bool
            Show a progress bar (needs tqdm).
        track_objective : bool
            Record the exact objective after each iteration in ``history_``. The built-in
            solvers compute it inside the user half-sweep, from each row's solve (its
            predictions come out of the CG steps or the Cholesky solve) and the users' Gram
            matrix, which the next item half-sweep reuses: a few percent of an iteration.
            Other solvers evaluate it separately (O(nnz d + (m + n) d^2), outside the timed
            solve).
        engine : fastmf.solvers.Engine, optional
            Where the factors live and the half-sweeps run: this process's threads by
            default (:class:`fastmf.solvers.LocalEngine`), or the workers of a Dask
            cluster (:class:`fastmf.distributed.DaskEngine`, which also takes a Dask
            DataFrame as ``A``). The model, its history and its saved file are the same
            whatever the engine.
        user, item, value : str
            With a DataFrame ``A``: its columns of the user ids, item ids and values
            (``value`` by default the column 'value' when there is one, else every entry
            is 1).
        warm_start : bool
            Start from the model's current factors instead of a fresh draw: users and items
            the fitted model knows (matched by raw id, or by index when both fits are on
            matrices) begin at their factors and biases, the others at the usual draw. A
            refit on grown data then needs fewer ``iterations`` (``benchmarks/replay.py``
            measures it). No effect on a model that is not fitted; the number of factors
            must stay the same; the local engine only.

        Returns
        -------
        self
        """
        engine = self._engine() if engine is None else engine
        if not isinstance(engine, solvers.Engine):
            raise TypeError(f"The 'engine' argument of {type(self).__name__}.fit must be a "
                            f"fastmf.solvers.Engine (e.g. fastmf.distributed.DaskEngine) or "
                            f"None. Got {type(engine).__name__} instead.")
        if warm_start and not isinstance(engine, solvers.LocalEngine):
            raise ValueError(f"{type(self).__name__}.fit(warm_start=True) runs on the local "
                             f"engine only (got {engine!r}).")
        try:
            return self._fit(A, callback=callback, show_progress=show_progress,
                             track_objective=track_objective, engine=engine,
                             columns=(user, item, value), warm_start=bool(warm_start))
        finally:
            engine.close()

    @fitting
    def partial_fit(self, new: sp.sparray | sp.spmatrix | Interactions | pd.DataFrame, *,
                    duplicates: Literal["add", "replace"] = "add", sweeps: int = 1) -> WALS:
        """Take new interactions into the fitted model without a full refit.

        The new entries are merged into the training matrix the model keeps, unknown raw
        ids extend ``user_ids_`` / ``item_ids_`` and the factor matrices, and every user
        and item row the new entries touch is re-solved exactly (Cholesky, against the
        whole other side), items then users, ``sweeps`` times. The Gram matrices are
        updated with the changed rows only. Rows the new entries do not touch keep their
        factors: a full ``fit`` remains the reference, and ``benchmarks/replay.py``
        measures what the shortcut costs in quality and saves in time.

        Parameters
        ----------
        new : scipy.sparse matrix, fastmf.Interactions or pandas.DataFrame
            The new entries. A matrix is over the model's indices (a model fitted on a
            matrix may get a larger one: extra rows and columns are new users and items);
            Interactions or a DataFrame (columns user, item, optionally value) hold raw
            ids, for a model fitted on raw ids.
        duplicates : {'add', 'replace'}
            For a (user, item) pair the model already holds: add the new value to the old
            one (counts, clicks), or replace it (a re-rating).
        sweeps : int
            Rounds of re-solving the touched items, then the touched users.

        Returns
        -------
        self

        Notes
        -----
        The values resolved by the first fit (``resolved_params_``: ``w0``, ``reg``, the
        confidence) stay fixed; with per-item unobserved weights a new item gets the
        overall level ``w0``. The model keeps its training matrix for this (the same
        arrays ``recommend`` filters seen items with; saved with the model). Not available
        with ``row_weights`` / ``col_weights``, nor for a model fitted on a Dask
        DataFrame. The update is published in one step like a fit's: concurrent reads see
        the model before or after it, and a Ctrl-C leaves the model as it was.
        """
        from ._incremental import partial_fit
        work = self._working_copy()
        with interrupts.deferred(), thread_context(self._threads()):
            partial_fit(work, new, duplicates=duplicates, sweeps=sweeps)
            interrupts.checkpoint()
        self._publish(work)
        return self

    def _engine(self):
        """The engine of a fit that names none."""
        return solvers.LocalEngine()

    def prepare_sweeps(self, A):
        """Validate, initialize the factors on the model, and return the
        :class:`fastmf.solvers.Sweeps` that :meth:`fit` runs (``sweeps.items()``,
        ``sweeps.users()``): the set-up of a fit, for benchmarks that time half-sweeps
        one by one."""
        p, csr, _ = self._setup(A)
        return self._start(csr, p, solvers.LocalEngine()).sweeps

    def _setup(self, A, engine=None):
        data = A if engine is None else engine.as_input(A)
        if engine is not None and engine.is_remote(data):
            return engine.setup_remote(self, data)
        return super()._setup(data)

    def _start(self, data, p, engine=None):
        return _WalsRun(self, data, p, engine or solvers.LocalEngine())

    def _fold_in_solver(self):
        return solvers.get(self._fit_params_ns().solver, self._fit_params_ns())


class _WalsRun(Run):
    """One WALS fit: the engine draws the initial factors and runs each iteration (items,
    then users) where the factors live."""

    def __init__(self, model, data, p, engine):
        self.model = model
        self.steps = p.iterations
        self.sweeps = engine.start(model, data, p)
        self.kernels = self.sweeps.kernels
        self.ids = self.sweeps.ids
        self.csr_t = getattr(self.sweeps, "csr_t", None)
        self._objective = None

    def seen(self, data):
        return self.sweeps.seen(data)

    def objective(self, model, csr):
        if self._objective is not None and np.isfinite(self._objective):
            return self._objective
        self.sweeps.gather()
        return super().objective(model, csr)

    def resumed(self):
        self.sweeps.forget()

    def current(self):
        self.sweeps.gather()

    def after(self, record):
        self.sweeps.record(record)
        return False

    def finish(self):
        self.sweeps.gather()

    def step(self, it):
        self._objective = None
        failed, self._objective = self.sweeps.step(self.track_objective)
        check_iteration(self.model, it, failed, self.sweeps.finite())


def check_iteration(model, it, failed, finite):
    """After iteration ``it`` of a WALS fit (whatever the engine): raise on non-finite
    factors, warn when ``failed`` rows had a singular system."""
    if not finite:
        raise FloatingPointError(f"{type(model).__name__} produced non-finite factors at "
                                 f"iteration {it + 1}; the systems are ill-conditioned "
                                 f"(try a larger reg, or float64).")
    if failed:
        warnings.warn(f"{failed} rows had a singular system at iteration {it + 1} "
                      f"(empty rows with reg = 0?) and kept their previous factors.",
                      RuntimeWarning, stacklevel=8)  # the caller of fit
