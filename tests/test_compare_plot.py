"""The picture of fastmf.compare: which objective curves are off the scale (named in a note,
not drawn), the legends of the objective panels, and the log scale of the gap to the best."""

import math
import sys

import numpy as np
import pytest

from fastmf.evaluation._compare_plot import FLOOR, SQUEEZE, off_scale
from fastmf.evaluation._comparison import Comparison
from fastmf.__main__ import build_parser, main

BEST = 1000.0


def _decay(start, end, n=10):
    return list(end + (start - end) * np.exp(-np.arange(n) / 2.0))


WALS = _decay(1130, 1001, 9) + [BEST]  # ends at the best objective of the study


def test_a_curve_above_the_others_whole_range_is_off_the_scale():
    curves = {"wals": _decay(1130, BEST), "sgd": _decay(1120, 1002, 30),
              "observed-only": _decay(3.2e5, 6.2e4), "svd": [1070.0]}
    assert off_scale(curves) == ["observed-only"]


def test_off_scale_methods_come_in_rising_order_and_ranking_losses_are_ignored():
    curves = {"far": [9e5, 8e5], "farther": [5e6], "wals": _decay(1130, BEST),
              "ranking": [None, None], "broken": [math.nan, float("inf")]}
    assert off_scale(curves) == ["far", "farther"]


def test_a_curve_that_comes_down_into_range_is_drawn_however_high_it_starts():
    curves = {"wals": _decay(1130, BEST), "slow": [5e4, 1e4, 1050.0]}
    assert off_scale(curves) == []
    # and once drawn, the scale holds its start: a flat line below that start stays too
    curves["flat"] = [2e4] * 5
    assert off_scale(curves) == []


@pytest.mark.parametrize("level", [0.99, 1.01])
def test_the_boundary_is_squeeze_minus_one_heights_above_the_best(level):
    height = 1000.0  # wals runs from 2000 down to 1000 (more than the floor)
    curves = {"wals": [2000.0, BEST], "other": [BEST + level * (SQUEEZE - 1) * height] * 3}
    assert off_scale(curves) == ([] if level < 1 else ["other"])


def test_flat_and_single_point_curves_near_the_best_leave_room_above_it():
    # no curve has a height: the scale is FLOOR * best high
    edge = BEST * (1 + (SQUEEZE - 1) * FLOOR)
    assert off_scale({"svd": [BEST], "flat": [0.99 * edge] * 4}) == []
    assert off_scale({"svd": [BEST], "flat": [1.01 * edge] * 4}) == ["flat"]
    assert off_scale({}) == [] and off_scale({"only": [BEST]}) == []


def _comparison():
    curves = []

    def add(method, objectives, quality):
        for step, (obj, q) in enumerate(zip(objectives, quality), 1):
            curves.append({"method": method, "step": step, "time": 0.1 * step,
                           "objective": obj, "recall@10": q, "ndcg@10": q})
    add("wals-cg", WALS, np.linspace(0.05, 0.15, 10))
    add("sgd", _decay(1120, 1002, 30), np.linspace(0.05, 0.14, 30))
    add("sgd-bpr", [None] * 20, np.linspace(0.05, 0.13, 20))
    add("observed-only", _decay(3.2e5, 6.2e4), np.linspace(0.01, 0.0, 10))
    add("svd", [1070.0], [0.15])
    return Comparison(kind="implicit", objective={"w0": 1.0}, k=10, data="synthetic curves",
                      curves=curves)


def _labels(ax):
    return [line.get_label() for line in ax.get_lines()]


@pytest.fixture
def agg():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    yield plt
    plt.close("all")


def test_figure_names_off_scale_methods_in_a_note_and_gives_both_objective_panels_a_legend(agg):
    fig = _comparison().plot()
    by_time, by_epoch, quality = fig.axes
    drawn = ["wals-cg", "sgd", "svd"]
    for ax in (by_time, by_epoch):
        assert _labels(ax) == drawn
        assert ax.get_yscale() == "linear"
        legend = ax.get_legend()
        assert legend is not None and [t.get_text() for t in legend.get_texts()] == drawn
        # the drawn curves fill the panel: nothing far above squeezes them
        low, high = ax.get_ylim()
        assert high < 1200 and low > 900
    assert _labels(quality) == ["wals-cg", "sgd", "sgd-bpr", "observed-only", "svd"]
    assert quality.get_legend() is not None
    note = " ".join(t.get_text() for t in fig.texts)
    far = _decay(3.2e5, 6.2e4)
    assert f"not drawn: observed-only ({min(far) / BEST:.3g}x to 320x the best)" in note
    assert "Not on the objective panels: sgd-bpr" in note


def test_log_gap_draws_every_minimizing_method_on_a_log_axis(agg, tmp_path):
    result = _comparison()
    fig = result.plot(log_gap=True)
    by_time, by_epoch, _ = fig.axes
    for ax in (by_time, by_epoch):
        assert ax.get_yscale() == "log"
        assert _labels(ax) == ["wals-cg", "sgd", "observed-only", "svd"]
        assert ax.get_legend() is not None
        gaps = ax.get_lines()[0].get_ydata()
        assert np.isnan(gaps[-1])  # the best point itself has no gap
        assert np.allclose(gaps[:-1], (np.array(WALS[:-1]) - BEST) / BEST)
    note = " ".join(t.get_text() for t in fig.texts)
    assert "Gap to the best objective, 1000 (wals-cg, step 10)" in note
    assert "Off the scale" not in note
    result.plot(tmp_path / "log.png", log_gap=True)
    assert (tmp_path / "log.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_note_gives_one_ratio_for_a_single_point(agg):
    result = _comparison()
    for rec in result.curves:
        if rec["method"] == "svd":
            rec["objective"] = 6.4 * BEST
    fig = result.plot()
    note = " ".join(t.get_text() for t in fig.texts)
    assert "not drawn: svd (6.4x the best), observed-only (" in note  # rising order


def test_command_line_log_gap(monkeypatch, tmp_path):
    assert build_parser().parse_args(["compare"]).log_gap is False
    seen = {}

    def plot(self, path=None, *, log_gap=False):
        seen["log_gap"] = log_gap

    monkeypatch.setattr(sys.modules["fastmf.evaluation._compare"], "compare", lambda *a, **k: _comparison())
    monkeypatch.setattr(Comparison, "plot", plot)
    assert main(["compare", "--log-gap", "--quiet", "--out", str(tmp_path)]) == 0
    assert seen == {"log_gap": True}
