"""Validation curves for the tuned comparisons: NDCG@k scored after chosen epochs of one fit
(fast enough to score every few epochs of a fit on CiteULike-a), with early stopping.

``Scorer`` ranks every item by u . v (+ an item bias), drops each user's training items and
averages NDCG@k with binary relevance over the users with held-out entries, as
``fastmf.evaluate`` does (the comparison scripts check the two agree). ``epoch_curve`` turns
a fit with a per-epoch callback into (best score, best epoch, curve)."""

import numba
import numpy as np
import scipy.sparse as sp

K = 20
# The epochs after which a curve is scored: every epoch at first, then steps of about 25%.
CHECKS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 125, 150, 200,
          250, 300, 400, 500, 600, 800, 1000, 1250, 1600, 2000)
# A curve stops after this many scored epochs without a better score, once it has run
# MIN_EPOCHS and twice its best epoch (slow starts are not cut short).
PATIENCE = 4
MIN_EPOCHS = 20


@numba.njit(cache=True, parallel=True)
def _ndcg_rows(S, users, tr_ptr, tr_idx, te_ptr, te_idx, k, disc, idcg):
    """The summed NDCG@k of the score rows ``S`` (one per user of ``users``); the users'
    training items are set to -inf in ``S`` first; ties go to the lower item index."""
    total = np.zeros(S.shape[0])
    n = S.shape[1]
    for r in numba.prange(S.shape[0]):
        u = users[r]
        row = S[r]
        for p in range(tr_ptr[u], tr_ptr[u + 1]):
            row[tr_idx[p]] = -np.inf
        top_s = np.full(k, -np.inf, dtype=S.dtype)
        top_i = np.full(k, -1, dtype=np.int64)
        for j in range(n):
            x = row[j]
            if x > top_s[k - 1] or (top_i[k - 1] < 0 and x > -np.inf):
                q = k - 1
                while q > 0 and top_s[q - 1] < x:
                    top_s[q] = top_s[q - 1]
                    top_i[q] = top_i[q - 1]
                    q -= 1
                top_s[q] = x
                top_i[q] = j
        dcg = 0.0
        for q in range(k):
            j = top_i[q]
            if j < 0:
                break
            for p in range(te_ptr[u], te_ptr[u + 1]):
                if te_idx[p] == j:
                    dcg += disc[q]
                    break
        total[r] = dcg / idcg[min(k, te_ptr[u + 1] - te_ptr[u]) - 1]
    return total.sum()


class Scorer:
    """Mean NDCG@k of factor matrices on the held-out entries ``test`` (scipy CSR, users x
    items), the entries of ``train`` filtered out, over ``users`` (default: every user with
    held-out entries). Scores are computed in the factors' dtype."""

    def __init__(self, train, test, k=K, block=512, users=None):
        self.train, self.test = sp.csr_matrix(train), sp.csr_matrix(test)
        self.k, self.block = k, block
        self.users = (np.flatnonzero(np.diff(self.test.indptr)) if users is None
                      else np.asarray(users))
        self.disc = 1.0 / np.log2(np.arange(2, k + 2))
        self.idcg = np.cumsum(self.disc)

    def __call__(self, U, V, item_bias=None):
        dtype = np.result_type(U, V)
        V = np.ascontiguousarray(V, dtype=dtype)
        total = 0.0
        for s in range(0, self.users.size, self.block):
            b = self.users[s:s + self.block]
            S = np.asarray(U[b], dtype) @ V.T
            if item_bias is not None:
                S += np.asarray(item_bias, dtype)[None, :]
            total += _ndcg_rows(S, b, self.train.indptr, self.train.indices,
                                self.test.indptr, self.test.indices, self.k, self.disc,
                                self.idcg)
        return total / max(self.users.size, 1)


class Curve:
    """Scores of one fit at the epochs of ``CHECKS`` up to ``max_epochs``; ``step(epoch,
    U, V, bias)`` returns True when the fit should stop (PATIENCE scored epochs without a
    better score, at MIN_EPOCHS and twice the best epoch or later)."""

    def __init__(self, scorer, max_epochs):
        self.scorer, self.max_epochs = scorer, max_epochs
        self.points = {}
        self.best, self.best_epoch, self.stale = -np.inf, 0, 0

    def due(self, epoch):
        return epoch in CHECKS or epoch == self.max_epochs

    def step(self, epoch, U, V, bias=None):
        if not self.due(epoch):
            return False
        s = float(self.scorer(U, V, bias))
        if not np.isfinite(s):
            s = 0.0
        self.points[epoch] = s
        if s > self.best:
            self.best, self.best_epoch, self.stale = s, epoch, 0
        else:
            self.stale += 1
        return self.stale >= PATIENCE and epoch >= max(MIN_EPOCHS, 2 * self.best_epoch)

    @property
    def peaked(self):
        """Whether the best epoch has a scored epoch after it (the epoch count is interior)."""
        return self.best_epoch < max(self.points, default=0)
