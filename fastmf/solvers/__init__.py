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


def choose(factors, stats=None):
    """The row solver ``WALS(solver='auto')`` resolves to for ``factors`` and the training
    data's summaries ``stats``: ``'cg'``.

    The rule comes from ``benchmarks/large_factors.py`` (time to an objective within 0.1%
    of what Cholesky reaches in 15 iterations, 2 threads): three warm-started CG steps got
    there first at every size measured -- d = 8 to 512 on a 20k x 5k power-law matrix
    (400k entries), and MovieLens 100K ratings without an unobserved term (d = 16 to
    256). Cholesky (d^3 / 3 per row) took 1.5-8x
    CG's time at d <= 32 and more above; iALS++ (``solver='ials++'``, blocks of 4-128)
    2-9x: its block systems cost nnz_i b per coordinate against CG's few products per
    step, and its block Gauss-Seidel passes need more iterations to the same objective.
    The rule changes when a measurement says so.
    """
    return "cg"


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
