"""The objective of a fitted model: the shared objective (:func:`fastmf.objective`) of
given data with the model's factors and weighting."""

from __future__ import annotations

from typing import TYPE_CHECKING

import scipy.sparse as sp

from ..core._objective import objective_value
from ..core._threads import thread_context
from ..data._interactions import Interactions
from ._scoring import reads

if TYPE_CHECKING:
    import pandas as pd


class Objective:
    """``objective`` of every factor model."""

    def _objective(self, csr, csr_t=None):
        return objective_value(csr, self.user_factors, self.item_factors, self._weighting,
                               self.user_biases, self.item_biases, self.global_mean,
                               csr_t=csr_t)

    @reads
    def objective(self, A: sp.sparray | sp.spmatrix | Interactions | pd.DataFrame
                  ) -> float:
        """The shared objective (see :func:`fastmf.objective`) of ``A`` with this model's
        factors and weighting. (SGD's ranking losses do not minimize it; their own sampled
        loss is in ``history_``.)"""
        self._check_fitted()
        csr = self._check_data(A, shape=(self.n_users, self.n_items))
        with thread_context(self._threads()):
            return self._objective(csr)
