"""Hyper-parameter search on a validation carve of the training data, by successive halving
with early stopping.

:func:`tune` takes a model (its current parameters are the starting point), the training
data and a metric. It carves a validation part out of the training data (the test data is
never seen), fits every candidate of a documented search space for a few iterations,
keeps the best third, fits those for three times as many iterations (with the same seed, so
a short fit is the start of the longer one), and so on until the survivors have run the
model's full iterations (or epochs). Each fit is scored after every iteration of its rung's
span (the iterations before it were scored by the earlier rungs), so a candidate's score is
its best over the iterations run, a fit stops once its score has not improved for
``patience`` iterations, and the number of iterations of the best score is tuned with the
rest: the refit on all the training data runs that many.

The default space is built around the data-aware defaults (``'auto'`` values resolved on
the training part, see :mod:`fastmf.models._defaults`), so it stays meaningful on any data:

* implicit feedback: ``reg`` and ``w0`` each at 1/27, 1/9, 1/3, 1, 3, 9 and 27 times
  their 'auto' value (the uniform ``w0``, before popularity weighting),
  popularity-weighted unobserved entries (``popularity_exponent``) 0 or 0.5, and, when
  the data are not binary, the confidence ``alpha`` at 0.3, 1 and 3 -- 294 candidates
  (98 on binary data);
* ratings: ``reg`` at 1/27 .. 27 times its 'auto' value and ``factors`` at 1/2, 1 and 2
  times the model's -- 21 candidates;
* the ranking models (:class:`fastmf.BPR`, ...): ``reg`` at 1/27 .. 27 times its 'auto'
  value and, on data that are not binary, ``alpha`` at 0.3, 1 and 3.

Any other space is a dict of parameter name -> list of values (every combination is a
candidate). When the best value of a numeric axis of more than two values is the smallest
or the largest of its grid, :func:`tune` warns and searches one step beyond that edge
(see :func:`_beyond` and :func:`tune`'s ``extend``).
"""

import itertools
import math
import time
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from ..core import _validation as v
from ..models._defaults import PRESETS, RANKING_AUTO, preset_of, ranking_epochs, resolve
from ..models._ranking import RankingModel
from ..data._interactions import Interactions
from ._metrics import evaluate, rmse
from ..data._split import random_holdout

_SCALES = (1 / 27, 1 / 9, 1 / 3, 1.0, 3.0, 9.0, 27.0)
# the keys of a table row that are not searched parameters
_ROW_KEYS = ("candidate", "rung", "iterations", "fitted", "best_iteration", "score",
             "rank_score", "seconds", "extension")


@dataclass
class TuneResult:
    """Result of :func:`tune`.

    Attributes
    ----------
    best_params : dict
        The parameters of the best candidate (the model's own parameters with the
        searched ones replaced, and ``iterations`` / ``epochs`` set to its best iteration).
    best_score : float
        Its validation score (higher is better; RMSE is reported as is, lower is better).
    metric : str
    table : list of dict
        One row per candidate and rung: its searched parameters, ``rung``, ``iterations``
        (the rung's), ``fitted`` (the iterations fitted in that rung: fewer where the fit
        stopped early, 0 where it had stopped in an earlier rung), ``best_iteration``,
        ``score`` (the best so far), ``seconds`` and ``extension`` (True for the
        candidates added beyond the edge of a grid).
    model : the model refit on all the training data with ``best_params`` (or None with
        ``refit=False``).
    space : dict
        The space searched, with the values added beyond the edges of its grids.
    curves : dict
        Candidate number -> {iteration: validation score} (as reported, RMSE as is).
    edges : list of str
        The warnings about best values on the edge of their grids.
    """

    best_params: dict
    best_score: float
    metric: str
    table: list = field(default_factory=list)
    model: object = None
    space: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)

    def summary(self, top=10):
        """The best candidates of the last rung each reached, as text: their searched
        parameters, best iteration, score there, and the iterations fitted."""
        last = {}
        for row in self.table:
            last[row["candidate"]] = row
        rows = sorted(last.values(), key=lambda r: -r["rank_score"])[:top]
        keys = [k for k in rows[0] if k not in _ROW_KEYS] if rows else []
        cols = keys + ["iterations", self.metric, "fitted"]
        widths = [max(10, len(k)) for k in cols]
        head = "  ".join(f"{k:>{w}}" for k, w in zip(cols, widths))
        lines = [head, "-" * len(head)]
        for r in rows:
            cells = [_fmt(r[k]) for k in keys] + [
                str(r["best_iteration"]), f"{r['score']:.4f}",
                str(max(x["fitted"] for x in self.table if x["candidate"] == r["candidate"]))]
            lines.append("  ".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
        return "\n".join(lines)


def _fmt(x):
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _steps_name(model):
    params = model.get_params()
    for name in ("iterations", "epochs"):
        if name in params:
            return name
    raise ValueError(f"tune searches models fitted in steps (fastmf.WALS, fastmf.SGD, "
                     f"fastmf.BPR, ...); "
                     f"{type(model).__name__} has no iterations or epochs to tune.")


def _space_and_start(model, train):
    """The default space, and the model's own setting in its terms (the candidate that
    reproduces the model's resolved defaults)."""
    p = model._validate_params()
    csr = v.check_matrix(train, "train", dtype=np.float64)
    if isinstance(model, RankingModel):  # no unobserved term: the penalty and the weights
        q = own = model._resolve(p, csr)
        space, start = {"reg": [q.reg * s for s in _SCALES]}, {"reg": q.reg}
    else:
        kind = model._preset(p)
        q = resolve(SimpleNamespace(**dict(vars(p), popularity_exponent=0.0)), csr, kind)
        if preset_of(q) == "ratings":
            return ({"reg": [q.reg * s for s in _SCALES],
                     "factors": sorted({max(1, q.factors // 2), q.factors, 2 * q.factors})},
                    {"reg": q.reg, "factors": q.factors})
        own = resolve(SimpleNamespace(**vars(p)), csr, kind)
        space, start = {"reg": [q.reg * s for s in _SCALES]}, {"reg": q.reg}
        if np.ndim(q.w0) == 0 and q.w0 > 0:
            space["w0"] = [q.w0 * s for s in _SCALES]
            space["popularity_exponent"] = [0.0, PRESETS["implicit"]["popularity_exponent"]]
            start.update(w0=q.w0, popularity_exponent=own.popularity_exponent)
    if q.confidence != "none":
        space["alpha"] = [0.3, 1.0, 3.0]
        start["alpha"] = own.alpha
    return space, start


def default_space(model, train):
    """The documented search space of ``model`` on the training matrix ``train``."""
    return _space_and_start(model, train)[0]


def _same(a, b):
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
        return bool(np.isclose(a, b, rtol=1e-9, atol=0.0))
    return a is b or (type(a) is type(b) and a == b)


def _numeric(values):
    return all(isinstance(x, (int, float, np.integer, np.floating))
               and not isinstance(x, (bool, np.bool_)) for x in values)


def _beyond(values, edge):
    """One value beyond the ``edge`` ('smallest' or 'largest') of a numeric grid, or None:
    the grid's step there on a linear grid (equal differences), else its ratio there
    (a log-spaced grid: 1/3, 1, 3 -> 9); integers stay integers. A grid is never extended
    across zero."""
    x = sorted(set(values))
    a, b = (x[1], x[0]) if edge == "smallest" else (x[-2], x[-1])
    steps = np.diff(x)
    if np.allclose(steps, steps[0], rtol=1e-6) or a * b <= 0:
        new = b + (b - a)
    else:
        new = b * (b / a)
    if all(isinstance(y, (int, np.integer)) for y in x):
        new = int(round(new))
    else:
        new = float(new)
    if new * b <= 0 or new == b:
        return None
    return new


@dataclass
class _Candidate:
    values: dict
    extension: bool = False
    curve: dict = field(default_factory=dict)
    best: float = -math.inf
    best_iteration: int = 0
    fitted: int = 0
    stopped: bool = False


class _Search:
    """Fits and scores candidates on one carve; successive halving over rungs."""

    def __init__(self, model, train, valid, metric, steps_name, random_state, patience,
                 eta, show_progress):
        self.cls, self.base = type(model), model.get_params()
        self.train, self.valid, self.metric = train, valid, metric
        self.steps_name, self.random_state = steps_name, random_state
        self.patience, self.eta, self.show_progress = patience, eta, show_progress
        self.candidates, self.table = [], []

    def score(self, model):
        if self.metric == "rmse":
            return -rmse(model, self.valid)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return evaluate(model, self.train, self.valid, metrics=[self.metric])[self.metric]

    def fit(self, c, steps):
        """Fit candidate ``c`` for ``steps`` iterations, scoring those after the ones it
        was scored at before; returns the iterations fitted."""
        cand = self.candidates[c]
        if cand.stopped or cand.fitted >= steps:
            return 0
        params = dict(self.base, **cand.values, random_state=self.random_state)
        params[self.steps_name] = steps
        scored, ran = cand.fitted, [0]

        def after(model, record):
            it = ran[0] = record["iteration"]
            if it <= scored:  # the same seed repeats the iterate an earlier rung scored
                return False
            s = self.score(model)
            cand.curve[it], cand.fitted = s, it
            if s > cand.best:
                cand.best, cand.best_iteration = s, it
            if self.patience and it - cand.best_iteration >= self.patience:
                cand.stopped = True
                return True
            return False

        try:
            self.cls(**params).fit(self.train, callback=after, track_objective=False)
        except (FloatingPointError, ValueError) as exc:
            cand.stopped = True
            warnings.warn(f"tune: candidate {cand.values} failed ({exc}).", RuntimeWarning,
                          stacklevel=3)
        return ran[0]

    def halve(self, indices, rungs, keep=()):
        """Successive halving of the candidates ``indices`` over ``rungs`` (iterations per
        rung; leading rungs that would eliminate nothing are skipped). Candidates in
        ``keep`` go on to every rung. Returns the survivors, best first."""
        needed, n = 1, len(indices)
        while n > 1:
            n, needed = math.ceil(n / self.eta), needed + 1
        rungs = rungs[-needed:]
        alive = list(indices)
        for rung, steps in enumerate(rungs):
            t0 = time.perf_counter()
            for c in alive:
                start = time.perf_counter()
                fitted = self.fit(c, steps)
                cand = self.candidates[c]
                self.table.append({**cand.values, "candidate": c, "rung": rung + 1,
                                   "iterations": steps, "fitted": fitted,
                                   "best_iteration": cand.best_iteration,
                                   "score": self.shown(cand.best), "rank_score": cand.best,
                                   "seconds": time.perf_counter() - start,
                                   "extension": cand.extension})
            alive.sort(key=lambda c: -self.candidates[c].best)
            if self.show_progress:
                best = self.candidates[alive[0]]
                stopped = sum(self.candidates[c].stopped for c in alive)
                print(f"tune: rung {rung + 1}/{len(rungs)}: {_plural(len(alive), 'candidate')}"
                      f" x {steps} {self.steps_name} ({stopped} stopped early) in "
                      f"{time.perf_counter() - t0:.1f} s; best {self.metric} "
                      f"{self.shown(best.best):.4f} at {best.best_iteration} "
                      f"{self.steps_name} with {best.values}", flush=True)
            if rung < len(rungs) - 1:
                cut = alive[:max(1, math.ceil(len(alive) / self.eta))]
                alive = cut + [c for c in alive if c in keep and c not in cut]
        return alive

    def shown(self, score):
        return -score if self.metric == "rmse" else score

    def add(self, values, extension=False):
        self.candidates.append(_Candidate(dict(values), extension))
        return len(self.candidates) - 1


def _rungs(full, eta, min_steps):
    rungs = []
    steps = min_steps or max(1, full // eta ** 2)
    while steps < full:
        rungs.append(steps)
        steps *= eta
    return rungs + [full]


def _edges(space, best):
    """(name, grid, edge) for each numeric axis of more than two values whose best value
    is the smallest or largest of its grid."""
    out = []
    for name, values in space.items():
        if len(set(values)) > 2 and _numeric(values):
            for edge, end in (("smallest", min(values)), ("largest", max(values))):
                if _same(best[name], end):
                    out.append((name, sorted(set(values)), edge))
    return out


def _extend(search, space, best, rungs, extend=True):
    """Warn about best values on the edge of their grids and search one step beyond each:
    the best candidate with any of those axes moved one step out (the others kept at
    their best). Returns the overall best candidate and the warnings."""
    edges = _edges(space, search.candidates[best].values)
    if not extend:
        return best, [f"tune: the best {name} is the {edge} value of its grid "
                      f"{[_fmt(x) for x in grid]}; a wider grid may score better."
                      for name, grid, edge in edges]
    moves = {name: _beyond(grid, edge) for name, grid, edge in edges}
    options = [[search.candidates[best].values[n]] + ([moves[n]] if moves.get(n) is not None
                                                        else []) for n in space]
    added = [search.add(dict(zip(space, values)), extension=True)
             for values in itertools.product(*options)
             if any(not _same(x, search.candidates[best].values[n])
                    for n, x in zip(space, values))]
    if added:
        survivors = search.halve(added, rungs)
        if search.candidates[survivors[0]].best > search.candidates[best].best:
            best = survivors[0]
    notes = []
    for name, grid, edge in edges:
        chosen, new = search.candidates[best].values[name], moves[name]
        text = (f"tune: the best {name} is the {edge} value of its grid "
                f"{[_fmt(x) for x in grid]}")
        if new is None:
            text += "; it cannot be extended (that would cross zero); widen the space."
        elif _same(chosen, new):
            text += (f"; one step further, {name}={_fmt(new)}, scored better and is chosen, "
                     f"at the edge again: widen the space.")
        else:
            text += (f"; one step further, {name}={_fmt(new)}, did not score better, so "
                     f"{name}={_fmt(chosen)} is kept.")
        space[name] = sorted(set(grid) | ({new} if new is not None else set()))
        notes.append(text)
    return best, notes


def tune(model, data, *, metric="ndcg@20", space=None, validation=0.1, eta=3,
         min_steps=None, random_state=0, refit=True, show_progress=False, patience=3,
         extend=True):
    """Search ``model``'s parameters on a validation carve of ``data``.

    Parameters
    ----------
    model : fastmf.WALS or fastmf.SGD
        The starting point: its parameters, except the searched ones, are kept (its
        ``iterations`` / ``epochs`` are the full budget of one candidate). When its own
        setting is one of the candidates (as it is in the default space), that candidate
        goes on to every rung, so the choice never scores below it on the carve.
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
        Refit the best setting, with its best number of iterations, on all of ``data``.
    show_progress : bool
        Print one line per rung.
    patience : int or None, default 3
        Each fit is scored after every iteration; it stops once its score has not improved
        for ``patience`` iterations (its best iteration is kept and it runs no further
        rung). None fits every candidate to the end of its rung.
    extend : bool, default True
        When the best value of a numeric axis of more than two values lies on the edge of
        its grid, a warning says which parameter and which edge; with ``extend`` the grid
        is extended once in that direction (by its ratio there on a log-spaced grid, by its
        step on a linear one) and the best candidate with that value is searched too (with
        every combination of the values added, when several axes are on an edge), over the
        last rungs only (as many as successive halving needs for those few candidates).

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
    if patience is not None:
        patience = v.check_int("tune", "patience", patience, low=1)
    inter = data if isinstance(data, Interactions) else Interactions.from_matrix(data)
    fit_part, valid_part = random_holdout(inter, validation, random_state=random_state,
                                          warn=False)
    train, valid = fit_part.matrix, valid_part.matrix
    steps_name = _steps_name(model)
    full = model.get_params()[steps_name]
    if isinstance(model, RankingModel) and full == "auto":
        full = ranking_epochs(RANKING_AUTO[model._loss]["pairs"], train.shape, train.nnz)
    full = v.check_int("tune", steps_name, full, low=1)
    if space is None:
        space, start = _space_and_start(model, train)
    else:
        space = {name: list(values) for name, values in dict(space).items()}
        start = {name: model.get_params().get(name) for name in space}
    candidates = [dict(zip(space, values)) for values in itertools.product(*space.values())]
    if not candidates:
        raise ValueError("The search space is empty.")
    search = _Search(model, train, valid, metric, steps_name, random_state, patience, eta,
                     show_progress)
    indices = [search.add(c) for c in candidates]
    keep = [c for c in indices
            if all(_same(search.candidates[c].values[n], start[n]) for n in space)][:1]
    rungs = _rungs(full, eta, min_steps)
    best = search.halve(indices, rungs, keep)[0]
    best, notes = _extend(search, space, best, rungs, extend)
    for text in notes:
        warnings.warn(text, UserWarning, stacklevel=2)
    chosen = search.candidates[best]
    best_params = dict(model.get_params(), **chosen.values)
    best_params[steps_name] = chosen.best_iteration or full
    result = TuneResult(best_params=best_params, best_score=search.shown(chosen.best),
                        metric=metric, table=search.table, space=space, edges=notes,
                        curves={c: {it: search.shown(s) for it, s in cand.curve.items()}
                                for c, cand in enumerate(search.candidates)})
    if refit:
        result.model = type(model)(**best_params).fit(inter)
    return result
