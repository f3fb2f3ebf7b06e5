"""The objective a WALS fit records comes out of its last half-sweep; it must be the exact
objective of the factors it reports, at every iteration, and tracking must not change them."""

import numpy as np
import pytest

import fastmf
from fastmf import WALS

from conftest import random_csr

CASES = [
    dict(),                                                   # the implicit defaults
    dict(kind="ratings"),                                     # biases, observed only
    dict(popularity_exponent=0.5),                            # per-item w0 (eALS)
    dict(w0=0.5, confidence="linear", alpha=2.0, reg=0.1, reg_exponent=0.0),
    dict(w0=0.2, confidence="log", target="value", reg=0.0),  # no penalty at all
]


def _counts():
    A = random_csr(150, 90, 0.1, 11)
    A.data = np.ceil(A.data * 4).astype(np.float64)
    return A


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("params", CASES, ids=lambda p: ",".join(p) or "defaults")
def test_recorded_objective_is_the_objective_of_each_iterate(solver, dtype, params):
    A = _counts()
    if params.get("kind") == "ratings":
        A.data = np.minimum(A.data, 5.0)
    exact = []
    model = WALS(8, iterations=4, solver=solver, dtype=dtype, random_state=0, **params)
    model.fit(A, callback=lambda m, record: exact.append(m.objective(A)) and False)
    recorded = [h["objective"] for h in model.history_]
    rel = 1e-11 if dtype == np.float64 else 1e-5
    assert recorded == pytest.approx(exact, rel=rel)
    assert len(set(recorded)) == len(recorded)   # a real value per iteration


def test_row_weights_and_per_item_weights_together():
    A = _counts()
    rw = np.random.default_rng(0).random(A.shape[0]) + 0.5
    cw = np.random.default_rng(1).random(A.shape[1]) + 0.5
    w0 = np.random.default_rng(2).random(A.shape[1])
    model = WALS(6, iterations=3, w0=w0, row_weights=rw, col_weights=cw, dtype=np.float64,
                 random_state=0).fit(A)
    assert model.history_[-1]["objective"] == pytest.approx(model.objective(A), rel=1e-11)


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_tracking_does_not_change_the_factors(solver):
    A = _counts()
    kw = dict(iterations=4, solver=solver, dtype=np.float32, random_state=0)
    tracked = WALS(8, **kw).fit(A)
    untracked = WALS(8, **kw).fit(A, track_objective=False)
    np.testing.assert_array_equal(tracked.user_factors, untracked.user_factors)
    np.testing.assert_array_equal(tracked.item_factors, untracked.item_factors)
    assert "objective" not in untracked.history_[0]


def test_a_callback_that_changes_the_factors_is_seen_by_the_next_iteration():
    # The user half-sweep keeps U^T U for the next item half-sweep; a callback that edits
    # the user factors in place must not leave that stale.
    A = _counts()

    def shrink(model, record):
        model.user_factors *= 0.5
        return False

    kw = dict(iterations=3, dtype=np.float64, random_state=0)
    tracked = WALS(8, **kw).fit(A, callback=shrink)
    untracked = WALS(8, **kw).fit(A, callback=shrink, track_objective=False)
    np.testing.assert_allclose(tracked.item_factors, untracked.item_factors, rtol=1e-12,
                               atol=1e-14)


def test_the_objective_is_not_recomputed_after_the_sweep(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the objective was computed by a separate pass")

    monkeypatch.setattr(fastmf.models._objective, "objective_value", fail)
    model = WALS(8, iterations=2, random_state=0).fit(_counts())
    assert all(np.isfinite(h["objective"]) for h in model.history_)
