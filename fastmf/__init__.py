"""fastmf: fast matrix factorization for recommenders.

Parallel WALS (conjugate gradient or Cholesky row solves) and Hogwild SGD on one weighted
objective, Hogwild SGD on ranking losses (BPR, logistic, WARP), with Numba kernels over
sparse CSR data.
"""

from . import datasets, distributed, metrics, solvers, split
from .compare import compare  # the function takes the module's name, as it always has
from .core._objective import objective
from .data._interactions import Interactions
from .evaluation._tune import TuneResult, tune
from .metrics import evaluate
from .models import BPR, SGD, SVD, WALS, WARP, LogisticMF
from .models._persistence import ModelFileError
from .models._persistence import load_model as load
from .models._scoring import NotFittedError

__version__ = "0.1.0"

__all__ = ["BPR", "LogisticMF", "SGD", "SVD", "WALS", "WARP", "Interactions", "ModelFileError", "NotFittedError",
           "__version__", "compare", "datasets", "distributed", "evaluate", "load", "metrics",
           "objective", "solvers", "split", "tune", "TuneResult"]
