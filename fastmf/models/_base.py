"""The factor-model base class, put together from one module per job: parameters and
lifecycle (:mod:`._lifecycle`), the fit loop (:mod:`._fit_loop`), fold-in (:mod:`._fold_in`),
the objective (:mod:`._objective`), scoring (:mod:`._scoring`) and persistence.

Every model (:class:`fastmf.WALS`, :class:`fastmf.SGD`, :class:`fastmf.SVD`) says in
``_start`` how a fit begins and returns a *run* whose ``step`` does one iteration; the loop
does the rest the same way for all: validation of parameters and data, raw ids, timing, the
objective per iteration, history, progress, callback, and the reset after a failed fit.
"""

from __future__ import annotations

import os

from ._fit_loop import FitLoop
from ._fold_in import FoldIn
from ._lifecycle import OBJECTIVE_CONSTRAINTS, Lifecycle
from ._objective import Objective
from ._persistence import save_model
from ._run import Run
from ._scoring import NotFittedError, Scoring, reads


class FactorModel(Lifecycle, FitLoop, FoldIn, Objective, Scoring):
    """Shared surface of the factor models: a fitted model has ``user_factors`` (m x d),
    ``item_factors`` (n x d), optional biases and ``global_mean``, ``history_``, and (when
    fitted on raw ids) ``user_ids_`` / ``item_ids_``."""

    @reads
    def save(self, path: str | os.PathLike) -> None:
        """Write parameters and fitted state to ``path`` (a NumPy ``.npz`` archive, no
        pickle; written to a temporary file and renamed, so a failed save keeps any
        previous file). Read it back with :func:`fastmf.load`."""
        save_model(self, path)


__all__ = ["FactorModel", "NotFittedError", "OBJECTIVE_CONSTRAINTS", "Run"]
