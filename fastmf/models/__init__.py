"""The models: WALS, SGD and truncated SVD on one shared base (parameters and lifecycle,
the fit loop, fold-in, the objective, scoring, persistence, incremental updates)."""

from ._sgd import SGD
from ._svd import SVD
from ._wals import WALS

__all__ = ["SGD", "SVD", "WALS"]
