"""fastmf: fast matrix factorization for recommenders.

Parallel WALS (conjugate gradient or Cholesky row solves) and Hogwild SGD on one weighted
objective, with Numba kernels over sparse CSR data.
"""

from . import datasets, distributed, metrics, solvers, split
from ._interactions import Interactions
from ._persistence import ModelFileError
from ._persistence import load_model as load
from ._scoring import NotFittedError
from ._objective import objective
from .compare import compare
from .metrics import evaluate
from .sgd import SGD
from ._tune import TuneResult, tune
from .svd import SVD
from .wals import WALS

__version__ = "0.1.0"

__all__ = ["SGD", "SVD", "WALS", "Interactions", "ModelFileError", "NotFittedError",
           "__version__", "compare", "datasets", "distributed", "evaluate", "load", "metrics",
           "objective", "solvers", "split", "tune", "TuneResult"]
