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
        from ..wals import start_factors
        from . import get
        from ._sweeps import Sweeps
        start_factors(model, p, csr.shape, lambda: model._weighting.target_mean(csr))
        return Sweeps(get(p.solver, p), csr, csr.transpose(), model._weighting, model,
                      k=p.factors + 1 if p.biases else p.factors, dtype=p.dtype)
