"""fastmf.compare: every method on one objective, curves and outputs."""

import itertools
import json

import numpy as np
import pytest

import fastmf
from fastmf import split
from fastmf.compare import compare
from fastmf.datasets import make_synthetic


@pytest.fixture(scope="module")
def small():
    return make_synthetic(600, 300, 9000, random_state=1)


@pytest.fixture(scope="module")
def result(small):
    return compare(small, factors=8, iterations=6, epochs=6, k=5, eval_users=100,
                   random_state=0)


def test_every_method_is_scored_on_the_same_objective(small, result):
    train, _ = split.random_holdout(small, 0.2, random_state=0, warn=False)
    final = result.final()
    assert set(final) == {"wals-cg", "wals-cholesky", "sgd", "sgd-logistic", "sgd-bpr",
                          "observed-only", "svd"}
    for method, model in result.models.items():
        if method in ("sgd-logistic", "sgd-bpr"):
            # ranking losses minimize their own sampled loss: no shared objective
            assert final[method]["objective"] is None
            assert all("sampled_loss" in r for r in model.history_)
            continue
        want = fastmf.objective(train, model.user_factors, model.item_factors,
                                **result.objective)
        assert final[method]["objective"] == pytest.approx(want, rel=1e-5), method
    # WALS minimizes this objective; SVD minimizes another one; observed-only MF, which
    # ignores the unobserved entries, is far worse on it and on held-out ranking
    assert final["wals-cholesky"]["objective"] < final["svd"]["objective"]
    assert final["observed-only"]["objective"] > 3 * final["wals-cholesky"]["objective"]
    assert (result.final_quality["observed-only"]["ndcg@5"]
            < result.final_quality["wals-cholesky"]["ndcg@5"])


def test_curves_are_per_step_with_time_and_quality(result):
    for method, steps in (("wals-cg", 6), ("wals-cholesky", 6), ("sgd", 6), ("svd", 1)):
        recs = [r for r in result.curves if r["method"] == method]
        assert [r["step"] for r in recs] == list(range(1, steps + 1))
        times = [r["time"] for r in recs]
        assert all(b >= a for a, b in itertools.pairwise(times))
        assert all(0 <= r["recall@5"] <= 1 and 0 <= r["ndcg@5"] <= 1 for r in recs)
    chol = [r["objective"] for r in result.curves if r["method"] == "wals-cholesky"]
    assert all(b <= a * (1 + 1e-6) for a, b in itertools.pairwise(chol))
    table = result.table()
    assert "wals-cholesky" in table and "ndcg@5" in table


def test_outputs(result, tmp_path):
    result.to_csv(tmp_path / "c.csv")
    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines[0] == "method,step,time,objective,recall@5,ndcg@5"
    assert len(lines) == 1 + len(result.curves)
    result.to_json(tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text())["kind"] == "implicit"
    pytest.importorskip("matplotlib")
    result.plot(tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_ratings_are_scored_by_rmse():
    A = make_synthetic(400, 200, 6000, kind="explicit", random_state=2)
    r = compare(A, kind="ratings", methods=["wals-cholesky", "sgd"], factors=4,
                iterations=4, epochs=4, random_state=0)
    assert r.objective["w0"] == 0.0 and r.quality_keys == ["rmse"]
    assert all(np.isfinite(rec["rmse"]) for rec in r.curves)


@pytest.mark.parametrize("kwargs, error", [
    ({"methods": ["als"]}, ValueError),
    ({"factors": 0}, ValueError),
    ({"kind": "counts"}, ValueError),
    ({"bogus": 1}, TypeError),
    ({"factors": 300}, ValueError),
])
def test_bad_arguments(small, kwargs, error):
    with pytest.raises(error):
        compare(small, **kwargs)
