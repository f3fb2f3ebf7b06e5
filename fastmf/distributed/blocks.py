"""Row blocks and factor blocks, as the workers hold them.

A *part* is a range of rows of one orientation of the data -- users (rows of A) or items
(rows of A^T) -- as validated CSR over all the columns. A :class:`Block` is a part set up
for a fit: renumbered to the fixed-side rows it references, with a
:class:`fastmf.solvers.Side` for the row solver, and solved once per half-sweep by the same
solver and :func:`fastmf.solvers.half_sweep` as a local fit. A *factor block* is the
block's rows of the factors, ``(X, Xb)`` (``Xb`` the biases, or None); it stays on its
worker for the whole fit.

In a half-sweep, a block receives from each block of the other side only the rows it
references (:func:`take_rows`, with the index :meth:`Block.in_index` computed once), and
returns its new factor block and a small summary (:func:`summary`): its share of the next
Gram matrix, of the penalty and of the objective. The summaries are added up on the
workers (:func:`add_summaries`); the client reads only the total. The functions here run
inside the workers' tasks; nothing in this module needs dask.
"""

import numba
import numpy as np
import scipy.sparse as sp

from ..core import _validation as v
from ..models._defaults import confidence_sum, deviation_sum, value_sum
from .._kernels.loss import _loss_weighted
from .._kernels.shared import CsrRows
from ..core._threads import thread_context
from ..solvers import Side, half_sweep

# A block that references at least this share of the fixed side gets whole fixed-side
# blocks: no index, no gather, at most 1/0.9 - 1 = 11% more bytes.
WHOLE_SIDE = 0.9


class Block:
    """Rows ``start .. stop - 1`` of one orientation (``transposed``: rows of A^T, the
    items), with their solver-ready :class:`~fastmf.solvers.Side`.

    ``part`` is the CSR of those rows over all ``n_other`` columns. The block keeps the
    columns it references (``cols``, sorted; None when it references nearly all of them)
    and renumbers its entries to positions in ``cols``, so a half-sweep needs only
    ``Y[cols]``, which it receives from the other side's blocks (``source_bounds``: their
    row ranges) in order. The weighting is cut to the block
    (:meth:`fastmf.core._weighting.Weighting.restrict`).
    """

    def __init__(self, part, start, weighting, solver, *, transposed, n_other, k, dtype,
                 source_bounds):
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
        self.source_bounds = [(int(a), int(b)) for a, b in source_bounds]
        self.weighting = weighting.restrict(slice(self.start, self.stop), self.cols,
                                            transposed)
        self.solver = solver
        self.side = solver.prepare(Side(csr, self.weighting, transposed=transposed, k=k,
                                        n_other=n_other, dtype=dtype))
        self.lam64 = self.weighting.row_penalty(csr.row_nnz(), n_other, np.float64,
                                                transposed=transposed)

    def in_index(self, s):
        """Positions, within block ``s`` of the other side, of the rows this block
        references (int32 or int64), or None when it needs that whole block."""
        a, b = self.source_bounds[s]
        if self.cols is None:
            return None
        lo, hi = np.searchsorted(self.cols, [a, b])
        idx = self.cols[lo:hi] - a
        if idx.size == b - a:
            return None
        return idx.astype(np.int32 if b - a < 2 ** 31 else np.int64)

    def in_counts(self):
        """How many rows of each block of the other side this block references."""
        if self.cols is None:
            return [b - a for a, b in self.source_bounds]
        edges = np.searchsorted(self.cols, [a for a, _ in self.source_bounds]
                                + [self.source_bounds[-1][1]])
        return [int(c) for c in np.diff(edges)]

    def info(self):
        """What the client keeps about the block: its rows, its size, the rows of the
        other side's blocks it references (counts), and the weighted target sums of the
        global mean (user blocks only)."""
        sums = (0.0, 0.0)
        if not self.transposed and self.csr.nnz:
            weights, targets = self.weighting.weights_and_targets(self.csr)
            sums = (float(weights.sum()), float((weights * targets).sum()))
        return {"start": self.start, "stop": self.stop, "nnz": self.csr.nnz,
                "in_counts": self.in_counts(), "target_sums": sums}

    def solve(self, state, pieces, summed_gram, global_mean, track):
        """One half-sweep of the block from its factor block ``state`` against the
        referenced fixed rows (``pieces``, one factor block per source block, in order);
        ``summed_gram`` is the other side's total :func:`summary` (its ``"gram"``), or
        None. Returns (new factor block, summary)."""
        X, Xb = state
        X = np.array(X, copy=True)
        Xb = None if Xb is None else np.array(Xb, copy=True)
        Y = _stack([p[0] for p in pieces])
        Yb = None if pieces[0][1] is None else _stack([p[1] for p in pieces])
        w = self.weighting
        gram = None
        if Xb is None and w.has_unobserved:
            gram = w.fixed_gram(summed_gram["gram"], self.transposed, X.dtype)
        failed = half_sweep(self.solver, self.side, w, X, Xb, Y, Yb, global_mean,
                            gram=gram)
        out = self.summary((X, Xb))
        out["failed"] = int(failed)
        if track and not self.transposed:
            out["loss"] = np.array(self.loss(X, Xb, Y, Yb, global_mean))
        return (X, Xb), out

    def summary(self, state):
        """The block's share of the Gram matrices (``"gram"``, float64, see
        :meth:`~fastmf.core._weighting.Weighting.block_gram`; None without an unobserved
        term), of the penalty, and whether its factors are finite."""
        X, Xb = state
        w = self.weighting
        out = {"gram": None, "penalty": 0.0, "failed": 0, "finite": True,
               "loss": np.zeros(2)}
        if w.has_unobserved and Xb is None:
            out["gram"] = w.block_gram(X, self.transposed)
        if w.reg > 0:
            sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
            if Xb is not None:
                sq += Xb.astype(np.float64) ** 2
            out["penalty"] = float(self.lam64 @ sq)
        out["finite"] = bool(np.isfinite(X).all() and (Xb is None or np.isfinite(Xb).all()))
        return out

    def loss(self, X, Xb, Y, Yb, global_mean):
        """(sum of w (t - pred)^2, sum of w0_e <x_i, y_j>^2) over the block's entries,
        float64: the observed part of the objective and what the Gram trick subtracts."""
        c = self.csr
        dtype = X.dtype
        if Xb is not None:
            row_off = (Xb + global_mean).astype(dtype)
            col_off = Yb.astype(dtype)
        else:
            row_off = np.zeros(c.shape[0], dtype)
            col_off = np.zeros(Y.shape[0], dtype)
        obs, sq = _loss_weighted(CsrRows(c.indptr, c.indices, c.data), X, Y, row_off,
                                 col_off, self.weighting.kernel_args(c.shape, False,
                                                                     np.float64),
                                 self.side.chunks)
        return float(np.sum(obs)), float(np.sum(sq))


def _stack(arrays):
    if len(arrays) == 1:
        return np.require(arrays[0], requirements=["C", "W"])
    return np.concatenate(arrays)


# ---------------------------------------------------------------------- task functions
def part_from_pieces(pieces, start, stop, n_other, dtype, nonnegative):
    """A part from the (row, column, value) pieces that every partition of a data-frame
    input holds for rows ``start .. stop - 1``: duplicates summed and values checked as
    :func:`fastmf.core._validation.check_matrix` checks a local input."""
    rows = np.concatenate([p[0] for p in pieces]) - start
    cols = np.concatenate([p[1] for p in pieces])
    vals = np.concatenate([p[2] for p in pieces])
    A = sp.csr_array((vals, (rows, cols)), shape=(stop - start, n_other))
    return v.check_matrix(A, "A", dtype=dtype, nonnegative=nonnegative)


def build_block(part, start, weighting, solver, transposed, n_other, k, dtype,
                source_bounds):
    """A :class:`Block` from its part."""
    return Block(part, start, weighting, solver, transposed=transposed, n_other=n_other,
                 k=k, dtype=dtype, source_bounds=source_bounds)


def block_info(block):
    return block.info()


def in_index(block, s):
    return block.in_index(s)


def initial_state(block, rng_state, d, scale, dtype, biased):
    """The block's initial factor block: the rows of the local fit's Gaussian draw, from
    the generator state the client had at the block's first row (so that the draw is the
    same as one draw of all rows), with the rows that nothing determines at zero."""
    from ..solvers._engine import initial_factors
    bit_generator = getattr(np.random, rng_state["bit_generator"])()
    bit_generator.state = rng_state
    X = initial_factors(np.random.Generator(bit_generator), block.stop - block.start, d,
                        scale, dtype)
    X[block.side.free_rows] = 0
    return X, (np.zeros(X.shape[0], dtype) if biased else None)


def state_summary(block, state):
    return block.summary(state)


def take_rows(state, idx):
    """The rows ``idx`` of a factor block (all of them when ``idx`` is None)."""
    X, Xb = state
    if idx is None:
        return state
    return X[idx], (None if Xb is None else Xb[idx])


def solve_block(block, state, pieces, summed_gram, global_mean, track, num_threads):
    """Task: :meth:`Block.solve` on ``num_threads`` Numba threads (None: the worker's
    thread count), with BLAS on one."""
    with thread_context(worker_threads(num_threads)):
        return block.solve(state, pieces, summed_gram, global_mean, track)


def first(pair):
    return pair[0]


def second(pair):
    return pair[1]


def copy_state(state):
    """A copy of a factor block (a checkpoint held on another worker)."""
    X, Xb = state
    return X.copy(), (None if Xb is None else Xb.copy())


def add_summaries(*parts):
    """The sum of block summaries (Gram matrices, penalties, losses, failed rows; finite
    when every block is)."""
    grams = [p["gram"] for p in parts if p["gram"] is not None]
    return {"gram": sum(grams[1:], grams[0].copy()) if grams else None,
            "penalty": float(sum(p["penalty"] for p in parts)),
            "failed": int(sum(p["failed"] for p in parts)),
            "finite": all(p["finite"] for p in parts),
            "loss": sum((p["loss"] for p in parts), np.zeros(2))}


def value_summary(part, stride):
    """Summaries of a user part's stored values for the data-aware defaults: count, min,
    max, sum and every ``stride``-th value (the median's sample)."""
    a = part.data[:part.nnz]
    return {"nnz": int(a.size),
            "min": float(a.min()) if a.size else np.inf,
            "max": float(a.max()) if a.size else -np.inf,
            "sum": value_sum(a),
            "sample": np.asarray(a[::stride], np.float64)}


def value_pass(part, q, mean):
    """(sum of the confidence weights under ``q``, sum of squared deviations from
    ``mean``) of a user part's stored values."""
    a = part.data[:part.nnz]
    return confidence_sum(a, q), deviation_sum(a, mean)


def part_nnz(part):
    return int(part.nnz)


def row_counts(part):
    return part.row_nnz()


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
