"""Hogwild SGD epochs on the weighted objective.

Threads update the shared factors without locks (Recht et al. 2011). The entries are grouped
into a grid of row-range x column-range blocks whose factors fit in cache; each epoch visits
the blocks in a fresh random order (band of rows by band of rows) and the entries of each block
in a fresh random order.
Per entry (i, j) the step follows the gradient of

    w_ij (t_ij - p_ij)^2 - w0 <u_i, v_j>^2 + lam_i / |row i| (|u_i|^2 + b_i^2)
                                           + lam_j / |col j| (|v_j|^2 + c_j^2)

whose sum over the entries, plus the per-row Gram terms ``w0 u_i^T (V^T V) u_i`` (applied by
:func:`_sgd_gravity_rows`), is exactly the objective WALS minimizes. With per-item unobserved
weights ``w0_j`` the correction is ``-w0_j <u_i, v_j>^2`` and the Gram terms are
``u_i^T (V^T diag(w0) V) u_i`` (equivalently ``w0_j v_j^T (U^T U) v_j`` on the item side).
Negative sampling replaces the Gram terms by sampled unobserved entries (an approximation).
"""

from collections import namedtuple

import numpy as np
from numba import njit, prange

from .prefetch import _prefetch_row
from .shared import FASTMATH
from .weights import _entry_w0, _obs_target, _obs_weight

SCHEDULES = {"constant": 0, "inverse": 1, "adagrad": 2}
# SGD's schedules: those, and LibMF's AdaGrad (see _factor_step); an epoch runs it as code
# ROWS_SLOW_ONLY (its first epoch: the first SLOW_COORDS coordinates only) or
# SGD_SCHEDULES["adagrad_rows"].
SGD_SCHEDULES = {**SCHEDULES, "adagrad_rows": 3}
ROWS_SLOW_ONLY = 4
SLOW_COORDS = 8

# The bundles :func:`_sgd_epoch_hogwild` takes, each one argument, unpacked once outside its
# parallel loop.
#: The observed entries, grouped into blocks: block b holds ``rows``, ``cols`` and
#: ``values`` at ``block_ptr[b]:block_ptr[b + 1]``.
EpochEntries = namedtuple("EpochEntries", ["rows", "cols", "values", "block_ptr"])
#: What an epoch updates: the factors ``U``, ``V`` and the biases ``ub``, ``vb``.
EpochFactors = namedtuple("EpochFactors", ["U", "V", "ub", "vb"])
#: AdaGrad's accumulated squared gradients of the same (size 1 when unused).
EpochAccumulators = namedtuple("EpochAccumulators", ["g2u", "g2v", "g2ub", "g2vb"])
#: The ridge penalties ``lam_rows``, ``lam_cols`` and the divisors ``row_nnz``,
#: ``col_nnz`` that spread them over the visits of a row or column.
EpochPenalties = namedtuple("EpochPenalties", ["lam_rows", "lam_cols", "row_nnz",
                                               "col_nnz"])

# The entry whose factor rows are prefetched, this many positions ahead of the one being
# updated (2 to 8 measured alike on the 5.7M-rating benchmark, d = 64; 1 was slower).
PREFETCH_AHEAD = 4


@njit(cache=True, inline="always")
def _xorshift(state):
    """One step of xorshift64*; returns (new state, 53-bit uniform float in [0, 1))."""
    x = state
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    out = x * np.uint64(2685821657736338717)
    return x, float(out >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def _shuffle_block(rows, cols, values, start, stop, state):
    """Fisher-Yates over the entries ``start:stop`` (in place)."""
    for pos in range(stop - 1, start, -1):
        state, r = _xorshift(state)
        other = start + min(int(r * (pos - start + 1)), pos - start)
        rows[pos], rows[other] = rows[other], rows[pos]
        cols[pos], cols[other] = cols[other], cols[pos]
        values[pos], values[other] = values[other], values[pos]
    return state


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _factor_step(i, j, g, lam_u, lam_v, U, V, g2u, g2v, lr, schedule, d, two, tiny):
    """The step of u_i and v_j on a loss of <u_i, v_j> whose derivative is ``g``, plus the
    penalties lam_u |u_i|^2 + lam_v |v_j|^2 (old values used on both sides): AdaGrad with
    the accumulators ``g2u``, ``g2v`` when ``schedule`` is 2, else a plain step of ``lr``.

    Schedules 3 and 4 are LibMF's AdaGrad: one accumulator per row and range (column 0 of
    ``g2u``, ``g2v`` for the first SLOW_COORDS coordinates, column 1 for the rest), the
    step ``lr / sqrt(G)`` taken with it, then the mean squared gradient of the range added
    to it; schedule 4 (a fit's first epoch) moves the first range only."""
    if schedule >= 3:
        slow = min(SLOW_COORDS, d)
        top = d if schedule == 3 else slow
        ru0 = lr / np.sqrt(g2u[i, 0])
        rv0 = lr / np.sqrt(g2v[j, 0])
        ru1 = lr / np.sqrt(g2u[i, 1])
        rv1 = lr / np.sqrt(g2v[j, 1])
        one = two / two  # of the factors' float type (ru0 - ru0 + 1 would be float64)
        su0 = ru0 - ru0
        su1 = su0
        sv0 = su0
        sv1 = su0
        # one loop over both ranges (selects instead of branches, so that it vectorizes)
        for q in range(top):
            f = one if q < slow else one - one
            uq = U[i, q]
            vq = V[j, q]
            gu = g * vq + two * lam_u * uq
            gv = g * uq + two * lam_v * vq
            su0 += f * gu * gu
            su1 += (one - f) * gu * gu
            sv0 += f * gv * gv
            sv1 += (one - f) * gv * gv
            U[i, q] = uq - (ru1 + f * (ru0 - ru1)) * gu
            V[j, q] = vq - (rv1 + f * (rv0 - rv1)) * gv
        g2u[i, 0] += su0 / slow
        g2v[j, 0] += sv0 / slow
        if top > slow:
            g2u[i, 1] += su1 / (top - slow)
            g2v[j, 1] += sv1 / (top - slow)
    elif schedule == 2:
        for q in range(d):
            uq = U[i, q]
            vq = V[j, q]
            gu = g * vq + two * lam_u * uq
            gv = g * uq + two * lam_v * vq
            g2u[i, q] += gu * gu
            g2v[j, q] += gv * gv
            U[i, q] = uq - lr * gu / np.sqrt(g2u[i, q] + tiny)
            V[j, q] = vq - lr * gv / np.sqrt(g2v[j, q] + tiny)
    else:
        for q in range(d):
            uq = U[i, q]
            vq = V[j, q]
            U[i, q] = uq - lr * (g * vq + two * lam_u * uq)
            V[j, q] = vq - lr * (g * uq + two * lam_v * vq)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _bias_step(b, idx, g, lam, g2b, lr, schedule, two, tiny):
    """The same step for the bias ``b[idx]`` with the penalty lam b^2."""
    if schedule >= 3:
        gb = g + two * lam * b[idx]
        b[idx] -= lr * gb / np.sqrt(g2b[idx])
        g2b[idx] += gb * gb
    elif schedule == 2:
        gb = g + two * lam * b[idx]
        g2b[idx] += gb * gb
        b[idx] -= lr * gb / np.sqrt(g2b[idx] + tiny)
    else:
        bi = b[idx]
        b[idx] = bi - lr * (g + two * lam * bi)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _sgd_step(i, j, U, V, ub, vb, g2u, g2v, g2ub, g2vb, mu, w, t, w0_corr, lam_u, lam_v,
              lr, schedule, has_b, k, zero, two, tiny):
    """One stochastic step on entry (i, j): prediction, gradient, update (old values used
    on both sides). ``w0_corr`` is the weight of the -w0 <u, v>^2 correction (0 when the
    unobserved term is not handled by gravity). ``zero``, ``two``, ``tiny`` are constants of
    the factors' float type (bare literals would promote float32 to float64)."""
    dot = zero
    for q in range(k):
        dot += U[i, q] * V[j, q]
    p = dot
    if has_b:
        p += mu + ub[i] + vb[j]
    g = two * (w * (p - t) - w0_corr * dot)
    _factor_step(i, j, g, lam_u, lam_v, U, V, g2u, g2v, lr, schedule, k, two, tiny)
    if has_b:
        _bias_step(ub, i, g, lam_u, g2ub, lr, schedule, two, tiny)
        _bias_step(vb, j, g, lam_v, g2vb, lr, schedule, two, tiny)


# The epoch's parallel loop calls one block function per block instead of holding the
# steps itself: Numba's parallel passes (copy propagation over deep copies of the loop body)
# grow steeply with the body's size, so a body of one call compiles in a fraction of the
# time. The block function carries the flags the loop body had (the kernel's fastmath, and
# the "numpy" error model of parallel loop bodies: no zero-division checks), so it compiles
# to the same arithmetic.
@njit(cache=True, fastmath=FASTMATH, error_model="numpy", forceinline=True)
def _hogwild_block(rows, cols, values, start, stop, shuffle, state, row_nnz, col_nnz, U, V,
                   ub, vb, g2u, g2v, g2ub, g2vb, mu, w0, w0_vec, w0_by_row, gravity,
                   negatives, lam_rows, lam_cols, row_scale, col_scale, kind, alpha, eps,
                   binary, has_scale, has_b, lr, schedule):
    """The entries ``start:stop`` of one block of :func:`_sgd_epoch_hogwild`, from the
    block's generator state ``state`` (arguments already in the factors' float type)."""
    per_item = w0_vec.shape[0] > 0
    k = U.shape[1]
    dt = U.dtype.type
    n_items = V.shape[0]
    one = dt(1)
    zero = dt(0)
    two = dt(2)
    tiny = dt(1e-8)
    w0_corr = w0 if gravity else zero
    if shuffle:
        state = _shuffle_block(rows, cols, values, start, stop, state)
    for pos in range(start, stop):
        ahead = min(pos + PREFETCH_AHEAD, stop - 1)
        _prefetch_row(U, rows[ahead])
        _prefetch_row(V, cols[ahead])
        i = rows[pos]
        j = cols[pos]
        a = values[pos]
        t = _obs_target(a, binary, one)
        lam_u = lam_rows[i] / row_nnz[i]
        lam_v = lam_cols[j] / col_nnz[j]
        if per_item:
            w0e = _entry_w0(w0, w0_vec, w0_by_row, i, j)
            w = _obs_weight(a, row_scale[i], col_scale[j], w0e, kind, alpha, eps,
                            has_scale, one)
            corr = w0e if gravity else zero
            _sgd_step(i, j, U, V, ub, vb, g2u, g2v, g2ub, g2vb, mu, w, t, corr, lam_u,
                      lam_v, lr, schedule, has_b, k, zero, two, tiny)
        else:
            w = _obs_weight(a, row_scale[i], col_scale[j], w0, kind, alpha, eps,
                            has_scale, one)
            _sgd_step(i, j, U, V, ub, vb, g2u, g2v, g2ub, g2vb, mu, w, t, w0_corr, lam_u,
                      lam_v, lr, schedule, has_b, k, zero, two, tiny)
        # Negative sampling: each sampled item stands for n / (negatives * |row i|)
        # unobserved entries of row i (target 0, weight w0), so that a row's samples
        # estimate its whole unobserved sum.
        if negatives > 0:
            w_neg = w0 * dt(n_items) / dt(negatives * row_nnz[i])
            for _ in range(negatives):
                state, r = _xorshift(state)
                jn = min(int(r * n_items), n_items - 1)
                if per_item:
                    wn = (_entry_w0(w0, w0_vec, w0_by_row, i, jn) * dt(n_items)
                          / dt(negatives * row_nnz[i]))
                    _sgd_step(i, jn, U, V, ub, vb, g2u, g2v, g2ub, g2vb, mu, wn, zero,
                              zero, zero, zero, lr, schedule, has_b, k, zero, two, tiny)
                else:
                    _sgd_step(i, jn, U, V, ub, vb, g2u, g2v, g2ub, g2vb, mu, w_neg, zero,
                              zero, zero, zero, lr, schedule, has_b, k, zero, two, tiny)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _sgd_epoch_hogwild(entries, block_order, shuffle, factors, accumulators, mu, weighting,
                       penalties, gravity, negatives, has_b, lr, schedule, seeds):
    """One epoch over the observed entries (``entries``, an ``EpochEntries``), block by
    block, updating ``factors`` (an ``EpochFactors``; ``accumulators``, an
    ``EpochAccumulators``, with AdaGrad). ``weighting`` is a ``KernelWeighting`` and
    ``penalties`` an ``EpochPenalties``.

    The entries are stored grouped into blocks ``block_ptr[b]:block_ptr[b + 1]``; each
    block covers a range of rows and a range of columns small enough for their factors to
    stay in cache (a FPSGD-style grid), and is contiguous so that the entries themselves
    stream from memory. The blocks run in the order ``block_order``, split between the
    threads; with ``shuffle`` each block first shuffles its entries in place. Block b draws
    its shuffle and negative samples from its own generator seeded by ``seeds[b]``: no
    state is shared between threads, and with one thread the epoch is reproducible bit for
    bit. The factor rows of the entry ``PREFETCH_AHEAD`` positions ahead are prefetched (a
    hint: no value changes). ``w0_vec`` (per-column unobserved weights, or empty for the
    scalar ``w0``; see ``_entry_w0``) gives each entry its own weight for the correction,
    the observed weight and the negative samples; the kernel walks rows of users
    (``w0_by_row`` False).
    """
    rows, cols, values, block_ptr = entries
    U, V, ub, vb = factors
    g2u, g2v, g2ub, g2vb = accumulators
    lam_rows, lam_cols, row_nnz, col_nnz = penalties
    (w0, w0_vec, w0_by_row, row_scale, col_scale, kind, alpha, eps, binary,
     has_scale) = weighting
    dt = U.dtype.type
    w0 = dt(w0)
    lr = dt(lr)
    alpha = dt(alpha)
    eps = dt(eps)
    mu = dt(mu)
    for p in prange(block_order.shape[0]):
        b = block_order[p]
        _hogwild_block(rows, cols, values, block_ptr[b], block_ptr[b + 1], shuffle,
                       np.uint64(seeds[b]), row_nnz, col_nnz, U, V, ub, vb, g2u, g2v, g2ub,
                       g2vb, mu, w0, w0_vec, w0_by_row, gravity, negatives, lam_rows,
                       lam_cols, row_scale, col_scale, kind, alpha, eps, binary, has_scale,
                       has_b, lr, schedule)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _sgd_gravity_rows(X, G, w0, lr, g2x, schedule, x_weights, bounds):
    """Gradient step on every row's Gram term: x_i -= lr * 2 w0 s_i (G x_i), G the other
    side's Gram matrix (symmetric) and s_i = ``x_weights[i]`` (1 when ``x_weights`` is
    empty).

    The rows run in the fixed chunks ``bounds[c]:bounds[c + 1]`` (set by the row count,
    never the thread count): each chunk forms its products ``X_c G`` with BLAS (held to one
    thread per caller) and applies them, so the products run on Numba's threads, inside the
    one parallel region. With the per-entry -w0 <u, v>^2 corrections of the epoch this is
    the exact gradient of the unobserved term, computed in O(rows d^2) instead of
    O(rows * cols * d).
    """
    k = X.shape[1]
    dt = X.dtype.type
    c = dt(2 * w0)
    lr = dt(lr)
    tiny = dt(1e-8)
    weighted = x_weights.shape[0] > 0
    for ch in prange(bounds.shape[0] - 1):
        lo, hi = bounds[ch], bounds[ch + 1]
        XG = np.dot(X[lo:hi], G)
        for r in range(hi - lo):
            i = lo + r
            ci = c * dt(x_weights[i]) if weighted else c
            if schedule >= 3:
                slow = min(SLOW_COORDS, k)
                for acc, a0, a1 in ((0, 0, slow), (1, slow, k)):
                    if a1 <= a0 or (acc == 1 and schedule != 3):
                        continue
                    rate = lr / np.sqrt(g2x[i, acc])
                    sq = dt(0)
                    for a in range(a0, a1):
                        g = ci * XG[r, a]
                        sq += g * g
                        X[i, a] -= rate * g
                    g2x[i, acc] += sq / (a1 - a0)
            elif schedule == 2:
                for a in range(k):
                    g = ci * XG[r, a]
                    g2x[i, a] += g * g
                    X[i, a] -= lr * g / np.sqrt(g2x[i, a] + tiny)
            else:
                for a in range(k):
                    X[i, a] -= lr * (ci * XG[r, a])
