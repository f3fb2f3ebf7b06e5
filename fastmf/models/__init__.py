"""The models: WALS, SGD, the ranking estimators (BPR, LogisticMF, WARP) and truncated SVD
on one shared base (parameters and lifecycle,
the fit loop, fold-in, the objective, scoring, persistence, incremental updates)."""

from ._ranking import BPR, WARP, LogisticMF
from ._sgd import SGD
from ._svd import SVD
from ._wals import WALS

__all__ = ["BPR", "LogisticMF", "SGD", "SVD", "WALS", "WARP"]
