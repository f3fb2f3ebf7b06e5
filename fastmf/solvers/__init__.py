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
SUBSPACE_FROM = 1024


def choose(factors, stats=None):
    """The row solver ``WALS(solver='auto')`` resolves to: ``'cg'`` below
    ``SUBSPACE_FROM`` (1024) factors, ``'ials++'`` from there on.

    Measured with ``benchmarks/large_factors.py`` on a 2-core machine (implicit's
    objective unless said; the time to an objective within 0.1% of Cholesky's after the
    same iterations, or of the best any method reached where Cholesky is out of reach):

    * up to d = 256 three warm-started CG steps got there first on every shape measured
      (a 20k x 5k power-law matrix at d = 8 to 512 with fastmf's default weighting,
      CiteULike-a at d = 64 and 128, MovieLens 100K ratings at d = 16 to 256); Cholesky
      took 1.5-8x CG's time, iALS++ 2-9x.
    * At d = 512 (CiteULike-a) iALS++ lowers the objective more per iteration but costs
      2-3x as much: to the objective iALS++ (blocks of 32) reached in 24 iterations
      (45 s), 3 CG steps per iteration took 32 iterations and 29 s.
    * At d = 1024 an iteration of either costs about the same (3.8 s for CG, 4.1 s for
      iALS++ with blocks of 64, CiteULike-a), and CG falls behind: after 25 iterations
      it stood 1.55% above the best objective on CiteULike-a and 0.77% on the synthetic
      matrix, where iALS++ (blocks of 64) was within 0.1% and 0.17%.

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
           "SUBSPACE_FROM", "Sweeps", "available", "choose", "get", "half_sweep", "register", "unregister"]
