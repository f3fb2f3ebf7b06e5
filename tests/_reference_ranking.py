"""Slow twins of the ranking-loss SGD kernels (fastmf/_kernels/sgd_ranking.py), for tests.

Written for clarity, in float64 with NumPy vectors and plain Python. The steps follow the
gradients written out from the losses; the epochs replay the kernels' per-block generators
(xorshift64* on Python integers) so that a one-thread kernel epoch can be held against them
update for update.
"""

import numpy as np

MASK = (1 << 64) - 1


# ----------------------------------------------------------------------------- sampling
def xorshift(state):
    """xorshift64* on a Python int: (new state, uniform float in [0, 1))."""
    x = state
    x ^= x >> 12
    x ^= (x << 25) & MASK
    x ^= x >> 27
    out = (x * 2685821657736338717) & MASK
    return x, (out >> 11) / 9007199254740992.0


def draw_item(state, n, prob, alias):
    state, r = xorshift(state)
    t = r * n
    j = min(int(t), n - 1)
    if len(prob) and t - j >= prob[j]:
        j = int(alias[j])
    return state, j


def draw_negative(state, i, n, sampler):
    """(state, item, usable): redrawn while the item is in user i's training row."""
    prob, alias, indptr, indices, tries = sampler[:5]
    state, k = draw_item(state, n, prob, alias)
    if len(indptr) == 0:
        return state, k, True
    seen = {int(x) for x in indices[indptr[i]:indptr[i + 1]]}
    for t in range(tries):
        if t > 0:
            state, k = draw_item(state, n, prob, alias)
        if k not in seen:
            return state, k, True
    return state, k, False


def shuffle_block(rows, cols, values, start, stop, state):
    for pos in range(stop - 1, start, -1):
        state, r = xorshift(state)
        other = start + min(int(r * (pos - start + 1)), pos - start)
        for a in (rows, cols, values):
            a[pos], a[other] = a[other], a[pos]
    return state


def alias_masses(prob, alias):
    """The distribution an alias table draws from."""
    n = len(prob)
    mass = np.array(prob, float) / n
    for s in range(n):
        mass[alias[s]] += (1.0 - prob[s]) / n
    return mass


# ----------------------------------------------------------------------------- losses
def softplus(z):
    return np.logaddexp(0.0, z)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def score(U, V, vb, i, j, has_b):
    return U[i] @ V[j] + (vb[j] if has_b else 0.0)


def logistic_loss(users, items, labels, weights, U, V, vb, has_b):
    return sum(w * softplus(-y * score(U, V, vb, i, j, has_b))
               for i, j, y, w in zip(users, items, labels, weights))


def bpr_loss(users, pos, neg, weights, U, V, vb, has_b):
    return sum(-w * np.log(sigmoid(score(U, V, vb, i, j, has_b) - score(U, V, vb, i, k, has_b)))
               for i, j, k, w in zip(users, pos, neg, weights))


def warp_loss(users, pos, neg, scales, U, V, vb, has_b):
    return sum(s * max(0.0, 1.0 - score(U, V, vb, i, j, has_b) + score(U, V, vb, i, k, has_b))
               for i, j, k, s in zip(users, pos, neg, scales))


def confidence_weight(a, i, j, weighting):
    """The observation weight of a stored value ``a`` at (i, j), as ``_obs_weight``."""
    w0, w0_vec, w0_by_row, rs, cs, kind, alpha, eps, _binary, has_scale = weighting
    if len(w0_vec):
        w0 = float(w0_vec[i] if w0_by_row else w0_vec[j])
    c = {0: 1.0, 1: 1.0 + alpha * a, 2: 1.0 + alpha * np.log1p(a / eps)}[kind]
    return w0 + rs[i] * cs[j] * c if has_scale else c


# ----------------------------------------------------------------------------- steps
class Factors:
    """U, V, item biases and, for adagrad, their squared-gradient sums (float64 copies)."""

    def __init__(self, U, V, vb, adagrad):
        self.U = np.array(U, float)
        self.V = np.array(V, float)
        self.vb = np.array(vb, float)
        self.adagrad = adagrad
        self.g2u = np.zeros_like(self.U)
        self.g2v = np.zeros_like(self.V)
        self.g2vb = np.zeros_like(self.vb)

    def _move(self, x, g2, idx, grad, lr):
        if self.adagrad:
            g2[idx] += grad * grad
            x[idx] -= lr * grad / np.sqrt(g2[idx] + 1e-8)
        else:
            x[idx] -= lr * grad

    def apply(self, lr, has_b, user=(), items=(), biases=()):
        """Apply gradients all computed from the old values: ``user`` = (i, grad),
        ``items`` = [(j, grad)], ``biases`` = [(j, grad)]."""
        i, gu = user
        self._move(self.U, self.g2u, i, gu, lr)
        for j, gv in items:
            self._move(self.V, self.g2v, j, gv, lr)
        if has_b:
            for j, gc in biases:
                self._move(self.vb, self.g2vb, j, gc, lr)


def logistic_step(f, i, j, y, w, lam_u, lam_v, lr, has_b):
    """Step on w softplus(-y x_ij) + lam_u |u|^2 + lam_v (|v|^2 + c^2)."""
    x = score(f.U, f.V, f.vb, i, j, has_b)
    g = -y * w * sigmoid(-y * x)          # d loss / d x
    u, v = f.U[i].copy(), f.V[j].copy()
    f.apply(lr, has_b, user=(i, g * v + 2 * lam_u * u), items=[(j, g * u + 2 * lam_v * v)],
            biases=[(j, g + 2 * lam_v * f.vb[j])])
    return x


def pair_step(f, i, j, k, g, lam_u, lam_j, lam_k, lr, has_b):
    """Step on a loss of d = x_ij - x_ik with d loss / d d = g, plus the penalties."""
    u, vj, vk = f.U[i].copy(), f.V[j].copy(), f.V[k].copy()
    f.apply(lr, has_b, user=(i, g * (vj - vk) + 2 * lam_u * u),
            items=[(j, g * u + 2 * lam_j * vj), (k, -g * u + 2 * lam_k * vk)],
            biases=[(j, g + 2 * lam_j * f.vb[j]), (k, -g + 2 * lam_k * f.vb[k])])


def bpr_step(f, i, j, k, w, lam_u, lam_j, lam_k, lr, has_b):
    """Step on -w log sigmoid(x_ij - x_ik) plus the penalties."""
    x = score(f.U, f.V, f.vb, i, j, has_b) - score(f.U, f.V, f.vb, i, k, has_b)
    pair_step(f, i, j, k, -w * sigmoid(-x), lam_u, lam_j, lam_k, lr, has_b)
    return x


def warp_step(f, i, j, k, scale, lam_u, lam_j, lam_k, lr, has_b):
    """Step on scale * (1 - x_ij + x_ik) plus the penalties (margin violated)."""
    pair_step(f, i, j, k, -scale, lam_u, lam_j, lam_k, lr, has_b)


# ----------------------------------------------------------------------------- epochs
def epoch(loss, f, rows, cols, values, block_ptr, block_order, shuffle, row_div, col_div,
          weighting, sampler, lam_rows, lam_cols, has_b, lr, seeds, *, negatives=1,
          neg_weight=1.0, max_trials=10, rank_weights=None):
    """One kernel epoch of ``loss`` ('logistic', 'bpr' or 'warp') on one thread: the same
    draws and the same updates, in order. Shuffles the entry arrays in place as the kernel
    does. Returns each run block's sampled loss."""
    n = f.V.shape[0]
    block_loss = {}
    for b in block_order:
        state = int(seeds[b])
        start, stop = int(block_ptr[b]), int(block_ptr[b + 1])
        if shuffle:
            state = shuffle_block(rows, cols, values, start, stop, state)
        acc = 0.0
        for pos in range(start, stop):
            i, j = int(rows[pos]), int(cols[pos])
            w = confidence_weight(float(values[pos]), i, j, weighting)
            lam_u = lam_rows[i] / row_div[i]
            if loss == "logistic":
                x = logistic_step(f, i, j, 1.0, w, lam_u, lam_cols[j] / col_div[j], lr, has_b)
                acc += w * softplus(-x)
                for _ in range(negatives):
                    state, k, ok = draw_negative(state, i, n, sampler)
                    if ok:
                        x = logistic_step(f, i, k, -1.0, neg_weight, 0.0,
                                          lam_cols[k] / col_div[k], lr, has_b)
                        acc += neg_weight * softplus(x)
            elif loss == "bpr":
                state, k, ok = draw_negative(state, i, n, sampler)
                if not ok or k == j:
                    continue
                x = bpr_step(f, i, j, k, w, lam_u, lam_cols[j] / col_div[j],
                             lam_cols[k] / col_div[k], lr, has_b)
                acc += w * softplus(-x)
            else:
                state, k, xij, xik, trials = warp_search(state, f, i, j, sampler, max_trials,
                                                         has_b)
                if k < 0:
                    continue
                scale = w * rank_weights[(n - 1) // trials]
                warp_step(f, i, j, k, scale, lam_u, lam_cols[j] / col_div[j],
                          lam_cols[k] / col_div[k], lr, has_b)
                acc += scale * (1.0 - xij + xik)
        block_loss[b] = acc
    return block_loss


def warp_search(state, f, i, j, sampler, max_trials, has_b):
    prob, alias, indptr, indices = sampler[:4]
    n = f.V.shape[0]
    seen = {int(x) for x in indices[indptr[i]:indptr[i + 1]]} if len(indptr) else set()
    xij = score(f.U, f.V, f.vb, i, j, has_b)
    for t in range(max_trials):
        state, k = draw_item(state, n, prob, alias)
        if k == j or k in seen:
            continue
        xik = score(f.U, f.V, f.vb, i, k, has_b)
        if xik > xij - 1.0:
            return state, k, xij, xik, t + 1
    return state, -1, xij, 0.0, max_trials
