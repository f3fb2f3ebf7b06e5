r"""Hogwild SGD epochs for ranking losses on implicit feedback: logistic, BPR and WARP.

The epochs walk the same grid of (row range) x (column range) blocks as the squared-loss
kernel (:func:`fastmf._kernels.sgd._sgd_epoch_hogwild`; the grid and the block order are
built by ``fastmf.solvers._sgd_epochs.entry_grid`` and ``block_order``): the blocks run in
``block_order`` split between the threads, each block optionally shuffles its entries in
place, and each block draws everything (shuffle, negatives) from its own xorshift64*
generator seeded by ``seeds[b]``. No state is shared between threads. The sequence of
draws of a block depends only on its seed (for the logistic loss and BPR; for WARP see
below), so it is the same for any thread count; with one thread an epoch is reproducible
bit for bit. With several threads the factor updates race (Hogwild), so the factors after
an epoch vary slightly from run to run.

Scores: :math:`x_{ij} = \langle u_i, v_j\rangle + c_j` (the item bias :math:`c_j` only
with ``has_b``; a user bias would cancel in every pairwise loss). Each stored entry
:math:`(i, j)` is one positive with the confidence weight
:math:`w_{ij}` = ``_obs_weight`` of its value (``weighting`` is the tuple
``Weighting.kernel_args(shape, False, dtype)``: w0, w0_vec, w0_by_row, row_scale,
col_scale, kind, alpha, eps, binary, has_scale; ``binary`` is unused: the labels are given
by the loss; ``w0`` (per item with ``w0_vec``) only enters the observed weight with row or
column weights). Per visit of
an entry, and summed over one epoch:

* logistic: :math:`w_{ij}\,\mathrm{softplus}(-x_{ij}) + w_- \sum_{s=1}^{S}
  \mathrm{softplus}(x_{ik_s})` -- binary cross-entropy with label 1 on the entry and label
  0 on ``negatives`` = S sampled items, each weighted ``neg_weight`` = :math:`w_-` (1 for
  plain negative sampling, or w0 to mirror the weighted objective's unobserved weight);
* BPR (Rendle et al. 2009): :math:`w_{ij}\,\mathrm{softplus}(-(x_{ij} - x_{ik}))`
  = :math:`-w_{ij} \log\sigma(x_{ij} - x_{ik})` for one sampled item k;
* WARP (Weston et al. 2011): sample items until one violates the margin,
  :math:`x_{ik} > x_{ij} - 1`, at most ``max_trials`` draws; with T draws the rank of j is
  estimated as :math:`r = \lfloor (n - 1) / T \rfloor` and the step follows
  :math:`w_{ij} L(r) (1 - x_{ij} + x_{ik})` with :math:`L(r)` = ``rank_weights[r]``
  (:func:`warp_rank_weights`: :math:`\sum_{q \le r} 1/q`). No violating item in
  ``max_trials`` draws: no step.

plus the per-visit share of the ridge penalty
:math:`\lambda_i \|u_i\|^2 + \lambda_j (\|v_j\|^2 + c_j^2)`: ``lam_rows[i] / row_div[i]``
on the user at the positive's step only (a user is visited ``row_nnz[i]`` times: pass
``row_div = max(row_nnz, 1)`` and the epoch applies :math:`\lambda_i` once), and
``lam_cols[k] / col_div[k]`` on every item stepped, positive or sampled (pass
:func:`item_visits` so that each item's penalty is applied once per epoch in expectation,
or ``max(col_nnz, 1)`` to count positive visits only, as the squared-loss kernel does).

Negatives: ``sampler`` is a :class:`Negatives` tuple. Items are drawn uniformly, or from
any distribution given as an alias table (:func:`alias_table`; O(1) per draw, e.g.
popularity :math:`f_j^\beta`). With ``seen_indptr``/``seen_indices`` (the training matrix
as CSR, sorted indices) a drawn item the user has seen is drawn again, up to ``tries``
draws in all; if every draw is seen the sample is skipped (logistic: that negative; BPR:
the triple). A per-user Bloom filter (:func:`seen_filter`, built by the constructors
:func:`uniform_negatives` and :func:`popularity_negatives`) answers most checks before the
binary search. Empty ``seen_indptr`` skips the check (an item equal to the positive is then
still skipped by BPR and WARP, where the pair would be meaningless).

Step sizes: ``schedule`` as ``fastmf._kernels.sgd.SCHEDULES`` (constant and inverse: the
caller passes the epoch's ``lr``; adagrad: per-coordinate steps
``lr / sqrt(sum of squared gradients)`` with the accumulators ``g2u``, ``g2v``, ``g2vb``
of the factors' shapes; placeholders of any shape otherwise). Every step uses the old
values on all sides. float32 or float64 factors; the sampled loss is accumulated in
float64 per block into ``block_loss`` (length 0: not computed): each block's sum runs in
the block's own order, so the same updates give the same total whatever the thread count.
It is the data term at the moment of each step (before it), not at the epoch's end.

WARP fits the block kernel: the search for a violating item only reads V (Hogwild reads
race harmlessly, like every read here), and the one update is a BPR-shaped pair step.
Two differences from the other two losses: (1) how many items a search draws depends on
the current scores, so under several threads the draws themselves (not only the factors)
vary between runs -- one thread is still reproducible bit for bit; (2) the cost of an entry
varies from 1 to ``max_trials`` score evaluations and grows as the model improves, so
blocks, which are split statically between threads, become unequal in cost. The rank
estimate assumes uniform draws: with a popularity alias table it is biased.

The ``*_steps`` functions apply the same step functions serially to given samples (for
tests and for the reference twins in ``tests/_reference_ranking.py``); the ``_loss_*``
functions evaluate the data term on given samples.
"""

import numpy as np
from numba import njit, prange

from .sampling import _draw_item, _draw_negative, _seen
from .sgd import _bias_step, _factor_step, _shuffle_block
from .shared import FASTMATH
from .weights import _entry_w0, _obs_weight

@njit(cache=True, inline="always")
def _softplus(z):
    """log(1 + exp(z)) without overflow, in float64."""
    z = float(z)
    if z > 0.0:
        return z + np.log1p(np.exp(-z))
    return np.log1p(np.exp(z))


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _score(i, j, U, V, vb, has_b, d, zero):
    x = zero
    for q in range(d):
        x += U[i, q] * V[j, q]
    if has_b:
        x += vb[j]
    return x


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _pair_score(i, j, k, U, V, vb, has_b, d, zero):
    """x_ij - x_ik in one pass."""
    x = zero
    for q in range(d):
        x += U[i, q] * (V[j, q] - V[k, q])
    if has_b:
        x += vb[j] - vb[k]
    return x


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _point_update(i, j, g, lam_u, lam_v, U, V, vb, g2u, g2v, g2vb, has_b, lr, schedule, d,
                  two, tiny):
    """Step on a loss of x_ij whose derivative is ``g``, plus the penalties
    lam_u |u_i|^2 + lam_v (|v_j|^2 + c_j^2)."""
    _factor_step(i, j, g, lam_u, lam_v, U, V, g2u, g2v, lr, schedule, d, two, tiny)
    if has_b:
        _bias_step(vb, j, g, lam_v, g2vb, lr, schedule, two, tiny)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _pair_update(i, j, k, g, lam_u, lam_j, lam_k, U, V, vb, g2u, g2v, g2vb, has_b, lr,
                 schedule, d, two, tiny):
    """Step on a loss of x_ij - x_ik whose derivative is ``g``, plus the penalties
    lam_u |u_i|^2 + lam_j (|v_j|^2 + c_j^2) + lam_k (|v_k|^2 + c_k^2). Needs j != k."""
    if schedule == 2:
        for q in range(d):
            uq = U[i, q]
            vj = V[j, q]
            vk = V[k, q]
            gu = g * (vj - vk) + two * lam_u * uq
            gj = g * uq + two * lam_j * vj
            gk = two * lam_k * vk - g * uq
            g2u[i, q] += gu * gu
            g2v[j, q] += gj * gj
            g2v[k, q] += gk * gk
            U[i, q] = uq - lr * gu / np.sqrt(g2u[i, q] + tiny)
            V[j, q] = vj - lr * gj / np.sqrt(g2v[j, q] + tiny)
            V[k, q] = vk - lr * gk / np.sqrt(g2v[k, q] + tiny)
        if has_b:
            gcj = g + two * lam_j * vb[j]
            gck = two * lam_k * vb[k] - g
            g2vb[j] += gcj * gcj
            g2vb[k] += gck * gck
            vb[j] -= lr * gcj / np.sqrt(g2vb[j] + tiny)
            vb[k] -= lr * gck / np.sqrt(g2vb[k] + tiny)
    else:
        for q in range(d):
            uq = U[i, q]
            vj = V[j, q]
            vk = V[k, q]
            U[i, q] = uq - lr * (g * (vj - vk) + two * lam_u * uq)
            V[j, q] = vj - lr * (g * uq + two * lam_j * vj)
            V[k, q] = vk - lr * (two * lam_k * vk - g * uq)
        if has_b:
            cj = vb[j]
            ck = vb[k]
            vb[j] = cj - lr * (g + two * lam_j * cj)
            vb[k] = ck - lr * (two * lam_k * ck - g)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _logistic_step(i, j, y, w, lam_u, lam_v, U, V, vb, g2u, g2v, g2vb, has_b, lr, schedule,
                   d, zero, one, two, tiny):
    """One step on w * log(1 + exp(-y x_ij)) (y = +1 or -1) plus the penalties; returns
    x_ij before the step."""
    x = _score(i, j, U, V, vb, has_b, d, zero)
    # d/dx = -y w sigmoid(-y x); exp overflowing to inf gives 0, as it should.
    g = -y * w / (one + np.exp(y * x))
    _point_update(i, j, g, lam_u, lam_v, U, V, vb, g2u, g2v, g2vb, has_b, lr, schedule, d,
                  two, tiny)
    return x


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _bpr_step(i, j, k, w, lam_u, lam_j, lam_k, U, V, vb, g2u, g2v, g2vb, has_b, lr, schedule,
              d, zero, one, two, tiny):
    """One step on -w log sigmoid(x_ij - x_ik) plus the penalties; returns x_ij - x_ik
    before the step."""
    x = _pair_score(i, j, k, U, V, vb, has_b, d, zero)
    g = -w / (one + np.exp(x))
    _pair_update(i, j, k, g, lam_u, lam_j, lam_k, U, V, vb, g2u, g2v, g2vb, has_b, lr,
                 schedule, d, two, tiny)
    return x


# ----------------------------------------------------------------------------- epochs
@njit(cache=True, fastmath=FASTMATH, inline="always")
def _epoch_setup(weighting, U, lr):
    """What every ranking epoch opens with: the weighting's arrays and flags, and its
    scalars, the step size and the constants 0, 1, 2 and 1e-8 in the factors' float type
    (bare literals would promote float32 to float64)."""
    (w0, w0_vec, w0_by_row, row_scale, col_scale, kind, alpha, eps, _binary,
     has_scale) = weighting
    dt = U.dtype.type
    return (dt(w0), w0_vec, w0_by_row, row_scale, col_scale, kind, dt(alpha), dt(eps),
            has_scale, dt(lr), dt(0), dt(1), dt(2), dt(1e-8))


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _block_start(p, block_order, block_ptr, seeds, shuffle, rows, cols, values):
    """The ``p``-th block to run: its index, its entries ``start:stop``, and its generator
    state after the in-place shuffle of its entries (when ``shuffle``)."""
    b = block_order[p]
    state = np.uint64(seeds[b])
    start = block_ptr[b]
    stop = block_ptr[b + 1]
    if shuffle:
        state = _shuffle_block(rows, cols, values, start, stop, state)
    return b, start, stop, state


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _sgd_epoch_logistic(rows, cols, values, block_ptr, block_order, shuffle, row_div, col_div,
                        U, V, vb, g2u, g2v, g2vb, weighting, sampler, negatives, neg_weight,
                        lam_rows, lam_cols, has_b, lr, schedule, seeds, block_loss):
    """One epoch of the logistic loss (see the module docstring), block by block.

    Parameters
    ----------
    rows, cols, values : entries in block order (``_entry_grid``); shuffled in place
        within each block when ``shuffle``.
    block_ptr : int64 (n_blocks + 1,), block b is ``block_ptr[b]:block_ptr[b + 1]``.
    block_order : blocks to run, in order (any subset of the grid).
    row_div, col_div : per-visit divisors of the penalties (factor dtype).
    U, V, vb : factors and item biases, updated in place (vb unused without ``has_b``).
    g2u, g2v, g2vb : adagrad accumulators (placeholders unless ``schedule`` is adagrad).
    weighting : ``Weighting.kernel_args(shape, False, dtype)``.
    sampler : :class:`Negatives`.
    negatives : sampled items per entry; neg_weight : their weight.
    lam_rows, lam_cols : ridge penalties per row / column.
    has_b : learn item biases. lr : step size. schedule : ``SCHEDULES`` value.
    seeds : uint64 (n_blocks,), one generator per block.
    block_loss : float64 (n_blocks,) receives each run block's sampled data loss, or
        length 0.
    """
    (w0, w0_vec, w0_by_row, row_scale, col_scale, kind, alpha, eps, has_scale, lr, zero,
     one, two, tiny) = _epoch_setup(weighting, U, lr)
    d = U.shape[1]
    dt = U.dtype.type
    n_items = V.shape[0]
    w_neg = dt(neg_weight)
    track = block_loss.shape[0] > 0
    # Each ranking epoch opens its block loop alike on purpose: one parallel kernel per loss.
    for p in prange(block_order.shape[0]):
        b, start, stop, state = _block_start(p, block_order, block_ptr, seeds, shuffle, rows,
                                             cols, values)
        acc = 0.0
        for pos in range(start, stop):
            i = rows[pos]
            j = cols[pos]
            w = _obs_weight(values[pos], row_scale[i], col_scale[j],
                            _entry_w0(w0, w0_vec, w0_by_row, i, j), kind, alpha, eps,
                            has_scale, one)
            lam_u = lam_rows[i] / row_div[i]
            x = _logistic_step(i, j, one, w, lam_u, lam_cols[j] / col_div[j], U, V, vb, g2u,
                               g2v, g2vb, has_b, lr, schedule, d, zero, one, two, tiny)
            if track:
                acc += float(w) * _softplus(-x)
            for _ in range(negatives):
                state, k, ok = _draw_negative(state, i, n_items, sampler)
                if ok:
                    x = _logistic_step(i, k, -one, w_neg, zero, lam_cols[k] / col_div[k], U,
                                       V, vb, g2u, g2v, g2vb, has_b, lr, schedule, d, zero,
                                       one, two, tiny)
                    if track:
                        acc += float(w_neg) * _softplus(x)
        if track:
            block_loss[b] = acc


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _sgd_epoch_bpr(rows, cols, values, block_ptr, block_order, shuffle, row_div, col_div,
                   U, V, vb, g2u, g2v, g2vb, weighting, sampler, lam_rows, lam_cols, has_b,
                   lr, schedule, seeds, block_loss):
    """One epoch of BPR: per entry (i, j) one sampled item k and a step on
    -w_ij log sigmoid(x_ij - x_ik). Arguments as :func:`_sgd_epoch_logistic` (no
    ``negatives``, ``neg_weight``); a triple whose k is seen after ``sampler.tries``
    draws, or equals j, is skipped."""
    (w0, w0_vec, w0_by_row, row_scale, col_scale, kind, alpha, eps, has_scale, lr, zero,
     one, two, tiny) = _epoch_setup(weighting, U, lr)
    d = U.shape[1]
    n_items = V.shape[0]
    track = block_loss.shape[0] > 0
    # Each ranking epoch opens its block loop alike on purpose: one parallel kernel per loss.
    for p in prange(block_order.shape[0]):
        b, start, stop, state = _block_start(p, block_order, block_ptr, seeds, shuffle, rows,
                                             cols, values)
        acc = 0.0
        for pos in range(start, stop):
            i = rows[pos]
            j = cols[pos]
            state, k, ok = _draw_negative(state, i, n_items, sampler)
            if not ok or k == j:
                continue
            w = _obs_weight(values[pos], row_scale[i], col_scale[j],
                            _entry_w0(w0, w0_vec, w0_by_row, i, j), kind, alpha, eps,
                            has_scale, one)
            x = _bpr_step(i, j, k, w, lam_rows[i] / row_div[i], lam_cols[j] / col_div[j],
                          lam_cols[k] / col_div[k], U, V, vb, g2u, g2v, g2vb, has_b, lr,
                          schedule, d, zero, one, two, tiny)
            if track:
                acc += float(w) * _softplus(-x)
        if track:
            block_loss[b] = acc


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _warp_search(state, i, j, xij, U, V, vb, has_b, sampler, max_trials, n_items, d, zero,
                 one):
    """Draw items until one violates the margin (x_ik > x_ij - 1); returns (state, k,
    x_ik, draws), k = -1 when none did in ``max_trials`` draws. Seen items (and j) count
    as draws but never as violations."""
    check = sampler.seen_indptr.shape[0] > 0
    for t in range(max_trials):
        state, k = _draw_item(state, n_items, sampler.prob, sampler.alias)
        if k == j:
            continue
        if check and _seen(sampler, i, k):
            continue
        xik = _score(i, k, U, V, vb, has_b, d, zero)
        if xik > xij - one:
            return state, k, xik, t + 1
    return state, -1, zero, max_trials


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _sgd_epoch_warp(rows, cols, values, block_ptr, block_order, shuffle, row_div, col_div,
                    U, V, vb, g2u, g2v, g2vb, weighting, sampler, max_trials, rank_weights,
                    lam_rows, lam_cols, has_b, lr, schedule, seeds, block_loss):
    """One epoch of WARP: per entry (i, j) a search for a margin-violating item k (at most
    ``max_trials`` draws, ``sampler.tries`` unused) and, when found after T draws, a step on
    w_ij L(r) (1 - x_ij + x_ik) with r = (n_items - 1) // T and L = ``rank_weights``
    (:func:`warp_rank_weights`). Other arguments as :func:`_sgd_epoch_logistic`."""
    (w0, w0_vec, w0_by_row, row_scale, col_scale, kind, alpha, eps, has_scale, lr, zero,
     one, two, tiny) = _epoch_setup(weighting, U, lr)
    d = U.shape[1]
    dt = U.dtype.type
    n_items = V.shape[0]
    track = block_loss.shape[0] > 0
    # Each ranking epoch opens its block loop alike on purpose: one parallel kernel per loss.
    for p in prange(block_order.shape[0]):
        b, start, stop, state = _block_start(p, block_order, block_ptr, seeds, shuffle, rows,
                                             cols, values)
        acc = 0.0
        for pos in range(start, stop):
            i = rows[pos]
            j = cols[pos]
            xij = _score(i, j, U, V, vb, has_b, d, zero)
            state, k, xik, trials = _warp_search(state, i, j, xij, U, V, vb, has_b, sampler,
                                                 max_trials, n_items, d, zero, one)
            if k < 0:
                continue
            w = _obs_weight(values[pos], row_scale[i], col_scale[j],
                            _entry_w0(w0, w0_vec, w0_by_row, i, j), kind, alpha, eps,
                            has_scale, one)
            scale = w * dt(rank_weights[(n_items - 1) // trials])
            _pair_update(i, j, k, -scale, lam_rows[i] / row_div[i], lam_cols[j] / col_div[j],
                         lam_cols[k] / col_div[k], U, V, vb, g2u, g2v, g2vb, has_b, lr,
                         schedule, d, two, tiny)
            if track:
                acc += float(scale) * float(one - xij + xik)
        if track:
            block_loss[b] = acc


# ----------------------------------------------------------------------------- given samples
