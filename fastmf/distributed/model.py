"""DaskWALS: :class:`fastmf.WALS` with the Dask engine as its default."""

import copy
import inspect

from ..core import _validation as v
from ..core._params import Int, Optional
from ..models._persistence import register_model
from ..core._threads import resolve_num_threads
from ..models._wals import WALS
from .engine import DaskEngine


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
    """:class:`fastmf.WALS` fitted on a Dask cluster: every WALS parameter, plus
    ``client`` and ``n_blocks``; ``fit`` runs with a
    :class:`~fastmf.distributed.DaskEngine` on ``client``. It is the same as
    ``WALS(**params).fit(A, engine=DaskEngine(client, n_blocks=n_blocks,
    num_threads=num_threads))``: the same objective, defaults (popularity-weighted
    unobserved entries included), initial factors and row solvers, so the same factors up
    to rounding (only the order of the Gram matrices' sums differs).

    The fitted model is an ordinary fastmf model: ``recommend``, ``fold_in``, ``save`` and
    :func:`fastmf.load` work on the client without a cluster.

    Parameters
    ----------
    client : distributed.Client, optional
        The cluster to fit on. By default a ``LocalCluster`` of one single-threaded worker
        process per core is started for the fit and closed at its end.
    n_blocks : int, optional
        Row blocks per side (users, items). Default: the number of worker threads.
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
    its ids are indexed, its 'auto' values resolved and its blocks built on the workers,
    and the raw ids are kept on the model as with :class:`fastmf.Interactions`. A model
    fitted on a Dask DataFrame keeps no training matrix on the client, so ``recommend``
    then needs ``A`` (or ``filter_seen=False``). ``history_`` records also hold
    ``bytes_sent`` and ``bytes_received``: the array bytes the client sent to and received
    from the workers in that iteration. See ``docs/distributed.md``.
    """

    _parameter_constraints = {
        **WALS._parameter_constraints,
        "num_threads": WorkerThreads(),
        "client": ClientParam(),
        "n_blocks": Optional(Int(1)),
    }

    def __init__(self, factors=64, *, client=None, n_blocks=None, **params):
        super().__init__(factors, **params)
        self.client = client
        self.n_blocks = n_blocks

    # the signature WALS's parameters are read from: every WALS parameter, then these two
    __init__.__signature__ = inspect.signature(WALS.__init__).replace(parameters=[
        *inspect.signature(WALS.__init__).parameters.values(),
        inspect.Parameter("client", inspect.Parameter.KEYWORD_ONLY, default=None),
        inspect.Parameter("n_blocks", inspect.Parameter.KEYWORD_ONLY, default=None)])

    def _engine(self):
        p = self._validate_params()
        threads = self.num_threads or None  # None: each worker's own thread count
        return DaskEngine(p.client, n_blocks=p.n_blocks, num_threads=threads)

    def prepare_sweeps(self, A):
        raise NotImplementedError("DaskWALS solves its half-sweeps on the cluster; time "
                                  "local half-sweeps with fastmf.WALS.prepare_sweeps.")

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
