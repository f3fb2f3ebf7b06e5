"""SGD epochs for the ranking losses (``SGD(loss='logistic' | 'bpr' | 'warp')``): the same
block grid, random streams and schedules as the squared loss, with the kernels of
:mod:`fastmf._kernels.sgd_ranking`. These losses have no exact objective through the Gram
trick; each epoch records its own sampled loss instead."""

import numpy as np

from .._kernels.sampling import (item_visits, popularity_negatives, uniform_negatives,
                                warp_rank_weights)
from .._kernels.sgd_ranking import _sgd_epoch_bpr, _sgd_epoch_logistic, _sgd_epoch_warp
from ._sgd_epochs import Epochs, block_order, penalty_steps

RANKING_LOSSES = ("logistic", "bpr", "warp")
# Draws per negative before a sample whose every draw the user has seen is skipped.
_TRIES = 3
# Each epoch runs in this many parts, so that a Ctrl-C stops within a fraction of it.
_PARTS = 8


class RankingEpochs(Epochs):
    """State and epoch body of a ranking-loss fit. The generator draws, in order, the
    initial U and V, the grid's relabelling (as :class:`Epochs`), then per epoch the block
    order and the blocks' seeds; every negative comes from its block's own stream."""

    def __init__(self, model, weighting, csr):
        super().__init__(model, weighting, csr)
        n = csr.shape[1]
        nnz = csr.nnz
        col_nnz = np.bincount(csr.indices[:nnz], minlength=n)
        self.loss = model.loss
        if model.sampling == "popularity":
            self.sampler = popularity_negatives(col_nnz, 1.0, csr.indptr, csr.indices, _TRIES)
            total = col_nnz.sum()
            q = col_nnz / total if total else None
        else:
            self.sampler = uniform_negatives(csr.indptr, csr.indices, _TRIES)
            q = None
            # every item is drawn as a negative, and penalized on its visits
            self.empty_cols = self.empty_cols[:0]
        per_entry = model.negatives if self.loss == "logistic" else 1
        # each item's penalty spread over its expected visits, positive or sampled
        self.col_div = item_visits(col_nnz, nnz, per_entry, q).astype(model.dtype)
        self.rank_weights = warp_rank_weights(n) if self.loss == "warp" else None
        self.block_loss = np.zeros(self.block_ptr.shape[0] - 1)
        self.sampled_loss = float("nan")
        self.kernels = ({"logistic": _sgd_epoch_logistic, "bpr": _sgd_epoch_bpr,
                         "warp": _sgd_epoch_warp}[self.loss],)

    def epoch(self, epoch, stop=None):
        """Run epoch ``epoch``; ``sampled_loss`` is then its mean sampled data term per
        stored entry (at the moment of each step). ``stop`` as in :meth:`Epochs.epoch`."""
        p = self.model
        lr = self.lr(epoch)
        order = block_order(self.rng, self.grid)
        seeds = self.rng.integers(1, 2**63 - 1, self.block_ptr.shape[0] - 1, dtype=np.uint64)
        self.block_loss[:] = 0
        common = (self.g_rows, self.g_cols, self.g_vals, self.block_ptr)
        for part in np.array_split(order, _PARTS):
            if stop is not None and stop():
                return False
            part = np.ascontiguousarray(part)
            head = (*common, part, True, self.row_div, self.col_div, self.U, self.V, self.vb,
                    self.g2u, self.g2v, self.g2vb, self.kargs, self.sampler)
            tail = (self.lam_rows, self.lam_cols, p.biases, lr, self.schedule, seeds,
                    self.block_loss)
            if self.loss == "logistic":
                _sgd_epoch_logistic(*head, p.negatives, 1.0, *tail)
            elif self.loss == "bpr":
                _sgd_epoch_bpr(*head, *tail)
            else:
                _sgd_epoch_warp(*head, p.max_trials, self.rank_weights, *tail)
        self.sampled_loss = float(self.block_loss.sum() / max(self.nnz, 1))
        penalty_steps(self, lr)
        return True
