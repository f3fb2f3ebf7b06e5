"""Long-running agreement tests (``python -m pytest -m slow``)."""

import numpy as np
import pytest

from fastmf import SGD, WALS
from fastmf.datasets import make_synthetic

pytestmark = pytest.mark.slow


def test_sgd_with_gravity_approaches_the_wals_objective():
    """Both solvers minimize one objective: a long SGD run with a decaying step ends close
    to WALS's minimum (SGD with gravity converges slowly on implicit data: the Gram term is
    applied once per epoch, so a constant step stalls well above the minimum)."""
    A = make_synthetic(1500, 400, 20000, random_state=2)
    params = dict(w0=0.3, alpha=1.0, confidence="log", reg=0.1, reg_exponent=0.0,
                  dtype=np.float64, random_state=0)
    wals = WALS(16, solver="cholesky", iterations=50, **params).fit(A)
    sgd = SGD(16, lr=0.003, lr_schedule="inverse", lr_decay=0.02, epochs=300,
              num_threads=1, **params).fit(A)
    a, b = wals.history_[-1]["objective"], sgd.history_[-1]["objective"]
    assert a <= b <= 1.15 * a, (a, b)


def test_cg_and_cholesky_agree_on_a_larger_power_law_matrix():
    A = make_synthetic(20000, 4000, 400000, random_state=5)
    kw = dict(iterations=15, random_state=0, reg_exponent=0.0, reg=0.05)
    chol = WALS(32, solver="cholesky", **kw).fit(A)
    cg = WALS(32, solver="cg", **kw).fit(A)
    a, b = chol.history_[-1]["objective"], cg.history_[-1]["objective"]
    assert abs(a - b) <= 0.01 * a
