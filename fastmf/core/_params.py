"""The parameter lifecycle of every estimator, as scikit-learn has it.

``__init__`` stores its arguments untouched; a declarative table of constraints per class
(``_parameter_constraints``) checks them when ``fit`` starts, so a parameter set after
construction (``model.reg = 10`` or ``set_params(reg=10)``) changes the next fit, and
``get_params`` / ``set_params`` / ``sklearn.base.clone`` round-trip.
"""

import copy
import inspect
from types import SimpleNamespace

from . import _validation as v
from ._threads import resolve_num_threads


class Int:
    """An int (not bool) in [low, high]."""

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high

    def check(self, owner, name, value):
        return v.check_int(owner, name, value, low=self.low, high=self.high)


class Real:
    """A finite real number in [low, high] (or (low, high] with ``low_open``)."""

    def __init__(self, low=None, high=None, low_open=False):
        self.low, self.high, self.low_open = low, high, low_open

    def check(self, owner, name, value):
        return v.check_float(owner, name, value, low=self.low, high=self.high,
                             low_open=self.low_open)


class Options:
    """One of a fixed set of strings; ``options`` may be a callable returning them (for
    tables that grow, such as the registered row solvers)."""

    def __init__(self, options):
        self.options = options

    def check(self, owner, name, value):
        opts = self.options() if callable(self.options) else self.options
        return v.check_option(owner, name, value, tuple(opts))


class Bool:
    def check(self, owner, name, value):
        return v.check_bool(owner, name, value)


class Dtype:
    """float32 or float64."""

    def check(self, owner, name, value):
        return v.check_dtype(owner, value)


class RandomState:
    """None, a non-negative int or a ``numpy.random.Generator``."""

    def check(self, owner, name, value):
        return v.check_random_state(owner, value)


class Threads:
    """None or 0 (all of Numba's threads), or a positive int up to that number."""

    def check(self, owner, name, value):
        return resolve_num_threads(owner, value)


class Weights:
    """None, or a 1-d array of finite non-negative weights (its length is checked against
    the data at fit)."""

    def check(self, owner, name, value):
        return v.check_weights_vector(owner, name, value)


class UnobservedWeight:
    """A finite float >= 0 (the same weight for every unobserved entry), or a 1-d array of
    finite non-negative per-item weights (its length is checked against the data at fit)."""

    def check(self, owner, name, value):
        if isinstance(value, (list, tuple)) or (hasattr(value, "ndim")
                                                and getattr(value, "ndim", 0) >= 1):
            return v.check_weights_vector(owner, name, value)
        return v.check_float(owner, name, value, low=0)


class Optional:
    """None, or a value that passes ``inner``."""

    def __init__(self, inner):
        self.inner = inner

    def check(self, owner, name, value):
        return None if value is None else self.inner.check(owner, name, value)


class Auto:
    """``'auto'`` (resolved from the data at fit, see :mod:`fastmf.models._defaults`), or a value
    that passes ``inner``."""

    def __init__(self, inner):
        self.inner = inner

    def check(self, owner, name, value):
        if isinstance(value, str) and value == "auto":
            return value
        return self.inner.check(owner, name, value)


class Params:
    """``get_params`` / ``set_params`` / ``repr`` over the ``__init__`` arguments, and
    their validation against ``_parameter_constraints`` (name -> constraint)."""

    _parameter_constraints = {}

    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep=True):
        """The constructor parameters as a dict (``deep`` is accepted for scikit-learn
        compatibility; no parameter is itself an estimator)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters; they take effect at the next ``fit``. Returns
        self."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters are {', '.join(valid)}.")
            setattr(self, name, value)
        return self

    def check_params(self):
        """Raise ValueError naming the first parameter that ``fit`` would reject (fit
        checks them anyway; rules that depend on the data wait for it); returns self."""
        p = self._validate_params()
        if not any(isinstance(val, str) and val == "auto" for val in vars(p).values()):
            self._check_param_combination(p)
        return self

    def _validate_params(self):
        """The current parameters, each checked against its constraint (and normalized:
        dtype as numpy.dtype, num_threads resolved), as a namespace; raises ValueError
        naming the first bad one. Cross-parameter rules go in ``_check_param_combination``."""
        owner = type(self).__name__
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            constraint = self._parameter_constraints.get(name)
            out[name] = value if constraint is None else constraint.check(owner, name, value)
        return SimpleNamespace(**out)

    def _check_param_combination(self, p):
        """Rules that involve several parameters (subclasses extend)."""

    def __repr__(self):
        args = ", ".join(f"{k}={_short(val)}" for k, val in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __sklearn_clone__(self):
        # scikit-learn's clone: a new unfitted estimator with deep copies of the parameters.
        return type(self)(**{k: copy.deepcopy(val) for k, val in self.get_params().items()})


def _short(value):
    import numpy as np
    if isinstance(value, np.ndarray):
        return f"<array {value.shape}>"
    if isinstance(value, np.dtype):
        return repr(value.name)
    if isinstance(value, type) and issubclass(value, np.generic):
        return f"numpy.{value.__name__}"
    return repr(value)
