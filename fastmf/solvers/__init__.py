"""Row solvers of WALS, looked up by name.

Each solver is a :class:`RowSolver` subclass; ``WALS(solver=name)``, ``WALS.fold_in``, the
benchmarks and the distributed backend all reach the solvers through this table. Adding a
solver is one module with a ``RowSolver`` subclass and one call to :func:`register` (for a
built-in solver, one entry in ``_BUILTIN`` below)::

    import numpy as np
    from fastmf.solvers import RowSolver, register

    class DenseSolver(RowSolver):
        name = "dense"
        exact = True

        def solve(self, side, X, Y, offsets, gram):
            ...  # update every row of X in place; return the number of failed rows

    register(DenseSolver)
    fastmf.WALS(solver="dense").fit(A)
"""

from ._base import RowSolver, Side, half_sweep
from ._engine import Engine, LocalEngine
from ._sweeps import Sweeps
from .cg import CGSolver
from .cholesky import CholeskySolver
from .subspace import SubspaceSolver

_BUILTIN = (CGSolver, CholeskySolver, SubspaceSolver)
_SOLVERS = {cls.name: cls for cls in _BUILTIN}


def register(cls):
    """Add a :class:`RowSolver` subclass to the table under ``cls.name`` (returns ``cls``,
    so it works as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, RowSolver)) or not isinstance(
            cls.name, str) or not cls.name:
        raise TypeError("register needs a RowSolver subclass with a non-empty name.")
    _SOLVERS[cls.name] = cls
    return cls


def unregister(name):
    """Remove a solver added with :func:`register` (built-in solvers stay)."""
    if name in {cls.name for cls in _BUILTIN}:
        raise ValueError(f"{name!r} is a built-in solver.")
    _SOLVERS.pop(name, None)


def available():
    """Names of the registered solvers, built-in first."""
    return tuple(_SOLVERS)


# From this many factors on, ``solver='auto'`` picks iALS++ (see :func:`choose`).
SUBSPACE_FROM = 512


def choose(factors, stats=None):
    """The row solver ``WALS(solver='auto')`` resolves to: ``'cg'`` below
    ``SUBSPACE_FROM`` (512) factors, ``'ials++'`` from there on.

    Measured with ``benchmarks/large_factors.py`` (2 threads, implicit's objective unless
    said; the time to an objective within 0.1% of Cholesky's after the same iterations, or
    of the best any method reached where Cholesky is out of reach):

    * up to d = 256 three warm-started CG steps got there first on every shape measured
      (a 20k x 5k power-law matrix at d = 8 to 512 with fastmf's default weighting,
      CiteULike-a at d = 64 and 128, MovieLens 100K ratings at d = 16 to 256); Cholesky
      took 1.5-8x CG's time, iALS++ 2-9x;
    * at d = 512 and 1024 (CiteULike-a, 25 iterations; the 20k x 5k matrix, 20) CG with 3
      steps reached the target in none of the four runs, ending 0.19-1.55% above the best
      objective; CG with 6 steps reached it on the synthetic matrix only (0.36% and 0.95%
      above on CiteULike-a); iALS++ with blocks of 64 reached it in three of the four and
      ended at most 0.17% above the best, blocks of 32 in two (at most 0.31% above).

    ``stats`` (the training data's summaries) is there for rules that need the data's
    shape; this one reads ``factors`` only.
    """
    return "ials++" if factors >= SUBSPACE_FROM else "cg"


def get(name, params=None):
    """A new solver object for ``name``, made from the estimator's validated ``params``."""
    try:
        cls = _SOLVERS[name]
    except KeyError:
        raise ValueError(f"Unknown row solver {name!r}; available: "
                         f"{', '.join(available())}.") from None
    return cls(params)


__all__ = ["CGSolver", "CholeskySolver", "SubspaceSolver", "Engine", "LocalEngine", "RowSolver", "Side",
           "Sweeps", "available", "choose", "get", "half_sweep", "register", "unregister"]
