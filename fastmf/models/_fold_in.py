"""Fold-in: factors for new users from their interactions, by one exact row solve through
the same row solvers as a fit."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ..core import _validation as v
from ..core._threads import thread_context
from ..data._ids import lookup_ids
from ..data._interactions import Interactions
from ..solvers import Side, half_sweep
from ..solvers import get as get_solver
from ._scoring import reads

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike


class FoldIn:
    """``fold_in`` of every factor model."""

    @reads
    def fold_in(self, A_rows: sp.sparray | sp.spmatrix | Interactions | pd.DataFrame, *,
                row_weights: ArrayLike | None = None, return_biases: bool = False,
                ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Factors for new users from their interactions, by one exact row solve.

        Each row is solved against the trained item factors with the model's objective
        (weights, ``w0``, regularization), exactly as a WALS user update: no refit. The
        solve goes through the row solver of a WALS model (an exact one: CG hands fold-in
        to Cholesky) and through Cholesky for the other models. A training user's row
        reproduces that user's factors when the last update of the fit was the user side
        (it is, for :class:`fastmf.WALS` with an exact solver).

        Parameters
        ----------
        A_rows : scipy.sparse matrix of shape (r, n_items), or Interactions / DataFrame
            The new users' interactions. A matrix is indexed by item index. An
            :class:`fastmf.Interactions` (or a DataFrame with columns user, item and
            optionally value) holds raw ids: its items are matched to the model's raw item
            ids (unknown items are dropped with a warning) and the rows of the result
            follow its ``user_ids``.
        row_weights : array-like of shape (r,), optional
            Row weights of the new users when the model uses frequency weights (default 1).
        return_biases : bool
            Also return the users' biases (models with ``biases=True``).

        Returns
        -------
        factors : ndarray of shape (r, factors)
        biases : ndarray of shape (r,), only with ``return_biases``
        """
        self._check_fitted()
        w = self._weighting
        V = self.item_factors
        dtype = V.dtype
        A_rows = self._rows_by_item_id(self._as_input(A_rows))
        csr = v.check_matrix(A_rows, "A_rows", dtype=dtype,
                             nonnegative=w.confidence != "none", shape=(None, self.n_items))
        r, n = csr.shape
        rw = v.check_weights_vector("fold_in", "row_weights", row_weights, r)
        w_rows = w.with_rows(np.ones(r) if rw is None else rw)
        d = V.shape[1]
        has_b = self.user_biases is not None
        k = d + 1 if has_b else d
        solver = self._fold_in_solver()
        side = solver.prepare(Side(csr, w_rows, transposed=False, k=k, n_other=n,
                                   dtype=dtype))
        X = np.zeros((r, d), dtype)
        Xb = np.zeros(r, dtype) if has_b else None
        with thread_context(self._threads()):
            failed = half_sweep(solver, side, w_rows, X, Xb, V, self.item_biases,
                                self.global_mean, fold_in=True)
        if failed:
            warnings.warn(f"{failed} fold-in rows had a singular system; their factors are "
                          f"zero.", RuntimeWarning, stacklevel=2)
        if return_biases:
            return X, (Xb if has_b else np.zeros(r, dtype))
        return X

    def _fold_in_solver(self):
        return get_solver("cholesky", self._fit_params_ns())

    def _fit_params_ns(self):
        from types import SimpleNamespace
        return SimpleNamespace(**self._resolved_params())

    def _rows_by_item_id(self, rows):
        """Interactions of new users -> CSR rows over this model's item columns."""
        if not isinstance(rows, Interactions):
            return rows
        if self.item_ids_ is None:
            raise ValueError("fold_in with raw ids needs a model fitted on raw ids; pass a "
                             "sparse matrix over item indices instead.")
        cols = lookup_ids(self.item_ids_, rows.item_ids, "items", unknown=-1)[rows.items]
        known = cols >= 0
        dropped = int((~known).sum())
        csr = sp.csr_array((rows.values[known], (rows.users[known], cols[known])),
                           shape=(rows.n_users, self.item_ids_.size))
        if dropped:
            warnings.warn(f"fold_in: {dropped} interactions with items unknown to the model "
                          f"were left out.", RuntimeWarning, stacklevel=3)
        return csr
