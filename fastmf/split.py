"""The public path of the train/test splits; they are defined in :mod:`fastmf.data._split`
(the data layer)."""

from .data._split import *  # noqa: F401,F403
from .data._split import __all__, __doc__  # noqa: F401
