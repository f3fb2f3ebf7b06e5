"""The row-solver interface: what every WALS row solver gets and must do.

A half-sweep solves, for every row i of X with Y fixed, the system

    (G + sum_{j in row i} (w_ij - w0) y_j y_j^T + lam_i I) x_i = sum_{j in row i} w_ij (t_ij - o_j) y_j

where G is the unobserved term's Gram matrix (``Weighting.unobserved_gram``) and o_j a
per-column offset (the global mean and the fixed side's biases of a biased model).

With per-item unobserved weights (``Weighting.w0_items``) the offset of an observed entry is
``w_ij - w0_j``; on the user side G is ``Y^T diag(w0) Y``, on the item side row j's Gram term
is ``w0_j * G`` with G the plain ``Y^T Y``. The kernels read the per-item weights from
``side.kargs`` (a ``KernelWeighting``: ``w0_vec``, ``w0_by_row``; see
``Weighting.kernel_args``); ``side.row_gram_scale`` is the per-row factor of G (None when
every row uses G as it is).
"""

import copy

import numba
import numpy as np

from ..core import _interrupts as interrupts
from .._kernels.partition import _balanced_chunks
from .._kernels.shared import CsrRows
from ..core._threads import n_chunks_for


NO_LOSS = np.zeros(0)


class Side:
    """The solver-independent set-up of a half-sweep over the rows of one orientation of
    the data (the matrix for users, its transpose for items): CSR arrays, the weighting's
    kernel arguments, per-row penalties, work-balanced row chunks, and the rows that nothing
    determines. Solvers add their own scratch sizes in :meth:`RowSolver.prepare`."""

    def __init__(self, csr, weighting, *, transposed, k, n_other, dtype):
        full_shape = csr.shape[::-1] if transposed else csr.shape
        self.shape = csr.shape
        self.transposed = bool(transposed)
        self.k = k
        self.dtype = np.dtype(dtype)
        self.kargs = weighting.kernel_args(full_shape, transposed, dtype)
        w0_vec, w0_by_row = self.kargs.w0_vec, self.kargs.w0_by_row
        self.row_gram_scale = w0_vec if (w0_vec.shape[0] and w0_by_row) else None
        self.indptr, self.indices, self.values = csr.indptr, csr.indices, csr.data
        self.csr = CsrRows(self.indptr, self.indices, self.values)
        self.row_nnz = csr.row_nnz()
        self.lam = weighting.row_penalty(self.row_nnz, n_other, dtype, transposed=transposed)
        self.max_nnz = max(1, int(self.row_nnz.max(initial=0)))
        self.chunks = _balanced_chunks(csr.indptr, k, n_chunks_for(csr.shape[0]))
        # one offset per column of this csr (a row block of the distributed backend holds
        # only the columns it references; n_other still counts them all for the penalty)
        self.zero_offsets = np.zeros(csr.shape[1], dtype)
        # Without the unobserved term, a row with no entries and no penalty has the zero
        # system: nothing determines it. Such rows are held at zero (they predict the biases
        # only) instead of being reported as singular. With per-item weights, an item row
        # is also free when its own unobserved weight is 0.
        self.free_rows = np.flatnonzero(
            weighting.free_row_mask(self.row_nnz, self.lam, transposed=transposed))


class RowSolver:
    """Base class of the row solvers, looked up by name (see :mod:`fastmf.solvers`).

    A solver is made from the estimator's validated parameters (``params``, a namespace;
    e.g. ``params.cg_steps``) and implements :meth:`solve`. Override :meth:`prepare` to add
    per-side state and :meth:`fold_in` when one :meth:`solve` from zero factors is not an
    exact solve.
    """

    #: the name the solver is registered under
    name = None
    #: True when one call of :meth:`solve` solves each row's system exactly
    exact = True
    def entry_work(self, k):
        """The solve's work per stored entry, in multiply-adds, for rows of ``k``
        coordinates (for cutting a long half-sweep into slices between which a Ctrl-C
        can be taken; see ``_slices``)."""
        return k * k
    #: the Numba dispatchers a solve calls (for the first-compile notice)
    kernels = ()

    def __init__(self, params=None):
        self.params = params

    def prepare(self, side):
        """Add what this solver needs to ``side`` (scratch sizes...); returns it."""
        return side

    #: True when :meth:`solve` can add the solved rows' shares of the objective to ``loss``
    tracks_objective = False

    def solve(self, side, X, Y, offsets, gram, loss=None):
        """Update every row of ``X`` in place with ``Y`` fixed. ``offsets`` (n_other,) are
        subtracted from the targets, ``gram`` is the d x d unobserved term. Returns the
        number of rows whose system could not be solved (left unchanged), not counting
        ``side.free_rows``, which must end at zero.

        ``loss`` (solvers with ``tracks_objective``): None, or a float64 array with one
        zero per chunk of ``side.chunks``, to which the solve adds, for every row after its
        update, ``sum_j w_ij (t_ij - <x_i, y_j>)^2 - sum_j w0_ij <x_i, y_j>^2 + lam_i
        ||x_i||^2`` over the row's entries: the objective less the Gram part
        ``sum_i x_i^T G x_i`` and the fixed side's penalty."""
        raise NotImplementedError

    def fold_in(self, side, X, Y, offsets, gram):
        """Solve rows that start from zero factors (new users); by default :meth:`solve`,
        which must then be exact."""
        if not self.exact:
            raise NotImplementedError(f"solver {self.name!r} is not exact: it must define "
                                      f"fold_in.")
        return self.solve(side, X, Y, offsets, gram)

    def __repr__(self):
        return f"<row solver {self.name!r}>"


def half_sweep(solver, side, weighting, X, Xb, Y, Yb, global_mean=0.0, fold_in=False,
               gram=None, loss=None):
    """Solve every row of ``X`` (and its biases ``Xb``, or None) with ``Y`` (and ``Yb``)
    fixed, through ``solver``. With biases, the rows are solved for ``[x_i, b_i]`` against
    ``[y_j, 1]`` with offsets ``mu + c_j``. Returns the number of rows that failed.

    ``gram`` is the unobserved term's d x d matrix when ``Y`` holds only the fixed rows
    that ``side`` references (a row block of :mod:`fastmf.distributed`, whose Gram matrix
    is summed over all blocks); by default it is computed from ``Y``. ``loss`` is passed to
    :meth:`RowSolver.solve` (see there)."""
    dtype = X.dtype
    if Xb is not None:
        d = X.shape[1]
        Xa = np.concatenate([X, Xb[:, None]], axis=1)
        Ya = np.concatenate([Y, np.ones((Y.shape[0], 1), dtype)], axis=1)
        offsets = (global_mean + Yb).astype(dtype)
        # biased models are observed-only (w0 = 0): no Gram term
        gram = np.zeros((d + 1, d + 1), dtype)
    else:
        Xa, Ya, offsets = X, Y, side.zero_offsets
        if gram is None:
            gram = weighting.unobserved_gram(Y, dtype, transposed=side.transposed)
    if fold_in:
        failed = solver.fold_in(side, Xa, Ya, offsets, gram)
    else:
        failed = 0
        for part, part_loss in _slices(solver, side, loss):
            if part_loss is not None:
                failed += solver.solve(part, Xa, Ya, offsets, gram, part_loss)
            else:
                failed += solver.solve(part, Xa, Ya, offsets, gram)
            if interrupts.pending():
                break  # the caller puts the factors back and raises at its checkpoint
    if Xb is not None:
        X[:] = Xa[:, :-1]
        Xb[:] = Xa[:, -1]
    return int(failed)


# While Ctrl-C is deferred (a fit in the main thread), a half-sweep runs as several kernel
# calls of at most about this much work per thread (stored entries x d multiply-adds, see
# RowSolver.entry_work), so that a Ctrl-C is taken within a fraction of a second even on a
# loaded machine. Each row's solve is the same either way. Each call ends when its slowest
# thread does: at 2^26 (calls of about 17 ms) a CG iteration on 100,000 x 20,000 with 5.7M
# entries (d = 64, 2 threads) took 1.2x as long as in one call per half-sweep, at 2^28
# (about 70 ms) as long.
SLICE_WORK = 1 << 28
# ... and each call gets at least this many chunks per thread, so that it keeps every
# thread busy: slices of one chunk each (what a Cholesky half-sweep on 100,000 x 20,000
# with 5.7M entries at d = 64 was cut into) ran on one thread, and an iteration took 1.8x
# as long on 2 threads.
SLICE_CHUNKS_PER_THREAD = 4


def _slices(solver, side, loss):
    """(side, loss) for each slice of ``side``'s chunks: one slice unless interrupts are
    deferred and the half-sweep is long."""
    chunks = side.chunks
    n = chunks.shape[0] - 1
    if not interrupts.active() or n <= 1:
        yield side, loss
        return
    threads = numba.get_num_threads()
    work = np.diff(side.indptr[chunks]).astype(np.float64) * solver.entry_work(side.k)
    work += np.diff(chunks) * float(side.k) * side.k  # each row's Gram product
    total = float(work.sum())
    least = min(n, SLICE_CHUNKS_PER_THREAD * threads)
    parts = int(min(n // least, max(1, np.ceil(total / (SLICE_WORK * threads)))))
    if parts == 1:
        yield side, loss
        return
    cum = np.cumsum(work)
    cuts = np.searchsorted(cum, np.linspace(0, total, parts + 1)[1:-1]) + 1
    bounds = [0]
    for c in sorted(int(c) for c in cuts):  # no slice of fewer than ``least`` chunks
        if c - bounds[-1] >= least and n - c >= least:
            bounds.append(c)
    bounds.append(n)
    for a, b in zip(bounds[:-1], bounds[1:]):
        part = copy.copy(side)
        part.chunks = chunks[a:b + 1]
        lo, hi = chunks[a], chunks[b]
        part.free_rows = side.free_rows[(side.free_rows >= lo) & (side.free_rows < hi)]
        yield part, (None if loss is None else loss[a:b])
