"""The ranking estimators: Hogwild SGD on the logistic, BPR and WARP losses
(:class:`fastmf.LogisticMF`, :class:`fastmf.BPR`, :class:`fastmf.WARP`), each with only the
parameters it uses, on one private base."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from .._kernels.sgd import SCHEDULES
from ..core._params import (Auto, Bool, Dtype, Int, Options, RandomState, Real, Threads,
                            Weights)
from ..core._weighting import CONFIDENCES
from ..solvers._sgd_ranking import LOSSES, RankingEpochs
from ._base import FactorModel
from ._defaults import LocalStats, resolve_ranking
from ._persistence import register_model
from ._sgd import _SgdRun

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp
    from numpy.typing import ArrayLike, DTypeLike

    from ..data._interactions import Interactions

SAMPLINGS = ("uniform", "popularity")

#: the parameters every ranking estimator has; 'auto' values follow the loss's rules in
#: :mod:`fastmf.models._defaults` (``RANKING_AUTO``)
RANKING_CONSTRAINTS = {
    "factors": Int(1),
    "lr": Auto(Real(0, low_open=True)),
    "lr_schedule": Auto(Options(tuple(SCHEDULES))),
    "lr_decay": Real(0),
    "epochs": Auto(Int(0)),
    "reg": Auto(Real(0)),
    "reg_exponent": Auto(Real(0)),
    "biases": Bool(),
    "init_scale": Real(0),
    "sampling": Auto(Options(SAMPLINGS)),
    "confidence": Auto(Options(CONFIDENCES)),
    "alpha": Auto(Real(0)),
    "epsilon": Auto(Real(0, low_open=True)),
    "row_weights": Weights(),
    "col_weights": Weights(),
    "dtype": Dtype(),
    "num_threads": Threads(),
    "random_state": RandomState(),
}

# What the shared SGD epochs read that a ranking estimator does not have: no unobserved
# term (w0 = 0: a positive weighs its confidence alone and row i's penalty is
# reg * |Omega_i| ** reg_exponent), binary targets, no popularity weighting.
_FIXED = {"w0": 0.0, "target": "binary", "popularity_exponent": 0.0,
          "unobserved": "gravity", "gravity_steps": 1}

_SHARED_DOC = r"""
    Each stored entry (i, j) is a positive; negatives are items drawn per entry, uniformly
    or by popularity (an item the user has seen is redrawn, 3 draws at most). Scores are
    :math:`x_{ij} = \langle u_i, v_j\rangle` (:math:`+ c_j` with ``biases``). There is no
    unobserved term and no exact objective through the Gram trick: each epoch records its
    own mean sampled loss as ``sampled_loss`` in ``history_`` (no ``objective``). Threads
    update the shared factors without locks over the block grid of :class:`fastmf.SGD`.

    Parameters
    ----------
    factors : int, default 64
    lr : float or 'auto', default 'auto'
        Step size ('auto': 0.05).
    lr_schedule : {'constant', 'inverse', 'adagrad', 'auto'}, default 'auto'
        As in :class:`fastmf.SGD` ('auto': 'adagrad').
    lr_decay : float, default 0.0
        Decay of the 'inverse' schedule.
    epochs : int or 'auto', default 'auto'
        ('auto': 20.)
    reg : float or 'auto', default 'auto'
        Penalty :math:`\lambda` ('auto': 0.01); row i's penalty is
        :math:`\lambda |\Omega_i|^{\nu}`, spread over its visits.
    reg_exponent : float or 'auto', default 'auto'
        :math:`\nu` ('auto': 1).
    biases : bool, default False
        Learn item biases :math:`c_j` (no user biases: they do not change a user's ranking).
    init_scale : float, default 0.1
        Standard deviation of the initial factors.
    sampling : {'uniform', 'popularity', 'auto'}, default 'auto'
        How negatives are drawn: uniformly, or in proportion to the items' counts in the
        training data ('auto': 'popularity').{extra}
    confidence, alpha, epsilon : default 'auto'
        The weight of each positive, as the confidence of :class:`fastmf.WALS` ('auto':
        'none' on binary data, else 'log' with ``alpha = 1`` and ``epsilon`` the median
        stored value).
    row_weights, col_weights, dtype, num_threads, random_state
        As in :class:`fastmf.WALS` (row and column weights scale the positives' weights).

    Notes
    -----
    With ``num_threads=1`` and a fixed ``random_state`` a fit is reproducible bit for bit.
    A non-finite factor after an epoch raises ``FloatingPointError`` and the model keeps
    the factors of the last finite epoch. The resolved values of the 'auto' parameters are
    in ``resolved_params_`` after a fit.
"""


class RankingModel(FactorModel):
    """The shared base of the ranking estimators; ``_loss`` names the loss in
    :data:`fastmf.solvers._sgd_ranking.LOSSES`."""

    _loss = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._parameter_constraints = {**RANKING_CONSTRAINTS, **LOSSES[cls._loss].params}

    def _set_shared(self, factors, lr, lr_schedule, lr_decay, epochs, reg, reg_exponent,
                    biases, init_scale, sampling, confidence, alpha, epsilon, row_weights,
                    col_weights, dtype, num_threads, random_state):
        self.factors = factors
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.lr_decay = lr_decay
        self.epochs = epochs
        self.reg = reg
        self.reg_exponent = reg_exponent
        self.biases = biases
        self.init_scale = init_scale
        self.sampling = sampling
        self.confidence = confidence
        self.alpha = alpha
        self.epsilon = epsilon
        self.row_weights = row_weights
        self.col_weights = col_weights
        self.dtype = dtype
        self.num_threads = num_threads
        self.random_state = random_state

    def fit(self, A: sp.sparray | sp.spmatrix | Interactions | pd.DataFrame, *,
            callback: Callable[[Any, dict], bool | None] | None = None,
            show_progress: bool = False, track_objective: bool = True, user: str = "user",
            item: str = "item", value: str | None = None) -> RankingModel:
        """Fit the factors to ``A`` (users x items, its stored entries the positives).

        Parameters
        ----------
        A : scipy.sparse matrix or array, fastmf.Interactions or pandas.DataFrame
            As in :meth:`fastmf.WALS.fit`.
        callback, show_progress, user, item, value
            As in :meth:`fastmf.WALS.fit`.
        track_objective : bool
            Accepted as by every model; a ranking loss has no shared objective to track.

        Returns
        -------
        self
        """
        return self._fit(A, callback=callback, show_progress=show_progress,
                         track_objective=track_objective, columns=(user, item, value))

    def prepare_epochs(self, A):
        """Validate and return the :class:`~fastmf.solvers._sgd_ranking.RankingEpochs`
        that :meth:`fit` runs (``.epoch(e)`` runs epoch ``e``), for benchmarks."""
        p, csr, _ = self._setup(A)
        return RankingEpochs(self._epoch_params(p), self._weighting, csr)

    # ------------------------------------------------------------------ the base's hooks
    def _resolve(self, p, csr):
        return resolve_ranking(p, LocalStats(csr), self._loss)

    def _epoch_params(self, p):
        """The namespace the shared SGD epochs read: ``p`` with the loss's name and the
        fixed values of a model without an unobserved term."""
        return SimpleNamespace(**_FIXED, **vars(p), loss=self._loss)

    def _build_weighting(self, p):
        return super()._build_weighting(SimpleNamespace(**_FIXED, **vars(p)))

    def _check_param_combination(self, p):
        """No rule ties the parameters of a ranking loss together."""

    def _preset(self, p):
        return "implicit"  # the ranking losses fit implicit feedback only

    def _start(self, csr, p):
        p = self._epoch_params(p)
        return _SgdRun(self, RankingEpochs(p, self._weighting, csr), p, None, 1)


def _init_doc(cls, summary, extra=""):
    cls.__doc__ = summary + _SHARED_DOC.replace("{extra}", extra)
    return cls


@register_model
class BPR(RankingModel):
    _loss = "bpr"

    def __init__(self, factors: int = 64, *, lr: float | Literal["auto"] = "auto",
                 lr_schedule: Literal["constant", "inverse", "adagrad", "auto"] = "auto",
                 lr_decay: float = 0.0, epochs: int | Literal["auto"] = "auto",
                 reg: float | Literal["auto"] = "auto",
                 reg_exponent: float | Literal["auto"] = "auto", biases: bool = False,
                 init_scale: float = 0.1,
                 sampling: Literal["uniform", "popularity", "auto"] = "auto",
                 confidence: Literal["linear", "log", "none", "auto"] = "auto",
                 alpha: float | Literal["auto"] = "auto",
                 epsilon: float | Literal["auto"] = "auto",
                 row_weights: ArrayLike | None = None, col_weights: ArrayLike | None = None,
                 dtype: DTypeLike = np.float32, num_threads: int | None = None,
                 random_state: int | np.random.Generator | None = None) -> None:
        self._set_shared(factors, lr, lr_schedule, lr_decay, epochs, reg, reg_exponent,
                         biases, init_scale, sampling, confidence, alpha, epsilon,
                         row_weights, col_weights, dtype, num_threads, random_state)


@register_model
class LogisticMF(RankingModel):
    _loss = "logistic"

    def __init__(self, factors: int = 64, *, lr: float | Literal["auto"] = "auto",
                 lr_schedule: Literal["constant", "inverse", "adagrad", "auto"] = "auto",
                 lr_decay: float = 0.0, epochs: int | Literal["auto"] = "auto",
                 reg: float | Literal["auto"] = "auto",
                 reg_exponent: float | Literal["auto"] = "auto", biases: bool = False,
                 init_scale: float = 0.1,
                 sampling: Literal["uniform", "popularity", "auto"] = "auto",
                 negatives: int | Literal["auto"] = "auto",
                 confidence: Literal["linear", "log", "none", "auto"] = "auto",
                 alpha: float | Literal["auto"] = "auto",
                 epsilon: float | Literal["auto"] = "auto",
                 row_weights: ArrayLike | None = None, col_weights: ArrayLike | None = None,
                 dtype: DTypeLike = np.float32, num_threads: int | None = None,
                 random_state: int | np.random.Generator | None = None) -> None:
        self._set_shared(factors, lr, lr_schedule, lr_decay, epochs, reg, reg_exponent,
                         biases, init_scale, sampling, confidence, alpha, epsilon,
                         row_weights, col_weights, dtype, num_threads, random_state)
        self.negatives = negatives


@register_model
class WARP(RankingModel):
    _loss = "warp"

    def __init__(self, factors: int = 64, *, lr: float | Literal["auto"] = "auto",
                 lr_schedule: Literal["constant", "inverse", "adagrad", "auto"] = "auto",
                 lr_decay: float = 0.0, epochs: int | Literal["auto"] = "auto",
                 reg: float | Literal["auto"] = "auto",
                 reg_exponent: float | Literal["auto"] = "auto", biases: bool = False,
                 init_scale: float = 0.1,
                 sampling: Literal["uniform", "popularity", "auto"] = "auto",
                 max_trials: int = 50,
                 confidence: Literal["linear", "log", "none", "auto"] = "auto",
                 alpha: float | Literal["auto"] = "auto",
                 epsilon: float | Literal["auto"] = "auto",
                 row_weights: ArrayLike | None = None, col_weights: ArrayLike | None = None,
                 dtype: DTypeLike = np.float32, num_threads: int | None = None,
                 random_state: int | np.random.Generator | None = None) -> None:
        self._set_shared(factors, lr, lr_schedule, lr_decay, epochs, reg, reg_exponent,
                         biases, init_scale, sampling, confidence, alpha, epsilon,
                         row_weights, col_weights, dtype, num_threads, random_state)
        self.max_trials = max_trials


_init_doc(BPR, r"""Bayesian personalized ranking (Rendle et al. 2009) by Hogwild SGD.

    One (user, seen item, sampled unseen item) triple per stored entry, each step on
    :math:`-w_{ij} \log \sigma(x_{ij} - x_{ik})` with :math:`w_{ij}` the positive's weight.
""")
_init_doc(LogisticMF, r"""Logistic matrix factorization by Hogwild SGD.

    Binary cross-entropy: label 1 with the positive's weight on each stored entry, label 0
    with weight 1 on ``negatives`` items sampled per stored entry.
""", r"""
    negatives : int or 'auto', default 'auto'
        Sampled negatives per stored entry ('auto': 5).""")
_init_doc(WARP, r"""WARP (Weston et al. 2011) by Hogwild SGD.

    For each stored entry, items are drawn until one violates the margin
    (:math:`x_{ik} > x_{ij} - 1`, at most ``max_trials`` draws); the pair's step is weighted
    by the rank estimated from the number of draws.
""", r"""
    max_trials : int, default 50
        Draws per stored entry of the search for a violating item.""")
