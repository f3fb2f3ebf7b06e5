"""The body of an SGD fit: the grid of cache-sized blocks the entries are stored in, and
:class:`Epochs`, the state of a fit and one epoch on the squared objective (what
:meth:`fastmf.SGD.fit` runs; benchmarks drive it epoch by epoch)."""

import numpy as np

from ..core import _validation as v
from .._kernels.loss import _loss_weighted
from .._kernels.partition import _balanced_chunks
from .._kernels.shared import CsrRows
from .._kernels.sgd import (ROWS_SLOW_ONLY, SGD_SCHEDULES, SLOW_COORDS, EpochAccumulators,
                            EpochEntries, EpochFactors, EpochPenalties, _sgd_epoch_hogwild,
                            _sgd_gravity_rows)
from ..core._threads import gram as threaded_gram
from ..core._threads import n_chunks_for

# Bytes of factor rows per side of a block of the entry grid: the rows a block touches stay
# in L2 while its entries are visited (random order over the whole matrix makes every
# update two cache misses; this blocking more than doubles the update rate).
BLOCK_BYTES = 1 << 18
# A band of rows (or columns) of the grid is made of this many runs of consecutive ids.
RUNS_PER_BAND = 4
# entry_order='auto' sorts each block's entries by row (LibMF's order: faster epochs, as a
# row's factors stay in cache across its entries and nothing is shuffled) when the grid has
# at least this many blocks, whose order is still drawn afresh every epoch. With fewer
# blocks a fixed order within them comes close to cycling through the data in one fixed
# order, which stalls higher: on MovieLens 100K ratings (d = 64, AdaGrad, 20 epochs) the
# objective ended 1.1% above the shuffled order's with 2 blocks, 0.7% with 28, 0.3% with
# 112, 0.1% with 405 and 1,590 (smaller blocks forced for the test).
BY_ROW_MIN_BLOCKS = 256


def grid_shape(shape, k, itemsize):
    """(bands of rows, bands of columns) of the entry grid of a matrix of ``shape`` with
    ``k`` factors of ``itemsize`` bytes."""
    m, n = shape
    per = max(1, BLOCK_BYTES // (k * itemsize))
    return (-(-m // per) if m else 1), (-(-n // per) if n else 1)


def resolve_entry_order(entry_order, shape, k, itemsize):
    """The order of the entries within a block that 'auto' stands for (see
    ``BY_ROW_MIN_BLOCKS``); other values as they are."""
    if entry_order != "auto":
        return entry_order
    n_ub, n_ib = grid_shape(shape, k, itemsize)
    return "by_row" if n_ub * n_ib >= BY_ROW_MIN_BLOCKS else "shuffled"


# Bytes of products a chunk of a Gram step forms at once (bounded scratch per thread), and
# the fewest rows a chunk has when there are enough.
_GRAVITY_BYTES = 1 << 20
GRAVITY_MIN_ROWS = 512


def entry_grid(csr, rows, rng, k, itemsize):
    """Group the entries into blocks of (row range) x (column range) after a random
    relabelling of rows and columns (so blocks are not biased by id order). Returns the
    entries' rows, columns and values in block order, the block boundaries and the grid's
    shape (bands of rows, bands of columns); block b is (b // n_ib, b % n_ib).

    The relabelling moves runs of consecutive ids (a quarter of a band, see
    :func:`run_ranks`): a band's factor rows then lie in four stretches of memory instead
    of being scattered one by one over the whole matrix, which made an epoch about 1.2x
    faster (100k x 20k, 5.7M ratings, d = 64)."""
    m, n = csr.shape
    per = max(1, BLOCK_BYTES // (k * itemsize))
    run = max(1, per // RUNS_PER_BAND)
    urank = run_ranks(rng, m, run)
    irank = run_ranks(rng, n, run)
    n_ub, n_ib = grid_shape(csr.shape, k, itemsize)
    block = (urank[rows] // per).astype(np.int64) * n_ib + irank[csr.indices[:csr.nnz]] // per
    # the same stable order; NumPy sorts 16-bit keys by radix (5x faster on 5.7M entries)
    key = block.astype(np.uint16) if n_ub * n_ib <= 1 << 16 else block
    order = np.argsort(key, kind="stable")
    del key
    block_ptr = np.zeros(n_ub * n_ib + 1, np.int64)
    np.cumsum(np.bincount(block, minlength=n_ub * n_ib), out=block_ptr[1:])
    del block
    return (rows[order], csr.indices[:csr.nnz][order], csr.data[:csr.nnz][order],
            block_ptr, (n_ub, n_ib))


def run_ranks(rng, size, run):
    """A random permutation of ``range(size)`` that keeps runs of ``run`` consecutive ids
    together: the runs (the last one may be shorter) are placed in random order, and
    ``ranks[i]`` is id i's position."""
    ids = np.arange(size)
    position = rng.permutation(-(-size // run))
    ranks = np.empty(size, np.int64)
    ranks[np.argsort(position[ids // run], kind="stable")] = ids
    return ranks


def block_order(rng, grid):
    """A fresh random visiting order of the grid's blocks: the bands of rows in random
    order, and within each band its blocks in random order. Consecutive blocks share their
    rows, which then stay in cache (a fully random block order made an epoch about 1.8x
    slower)."""
    n_ub, n_ib = grid
    bands = rng.permutation(n_ub)
    within = np.argsort(rng.random((n_ub, n_ib)), axis=1)
    return (bands[:, None] * n_ib + within).ravel()


class Epochs:
    """The state of an SGD fit and the body of one epoch: what :meth:`SGD.fit` runs, in a
    form that benchmarks can drive epoch by epoch (``SGD.prepare_epochs(A).epoch(e)``
    reproduces ``fit`` bit for bit on one thread).

    ``model`` holds the validated parameters (a namespace, as ``_validate_params``
    returns). Draws from one generator (from ``model.random_state``) in this order: the
    initial U, then V, then the entry grid's relabelling; then per epoch the block order
    and the blocks' seeds.

    ``start`` and ``full`` make the epochs of a partial fit (``SGD.partial_fit``): ``csr``
    then holds only the entries to visit, ``start`` is ``(U, V, ub, vb, mu)`` to update in
    place, and ``full`` the entry counts ``(row_nnz, col_nnz)`` of the whole training
    matrix. Each row's penalty and unobserved (gravity) term are then scaled by the share
    of its entries visited, as in a full epoch per visit; rows not visited do not move.
    """

    def __init__(self, model, weighting, csr, start=None, full=None):
        rng = v.make_rng(model.random_state)
        self.model = model
        self.rng = rng
        w = weighting
        dtype = model.dtype
        m, n = csr.shape
        d = model.factors
        if start is None:
            self.U = (rng.standard_normal((m, d)) * model.init_scale).astype(dtype)
            self.V = (rng.standard_normal((n, d)) * model.init_scale).astype(dtype)
            self.ub = np.zeros(m, dtype)
            self.vb = np.zeros(n, dtype)
            self.mu = w.target_mean(csr) if model.biases else 0.0
        else:
            self.U, self.V, ub, vb, self.mu = start
            self.ub = np.zeros(m, dtype) if ub is None else ub
            self.vb = np.zeros(n, dtype) if vb is None else vb
        # 'adagrad_rows' (LibMF's AdaGrad) runs as if the targets were divided by their
        # spread s, as LibMF divides them: accumulators from 4 s^3 and steps lr sqrt(s) in
        # fastmf's units (its gradients are twice LibMF's)
        self.rows_scale = 1.0
        if model.lr_schedule == "adagrad_rows":
            targets = w.weights_and_targets(csr)[1]
            spread = float(np.std(targets)) if targets.size else 0.0
            self.rows_scale = spread if spread > 1e-4 else 1.0
        self.g2u, self.g2v, self.g2ub, self.g2vb = accumulators(
            model.lr_schedule, m, n, d, dtype, 4.0 * self.rows_scale ** 3)

        row_nnz = csr.row_nnz()
        col_nnz = np.bincount(csr.indices[:csr.nnz], minlength=n)
        rows = np.repeat(np.arange(m, dtype=csr.indices.dtype), row_nnz)
        # per row, the share of its entries an epoch visits (None: all of them)
        self.user_share = self.item_share = None
        visited = row_nnz, col_nnz
        if full is not None:
            self.user_share = row_nnz / np.maximum(full[0], 1)
            self.item_share = col_nnz / np.maximum(full[1], 1)
            row_nnz, col_nnz = full
        self.lam_rows = w.row_penalty(row_nnz, n, dtype)
        self.lam_cols = w.row_penalty(col_nnz, m, dtype, transposed=True)
        self.kargs = w.kernel_args(csr.shape, False, dtype)
        self.w0 = w.w0
        # per-item unobserved weights (float64), or None
        self.w0_items = w.w0_items
        self.gravity = model.unobserved == "gravity" and w.has_unobserved
        self.negatives = model.negatives if (model.unobserved == "negative_sampling"
                                             and w.has_unobserved) else 0
        # Rows without entries are never visited: keep their divisor at 1.
        self.row_div = np.maximum(row_nnz, 1).astype(dtype)
        self.col_div = np.maximum(col_nnz, 1).astype(dtype)
        # Rows without entries are never visited by the entry kernel: their penalty gets
        # one step of its own per epoch (see _penalty_step).
        # (In a partial fit no row that is not visited moves.)
        self.empty_rows = np.flatnonzero((visited[0] == 0) & (row_nnz == 0)
                                         & (self.lam_rows > 0) & (full is None))
        self.empty_cols = np.flatnonzero((visited[1] == 0) & (col_nnz == 0)
                                         & (self.lam_cols > 0) & (full is None))
        (self.g_rows, self.g_cols, self.g_vals, self.block_ptr,
         self.grid) = entry_grid(csr, rows, rng, d, np.dtype(dtype).itemsize)
        del rows
        self.schedule = SGD_SCHEDULES[model.lr_schedule]
        # 'by_row': the entries stay as entry_grid leaves them, each block sorted by row
        order = resolve_entry_order(getattr(model, "entry_order", "shuffled"), csr.shape, d,
                                    np.dtype(dtype).itemsize)
        self.shuffle = order == "shuffled"
        self.nnz = csr.nnz

    #: the Numba dispatchers an epoch calls
    kernels = (_sgd_epoch_hogwild,)
    #: whether the epochs minimize the shared objective (tracked per epoch)
    shared_objective = True

    def lr(self, epoch):
        model = self.model
        if model.lr_schedule == "inverse":
            return model.lr / (1.0 + model.lr_decay * epoch)
        return model.lr * np.sqrt(self.rows_scale)

    def epoch(self, epoch, stop=None):
        """Run epoch number ``epoch`` (0-based; it sets the step of the 'inverse'
        schedule). ``stop()``, asked between the epoch's parts, ends it early when true
        (returns False then; the caller restores a saved state)."""
        model = self.model
        U, V = self.U, self.V
        lr = self.lr(epoch)
        # LibMF's AdaGrad moves only the first coordinates in the first epoch of a fit
        schedule = (ROWS_SLOW_ONLY if self.schedule == SGD_SCHEDULES["adagrad_rows"]
                    and epoch == 0 and self.user_share is None else self.schedule)
        order = block_order(self.rng, self.grid)
        seeds = self.rng.integers(1, 2**63 - 1, self.block_ptr.shape[0] - 1,
                                  dtype=np.uint64)
        entries = EpochEntries(self.g_rows, self.g_cols, self.g_vals, self.block_ptr)
        factors = EpochFactors(U, V, self.ub, self.vb)
        accumulators = EpochAccumulators(self.g2u, self.g2v, self.g2ub, self.g2vb)
        penalties = EpochPenalties(self.lam_rows, self.lam_cols, self.row_div, self.col_div)
        # With gravity, the blocks run in ``gravity_steps`` parts, each followed by a step on
        # the Gram terms (with the Gram matrices of the moment) weighted 1 / gravity_steps:
        # the epoch's total gradient of the unobserved term is unchanged, but the per-entry
        # -w0 <u, v>^2 corrections no longer run a whole epoch unbalanced.
        # (A partial fit's epoch visits few entries: one Gram step after them, as each
        # step forms the other side's whole Gram matrix.)
        parts = model.gravity_steps if self.gravity and self.user_share is None else 1
        for part in np.array_split(order, parts):
            # with a stop test, the part runs as kernel calls of at most SLICE_ENTRIES
            # entries (the blocks in the same order: on one thread the same updates)
            for piece in (_pieces(part, self.block_ptr) if stop is not None else (part,)):
                if stop is not None and stop():
                    return False
                _sgd_epoch_hogwild(entries, np.ascontiguousarray(piece), self.shuffle, factors,
                                   accumulators, self.mu, self.kargs, penalties,
                                   self.gravity, self.negatives, model.biases, lr,
                                   schedule, seeds)
            if self.gravity and self.w0_items is not None:
                # users: V^T diag(w0) V; items: w0_j U^T U, the weights applied per row
                w0i = self.w0_items
                xv = w0i if self.item_share is None else w0i * self.item_share
                _gravity_step(U, V, 1.0 / parts, lr, self.g2u, schedule,
                              y_weights=w0i, x_weights=self.user_share)
                _gravity_step(V, U, 1.0 / parts, lr, self.g2v, schedule, x_weights=xv)
            elif self.gravity:
                w0_part = self.w0 / parts
                _gravity_step(U, V, w0_part, lr, self.g2u, schedule,
                              x_weights=self.user_share)
                _gravity_step(V, U, w0_part, lr, self.g2v, schedule,
                              x_weights=self.item_share)
        penalty_steps(self, lr, schedule)
        return True

    def state(self):
        return self.U.copy(), self.V.copy(), self.ub.copy(), self.vb.copy()

    def optimizer_state(self):
        """AdaGrad's accumulated squared gradients by name (None for the other schedules),
        which a partial fit continues from."""
        if self.g2u.shape[0] <= 1:
            return None
        return {"g2u": self.g2u, "g2v": self.g2v, "g2ub": self.g2ub, "g2vb": self.g2vb}

    def restore(self, state):
        self.U[:], self.V[:], self.ub[:], self.vb[:] = state


# Entries per kernel call of an epoch that can be stopped (a Ctrl-C is taken between two
# calls: a fraction of a second even on a loaded machine).
SLICE_ENTRIES = 1 << 19


def accumulators(schedule, m, n, d, dtype, start=1.0):
    """AdaGrad's accumulators (g2u, g2v, g2ub, g2vb) for a schedule: per coordinate from 0
    ('adagrad'); per row, one for the first SLOW_COORDS coordinates and one for the rest,
    from ``start`` ('adagrad_rows'); else placeholders."""
    if schedule == "adagrad":
        return (np.zeros((m, d), dtype), np.zeros((n, d), dtype), np.zeros(m, dtype),
                np.zeros(n, dtype))
    if schedule == "adagrad_rows":
        return (np.full((m, 2), start, dtype), np.full((n, 2), start, dtype),
                np.full(m, start, dtype), np.full(n, start, dtype))
    return (np.zeros((1, 1), dtype), np.zeros((1, 1), dtype), np.zeros(1, dtype),
            np.zeros(1, dtype))


def _pieces(blocks, block_ptr):
    """``blocks`` (an epoch's block order) cut, in order, into runs of at most about
    SLICE_ENTRIES entries."""
    sizes = (block_ptr[blocks + 1] - block_ptr[blocks]).astype(np.int64)
    total = int(sizes.sum())
    if total <= SLICE_ENTRIES or blocks.size <= 1:
        return [blocks]
    cuts = np.searchsorted(np.cumsum(sizes), np.arange(SLICE_ENTRIES, total, SLICE_ENTRIES),
                           side="right")
    return [p for p in np.split(blocks, np.unique(cuts)) if p.size]


def penalty_steps(run, lr, schedule=None):
    """The penalty steps of the rows and columns without entries of an epoch's state (with
    the epoch's schedule code ``schedule``; the state's own by default)."""
    schedule = run.schedule if schedule is None else schedule
    adagrad = schedule >= SGD_SCHEDULES["adagrad"]
    for rows, X, Xb, lam, g2, g2b in (
            (run.empty_rows, run.U, run.ub, run.lam_rows, run.g2u, run.g2ub),
            (run.empty_cols, run.V, run.vb, run.lam_cols, run.g2v, run.g2vb)):
        if rows.size:
            _penalty_step(rows, X, Xb, lam, lr, g2 if adagrad else None,
                          g2b if adagrad else None, schedule)


def _penalty_step(rows, X, Xb, lam, lr, g2, g2b, schedule=SGD_SCHEDULES["adagrad"]):
    """One step on the penalty lam_i (||x_i||^2 + b_i^2) of the given rows (rows without
    entries, which the entry kernel never visits; their factors decay towards the
    penalty's minimum, zero). AdaGrad steps when ``g2`` is given: per coordinate, or
    LibMF's (``schedule`` 3 or 4, see ``fastmf._kernels.sgd._factor_step``)."""
    dt = X.dtype.type
    two_lam = dt(2) * lam[rows]
    if g2 is not None and schedule >= SGD_SCHEDULES["adagrad_rows"]:
        d = X.shape[1]
        slow = min(SLOW_COORDS, d)
        x, acc = X[rows], g2[rows]
        for col, lo, hi in ((0, 0, slow), (1, slow, d)):
            if hi <= lo or (col == 1 and schedule == ROWS_SLOW_ONLY):
                continue
            g = two_lam[:, None] * x[:, lo:hi]
            x[:, lo:hi] -= dt(lr) * g / np.sqrt(acc[:, col:col + 1])
            acc[:, col] += np.mean(g * g, axis=1)
        X[rows], g2[rows] = x, acc
        gb = two_lam * Xb[rows]
        Xb[rows] -= dt(lr) * gb / np.sqrt(g2b[rows])
        g2b[rows] += gb * gb
        return
    for x, acc in ((X[rows], None if g2 is None else g2[rows]),
                   (Xb[rows][:, None], None if g2b is None else g2b[rows][:, None])):
        g = two_lam[:, None] * x
        if acc is not None:
            acc += g * g
            x -= dt(lr) * g / np.sqrt(acc + dt(1e-8))
        else:
            x -= dt(lr) * g
        if x.shape[1] == X.shape[1]:
            X[rows] = x
            if acc is not None:
                g2[rows] = acc
        else:
            Xb[rows] = x[:, 0]
            if acc is not None:
                g2b[rows] = acc[:, 0]


def gravity_bounds(n_rows, d, itemsize):
    """The fixed row chunks of a Gram step (see :func:`_sgd_gravity_rows`): at least
    ``GRAVITY_MIN_ROWS`` rows each (BLAS runs well on the chunk's product), at most
    ``_GRAVITY_BYTES`` of products each, and up to ``n_chunks_for`` chunks to hand out;
    a function of the row count and the factors alone."""
    most = max(1, _GRAVITY_BYTES // (d * itemsize))
    chunks = max(-(-n_rows // most), min(n_chunks_for(n_rows), n_rows // GRAVITY_MIN_ROWS), 1)
    return np.array([n_rows * c // chunks for c in range(chunks + 1)], np.int64)


def _gravity_step(X, Y, w0, lr, g2x, schedule, y_weights=None, x_weights=None):
    """x_i -= lr * 2 w0 (Y^T Y) x_i for every row of X (the gradient of the Gram terms
    w0 x_i^T (Y^T Y) x_i; per-coordinate steps with adagrad), in one parallel kernel over
    fixed chunks of rows. Per-item unobserved weights enter as ``y_weights`` (the Gram
    matrix is then Y^T diag(y_weights) Y) or ``x_weights`` (row i's product is scaled by
    x_weights[i]). With ``x_weights`` that are zero for most rows (a partial fit's shares)
    only the other rows are stepped."""
    if x_weights is not None and np.count_nonzero(x_weights) < X.shape[0] // 2:
        rows = np.flatnonzero(x_weights)
        adagrad = schedule >= SGD_SCHEDULES["adagrad"]
        Xs, gs = X[rows], g2x[rows] if adagrad else g2x
        _gravity_step(Xs, Y, w0, lr, gs, schedule, y_weights, x_weights[rows])
        X[rows] = Xs
        if adagrad:
            g2x[rows] = gs
        return
    gram = threaded_gram(Y, y_weights).astype(X.dtype)
    xw = np.empty(0, X.dtype) if x_weights is None else x_weights.astype(X.dtype)
    _sgd_gravity_rows(X, gram, w0, lr, g2x, schedule, xw,
                      gravity_bounds(X.shape[0], X.shape[1], X.dtype.itemsize))


def validation_loss(csr, U, V, ub, vb, mu, w):
    """Weighted mean squared error on the stored entries of ``csr``."""
    m, n = csr.shape
    dtype = U.dtype
    chunks = _balanced_chunks(csr.indptr, U.shape[1], n_chunks_for(m))
    row_off = (ub + mu).astype(dtype) if ub is not None else np.zeros(m, dtype)
    col_off = vb.astype(dtype) if vb is not None else np.zeros(n, dtype)
    obs, _ = _loss_weighted(CsrRows(csr.indptr, csr.indices, csr.data), U, V, row_off,
                            col_off, w.kernel_args(csr.shape, False, np.float64), chunks)
    total_w = float(w.weights_and_targets(csr)[0].sum())
    return float(np.sum(obs) / total_w) if total_w > 0 else 0.0
