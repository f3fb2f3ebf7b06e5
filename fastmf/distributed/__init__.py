"""WALS on a Dask cluster: the same model when the data outgrows one machine.

:class:`DaskWALS` splits the feedback matrix into row blocks (users) and column blocks
(items) that live on the workers for the whole fit, and solves them with the same row
solvers as :class:`fastmf.WALS` (:mod:`fastmf.solvers`). The client holds the factors and
ships each block the fixed-side rows it references plus the d x d Gram matrix, which is
the sum of the blocks' ``X_b^T X_b``. Needs ``dask[distributed]`` (``pip install
fastmf[dist]``); this package imports dask only when a fit starts, so a model saved by
DaskWALS loads anywhere.
"""

from .model import DaskWALS

__all__ = ["DaskWALS"]
