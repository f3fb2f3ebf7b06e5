"""The result of :func:`fastmf.compare`: curves, the summary table, CSV/JSON and the
picture."""

import csv
import json
import math
from dataclasses import dataclass, field

from .._install import install_hint


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    kind : str
        'implicit' or 'ratings'.
    objective : dict
        The objective's parameters every method was scored with.
    curves : list of dict
        One record per method and step: ``method``, ``step`` (epoch or iteration),
        ``time`` (cumulative training seconds, evaluation excluded), ``objective``, and the
        held-out metrics (``rmse`` for ratings; ``recall@k`` and ``ndcg@k`` otherwise).
    models : dict
        The fitted models by method.
    final_quality : dict
        Held-out quality of each method's final model on every test user (the curves
        use a fixed sample of ``eval_users`` test users).
    compile_seconds : float
        Time spent compiling the kernels (or loading them from Numba's cache) before the
        timed fits.
    data : str
        Description of the data and split.
    interrupted : bool
        True when a Ctrl-C ended the study early: the curves hold what finished (the
        interrupted method's completed steps included), ``final_quality`` and ``models``
        the methods that ran to the end.
    """

    kind: str
    objective: dict
    k: int
    data: str
    curves: list = field(default_factory=list)
    models: dict = field(default_factory=dict)
    compile_seconds: float = 0.0
    final_quality: dict = field(default_factory=dict)
    interrupted: bool = False

    @property
    def quality_keys(self):
        return ["rmse"] if self.kind == "ratings" else [f"recall@{self.k}", f"ndcg@{self.k}"]

    def final(self):
        """Last record of each method."""
        out = {}
        for rec in self.curves:
            out[rec["method"]] = rec
        return out

    def _best(self):
        objs = [r["objective"] for r in self.final().values() if r["objective"] is not None]
        return min(objs) if objs else math.nan

    def table(self):
        """The summary table as text: final objective (and its ratio to the best), steps,
        training time, held-out quality of the final model on every test user, and the time
        each method took to come within 1% of the best final objective. Methods that do not
        minimize the objective (SGD's ranking losses) show '-' there."""
        final = self.final()
        best = self._best()
        qk = self.quality_keys
        head = (f"{'method':<15}{'steps':>6}{'seconds':>10}{'objective':>14}{'/ best':>8}"
                f"{'to 1%':>9}" + "".join(f"{q:>11}" for q in qk))
        lines = [head, "-" * len(head)]
        for method, rec in final.items():
            reach = [r["time"] for r in self.curves if r["method"] == method
                     and r["objective"] is not None and r["objective"] <= 1.01 * best]
            to1 = f"{reach[0]:.2f}" if reach else "-"
            if rec["objective"] is None:
                obj = f"{'-':>14}{'-':>8}"
            else:
                obj = f"{rec['objective']:>14.6g}{rec['objective'] / best:>8.3f}"
            lines.append(f"{method:<15}{rec['step']:>6}{rec['time']:>10.2f}{obj}{to1:>9}"
                         + "".join(f"{self.final_quality.get(method, rec).get(q, math.nan):>11.4f}"
                                   for q in qk))
        return "\n".join(lines)

    def to_csv(self, path):
        """Write the curves, one row per method and step."""
        keys = ["method", "step", "time", "objective"] + self.quality_keys
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
            writer.writeheader()
            for rec in self.curves:
                writer.writerow(rec)

    def to_json(self, path):
        """Write the curves and the settings as JSON."""
        with open(path, "w") as f:
            json.dump({"kind": self.kind, "objective": self.objective, "k": self.k,
                       "data": self.data, "curves": self.curves}, f, indent=1)

    def plot(self, path=None, *, log_gap=False):
        """Objective vs time, objective vs epoch and held-out quality vs time (needs
        matplotlib). Writes a PNG when ``path`` is given; returns the figure.

        Parameters
        ----------
        path : str, optional
        log_gap : bool
            Draw the objective panels as the relative gap to the best objective,
            ``(objective - best) / best``, on a log scale, where ``best`` is the lowest
            objective any method reached (that point itself has no gap and is left out).
            Every method that minimizes the objective is drawn then.

        Notes
        -----
        On the linear scale (the default) a method whose objective curve lies far above
        the others' is named in a note under the panels instead of drawn, so that it does
        not squeeze the other curves (observed-only MF, whose objective is many times the
        best). The rule: the methods are placed in the order of the lowest objective each
        reaches; the scale runs from the best objective up to the highest value of the
        methods placed so far, and is at least a quarter of the best high. A method whose
        lowest value lies more than twice the scale's height above the best would squeeze
        the curves already placed into the bottom third of the panel: it is off the scale,
        and so is every method after it. Methods with a loss of their own (SGD's ranking
        losses) appear only in the quality panel, and the note says so.
        """
        try:
            import matplotlib
            if path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError(f"Plots need matplotlib: {install_hint('plots')}.") from exc
        from ._compare_plot import draw

        fig = draw(self, log_gap=log_gap)
        if path is not None:
            fig.savefig(path, dpi=110)
            plt.close(fig)
        return fig
