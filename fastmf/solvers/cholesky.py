"""Cholesky row solver: build each row's d x d system and solve it exactly."""

from .._kernels.wals_cholesky import _wals_rows_cholesky
from ._base import NO_LOSS, RowSolver


class CholeskySolver(RowSolver):
    """Exact solve of every row's system, O(nnz_i d^2 + d^3) per row."""

    name = "cholesky"
    exact = True
    tracks_objective = True
    kernels = (_wals_rows_cholesky,)

    def solve(self, side, X, Y, offsets, gram, loss=None):
        failed = _wals_rows_cholesky(side.csr, X, Y, offsets, gram, side.lam, side.kargs,
                                     side.max_nnz, side.chunks,
                                     NO_LOSS if loss is None else loss)
        # free rows (see Side) fail the Cholesky solve by construction and stay at zero
        return int(failed) - side.free_rows.size
