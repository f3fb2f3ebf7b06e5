"""SGD epochs for the ranking losses (:class:`fastmf.LogisticMF`, :class:`fastmf.BPR`,
:class:`fastmf.WARP`): the same block grid, random streams and schedules as the squared
loss, with the kernels of :mod:`fastmf._kernels.sgd_ranking`. These losses have no exact
objective through the Gram trick; each epoch records its own sampled loss instead.

:data:`LOSSES` is the one table of the ranking losses: each loss's epoch kernel, the
arguments it takes beyond the shared ones, and the parameters its estimator adds to the
shared ones. The epochs, the estimators and the compile helper read it."""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .._kernels.sampling import (item_visits, popularity_negatives, uniform_negatives,
                                warp_rank_weights)
from .._kernels.sgd_ranking import _sgd_epoch_bpr, _sgd_epoch_logistic, _sgd_epoch_warp
from ..core._params import Auto, Int
from ._sgd_epochs import Epochs, block_order, penalty_steps

# Draws per negative before a sample whose every draw the user has seen is skipped.
_TRIES = 3
# Each epoch runs in this many parts, so that a Ctrl-C stops within a fraction of it.
_PARTS = 8


@dataclass(frozen=True)
class RankingLoss:
    """One ranking loss.

    Attributes
    ----------
    kernel : numba dispatcher
        The epoch kernel; it takes the shared leading arguments (entries, block order,
        divisors, factors, accumulators, weighting, sampler), then :attr:`extra_args`,
        then the shared trailing ones (penalties, biases flag, step, schedule, seeds,
        per-block loss).
    extra_args : callable
        ``extra_args(p, n_items)``: the kernel's own arguments for the validated
        parameters ``p``, computed once per fit.
    samples_per_entry : callable
        ``samples_per_entry(p)``: sampled items per stored entry (each item's penalty is
        spread over its expected visits, positive or sampled).
    params : dict
        The parameters the loss's estimator adds to the shared ones: name -> constraint
        (the defaults are in the estimator's signature).
    """

    kernel: object
    extra_args: Callable
    samples_per_entry: Callable = lambda p: 1
    params: dict = field(default_factory=dict)


#: the ranking losses by name (the name is also the key of the per-loss 'auto' rules in
#: :mod:`fastmf.models._defaults`); every sampled negative weighs 1 in 'logistic'
LOSSES = {
    "logistic": RankingLoss(_sgd_epoch_logistic, lambda p, n: (p.negatives, 1.0),
                            lambda p: p.negatives, {"negatives": Auto(Int(1))}),
    "bpr": RankingLoss(_sgd_epoch_bpr, lambda p, n: ()),
    "warp": RankingLoss(_sgd_epoch_warp, lambda p, n: (p.max_trials, warp_rank_weights(n)),
                        params={"max_trials": Int(1)}),
}
RANKING_LOSSES = tuple(LOSSES)


class RankingEpochs(Epochs):
    """State and epoch body of a ranking-loss fit. The generator draws, in order, the
    initial U and V, the grid's relabelling (as :class:`Epochs`), then per epoch the block
    order and the blocks' seeds; every negative comes from its block's own stream.

    ``model`` is the namespace :class:`Epochs` reads, with ``loss`` (a key of
    :data:`LOSSES`), ``sampling`` and the loss's own parameters; its weighting has no
    unobserved term."""

    shared_objective = False

    def __init__(self, model, weighting, csr):
        super().__init__(model, weighting, csr)
        n = csr.shape[1]
        nnz = csr.nnz
        col_nnz = np.bincount(csr.indices[:nnz], minlength=n)
        self.loss = model.loss
        spec = LOSSES[self.loss]
        if model.sampling == "popularity":
            self.sampler = popularity_negatives(col_nnz, 1.0, csr.indptr, csr.indices, _TRIES)
            total = col_nnz.sum()
            q = col_nnz / total if total else None
        else:
            self.sampler = uniform_negatives(csr.indptr, csr.indices, _TRIES)
            q = None
            # every item is drawn as a negative, and penalized on its visits
            self.empty_cols = self.empty_cols[:0]
        # each item's penalty spread over its expected visits, positive or sampled
        self.col_div = item_visits(col_nnz, nnz, spec.samples_per_entry(model),
                                   q).astype(model.dtype)
        self.kernel = spec.kernel
        self.extra = spec.extra_args(model, n)
        self.block_loss = np.zeros(self.block_ptr.shape[0] - 1)
        self.sampled_loss = float("nan")
        self.kernels = (spec.kernel,)

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
            self.kernel(*head, *self.extra, *tail)
        self.sampled_loss = float(self.block_loss.sum() / max(self.nnz, 1))
        penalty_steps(self, lr)
        return True
