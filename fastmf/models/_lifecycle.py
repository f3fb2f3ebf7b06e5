"""The parameters and lifecycle of a factor model: the constraint table of the objective's
parameters, checking and resolving them at fit, the weighting they define, the fitted state
and how it is forgotten, and the input a fit accepts."""

from __future__ import annotations

import numpy as np

from ..core import _validation as v
from ..core._params import (Auto, Bool, Dtype, Int, Options, Params, RandomState, Real,
                            Threads, UnobservedWeight, Weights)
from ..core._threads import resolve_num_threads
from ..core._weighting import CONFIDENCES, TARGETS, Weighting
from ..data._interactions import Interactions
from ._defaults import KINDS, nonnegative_needed, resolve
from ._scoring import NotFittedError


#: constraints of the parameters that define the objective (every model has them);
#: 'auto' values are resolved from the data at fit (fastmf.models._defaults)
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


class Lifecycle(Params):
    """Parameters, fitted state and input of :class:`~fastmf.models._base.FactorModel`."""

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
        csr = self._check_data(A, dtype=p.dtype,
                               nonnegative=nonnegative_needed(p, self._preset(p)),
                               weighting=_Unweighted(p))
        p = self._resolve(p, csr)
        self._adopt_params(p)
        return p, csr, ids

    def _resolve(self, p, csr):
        """``p`` with every 'auto' replaced by its value for the training matrix ``csr``."""
        return resolve(p, csr, self._preset(p))

    def _preset(self, p):
        """The preset (a key of ``fastmf.models._defaults.PRESETS``) whose rules resolve
        the 'auto' values of the validated parameters ``p``: their ``kind``."""
        return p.kind

    def _adopt_params(self, p):
        """Check the resolved parameters ``p`` together and make them the fit's: the
        weighting, ``resolved_params_`` and the parameters saved with the model."""
        self._check_param_combination(p)
        self._weighting = self._build_weighting(p)
        self.resolved_params_ = {k: val for k, val in vars(p).items()
                                 if k in self.get_params()}
        self._fit_params = self.get_params()
