"""The sweep-engine seam: where the factors of a WALS fit live and how one iteration runs.

:class:`fastmf.WALS` owns everything that is the same wherever a fit runs -- parameters,
presets and data-aware defaults, validation, the initial draw, history, callbacks,
interrupts and persistence -- and hands the iterations to an *engine*. An engine is chosen
per fit (``WALS().fit(A, engine=...)``); ``None`` is :class:`LocalEngine`, which solves on
this process's threads (:class:`~fastmf.solvers.Sweeps`).
:class:`fastmf.distributed.DaskEngine` keeps the factors in row blocks on Dask workers.

A backend is one :class:`Engine` subclass whose :meth:`Engine.start` returns a running
engine with this interface (see :class:`~fastmf.solvers.Sweeps` for the local one):

``step(track)``
    One WALS iteration, the item half-sweep then the user half-sweep; returns
    ``(failed_rows, objective)``, the objective (float, exact, after the iteration) only
    with ``track`` and when the engine can compute it (else None: the estimator then
    evaluates it on the model). A Ctrl-C inside it leaves the last complete iteration.
``finite()``
    Whether the factors after the last step are all finite.
``forget()``
    Drop state derived from the factors (user code may have run in between).
``gather()``
    Put the factors of the last complete iteration on the model (a no-op where they
    already live there).
``record(record)``
    Add engine-specific keys to an iteration's ``history_`` record.
``seen(data)``, ``ids``
    What ``recommend`` filters by (the training matrix, or None when it never came to
    this process) and the raw ids the engine found itself (or None).
``kernels``
    The Numba dispatchers a step calls on this process (for the first-compile notice).
"""

import numpy as np

from ..core import _validation as v


class Engine:
    """Base class of the engines. Override :meth:`start`; engines whose data may live
    elsewhere (a Dask DataFrame) also override :meth:`as_input`, :meth:`is_remote` and
    :meth:`setup_remote`. :meth:`close` runs after every fit (release workers, clusters)."""

    #: a short name for messages and ``repr``
    name = None

    def as_input(self, A):
        """``A`` as the engine takes it (e.g. a Dask DataFrame wrapped); default as is."""
        return A

    def is_remote(self, data):
        """True when ``data`` does not sit on this machine: the fit's set-up (validation,
        'auto' values from the data, the weighting) then goes through
        :meth:`setup_remote`."""
        return False

    def setup_remote(self, model, data):
        """``(params, data, ids)`` for ``data`` held elsewhere (see
        :meth:`fastmf.WALS._adopt_params`)."""
        raise NotImplementedError

    def start(self, model, data, p):
        """Draw the initial factors (those of a local fit from ``p.random_state``) and
        return the running engine (see the module docstring)."""
        raise NotImplementedError

    def close(self):
        """Release what the last fit held (called after every fit, successful or not)."""

    def __repr__(self):
        return f"<{type(self).__name__}>"


class LocalEngine(Engine):
    """The factors in this process's memory, every half-sweep a parallel loop over rows on
    ``num_threads`` threads: :class:`~fastmf.solvers.Sweeps`."""

    name = "local"

    def start(self, model, csr, p):
        from . import get
        from ._sweeps import Sweeps
        start_factors(model, p, csr.shape, lambda: model._weighting.target_mean(csr))
        return Sweeps(get(p.solver, p), csr, csr.transpose(), model._weighting, model,
                      k=p.factors + 1 if p.biases else p.factors, dtype=p.dtype)


def start_factors(model, p, shape, target_mean):
    """Put a WALS fit's starting point on ``model``: Gaussian factors (users drawn first,
    then items, from ``p.random_state``), and with biases zero biases and the fixed global
    mean ``target_mean()``."""
    m, n = shape
    rng = v.make_rng(p.random_state)
    scale = initial_scale(model, p)
    model.user_factors = initial_factors(rng, m, p.factors, scale, p.dtype)
    model.item_factors = initial_factors(rng, n, p.factors, scale, p.dtype)
    model.user_biases = model.item_biases = None
    model.global_mean = 0.0
    if p.biases:
        model.user_biases = np.zeros(m, p.dtype)
        model.item_biases = np.zeros(n, p.dtype)
        model.global_mean = target_mean()
    if getattr(p, "warm_start", None) is not None:
        warm_rows(model, *p.warm_start)


def warm_rows(model, prior, ids):
    """A warm start: the rows of the fit's starting factors (and biases) whose user or
    item the previous model ``prior`` (factors, biases and raw ids) knows take its values;
    the others keep their draw. Rows are matched by raw id, or by index when both fits are
    on matrices. A ``prior`` that is not fitted leaves the draw as it is."""
    U0, V0, ub0, vb0, old_users, old_items = prior
    if U0 is None:
        return
    owner = type(model).__name__
    if U0.shape[1] != model.user_factors.shape[1]:
        raise ValueError(f"{owner}.fit(warm_start=True) needs the previous fit's number of "
                         f"factors ({U0.shape[1]}); got factors={model.user_factors.shape[1]}.")
    if (old_users is None) != (ids[0] is None):
        raise ValueError(f"{owner}.fit(warm_start=True) matches rows by raw id, or by index "
                         f"when both fits are on matrices; the previous fit was on "
                         f"{'a matrix' if old_users is None else 'raw ids'} and this one "
                         f"is not.")
    for X, B, X0, B0, old, new in ((model.user_factors, model.user_biases, U0, ub0,
                                    old_users, ids[0]),
                                   (model.item_factors, model.item_biases, V0, vb0,
                                    old_items, ids[1])):
        if new is None:
            at = prev = np.arange(min(X.shape[0], X0.shape[0]))
        else:
            _, at, prev = np.intersect1d(new, old, assume_unique=True, return_indices=True)
        X[at] = X0[prev]
        if B is not None and B0 is not None:
            B[at] = B0[prev]


def initial_scale(model, p):
    """The standard deviation of the initial factors: ``init_scale``, by default 0.01 with
    an unobserved term and 0.1 without."""
    if p.init_scale is not None:
        return p.init_scale
    return 0.01 if model._weighting.has_unobserved else 0.1


def initial_factors(rng, rows, d, scale, dtype):
    """Gaussian factors of standard deviation ``scale``, drawn in float32 and scaled in
    place (no float64 temporary of rows x d), so float32 and float64 fits of one seed
    start from the same values."""
    X = rng.standard_normal((rows, d), dtype=np.float32)
    X *= np.float32(scale)
    return X if dtype == np.float32 else X.astype(dtype)
