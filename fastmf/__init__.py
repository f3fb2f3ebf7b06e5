"""fastmf: fast matrix factorization for recommenders.

Parallel WALS (conjugate gradient or Cholesky row solves) and Hogwild SGD on one weighted
objective, with Numba kernels over sparse CSR data.
"""

from . import datasets, split
from ._base import NotFittedError, load
from ._interactions import Interactions
from ._objective import objective
from .sgd import SGD
from .svd import SVD
from .wals import WALS

__version__ = "0.1.0"

__all__ = ["WALS", "SGD", "SVD", "Interactions", "datasets", "split", "objective", "load", "NotFittedError",
           "__version__"]
