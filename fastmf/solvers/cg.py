"""Conjugate-gradient row solver: a few warm-started CG steps per row (Takacs, Pilaszy &
Tikk 2011), matrix-free, rows in lockstep blocks."""

from .._kernels.wals import _wals_rows_cg, cg_block_nnz
from ._base import NO_LOSS, RowSolver


class CGSolver(RowSolver):
    """``params.cg_steps`` CG iterations per row, warm-started from the current factors.
    Not exact, so a fold-in (from zero factors) uses the exact Cholesky solve instead."""

    name = "cg"
    exact = False
    tracks_objective = True
    kernels = (_wals_rows_cg,)

    def prepare(self, side):
        side.block_nnz = cg_block_nnz(side.k, side.dtype.itemsize)
        return side

    def entry_work(self, k):
        return 2 * k * self.params.cg_steps

    def solve(self, side, X, Y, offsets, gram, loss=None):
        _wals_rows_cg(side.csr, X, Y, offsets, gram, side.lam, side.kargs,
                      self.params.cg_steps, side.block_nnz, side.chunks,
                      NO_LOSS if loss is None else loss)
        return 0

    def fold_in(self, side, X, Y, offsets, gram):
        from .cholesky import CholeskySolver
        return CholeskySolver(self.params).fold_in(side, X, Y, offsets, gram)
