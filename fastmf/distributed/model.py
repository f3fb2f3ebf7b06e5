"""DaskWALS: the WALS estimator, fitted on a Dask cluster."""

import copy

import numpy as np

from .._defaults import resolve_without_data

from .. import _validation as v
from .._params import Int, Optional
from .._threads import resolve_num_threads
from .._persistence import register_model
from ..wals import WALS
from .frames import FrameInput, is_dask_frame
from .run import DaskRun


class ClientParam:
    """None, or a running ``distributed.Client``."""

    def check(self, owner, name, value):
        if value is None:
            return None
        if not all(hasattr(value, a) for a in ("submit", "scatter", "gather", "status")):
            raise ValueError(f"The {name!r} parameter of {owner} must be None or a "
                             f"distributed.Client. Got {type(value).__name__} instead.")
        if value.status != "running":
            raise ValueError(f"The {name!r} parameter of {owner} is a distributed.Client "
                             f"that is not running (status {value.status!r}); pass a "
                             f"connected client, or client=None to start a local cluster.")
        return value


class WorkerThreads:
    """None or 0 (each worker's thread count), or a positive int: the Numba threads of a
    block's task on its worker, which may have more cores than the client. Checked as an
    int here; the client's own loop gets at most the threads Numba has on the client."""

    def check(self, owner, name, value):
        if value is None or (isinstance(value, int) and not isinstance(value, bool)
                             and value == 0):
            return resolve_num_threads(owner, None)
        value = v.check_int(owner, name, value, low=0)
        return min(value, resolve_num_threads(owner, None))


@register_model
class DaskWALS(WALS):
    """:class:`fastmf.WALS` on a Dask cluster: the same objective, parameters, initial
    factors and row solvers, with the data split into row blocks that live on the workers.

    The fitted model is an ordinary fastmf model: ``recommend``, ``fold_in``, ``save`` and
    :func:`fastmf.load` work on the client without a cluster. From the same parameters and
    ``random_state`` it gives the factors of :class:`fastmf.WALS` up to rounding (each row
    solve is the same; only the order of the Gram matrix's sums differs).

    Parameters
    ----------
    client : distributed.Client, optional
        The cluster to fit on. By default a ``LocalCluster`` of one single-threaded worker
        process per core is started for the fit and closed at its end.
    n_blocks : int, optional
        Row blocks per side (users, items). Default: the number of worker threads. Every
        block is sent the fixed-side rows it references each half-sweep, so more blocks
        than workers move more data.
    popularity_exponent : float
        Default 0: the unobserved weight stays uniform. Per-item unobserved weights (eALS,
        which :class:`fastmf.WALS` uses by default through its 'auto' value) are not
        distributed yet; a positive value raises ``NotImplementedError`` at ``fit``.
    num_threads : int, optional
        Numba threads of each block's task on its worker (default: that worker's thread
        count; a local cluster has one thread per worker process). It may exceed the
        client's cores; a worker uses at most the threads its Numba was started with.
    **others
        As :class:`fastmf.WALS`.

    Notes
    -----
    ``fit`` takes what :meth:`fastmf.WALS.fit` takes and also a Dask DataFrame with
    columns user, item and optionally value (e.g. from ``dask.dataframe.read_parquet``):
    its ids are indexed and its blocks built on the workers, and the raw ids are kept on
    the model as with :class:`fastmf.Interactions`. A model fitted on a Dask DataFrame
    keeps no training matrix on the client, so ``recommend`` then needs ``A`` (or
    ``filter_seen=False``). ``history_`` records also hold ``bytes_sent`` and
    ``bytes_received``: the bytes of the arrays shipped to and from the workers in that
    iteration. See ``docs/distributed.md``.
    """

    _parameter_constraints = {
        **WALS._parameter_constraints,
        "num_threads": WorkerThreads(),
        "client": ClientParam(),
        "n_blocks": Optional(Int(1)),
    }

    def __init__(self, factors=64, *, kind="implicit", w0="auto", alpha="auto",
                 confidence="auto", epsilon="auto", target="auto", row_weights=None,
                 col_weights=None, reg="auto", reg_exponent=1.0, biases="auto",
                 popularity_exponent=0.0, solver="cg",
                 cg_steps=3, iterations=15, init_scale=None, dtype=np.float32,
                 num_threads=None, random_state=None, client=None, n_blocks=None):
        super().__init__(factors, kind=kind, w0=w0, alpha=alpha, confidence=confidence,
                         epsilon=epsilon, target=target, row_weights=row_weights,
                         col_weights=col_weights, reg=reg, reg_exponent=reg_exponent,
                         biases=biases, popularity_exponent=popularity_exponent,
                         solver=solver, cg_steps=cg_steps,
                         iterations=iterations, init_scale=init_scale, dtype=dtype,
                         num_threads=num_threads, random_state=random_state)
        self.client = client
        self.n_blocks = n_blocks

    def fit(self, A, *, callback=None, show_progress=False, track_objective=True):
        """Fit on the cluster; see :meth:`fastmf.WALS.fit`. ``A`` may also be a Dask
        DataFrame of (user, item[, value]) rows."""
        session = _Session()
        try:
            return self._fit(A, callback=callback, show_progress=show_progress,
                             track_objective=track_objective, session=session,
                             track=track_objective)
        finally:
            session.close()

    def prepare_sweeps(self, A):
        raise NotImplementedError("DaskWALS solves its half-sweeps on the cluster; time "
                                  "local half-sweeps with fastmf.WALS.prepare_sweeps.")

    def _start(self, data, p, session=None, track=True):
        client = session.connect(p.client)
        threads = self._fit_params["num_threads"] or None  # validated; None: the worker's
        run = DaskRun(self, data, p, client, track=track, worker_threads=threads,
                      n_blocks=p.n_blocks)
        session.run = run
        return run

    # ------------------------------------------------------------------ input
    def _as_input(self, A):
        if is_dask_frame(A):
            return FrameInput(A)
        return super()._as_input(A)

    def _check_data(self, A, name="A", shape=None, weighting=None, dtype=None,
                    nonnegative=None):
        A = self._as_input(A)
        if isinstance(A, FrameInput):
            return A  # checked on the workers, block by block
        return super()._check_data(A, name, shape, weighting, dtype, nonnegative)

    def _setup(self, A):
        A = self._as_input(A)
        if not isinstance(A, FrameInput):
            return super()._setup(A)
        # A Dask DataFrame never comes to the client, so the data-aware defaults, which
        # read the values, cannot be resolved: they must be given.
        p, auto = resolve_without_data(self._validate_params())
        if auto:
            raise ValueError(f"DaskWALS on a Dask DataFrame needs explicit values for "
                             f"{', '.join(auto)} (their 'auto' defaults are computed from "
                             f"the data on the client); e.g. fit fastmf.WALS on a sample "
                             f"and pass its resolved_params_.")
        self._check_param_combination(p)
        self._weighting = self._build_weighting(p)
        self.resolved_params_ = {k: val for k, val in vars(p).items()
                                 if k in self.get_params()}
        self._fit_params = self.get_params()
        return p, A, (None, None)

    def _check_sizes(self, weighting, m, n):
        owner = type(self).__name__
        v.check_weights_vector(owner, "row_weights", weighting.row_weights, m)
        v.check_weights_vector(owner, "col_weights", weighting.col_weights, n)

    # ------------------------------------------------------------------ parameters
    def _saved_params(self):
        # a client is a connection, not part of the model
        return {**super()._saved_params(), "client": None}

    def _saved_resolved_params(self):
        return {**super()._saved_resolved_params(), "client": None}

    def __sklearn_clone__(self):
        params = self.get_params()
        client = params.pop("client")
        return type(self)(**{k: copy.deepcopy(val) for k, val in params.items()},
                          client=client)


class _Session:
    """The cluster of one fit: the given client, or a LocalCluster started when the fit
    gets past validation and closed at its end, with the blocks released."""

    def __init__(self):
        self.cluster = None
        self.client = None
        self.run = None

    def connect(self, client):
        if client is None:
            try:
                from distributed import Client, LocalCluster
            except ImportError as exc:
                raise ImportError("DaskWALS needs dask.distributed; install it with "
                                  "pip install 'fastmf[dist]'.") from exc
            self.cluster = LocalCluster(threads_per_worker=1, processes=True,
                                        dashboard_address=":0")
            client = Client(self.cluster)
        elif client.status != "running":
            raise ValueError(f"The 'client' parameter of DaskWALS is a distributed.Client "
                             f"that is not running (status {client.status!r}).")
        self.client = client
        return client

    def close(self):
        try:
            if self.run is not None:
                self.run.layout.release()
        finally:
            if self.cluster is not None:
                self.client.close()
                self.cluster.close()
