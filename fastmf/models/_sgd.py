"""Hogwild stochastic gradient descent on the weighted objective."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal
import numpy as np

from ..core import _interrupts as interrupts
from ..core import _validation as v
from .._kernels.sgd import SGD_SCHEDULES
from ._base import OBJECTIVE_CONSTRAINTS, FactorModel, Run
from ._defaults import _is_auto
from ..core._params import Auto, Int, Options, Real
from ._persistence import register_model
from ._scoring import fitting
from ..solvers._sgd_epochs import Epochs, resolve_entry_order, validation_loss
from ..core._threads import thread_context

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp
    from numpy.typing import ArrayLike, DTypeLike

    from ..data._interactions import Interactions


UNOBSERVED = ("gravity", "negative_sampling")
#: the step of lr_schedule='adagrad_rows' when lr is 'auto' (LibMF's default eta)
LIBMF_ETA = 0.1
ENTRY_ORDERS = ("shuffled", "by_row")


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
    kind : {'implicit', 'ratings'}, default 'implicit'
        Preset of the objective, as in :class:`fastmf.WALS`.
    lr : float or 'auto', default 'auto'
        Step size. 'auto': 0.05 with AdaGrad for implicit feedback, ``0.01 / std(ratings)``
        with a constant step for ratings.
    lr_schedule : {'constant', 'inverse', 'adagrad', 'adagrad_rows', 'auto'}, default 'auto'
        'inverse': ``lr / (1 + lr_decay * epoch)``; 'adagrad': per-coordinate steps
        ``lr / sqrt(sum of squared gradients)``. 'adagrad_rows': LibMF's AdaGrad, with
        ``lr`` as LibMF's ``eta`` (``'auto'``: 0.1, LibMF's default): one step size per
        row for its first 8 coordinates and one for the rest, each ``lr / sqrt(G)`` with G
        starting at 1 and adding the mean squared gradient of those coordinates; the
        first epoch of a fit moves only the first 8 coordinates; and the steps are taken
        as if the targets were divided by their standard deviation (as LibMF divides
        them; 1 when they are all equal). 'auto': 'adagrad' for implicit feedback,
        'constant' for ratings.
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
    entry_order : {'shuffled', 'by_row', 'auto'}, default 'auto'
        The order of the entries within each block of the grid. 'shuffled': a fresh
        random order every epoch. 'by_row': sorted by row (then column) once, the same
        order every epoch, as LibMF does; the blocks still run in a fresh random order
        every epoch. Sorted, a row's factors stay in cache across its entries and an epoch
        does no shuffling, so epochs are faster (1.1-1.2x on 5.7M ratings, d = 64), but
        with few blocks a fixed order comes close to one fixed pass over the data, which
        stalls at a higher objective. 'auto': 'by_row' when the grid has at least 256
        blocks, else 'shuffled' (a block spans 1,024 rows and 1,024 columns at d = 64 in
        float32: 16,384 x 16,384 or 262,144 x 1,024 reach 256).
        ``benchmarks/sgd_schedule.py`` measures both orders against time.
    w0, alpha, confidence, epsilon, target, row_weights, col_weights, reg, reg_exponent,
    biases, popularity_exponent, dtype, num_threads, random_state
        As in :class:`fastmf.WALS` (``biases`` needs ``w0 = 0``).

    See Also
    --------
    fastmf.BPR, fastmf.LogisticMF, fastmf.WARP : Hogwild SGD on ranking losses (sampled
        negatives, no shared objective).

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
        "lr": Auto(Real(0, low_open=True)),
        "lr_schedule": Auto(Options(tuple(SGD_SCHEDULES))),
        "lr_decay": Real(0),
        "epochs": Int(0),
        "unobserved": Options(UNOBSERVED),
        "negatives": Int(1),
        "gravity_steps": Int(1),
        "init_scale": Real(0),
        "entry_order": Auto(Options(ENTRY_ORDERS)),
    }

    def __init__(self, factors: int = 64, *, kind: Literal["implicit", "ratings"] = "implicit",
                 lr: float | Literal["auto"] = "auto",
                 lr_schedule: Literal["constant", "inverse", "adagrad", "adagrad_rows",
                                      "auto"] = "auto",
                 lr_decay: float = 0.0, epochs: int = 20,
                 unobserved: Literal["gravity", "negative_sampling"] = "gravity",
                 negatives: int = 5, gravity_steps: int = 8, init_scale: float = 0.1,
                 entry_order: Literal["shuffled", "by_row", "auto"] = "auto",
                 w0: float | Literal["auto"] = "auto", alpha: float | Literal["auto"] = "auto",
                 confidence: Literal["linear", "log", "none", "auto"] = "auto",
                 epsilon: float | Literal["auto"] = "auto",
                 target: Literal["binary", "value", "auto"] = "auto",
                 row_weights: ArrayLike | None = None,
                 col_weights: ArrayLike | None = None, reg: float | Literal["auto"] = "auto",
                 reg_exponent: float = 1.0, biases: bool | Literal["auto"] = "auto",
                 popularity_exponent: float | Literal["auto"] = "auto",
                 dtype: DTypeLike = np.float32,
                 num_threads: int | None = None,
                 random_state: int | np.random.Generator | None = None) -> None:
        # Kept in each model on purpose: scikit-learn's __init__ stores each argument as given.
        self.factors = factors
        self.kind = kind
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.lr_decay = lr_decay
        self.epochs = epochs
        self.unobserved = unobserved
        self.negatives = negatives
        self.gravity_steps = gravity_steps
        self.init_scale = init_scale
        self.entry_order = entry_order
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
        self.dtype = dtype
        self.num_threads = num_threads
        self.random_state = random_state

    def fit(self, A: sp.sparray | sp.spmatrix | Interactions | pd.DataFrame, *,
            validation: sp.sparray | sp.spmatrix | None = None, patience: int = 3,
            callback: Callable[[Any, dict], bool | None] | None = None,
            show_progress: bool = False, track_objective: bool = True, user: str = "user",
            item: str = "item", value: str | None = None) -> SGD:
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
        callback, show_progress, track_objective, user, item, value
            As in :meth:`fastmf.WALS.fit`.

        Returns
        -------
        self
        """
        patience = v.check_int("fit", "patience", patience, low=1)
        return self._fit(A, callback=callback, show_progress=show_progress,
                         track_objective=track_objective, validation=validation,
                         patience=patience, columns=(user, item, value))

    @fitting
    def partial_fit(self, new: sp.sparray | sp.spmatrix | Interactions | pd.DataFrame, *,
                    duplicates: Literal["add", "replace"] = "add", epochs: int | None = None,
                    replay: float = 1.0) -> SGD:
        """Take new interactions into the fitted model without a full refit.

        The new entries are merged into the training matrix the model keeps (unknown raw
        ids extend ``user_ids_`` / ``item_ids_`` and the factors, new rows starting at
        zero), then ``epochs`` epochs run over the new entries together with a uniform
        sample of the old ones (``replay`` times as many), from the model's factors. Each
        visited row's penalty and unobserved (gravity) term are scaled by the share of its
        entries visited, so a row is pulled by the same objective as in a full epoch; rows
        not visited do not move, and the sampled old entries keep the factors the new
        entries change anchored to the rest of the data. :meth:`fastmf.WALS.partial_fit`
        re-solves the touched rows exactly instead; ``benchmarks/replay.py`` compares both
        with full refits.

        Parameters
        ----------
        new : scipy.sparse matrix, fastmf.Interactions or pandas.DataFrame
            As in :meth:`fastmf.WALS.partial_fit`.
        duplicates : {'add', 'replace'}
            For a (user, item) pair the model already holds: add the new value to the old
            one, or replace it.
        epochs : int, optional
            Epochs over the visited entries; by default a quarter of the fit's ``epochs``
            (at least 1). The step size continues the fit's schedule.
        replay : float
            Old entries sampled per new entry (0: the new entries alone).

        Returns
        -------
        self

        Notes
        -----
        The values resolved by the first fit stay fixed. Not available with ``row_weights``
        / ``col_weights``. Published in one step like a fit's;
        a Ctrl-C leaves the model as it was.
        """
        from ._incremental import partial_fit_sgd
        work = self._working_copy()
        with interrupts.deferred(), thread_context(self._threads()):
            partial_fit_sgd(work, new, duplicates=duplicates, epochs=epochs, replay=replay)
            interrupts.checkpoint()
        self._publish(work)
        return self

    def _resolve(self, p, csr):
        p = super()._resolve(p, csr)
        if p.lr_schedule == "adagrad_rows" and _is_auto(self.lr):
            p.lr = LIBMF_ETA
        p.entry_order = resolve_entry_order(p.entry_order, csr.shape, p.factors,
                                            np.dtype(p.dtype).itemsize)
        return p

    def prepare_epochs(self, A):
        """Validate and return the :class:`Epochs` that :meth:`fit` runs (``.epoch(e)``
        runs epoch ``e``), for benchmarks that time epochs one by one."""
        p, csr, _ = self._setup(A)
        return Epochs(p, self._weighting, csr)

    def _start(self, csr, p, validation=None, patience=3):
        valid = None
        if validation is not None:
            valid = self._check_data(validation, "validation", shape=csr.shape,
                                     weighting=self._weighting, dtype=p.dtype)
        return _SgdRun(self, Epochs(p, self._weighting, csr), p, valid, patience)


class _SgdRun(Run):
    """One epoch per step (of :class:`Epochs` or, for the ranking estimators,
    :class:`RankingEpochs`); early stopping on a validation set keeps the best epoch; a
    non-finite epoch puts the previous factors back and raises (the model stays fitted)."""

    keeps = (FloatingPointError,)

    def __init__(self, model, epochs, p, valid, patience):
        self.model, self.run, self.p = model, epochs, p
        self.valid, self.patience = valid, patience
        self.steps = p.epochs
        self.shared_objective = epochs.shared_objective
        self.kernels = epochs.kernels
        model.user_factors, model.item_factors = epochs.U, epochs.V
        model.user_biases = epochs.ub if p.biases else None
        model.item_biases = epochs.vb if p.biases else None
        # ranking losses score <u, v> + c_j: no global mean (their user biases stay 0)
        model.global_mean = epochs.mu if self.shared_objective else 0.0
        self.best, self.best_loss, self.stale = None, np.inf, 0

    def labels(self, it):
        return {"epoch": it + 1}

    def step(self, it):
        run = self.run
        state = run.state()
        if not run.epoch(it, stop=interrupts.pending if interrupts.active() else None):
            run.restore(state)  # a Ctrl-C between two parts: back to the last full epoch
            interrupts.checkpoint()
        if not (np.isfinite(run.U).all() and np.isfinite(run.V).all()
                and np.isfinite(run.ub).all() and np.isfinite(run.vb).all()):
            run.restore(state)
            raise FloatingPointError(
                f"{type(self.model).__name__} diverged at epoch {it + 1}: non-finite factors. "
                f"The learning rate (lr={self.p.lr:g}) is likely too high for this data; the "
                f"model keeps the factors of epoch {it}.")

    def after(self, record):
        if not self.shared_objective:
            record["sampled_loss"] = self.run.sampled_loss
        if self.valid is None:
            return False
        m = self.model
        loss = validation_loss(self.valid, m.user_factors, m.item_factors, m.user_biases,
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
        self.model._optimizer = self.run.optimizer_state()
