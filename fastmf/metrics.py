"""The public path of the evaluation metrics; they are defined in
:mod:`fastmf.evaluation._metrics` (the evaluation layer)."""

from .evaluation._metrics import *  # noqa: F401,F403
from .evaluation._metrics import __all__, __doc__  # noqa: F401
