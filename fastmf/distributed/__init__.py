"""WALS on a Dask cluster: the same model when the data outgrows one machine.

:class:`DaskEngine` is a sweep engine (:mod:`fastmf.solvers._engine`) that keeps the
feedback matrix and the factors in row blocks on the workers for the whole fit:
``fastmf.WALS(...).fit(A, engine=DaskEngine(client))``. Each half-sweep moves, worker to
worker, only the fixed-side rows each block references; the client sees d x d summaries.
:class:`DaskWALS` is WALS with this engine as its default and ``client`` / ``n_blocks`` as
parameters. Needs ``dask[distributed]`` (the ``dist`` extra); this package
imports dask only when a fit starts, so a model saved by DaskWALS loads anywhere.
"""

from .engine import DaskEngine
from .model import DaskWALS

__all__ = ["DaskEngine", "DaskWALS"]
