"""Both half-sweeps of a WALS fit, over the factors held by a model: the local engine."""

import numpy as np

from ..core import _interrupts as interrupts

from ..core._threads import gram as threaded_gram
from ._base import Side, half_sweep


class Sweeps:
    """The two half-sweeps of WALS on one matrix: ``items()`` solves every item row with
    the users fixed (over the transpose), ``users()`` the reverse. This is the running
    engine of :class:`~fastmf.solvers.LocalEngine` (see :mod:`fastmf.solvers._engine` for
    the interface): ``step`` runs one iteration of ``WALS.fit``; benchmarks time the
    half-sweeps one by one (see ``WALS.prepare_sweeps``).

    ``factors`` is any object with ``user_factors``, ``item_factors``, ``user_biases``,
    ``item_biases`` (None without biases) and ``global_mean``, updated in place.

    ``users(objective=True)`` also returns the objective at the new factors, computed inside
    the user half-sweep (each row's loss is a by-product of its solve; see
    :meth:`~fastmf.solvers.RowSolver.solve`) when the solver can, and keeps the users' Gram
    matrix it formed for that, which the next ``items()`` uses instead of forming it again.
    Call :meth:`forget` when the factors may have changed in between by other means.
    """

    def __init__(self, solver, csr, csr_t, weighting, factors, *, k, dtype):
        m, n = csr.shape
        self.solver = solver
        self.weighting = weighting
        self.factors = factors
        self.dtype = np.dtype(dtype)
        self.csr, self.csr_t = csr, csr_t
        self.item_side = solver.prepare(Side(csr_t, weighting, transposed=True, k=k,
                                             n_other=m, dtype=dtype))
        self.user_side = solver.prepare(Side(csr, weighting, transposed=False, k=k,
                                             n_other=n, dtype=dtype))
        self._item_gram = None
        self.kernels = solver.kernels
        f = factors
        f.item_factors[self.item_side.free_rows] = 0
        f.user_factors[self.user_side.free_rows] = 0

    # ------------------------------------------------------------------ the engine
    #: the factors live on the model: no raw ids of its own, nothing to gather
    ids = None

    def seen(self, csr):
        return csr

    def gather(self):
        pass

    def record(self, record):
        pass

    def finite(self):
        f = self.factors
        arrays = [f.user_factors, f.item_factors]
        if f.user_biases is not None:
            arrays += [f.user_biases, f.item_biases]
        return all(np.isfinite(a).all() for a in arrays)

    def step(self, track):
        """One iteration (items, then users): ``(failed rows, objective or None)``. While
        Ctrl-C is deferred, a half-sweep stops at its next slice boundary when one
        arrives (see ``half_sweep``); the factors are then put back to those of the last
        complete iteration before it is raised."""
        f = self.factors
        saved = None
        if interrupts.active():  # copies to put back (the factors' size, while deferred)
            saved = [(X, X.copy()) for X in (f.item_factors, f.item_biases,
                                             f.user_factors, f.user_biases) if X is not None]
        failed = self.items()
        self._back_on_interrupt(saved)
        if track:
            users_failed, objective = self.users(objective=True)
        else:
            users_failed, objective = self.users(), None
        self._back_on_interrupt(saved)
        return failed + users_failed, objective

    def _back_on_interrupt(self, saved):
        if saved is not None and interrupts.pending():
            for X, copy in saved:
                X[:] = copy
            self.forget()
            interrupts.checkpoint()

    def forget(self):
        """Drop the Gram matrix kept for the next ``items()``."""
        self._item_gram = None

    def items(self):
        f = self.factors
        gram, self._item_gram = self._item_gram, None
        return half_sweep(self.solver, self.item_side, self.weighting, f.item_factors,
                          f.item_biases, f.user_factors, f.user_biases, f.global_mean,
                          gram=gram)

    def users(self, objective=False):
        """The user half-sweep; returns the number of failed rows, and with ``objective``
        (and a solver with ``tracks_objective``) also the objective after it (float, else
        None)."""
        f = self.factors
        if not (objective and self.solver.tracks_objective):
            failed = half_sweep(self.solver, self.user_side, self.weighting, f.user_factors,
                                f.user_biases, f.item_factors, f.item_biases, f.global_mean)
            return (failed, None) if objective else failed
        w, side, dtype = self.weighting, self.user_side, self.dtype
        biased = f.user_biases is not None
        gram = None if biased else w.unobserved_gram(f.item_factors, dtype)
        loss = np.zeros(side.chunks.shape[0] - 1)
        failed = half_sweep(self.solver, side, w, f.user_factors, f.user_biases,
                            f.item_factors, f.item_biases, f.global_mean, gram=gram,
                            loss=loss)
        total = float(np.sum(loss))
        if not biased:
            # sum_i u_i^T G u_i = <U^T U, G>; U^T U is also the next item half-sweep's Gram
            U = f.user_factors
            UtU = threaded_gram(U)
            total += float(np.sum(UtU.astype(np.float64) * gram))
            self._item_gram = w.unobserved_gram(U, dtype, transposed=True, YtY=UtU)
        if w.reg > 0:
            V = f.item_factors
            sq = np.einsum("ij,ij->i", V, V, dtype=np.float64)
            if biased:
                sq += f.item_biases.astype(np.float64) ** 2
            total += float(self.item_side.lam.astype(np.float64) @ sq)
        return failed, total

    def sweep(self):
        """One full iteration (items, then users); returns the number of failed rows."""
        return self.items() + self.users()
