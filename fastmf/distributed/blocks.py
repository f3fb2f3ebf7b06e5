"""Row blocks, as the workers hold them.

A block is a range of rows of one orientation of the data -- users (rows of A) or items
(rows of A^T) -- set up once as a :class:`fastmf.solvers.Side` over the fixed-side rows it
references, and solved once per half-sweep by the same row solver and
:func:`fastmf.solvers.half_sweep` as a local fit. The functions here run inside the
workers' tasks; nothing in this module needs dask.
"""

import dataclasses

import numba
import numpy as np
import scipy.sparse as sp

from .. import _validation as v
from .._kernels.loss import _loss_weighted
from .._threads import thread_context
from .._weighting import gram64
from ..solvers import Side, half_sweep

# A block that references at least this share of the fixed side is sent the whole fixed
# side: no gather on the client, no index remap, at most 1/0.9 - 1 = 11% more bytes.
WHOLE_SIDE = 0.9


class Block:
    """Rows ``start .. stop - 1`` of one orientation (``transposed``: rows of A^T, the
    items), with their solver-ready :class:`~fastmf.solvers.Side`.

    ``part`` is the CSR of those rows over all ``n_other`` columns. The block keeps the
    columns it references (``cols``, sorted; None when it references nearly all of them)
    and renumbers its entries to positions in ``cols``, so a half-sweep needs only
    ``Y[cols]``. Row and column weights are cut to the block in the same way.
    """

    def __init__(self, part, start, weighting, solver, *, transposed, n_other, k, dtype):
        rows = part.shape[0]
        nnz = part.nnz
        indptr = np.array(part.indptr[:rows + 1], copy=True)
        indices = np.asarray(part.indices[:nnz])
        data = np.array(part.data[:nnz], dtype=dtype, copy=True)
        cols = np.unique(indices)
        if cols.size >= WHOLE_SIDE * n_other:
            self.cols = None
            csr = v.Csr(indptr, np.array(indices, copy=True), data, (rows, n_other))
        else:
            self.cols = cols
            local = np.searchsorted(cols, indices).astype(indices.dtype)
            csr = v.Csr(indptr, local, data, (rows, cols.size))
        self.start, self.stop = int(start), int(start) + rows
        self.transposed = transposed
        self.n_other = n_other
        self.csr = csr
        self.weighting = block_weighting(weighting, self.start, self.stop, self.cols,
                                         transposed)
        self.solver = solver
        self.side = solver.prepare(Side(csr, self.weighting, transposed=transposed, k=k,
                                        n_other=n_other, dtype=dtype))
        self.lam64 = self.weighting.row_penalty(csr.row_nnz(), n_other, np.float64)

    def info(self):
        """What the client keeps about the block: its rows, the fixed-side rows it
        references, its rows that nothing determines (global indices), its size, and the
        weighted target sums of the global mean (user blocks only)."""
        sums = (0.0, 0.0)
        if not self.transposed and self.csr.nnz:
            weights, targets = self.weighting.weights_and_targets(self.csr)
            sums = (float(weights.sum()), float((weights * targets).sum()))
        return {"start": self.start, "stop": self.stop, "cols": self.cols,
                "free_rows": self.side.free_rows + self.start, "nnz": self.csr.nnz,
                "target_sums": sums}

    def solve(self, X, Xb, Y, Yb, gram, global_mean, track):
        """One half-sweep of the block from its current rows ``X`` (``Xb``) against the
        referenced fixed rows ``Y`` (``Yb``); returns the new rows and the block's share
        of the next Gram matrix and of the objective."""
        X = np.array(X, copy=True)
        Xb = None if Xb is None else np.array(Xb, copy=True)
        Y = np.require(Y, requirements=["C", "W"])
        Yb = None if Yb is None else np.require(Yb, requirements=["C", "W"])
        w = self.weighting
        failed = half_sweep(self.solver, self.side, w, X, Xb, Y, Yb, global_mean,
                            gram=gram)
        out = {"X": X, "Xb": Xb, "failed": failed, "gram": None, "penalty": 0.0,
               "loss": None}
        if w.has_unobserved:
            out["gram"] = gram64(X)
        if w.reg > 0:
            sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
            if Xb is not None:
                sq += Xb.astype(np.float64) ** 2
            out["penalty"] = float(self.lam64 @ sq)
        if track and not self.transposed:
            out["loss"] = self.loss(X, Xb, Y, Yb, global_mean)
        return out

    def loss(self, X, Xb, Y, Yb, global_mean):
        """(sum of w (t - pred)^2, sum of <x_i, y_j>^2) over the block's entries, float64:
        the observed part of the objective and what the Gram trick subtracts."""
        c = self.csr
        dtype = X.dtype
        if Xb is not None:
            row_off = (Xb + global_mean).astype(dtype)
            col_off = Yb.astype(dtype)
        else:
            row_off = np.zeros(c.shape[0], dtype)
            col_off = np.zeros(Y.shape[0], dtype)
        obs, sq = _loss_weighted(c.indptr, c.indices, c.data, X, Y, row_off, col_off,
                                 *self.weighting.kernel_args(c.shape, False, np.float64),
                                 self.side.chunks)
        return float(np.sum(obs)), float(np.sum(sq))


def block_weighting(weighting, start, stop, cols, transposed):
    """``weighting`` for a block: row and column weights cut to the block's rows and to the
    columns it references (``cols``; None for all), in the orientation of the data."""
    rw, cw = weighting.row_weights, weighting.col_weights
    if rw is None and cw is None:
        return weighting
    own = slice(start, stop)
    other = slice(None) if cols is None else cols
    if transposed:  # the rows are items: A^T's rows carry the column weights
        rw, cw = (None if rw is None else rw[other]), (None if cw is None else cw[own])
    else:
        rw, cw = (None if rw is None else rw[own]), (None if cw is None else cw[other])
    return dataclasses.replace(weighting, row_weights=rw, col_weights=cw)


# ---------------------------------------------------------------------- task functions
def build_block(part, start, weighting, solver, transposed, n_other, k, dtype):
    """A :class:`Block` from its CSR rows (a matrix input, scattered by the client)."""
    return Block(part, start, weighting, solver, transposed=transposed, n_other=n_other,
                 k=k, dtype=dtype)


def block_from_pieces(pieces, start, stop, weighting, solver, transposed, n_other, k,
                      dtype, nonnegative):
    """A :class:`Block` from the (row, column, value) pieces that every partition of a
    data-frame input holds for rows ``start .. stop - 1``: duplicates summed and values
    checked as :func:`fastmf._validation.check_matrix` checks a local input."""
    rows = np.concatenate([p[0] for p in pieces]) - start
    cols = np.concatenate([p[1] for p in pieces])
    vals = np.concatenate([p[2] for p in pieces])
    A = sp.csr_array((vals, (rows, cols)), shape=(stop - start, n_other))
    csr = v.check_matrix(A, "A", dtype=dtype, nonnegative=nonnegative)
    return Block(csr, start, weighting, solver, transposed=transposed, n_other=n_other,
                 k=k, dtype=dtype)


def block_info(block):
    return block.info()


def solve_block(block, X, Xb, Y, Yb, gram, global_mean, track, num_threads):
    """Task: :meth:`Block.solve` on ``num_threads`` Numba threads (None: the worker's
    thread count), with BLAS on one."""
    with thread_context(worker_threads(num_threads)):
        return block.solve(X, Xb, Y, Yb, gram, global_mean, track)


def worker_threads(num_threads):
    """Threads for the kernels of one task: as asked (up to what Numba was started with),
    or the thread count of the worker running it."""
    limit = numba.config.NUMBA_NUM_THREADS
    if not num_threads:
        try:
            from distributed import get_worker
            num_threads = get_worker().state.nthreads
        except (ImportError, ValueError):
            num_threads = limit
    return max(1, min(int(num_threads), limit))
