"""Both half-sweeps of a WALS fit, over the factors held by a model."""

from ._base import Side, half_sweep


class Sweeps:
    """The two half-sweeps of WALS on one matrix: ``items()`` solves every item row with
    the users fixed (over the transpose), ``users()`` the reverse. ``WALS.fit`` runs
    exactly these; benchmarks time them one by one (see ``WALS.prepare_sweeps``).

    ``factors`` is any object with ``user_factors``, ``item_factors``, ``user_biases``,
    ``item_biases`` (None without biases) and ``global_mean``, updated in place.
    """

    def __init__(self, solver, csr, csr_t, weighting, factors, *, k, dtype):
        m, n = csr.shape
        self.solver = solver
        self.weighting = weighting
        self.factors = factors
        self.csr, self.csr_t = csr, csr_t
        self.item_side = solver.prepare(Side(csr_t, weighting, transposed=True, k=k,
                                             n_other=m, dtype=dtype))
        self.user_side = solver.prepare(Side(csr, weighting, transposed=False, k=k,
                                             n_other=n, dtype=dtype))
        f = factors
        f.item_factors[self.item_side.free_rows] = 0
        f.user_factors[self.user_side.free_rows] = 0

    def items(self):
        f = self.factors
        return half_sweep(self.solver, self.item_side, self.weighting, f.item_factors,
                          f.item_biases, f.user_factors, f.user_biases, f.global_mean)

    def users(self):
        f = self.factors
        return half_sweep(self.solver, self.user_side, self.weighting, f.user_factors,
                          f.user_biases, f.item_factors, f.item_biases, f.global_mean)

    def sweep(self):
        """One full iteration (items, then users); returns the number of failed rows."""
        return self.items() + self.users()
