"""The one table of the methods the comparison and the command line know: the estimators by
their command-line name (:data:`MODELS`) and the methods of :func:`fastmf.compare`
(:data:`METHODS`), each with how it is built, whether it is for implicit feedback only and
which kernel dominates its compile time."""

from dataclasses import dataclass, field
from typing import Callable

from .. import solvers
from .._kernels.sgd import _sgd_epoch_hogwild
from ..models._defaults import preset_values
from ..models._ranking import BPR, WARP, LogisticMF
from ..models._sgd import SGD
from ..models._svd import SVD
from ..models._wals import WALS
from ..solvers._sgd_ranking import LOSSES


@dataclass(frozen=True)
class Model:
    """An estimator of the command line (``fastmf fit --model NAME``).

    Attributes
    ----------
    cls : type
        The estimator class.
    steps : str or None
        The parameter that ``--iterations`` / ``--epochs`` set ('iterations', 'epochs'),
        None when it fits in one step.
    implicit_only : bool
        Whether it fits implicit feedback only (no preset for ratings).
    ratings : dict
        What the command line adds for ratings to the preset (:meth:`params_for`).
    """

    cls: type
    steps: str | None
    implicit_only: bool = False
    ratings: dict = field(default_factory=dict)

    def params_for(self, kind):
        """The parameters that fit ``kind`` of data ('implicit': none, the defaults;
        'ratings': ``kind='ratings'``, or the ratings preset's values of its parameters
        for a model without ``kind``, with :attr:`ratings`)."""
        if kind == "implicit":
            return {}
        names = self.cls._get_param_names()
        params = {"kind": kind} if "kind" in names else preset_values(kind, names)
        return {**params, **self.ratings}


#: the estimators by command-line name
MODELS = {
    "wals": Model(WALS, "iterations", ratings={"solver": "cholesky"}),
    "sgd": Model(SGD, "epochs"),
    "svd": Model(SVD, None),
    **{loss: Model(cls, "epochs", implicit_only=True)
       for loss, cls in (("bpr", BPR), ("logistic", LogisticMF), ("warp", WARP))},
}


@dataclass(frozen=True)
class Method:
    """A method of :func:`fastmf.compare`.

    Attributes
    ----------
    build : callable
        ``build(factors, steps, objective, sgd, common)``: the unfitted estimator with
        ``steps`` iterations or epochs, the comparison's objective parameters
        ``objective``, its SGD step settings ``sgd`` and the parameters every method gets
        (``common``: threads, seed, dtype).
    steps : {'iterations', 'epochs', None}
        Which of compare's counts it runs for.
    objective : {'tracked', 'recomputed', None}
        Where its value of the comparison's objective comes from: the fit's history, the
        objective recomputed from its factors (a method that minimizes another one), or
        none (the ranking losses, which have no value of it).
    implicit_only : bool
        Whether it applies to implicit feedback only.
    default : bool
        Whether compare runs it when no methods are named.
    kernel : numba dispatcher or None
        The kernel that dominates its compile time, which a helper process may compile
        (:mod:`fastmf.evaluation._compile_helper`); None for the methods compiled here.
    warm_up : bool
        Whether compare compiles its kernels on a few rows before timing it.
    """

    build: Callable
    steps: str | None
    objective: str | None = "tracked"
    implicit_only: bool = False
    default: bool = True
    kernel: object = None
    warm_up: bool = True
    description: str = field(default="", compare=False)


def _wals(solver):
    def build(factors, steps, objective, sgd, common):
        return WALS(factors, solver=solver, iterations=steps, **objective, **common)
    return build


def _observed_only(factors, steps, objective, sgd, common):
    # the same weights without the unobserved term: its optimum predicts 1 for every
    # entry, the useless all-ones matrix
    return WALS(factors, solver="cholesky", iterations=steps, **dict(objective, w0=0.0),
                **common)


def _sgd(factors, steps, objective, sgd, common):
    return SGD(factors, epochs=steps, unobserved="gravity", **sgd, **objective, **common)


# Ranking losses: the comparison's positive weights; step, penalty, sampling (and
# negatives) are each estimator's own 'auto' values, set for its loss. The comparison's
# penalty was made for the squared loss: with it (reg 0.005, popularity negatives, lr
# 0.05), BPR scored NDCG@10 0.110 after 30 epochs on the embedded data set, against 0.119
# at its own values (logistic 0.094 against 0.123).
_RANKING_WEIGHTS = ("alpha", "confidence")


def _ranking(cls):
    def build(factors, steps, objective, sgd, common):
        weights = {key: objective[key] for key in _RANKING_WEIGHTS}
        return cls(factors, epochs=steps, **weights, **common)
    return build


def _svd(factors, steps, objective, sgd, common):
    return SVD(factors, **objective, **common)


#: the methods of :func:`fastmf.compare` by name (a row solver registered in
#: :mod:`fastmf.solvers` adds 'wals-<name>', see :func:`method`)
METHODS = {
    "wals-cg": Method(_wals("cg"), "iterations",
                      description="WALS, conjugate-gradient row solves"),
    "wals-cholesky": Method(_wals("cholesky"), "iterations",
                            description="WALS, Cholesky row solves"),
    "sgd": Method(_sgd, "epochs", kernel=_sgd_epoch_hogwild,
                  description="Hogwild SGD on the objective"),
    **{f"sgd-{loss}": Method(_ranking(cls), "epochs", objective=None, implicit_only=True,
                             default=loss != "warp", kernel=LOSSES[loss].kernel,
                             description=f"{cls.__name__}, a ranking loss")
       for loss, cls in (("logistic", LogisticMF), ("bpr", BPR), ("warp", WARP))},
    "observed-only": Method(_observed_only, "iterations", objective="recomputed",
                            implicit_only=True,
                            description="WALS without the unobserved term"),
    "svd": Method(_svd, None, warm_up=False, description="truncated SVD"),
}


def method(name):
    """The :class:`Method` called ``name``: one of :data:`METHODS`, or 'wals-<solver>' for
    a row solver registered in :mod:`fastmf.solvers`. KeyError for any other name."""
    if name in METHODS:
        return METHODS[name]
    solver = name.partition("-")[2]
    if name.startswith("wals-") and solver in solvers.available():
        return Method(_wals(solver), "iterations")
    raise KeyError(name)


def known_methods():
    """Every method name :func:`method` accepts now."""
    wals = tuple(f"wals-{s}" for s in solvers.available() if f"wals-{s}" not in METHODS)
    return tuple(METHODS) + wals


def default_methods():
    """The methods compare runs when none are named, in the table's order."""
    return tuple(name for name, m in METHODS.items() if m.default)
