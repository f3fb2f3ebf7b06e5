"""fastmf.tune: scoring every iteration, early stopping, the tuned iteration count, grid
edges, the never-worse-than-the-start guarantee, and what it prints and documents."""

import itertools
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastmf
from fastmf import WALS
from fastmf.evaluation._tune import TuneResult, _beyond, _space_and_start, default_space
from fastmf.datasets import make_synthetic
from fastmf.metrics import evaluate
from fastmf.split import random_holdout

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def overfits():
    """Small and noisy: with many factors and a tiny penalty, the validation NDCG peaks
    after a few iterations and then falls."""
    return make_synthetic(300, 150, 3000, topics=4, topic_affinity=0.5, random_state=3)


def _carve(data, seed=0):
    fit_part, valid_part = random_holdout(fastmf.Interactions.from_matrix(data), 0.1,
                                          random_state=seed, warn=False)
    return fit_part.matrix, valid_part.matrix


def _valid_score(params, data, metric="ndcg@10"):
    train, valid = _carve(data)
    model = WALS(**dict(params, random_state=0)).fit(train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return evaluate(model, train, valid, metrics=[metric])[metric]


OVERFIT = dict(factors=32, iterations=10, reg=1e-4, w0=0.2, alpha=1.0)


def test_every_iteration_is_scored_and_the_refit_runs_the_best_count(overfits):
    model = WALS(**OVERFIT, random_state=0)
    result = fastmf.tune(model, overfits, metric="ndcg@10", space={"reg": [1e-4]},
                         patience=None)
    curve = result.curves[0]
    assert sorted(curve) == list(range(1, 11))
    best = max(curve, key=curve.get)
    assert best < 10 and curve[best] > curve[10]       # the data overfit: the peak is early
    assert result.best_params["iterations"] == best
    assert result.best_score == curve[best]
    assert result.model.iterations == best
    # a score inside the fit is the score of a fit that stops there
    for it in (2, best):
        assert _valid_score(dict(OVERFIT, iterations=it), overfits) == pytest.approx(
            curve[it], rel=1e-6)


def test_patience_stops_a_fit_that_no_longer_improves(overfits):
    model = WALS(**OVERFIT, random_state=0)
    result = fastmf.tune(model, overfits, metric="ndcg@10", space={"reg": [1e-4]},
                         patience=2, refit=False)
    (row,) = result.table
    assert row["fitted"] == row["best_iteration"] + 2 < row["iterations"]
    assert max(result.curves[0]) == row["fitted"]


def test_a_stopped_candidate_is_not_refit_in_later_rungs(overfits):
    model = WALS(**OVERFIT, random_state=0)
    space = {"reg": [1e-4, 2e-4, 3e-4]}
    result = fastmf.tune(model, overfits, metric="ndcg@10", space=space, eta=2,
                         min_steps=5, patience=1, refit=False, extend=False)
    rows = {(r["candidate"], r["rung"]): r for r in result.table}
    stopped = [c for (c, rung), r in rows.items() if rung == 1 and r["fitted"] < 5]
    assert stopped
    for c in stopped:
        if (c, 2) in rows:
            assert rows[c, 2]["fitted"] == 0 and rows[c, 2]["seconds"] < 0.05


def test_the_refit_scores_at_least_the_defaults_on_the_validation_carve():
    # binary data (98 candidates); on this set a search that dropped the defaults in its
    # first rung and refit its winner at the full iterations chose a setting below them
    data = make_synthetic(300, 120, 3000, random_state=0)
    data.data[:] = 1
    model = WALS(16, iterations=6, random_state=0)
    result = fastmf.tune(model, data, metric="ndcg@10", refit=False)
    defaults = _valid_score(model.get_params(), data)
    chosen = _valid_score(result.best_params, data)
    assert chosen == pytest.approx(result.best_score, rel=1e-6)
    assert chosen >= defaults


def test_the_starting_point_goes_on_to_every_rung():
    data = make_synthetic(300, 150, 4000, random_state=1)
    space = {"w0": [0.01, 0.03, 0.1, 0.3, 1.0, 30.0]}
    model = WALS(8, iterations=4, w0=30.0, random_state=0)
    result = fastmf.tune(model, data, metric="ndcg@10", space=space, min_steps=1,
                         refit=False, extend=False)
    rungs = {r["rung"] for r in result.table}
    start = {r["rung"] for r in result.table if r["w0"] == 30.0}
    assert len(rungs) > 1 and start == rungs


@pytest.mark.parametrize("grid, edge, expected", [
    ([1 / 3, 1.0, 3.0], "largest", 9.0),
    ([1 / 3, 1.0, 3.0], "smallest", 1 / 9),
    ([32, 64, 128], "largest", 256),
    ([32, 64, 128], "smallest", 16),
    ([0.1, 0.2, 0.3], "largest", 0.4),
    ([2, 4, 6], "smallest", None),       # linear, the next step is 0
    ([0.0, 0.5, 1.0], "smallest", None),  # never across zero
])
def test_a_grid_extends_by_its_own_step(grid, edge, expected):
    got = _beyond(grid, edge)
    assert got == (expected if expected is None else pytest.approx(expected))
    assert type(got) is type(expected) or expected is None


def test_a_best_value_on_the_edge_warns_and_the_grid_extends_once():
    data = make_synthetic(300, 150, 4000, topics=8, random_state=1)
    model = WALS(8, iterations=4, random_state=0)
    # heavy penalties: the smallest is best, and one step smaller (by the grid's ratio
    # there, 1 / 0.3) is better still
    space = {"reg": [0.3, 1.0, 3.0], "popularity_exponent": [0.0, 0.5]}
    with pytest.warns(UserWarning, match=r"best reg is the smallest value .*reg=0\.09"):
        result = fastmf.tune(model, data, metric="ndcg@10", space=space, refit=False)
    added = [r for r in result.table if r["extension"]]
    assert added and all(r["reg"] == pytest.approx(0.09) for r in added)
    assert len({r["candidate"] for r in added}) == 1   # popularity_exponent has two values
    assert result.space["reg"] == pytest.approx([0.09, 0.3, 1.0, 3.0])
    assert result.best_params["reg"] == pytest.approx(0.09)
    assert "edge again" in result.edges[0]
    # without extend: the warning only
    with pytest.warns(UserWarning, match="best reg is the smallest"):
        plain = fastmf.tune(model, data, metric="ndcg@10", space=space, refit=False,
                            extend=False)
    assert not any(r["extension"] for r in plain.table) and plain.best_params["reg"] == 0.3


def test_no_edge_warning_inside_the_grid_or_on_a_two_value_axis():
    data = make_synthetic(300, 150, 4000, random_state=1)
    model = WALS(8, iterations=3, random_state=0)
    space = {"reg": [0.003, 0.03, 0.3, 3.0, 300.0], "popularity_exponent": [0.0, 0.5]}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        result = fastmf.tune(model, data, metric="ndcg@10", space=space, refit=False)
    assert result.best_params["reg"] not in (0.003, 300.0) and not result.edges


def test_summary_columns_are_separated_and_progress_counts_one_candidate(capsys):
    row = {"w0": 0.1513, "popularity_exponent": 0.5, "candidate": 0, "rung": 1,
           "iterations": 15, "fitted": 12, "best_iteration": 9, "score": 0.2344,
           "rank_score": 0.2344, "seconds": 1.0, "extension": False}
    text = TuneResult(best_params={}, best_score=0.2344, metric="ndcg@20",
                      table=[row]).summary()
    head, _, line = text.splitlines()
    assert head.split() == ["w0", "popularity_exponent", "iterations", "ndcg@20", "fitted"]
    assert line.split() == ["0.1513", "0.5", "9", "0.2344", "12"]
    data = make_synthetic(100, 50, 800, random_state=0)
    fastmf.tune(WALS(4, iterations=2, random_state=0), data, space={"reg": [0.1]},
                refit=False, show_progress=True, metric="ndcg@5")
    out = capsys.readouterr().out
    assert "1 candidate x" in out and "1 candidates" not in out


def _count(space):
    return math.prod(len(values) for values in space.values())


def test_the_documented_candidate_counts_are_the_code_s():
    counts = make_synthetic(200, 100, 2000, random_state=0)
    binary = counts.copy()
    binary.data[:] = 1
    ratings = make_synthetic(200, 100, 2000, kind="explicit", random_state=0)
    expected = [_count(default_space(WALS(8), counts)),
                _count(default_space(WALS(8), binary)),
                _count(default_space(WALS(8, kind="ratings"), ratings))]
    assert expected == [294, 98, 21]
    guide = (ROOT / "docs" / "guide" / "tuning.rst").read_text()
    code = (ROOT / "fastmf" / "evaluation" / "_tune.py").read_text()
    for text in (guide, code):
        found = [int(x) for x in re.findall(r"(\d+) candidates", " ".join(text.split()))]
        assert found[:2] == [expected[0], expected[2]], found
        assert re.search(rf"\({expected[1]} on binary data", " ".join(text.split()))


def test_the_default_space_holds_the_model_s_own_setting():
    # the candidate carried to every rung is the defaults, fitted exactly as they are
    data = make_synthetic(300, 150, 4000, random_state=1)
    train, _ = _carve(data)
    model = WALS(8, iterations=3, random_state=0)
    space, start = _space_and_start(model, train)
    assert start in [dict(zip(space, c)) for c in itertools.product(*space.values())]
    own = WALS(**dict(model.get_params(), **start)).fit(train)
    defaults = WALS(8, iterations=3, random_state=0).fit(train)
    np.testing.assert_allclose(own.user_factors, defaults.user_factors, rtol=1e-5, atol=1e-6)
