"""fastmf: fast matrix factorization for recommenders.

Parallel WALS (conjugate gradient or Cholesky row solves) on one weighted objective,
with Numba kernels over sparse CSR data.
"""

from ._base import NotFittedError, load
from ._objective import objective
from .wals import WALS

__version__ = "0.1.0"

__all__ = ["WALS", "objective", "load", "NotFittedError", "__version__"]
