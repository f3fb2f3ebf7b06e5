"""A third row solver, for the tests only: each row's system built densely with NumPy and
solved by ``numpy.linalg.solve``. It plugs in through ``fastmf.solvers.register`` alone, to
show (and test) that a solver needs no other change to the package."""

import numpy as np

from fastmf.solvers import RowSolver


def _weights(values, rs, cs, w0, kind, alpha, eps, has_scale):
    if kind == 1:
        kappa = 1 + alpha * values
    elif kind == 2:
        kappa = 1 + alpha * np.log1p(values / eps)
    else:
        kappa = np.ones_like(values)
    return w0 + rs * cs * kappa if has_scale else kappa


class DenseSolver(RowSolver):
    """Exact, slow: O(d^3) per row by LAPACK, in float64."""

    name = "dense"
    exact = True

    def solve(self, side, X, Y, offsets, gram):
        (w0, w0_vec, w0_by_row, row_scale, col_scale, kind, alpha, eps, binary,
         has_scale) = side.kargs
        w0_vec = w0_vec.astype(np.float64)
        Y64 = Y.astype(np.float64)
        k = X.shape[1]
        free = set(side.free_rows.tolist())
        failed = 0
        for i in range(X.shape[0]):
            lo, hi = side.indptr[i], side.indptr[i + 1]
            cols = side.indices[lo:hi]
            a = side.values[lo:hi].astype(np.float64)
            # the entries' unobserved weights, and the row's factor of the Gram term
            if w0_vec.size == 0:
                w0e, g = w0, 1.0
            elif w0_by_row:
                w0e = g = w0_vec[i]
            else:
                w0e, g = w0_vec[cols], 1.0
            w = _weights(a, float(row_scale[i]), col_scale[cols].astype(np.float64), w0e,
                         kind, alpha, eps, has_scale)
            t = np.ones_like(a) if binary else a
            Yi = Y64[cols]
            M = g * gram.astype(np.float64) + (Yi * (w - w0e)[:, None]).T @ Yi \
                + float(side.lam[i]) * np.eye(k)
            b = Yi.T @ (w * (t - offsets[cols]))
            if i in free:
                continue
            try:
                X[i] = np.linalg.solve(M, b)
            except np.linalg.LinAlgError:
                failed += 1
        return failed
