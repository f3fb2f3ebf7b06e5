"""Hyper-parameter search on a validation carve of the training data, by successive halving.

:func:`tune` takes a model (its current parameters are the starting point), the training
data and a metric. It carves a validation part out of the training data (the test data is
never seen), fits every candidate of a documented search space for a few iterations,
keeps the best third, fits those for three times as many iterations (with the same seed, so
a short fit is the start of the longer one), and so on until the survivors have run the
model's full iterations (or epochs). The best setting is then refit on all the training data.

The default space is built around the data-aware defaults (``'auto'`` values resolved on
the training part, see :mod:`fastmf._defaults`), so it stays meaningful on any data:

* implicit feedback: ``reg`` and ``w0`` each at 1/27, 1/9, 1/3, 1, 3, 9 and 27 times
  their 'auto' value (the uniform ``w0``, before popularity weighting),
  popularity-weighted unobserved entries (``popularity_exponent``) 0 or 0.5, and, when
  the data are not binary, the confidence ``alpha`` at 0.3, 1 and 3 -- 294 candidates
  (98 on binary data);
* ratings: ``reg`` at 1/27 .. 27 times its 'auto' value and ``factors`` at 1/2, 1 and 2
  times the model's -- 21 candidates.

Any other space is a dict of parameter name -> list of values (every combination is a
candidate).
"""

import itertools
import math
import time
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from . import _validation as v
from ._defaults import resolve
from ._interactions import Interactions
from .metrics import evaluate, rmse
from .split import random_holdout

_SCALES = (1 / 27, 1 / 9, 1 / 3, 1.0, 3.0, 9.0, 27.0)


@dataclass
class TuneResult:
    """Result of :func:`tune`.

    Attributes
    ----------
    best_params : dict
        The parameters of the best candidate (the model's own parameters with the
        searched ones replaced).
    best_score : float
        Its validation score (higher is better; RMSE is reported as is, lower is better).
    metric : str
    table : list of dict
        One row per candidate and rung: its searched parameters, ``iterations``,
        ``score`` and ``seconds``.
    model : the model refit on all the training data with ``best_params`` (or None with
        ``refit=False``).
    """

    best_params: dict
    best_score: float
    metric: str
    table: list = field(default_factory=list)
    model: object = None

    def summary(self, top=10):
        """The best candidates of the last rung each reached, as text."""
        last = {}
        for row in self.table:
            last[row["candidate"]] = row
        rows = sorted(last.values(), key=lambda r: -r["rank_score"])[:top]
        keys = [k for k in rows[0] if k not in ("candidate", "score", "rank_score",
                                                 "seconds", "iterations")] if rows else []
        head = "".join(f"{k:>14}" for k in keys) + f"{'iterations':>12}{self.metric:>12}"
        lines = [head, "-" * len(head)]
        for r in rows:
            lines.append("".join(f"{_fmt(r[k]):>14}" for k in keys)
                         + f"{r['iterations']:>12}{r['score']:>12.4f}")
        return "\n".join(lines)


def _fmt(x):
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _steps_name(model):
    params = model.get_params()
    for name in ("iterations", "epochs"):
        if name in params:
            return name
    raise ValueError(f"tune searches models fitted in steps (fastmf.WALS, fastmf.SGD); "
                     f"{type(model).__name__} has no iterations or epochs to tune.")


def default_space(model, train):
    """The documented search space of ``model`` on the training matrix ``train``."""
    p = model._validate_params()
    csr = v.check_matrix(train, "train", dtype=np.float64)
    q = resolve(SimpleNamespace(**dict(vars(p), popularity_exponent=0.0)), csr)
    if q.kind == "ratings" or q.target == "value":
        return {"reg": [q.reg * s for s in _SCALES],
                "factors": sorted({max(1, q.factors // 2), q.factors, 2 * q.factors})}
    space = {"reg": [q.reg * s for s in _SCALES]}
    if np.ndim(q.w0) == 0 and q.w0 > 0:
        space["w0"] = [q.w0 * s for s in _SCALES]
        space["popularity_exponent"] = [0.0, 0.5]
    if q.confidence != "none":
        space["alpha"] = [0.3, 1.0, 3.0]
    return space


def _score(model, train, valid, metric):
    if metric == "rmse":
        return -rmse(model, valid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return evaluate(model, train, valid, metrics=[metric])[metric]


def tune(model, data, *, metric="ndcg@20", space=None, validation=0.1, eta=3,
         min_steps=None, random_state=0, refit=True, show_progress=False):
    """Search ``model``'s parameters on a validation carve of ``data``.

    Parameters
    ----------
    model : fastmf.WALS or fastmf.SGD
        The starting point: its parameters, except the searched ones, are kept (its
        ``iterations`` / ``epochs`` are the full budget of one candidate).
    data : fastmf.Interactions or scipy.sparse matrix
        Training data; ``validation`` of its entries are held out at random for scoring.
    metric : str
        'ndcg@k', 'recall@k', 'precision@k', 'map@k' (higher is better) or 'rmse'.
    space : dict of str -> list, optional
        Parameter values to combine; default: :func:`default_space`.
    validation : float
        Fraction of the entries carved out for validation.
    eta : int
        Successive-halving factor: each rung keeps the best 1/eta of the candidates and
        gives them eta times the iterations.
    min_steps : int, optional
        Iterations of the first rung (default: full / eta^2, at least 1).
    random_state : int
        Seeds the carve and the models (reproducible).
    refit : bool
        Refit the best setting on all of ``data``.
    show_progress : bool
        Print one line per rung.

    Returns
    -------
    TuneResult
    """
    metric = str(metric).lower()
    if metric != "rmse" and metric.partition("@")[0] not in ("ndcg", "recall", "precision",
                                                             "map"):
        raise ValueError(f"metric must be 'rmse' or a ranking metric such as 'ndcg@20'; got "
                         f"{metric!r}.")
    eta = v.check_int("tune", "eta", eta, low=2)
    inter = data if isinstance(data, Interactions) else Interactions.from_matrix(data)
    fit_part, valid_part = random_holdout(inter, validation, random_state=random_state,
                                          warn=False)
    train, valid = fit_part.matrix, valid_part.matrix
    base = model.get_params()
    steps_name = _steps_name(model)
    full = v.check_int("tune", steps_name, base[steps_name], low=1)
    space = default_space(model, train) if space is None else dict(space)
    names = list(space)
    candidates = [dict(zip(names, values)) for values in itertools.product(*space.values())]
    if not candidates:
        raise ValueError("The search space is empty.")
    rungs = []
    steps = min_steps or max(1, full // eta ** 2)
    while steps < full:
        rungs.append(steps)
        steps *= eta
    rungs.append(full)
    table = []
    alive = list(range(len(candidates)))
    models = {}
    scores = {}
    for rung, steps in enumerate(rungs):
        t0 = time.perf_counter()
        for c in alive:
            params = dict(base, **candidates[c], random_state=random_state)
            params[steps_name] = steps
            start = time.perf_counter()
            m = type(model)(**params)
            try:
                m.fit(train, track_objective=False)
                score = _score(m, train, valid, metric)
            except (FloatingPointError, ValueError) as exc:
                score = -math.inf
                warnings.warn(f"tune: candidate {candidates[c]} failed ({exc}).",
                              RuntimeWarning, stacklevel=2)
            models[c], scores[c] = m, score
            table.append({**candidates[c], "candidate": c, "iterations": steps,
                          "score": -score if metric == "rmse" else score,
                          "rank_score": score, "seconds": time.perf_counter() - start})
        alive.sort(key=lambda c: -scores[c])
        if show_progress:
            best = alive[0]
            shown = -scores[best] if metric == "rmse" else scores[best]
            print(f"tune: rung {rung + 1}/{len(rungs)}: {len(alive)} candidates x {steps} "
                  f"{steps_name} in {time.perf_counter() - t0:.1f} s; best {metric} "
                  f"{shown:.4f} with {candidates[best]}", flush=True)
        if rung < len(rungs) - 1:
            alive = alive[:max(1, math.ceil(len(alive) / eta))]
    best = alive[0]
    best_params = dict(base, **candidates[best])
    result = TuneResult(best_params=best_params,
                        best_score=-scores[best] if metric == "rmse" else scores[best],
                        metric=metric, table=table)
    if refit:
        result.model = type(model)(**best_params).fit(inter)
    return result
