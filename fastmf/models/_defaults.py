"""Data-aware defaults: what ``'auto'`` parameters become at ``fit``, from the data alone.

Presets: ``kind='implicit'`` (the default) is weighted MF of implicit feedback (binary
targets, confidence weights, unobserved entries with target 0); ``kind='ratings'`` is
observed-only MF of explicit ratings (``w0 = 0``, the value as target, no confidence,
biases). Explicit parameters always win over a preset and over ``'auto'``. The presets
are one table, ``PRESETS``, which :func:`resolve_from`, the command line and
:func:`fastmf.tune`'s default space read. The ranking estimators (:class:`fastmf.BPR`,
:class:`fastmf.LogisticMF`, :class:`fastmf.WARP`) have a table of their own per loss,
``RANKING_AUTO`` (:func:`resolve_ranking`).

The rules (m users, n items, nnz stored values a, density rho = nnz / (m n)):

implicit
    * ``confidence``: 'none' when every stored value is the same (binary data), else 'log'
      with ``alpha = 1`` and ``epsilon = median(a)``: kappa = 1 + log(1 + a / median(a)).
      Linear confidence on raw counts gives a few entries extreme weights.
    * ``w0 = mean(kappa) * rho / RATIO``: the observed entries carry RATIO = 0.3 times the
      total weight of the unobserved ones, whatever the density. A fixed ``w0 = 1`` lets
      the unobserved term swamp sparse catalogues (CiteULike-a: 17k items) and vanish in
      dense ones.
    * ``reg = REG * mean(kappa)`` with the frequency-scaled penalty (``reg_exponent = 1``):
      as ``w0 n`` is then ``mean(kappa) * (mean row length) / RATIO``, the penalty is
      relative to each row's weight and one REG = 0.03 suits catalogues of any size.
    * SGD: ``lr_schedule = 'adagrad'``, ``lr = 0.05`` (a constant step that suits one data
      scale diverges on another).
    * ``popularity_exponent = 0.5`` (POPULARITY) when ``w0`` is 'auto' too; 0 with a ``w0``
      given as a number (it stays uniform unless the exponent is given as well) and for
      ratings. Chosen on validation carves (10% of each training part, NDCG@20 of the
      defaults over the best validation score found by tune or by the grid below): at RATIO 0.3, REG 0.03, beta 0 / 0.25 / 0.5 gave
      ML-100K 0.928 / 0.941 / 0.944, CiteULike-a 0.905 / 0.947 / 0.986, small-dense
      0.976 / 0.999 / 0.978, counts 0.952 / 0.971 / 0.961, wide-sparse 0.808 / 0.834 /
      0.829 (worst set: wide-sparse in every case). 0.5 is also He et al.'s choice. Of the
      27 settings RATIO {0.1, 0.2, 0.3} x REG {0.01, 0.02, 0.03} x beta {0, 0.25, 0.5},
      (0.2, 0.02, 0.5) had the best worst case over the other four sets (0.958 against
      0.944) but not on wide-sparse (0.808), so RATIO and REG were kept.

popularity (He et al. 2016, "eALS"), with ``popularity_exponent = beta > 0``
    * the unobserved weight of item j becomes ``w0 * n * f_j^beta / sum_k f_k^beta`` (f the
      items' counts of stored entries): the same total, shifted towards popular items, which
      a user more likely saw and passed over; popular items are more often true negatives,
      and the uniform weight lets the model rank them up merely for being frequent.
      ``w0`` may also be given as a vector.

ratings
    * ``w0 = 0``, ``target = 'value'``, ``confidence = 'none'``, ``biases = True``;
      ``reg = 0.08 * std(a)``; SGD: constant ``lr = 0.01 / std(a)``.

Evidence (benchmarks/DEFAULTS.md, ``benchmarks/defaults_vs_tuned.py``: test NDCG@20 with
these defaults over ``fastmf.tune``'s choice, 64 factors, 15 iterations): MovieLens 100K
positives 0.93, CiteULike-a 1.00, synthetic small-dense 0.99, counts 0.97, wide-sparse at
most 0.84; above implicit's defaults on each. The ratings preset is within 0.2% of the tuned
RMSE on MovieLens 100K. The constants were chosen on validation splits only (maximizing
the worst data set's ratio to its best).
"""

from types import SimpleNamespace

import numpy as np

from ..core._weighting import confidence, popularity_weights
from ..solvers import choose

AUTO = "auto"
KINDS = ("implicit", "ratings")

RATIO = 0.3
REG = 0.03
RATINGS_REG = 0.08
RATINGS_LR = 0.01
IMPLICIT_LR = 0.05
POPULARITY = 0.5


def _is_auto(value):
    return isinstance(value, str) and value == AUTO


#: the presets of ``kind``: per parameter, the value an 'auto' takes, or a rule of the data
#: (the module docstring gives them): for ``w0`` and ``confidence`` None is the data-aware
#: rule; ``reg`` and ``lr`` are multiplied by the named ``*_scale`` statistic ('confidence':
#: the mean confidence weight, 'spread': the standard deviation of the stored values,
#: None: 1). ``lr_schedule`` and ``lr`` follow the ratings preset whenever the targets are
#: the values (see :func:`preset_of`).
PRESETS = {
    "implicit": {"target": "binary", "w0": None, "popularity_exponent": POPULARITY,
                 "confidence": None, "biases": False, "reg": REG,
                 "reg_scale": "confidence", "lr_schedule": "adagrad", "lr": IMPLICIT_LR,
                 "lr_scale": None},
    "ratings": {"target": "value", "w0": 0.0, "popularity_exponent": 0.0,
                "confidence": "none", "biases": True, "reg": RATINGS_REG,
                "reg_scale": "spread", "lr_schedule": "constant", "lr": RATINGS_LR,
                "lr_scale": "spread"},
}
# The presets' entries that are not parameters.
_RULES = ("reg_scale", "lr_scale")


def preset_values(kind, names):
    """The plain values of the preset ``kind`` (no data-aware rule) of the parameters in
    ``names``: what a model without a ``kind`` parameter is given to fit that kind of
    data (the ratings preset of :class:`fastmf.SVD`: target, w0, confidence)."""
    return {k: val for k, val in PRESETS[kind].items()
            if k in names and k not in _RULES and val is not None
            and not (k in ("reg", "lr") and PRESETS[kind][k + "_scale"] is not None)}


def preset_of(q):
    """The preset whose step-size and search-space rules apply to the resolved parameters
    ``q`` of a model with a ``kind``: 'ratings' when the targets are the values (the
    ratings preset, or ``target='value'``), else 'implicit'."""
    return "ratings" if q.kind == "ratings" or q.target == "value" else "implicit"


def nonnegative_needed(p, kind):
    """Whether the stored values must be >= 0 (confidence weighting) under ``p`` and the
    preset ``kind``."""
    if _is_auto(p.confidence):
        return PRESETS[kind]["confidence"] != "none"
    return p.confidence != "none"


def resolve(p, csr, kind):
    """A copy of the validated parameters ``p`` with every ``'auto'`` replaced by its
    data-aware value under the preset ``kind`` for the CSR matrix ``csr`` (the training
    data)."""
    return resolve_from(p, LocalStats(csr), kind)


def resolve_from(p, stats, kind):
    """:func:`resolve` from summaries of the training data (``stats``: a
    :class:`LocalStats`, or the reductions over row blocks of :mod:`fastmf.distributed`),
    so that one set of rules serves data wherever it lives."""
    q = SimpleNamespace(**vars(p))
    preset = PRESETS[kind]
    m, n = stats.shape
    nnz = stats.nnz

    def fill(name, value):
        _fill(q, name, value)

    fill("target", preset["target"])
    # popularity weighting belongs to the data-aware unobserved weight: a w0 given as a
    # number stays uniform unless popularity_exponent is given too
    fill("popularity_exponent", preset["popularity_exponent"] if _is_auto(q.w0) else 0.0)
    fill("w0", preset["w0"])                # None: set below, from the weights
    if preset["confidence"] is not None:         # None: the data-aware rule, below
        fill("confidence", preset["confidence"])
    _fill_confidence(q, stats)
    kappa_mean = stats.mean_confidence(q)
    if q.w0 is None:
        density = nnz / (m * n) if m and n else 0.0
        q.w0 = float(kappa_mean * density / RATIO)
    fill("biases", lambda: preset["biases"] and q.w0 == 0)
    spread = stats.std() if nnz > 1 else 0.0
    spread = spread if spread > 0 else 1.0
    scales = {"confidence": lambda: kappa_mean, "spread": lambda: spread, None: lambda: 1.0}
    fill("reg", lambda: preset["reg"] * scales[preset["reg_scale"]]())
    # SGD's step: values as targets (the ratings preset, or target='value') take a
    # constant step scaled to their spread; implicit feedback takes AdaGrad
    steps = PRESETS["ratings" if kind == "ratings" or q.target == "value" else "implicit"]
    fill("lr_schedule", steps["lr_schedule"])
    fill("lr", lambda: steps["lr"] / scales[steps["lr_scale"]]())
    fill("solver", lambda: choose(q.factors, stats))
    beta = getattr(q, "popularity_exponent", 0.0)  # SVD has none
    if isinstance(q.w0, np.ndarray):
        if q.w0.shape[0] != n:
            raise ValueError(f"The 'w0' parameter holds {q.w0.shape[0]} per-item weights, but "
                             f"the matrix has {n} items.")
    elif beta and q.w0 > 0:
        # eALS: unobserved weight in proportion to popularity ** beta, same total
        q.w0 = popularity_weights(q.w0, stats.col_nnz(), beta)
    return q


def _fill(q, name, value):
    """Set ``q.name`` to ``value`` (called when a callable) if it is 'auto'."""
    if _is_auto(getattr(q, name, None)):
        setattr(q, name, value() if callable(value) else value)


def _fill_confidence(q, stats):
    """The implicit preset's positive weights: confidence 'none' on binary data (every
    stored value the same), else 'log' with ``alpha = 1`` and ``epsilon = median(a)``."""
    _fill(q, "confidence", lambda: "none" if stats.nnz == 0 or stats.all_equal() else "log")
    _fill(q, "alpha", 1.0)
    _fill(q, "epsilon", stats.median_scale)


#: the 'auto' values of the ranking estimators (:class:`fastmf.BPR`,
#: :class:`fastmf.LogisticMF`, :class:`fastmf.WARP`) by loss; ``pairs`` sets the epochs
#: (see :func:`ranking_epochs`). The evidence is in :func:`resolve_ranking`'s docstring.
RANKING_AUTO = {
    "bpr": {"lr": 0.1, "lr_schedule": "adagrad", "reg": 0.01, "reg_exponent": 1.0,
            "sampling": "uniform", "pairs": 0.75},
    "logistic": {"lr": 0.1, "lr_schedule": "adagrad", "reg": 0.03, "reg_exponent": 1.0,
                 "sampling": "uniform", "negatives": 5, "pairs": 0.75},
    "warp": {"lr": 0.05, "lr_schedule": "adagrad", "reg": 1.0, "reg_exponent": 1.0,
             "sampling": "uniform", "pairs": 0.125},
}
#: the range of the ranking estimators' 'auto' epochs
RANKING_EPOCHS = (20, 500)


def ranking_epochs(pairs, shape, nnz):
    """The 'auto' epochs of a ranking estimator: ``pairs * m * n / nnz`` (= pairs / density),
    rounded and clipped to ``RANKING_EPOCHS``.

    An epoch visits each stored entry once, so a user meets about ``|Omega_i|`` sampled
    items per epoch, a share ``|Omega_i| / n`` of the catalogue; the epochs it takes to
    rank the whole catalogue grow with ``n / |Omega_i|``, i.e. with 1 / density. ``pairs``
    is then the expected number of steps per (user, item) pair over the fit. The total
    work, ``epochs * nnz = pairs * m * n`` steps, is that of scoring every pair ``pairs``
    times; the upper clip bounds it on very sparse data."""
    m, n = shape
    lo, hi = RANKING_EPOCHS
    if not nnz or not m or not n:
        return lo
    return int(min(hi, max(lo, round(pairs * m * n / nnz))))


def resolve_ranking(p, stats, loss):
    """A copy of the validated parameters ``p`` of a ranking estimator with every 'auto'
    replaced: the constants of ``RANKING_AUTO[loss]`` (lr, lr_schedule, reg, reg_exponent,
    sampling and, for 'logistic', negatives), the epochs of :func:`ranking_epochs`, and
    the positives' weights of the implicit preset (confidence 'none' on binary data, else
    'log' with ``alpha = 1``, ``epsilon = median(a)``). ``stats`` as in
    :func:`resolve_from`.

    The constants were chosen on validation carves only (10% of the training part of a
    20% test split, seed 0, 64 factors; ``benchmarks/losses_quality.py``), as the setting
    whose worst validation NDCG@20 over MovieLens 100K positives (density 0.025) and
    CiteULike-a (0.0016), as a share of the best each loss's own grid search found there,
    was highest. The searched grids (lr, reg, sampling, and negatives for logistic) were
    extended until the best was interior, and the epochs scored along each fit:

    * 'bpr': the best setting on both sets was lr 0.1, reg 0.01, uniform negatives;
      ``pairs = 0.75`` gives ML-100K 30 epochs (0.937 of its best) and CiteULike-a 479
      (0.953; its best needs over 3,000 epochs).
    * 'warp': lr 0.05, reg 1 and uniform negatives were best on both; ``pairs = 0.125``
      gives 20 and 80 epochs (0.967 and 0.985). WARP needs fewer epochs: it keeps drawing
      until a negative violates the margin.
    * 'logistic': the two sets disagree (ML-100K: reg 0.1, 20 uniform negatives;
      CiteULike-a: reg 0.01, 2 negatives by popularity, each 0.85-0.90 on the other set);
      lr 0.1, reg 0.03, 5 uniform negatives scored 0.909 of the best on ML-100K (30 epochs)
      and 0.997 on CiteULike-a (400 epochs).

    Uniform negatives beat popularity-drawn ones for BPR and WARP on both sets (BPR on
    ML-100K: 0.60 of the best with popularity). The test scores of these defaults against
    each loss's tuned setting are in ``benchmarks/RESULTS.md``.
    """
    q = SimpleNamespace(**vars(p))
    rules = dict(RANKING_AUTO[loss])
    pairs = rules.pop("pairs")
    for name, value in rules.items():
        _fill(q, name, value)
    _fill(q, "epochs", lambda: ranking_epochs(pairs, stats.shape, stats.nnz))
    _fill_confidence(q, stats)
    return q


class LocalStats:
    """The summaries :func:`resolve_from` reads, of a CSR matrix in memory (its stored
    values read in float64 blocks, never copied whole)."""

    def __init__(self, csr):
        self.csr = csr
        self.a = csr.data[:csr.nnz]
        self.shape = csr.shape
        self.nnz = csr.nnz

    def all_equal(self):
        a = self.a
        return all(np.all(b == a[0]) for b in _blocks(a))

    def median_scale(self):
        return _median_scale(self.a)

    def mean_confidence(self, q):
        return _mean_confidence(self.a, q)

    def std(self):
        return _std(self.a)

    def col_nnz(self):
        return np.bincount(self.csr.indices[:self.csr.nnz], minlength=self.shape[1])


# The statistics of the stored values are taken over blocks of BLOCK values in float64, so
# that resolving the defaults of a large fit allocates a few MiB, not a float64 copy of the
# data (which would be the largest allocation of a WALS fit); the median, over at most
# MEDIAN_SAMPLE evenly strided values.
BLOCK = 1 << 18
MEDIAN_SAMPLE = 1 << 20


def _blocks(a):
    for start in range(0, a.size, BLOCK):
        yield np.asarray(a[start:start + BLOCK], dtype=np.float64)


def _std(a):
    return float(np.sqrt(deviation_sum(a, value_sum(a) / a.size) / a.size))


def value_sum(a):
    """The sum of the stored values ``a``, in float64 blocks."""
    return sum(float(b.sum()) for b in _blocks(a))


def deviation_sum(a, mean):
    """The sum of the squared deviations of ``a`` from ``mean``, in float64 blocks."""
    return sum(float(np.sum((b - mean) ** 2)) for b in _blocks(a))


def _median_scale(a):
    """epsilon of the log confidence: the median stored value (1 when it is not > 0); for
    more than MEDIAN_SAMPLE values, the median of an evenly strided sample of them."""
    if a.size == 0:
        return 1.0
    step = -(-a.size // MEDIAN_SAMPLE)
    return median_scale_of(np.asarray(a[::step], dtype=np.float64))


def median_scale_of(sample):
    """The median of ``sample`` as the log confidence's scale (1 when it is not > 0)."""
    if sample.size == 0:
        return 1.0
    med = float(np.median(sample))
    return med if med > 0 and np.isfinite(med) else 1.0


def _mean_confidence(a, q):
    if a.size == 0 or q.confidence == "none":
        return 1.0
    return confidence_sum(a, q) / a.size


def confidence_sum(a, q):
    """The sum of the confidence weights of the stored values ``a`` under the resolved
    ``q.confidence``, ``q.alpha`` and ``q.epsilon``."""
    if q.confidence == "none":
        return float(a.size)
    total = 0.0
    for b in _blocks(a):
        total += float(np.sum(confidence(b, q.confidence, q.alpha, q.epsilon)))
    return total
