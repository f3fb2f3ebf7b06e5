"""iALS++ row solver: block-coordinate (subspace) updates of each row, for large d."""

from .._kernels.wals_subspace import _wals_rows_subspace
from ._base import NO_LOSS, RowSolver


class SubspaceSolver(RowSolver):
    """iALS++ (Rendle et al. 2021): each row's coordinates are cut into blocks of
    ``block_size`` and each block is solved exactly with the others fixed, one pass per
    half-sweep, warm-started from the current factors. ``block_size >= factors`` is the
    exact solve (Cholesky's result); smaller blocks cost about ``nnz_i d (b + 3)`` per row
    instead of ``nnz_i d^2 + d^3 / 3``, which pays at large d. Each block update lowers the
    objective (or leaves it), so fits converge monotonically like Cholesky's."""

    name = "ials++"
    exact = False
    tracks_objective = True
    kernels = (_wals_rows_subspace,)

    def _block(self, k):
        """Coordinates per block for rows of ``k`` coordinates (the factors, plus the
        bias with biases): ``block_size``, or all ``k`` when it covers the factors."""
        b = int(getattr(self.params, "block_size", 32))
        return k if b >= getattr(self.params, "factors", k) else max(1, min(b, k))

    def entry_work(self, k):
        return k * (self._block(k) + 3)

    def solve(self, side, X, Y, offsets, gram, loss=None):
        failed = _wals_rows_subspace(side.csr, X, Y, offsets, gram, side.lam, side.kargs,
                                     side.max_nnz, side.chunks, self._block(X.shape[1]), 1,
                                     NO_LOSS if loss is None else loss)
        # free rows (see Side) have a zero system: every block fails and they stay at zero
        return int(failed) - side.free_rows.size

    def fold_in(self, side, X, Y, offsets, gram):
        """New rows start from zero: solved exactly (one block of every coordinate)."""
        failed = _wals_rows_subspace(side.csr, X, Y, offsets, gram, side.lam, side.kargs,
                                     side.max_nnz, side.chunks, X.shape[1], 1, NO_LOSS)
        return int(failed) - side.free_rows.size
