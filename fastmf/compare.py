"""The public path of the convergence study; it is defined in
:mod:`fastmf.evaluation._compare` (the evaluation layer)."""

from .evaluation._comparison import Comparison
from .evaluation._compare import METHODS, compare, compile_methods_from
from .evaluation._compare import __doc__  # noqa: F401

__all__ = ["METHODS", "Comparison", "compare", "compile_methods_from"]
