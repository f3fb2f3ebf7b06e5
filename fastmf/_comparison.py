"""The result of :func:`fastmf.compare`: curves, the summary table, CSV/JSON and the
picture."""

import csv
import json
import math
from dataclasses import dataclass, field

from ._install import install_hint


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

    def plot(self, path=None):
        """Objective vs time, objective vs epoch and held-out quality vs time (needs
        matplotlib). Writes a PNG when ``path`` is given; returns the figure."""
        try:
            import matplotlib
            if path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError(f"Plots need matplotlib: {install_hint('plots')}.") from exc
        qkey = self.quality_keys[-1]
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        # The objective panels show the minimizing methods near the best objective; a
        # method far above (SVD, observed-only MF) is drawn at the top edge and named with
        # its ratio, so it does not squash the others.
        best = self._best()
        top = 1.5 * best
        for method in dict.fromkeys(r["method"] for r in self.curves):
            recs = [r for r in self.curves if r["method"] == method]
            t = [r["time"] for r in recs]
            steps = [r["step"] for r in recs]
            q = [r.get(qkey, math.nan) for r in recs]
            style = {"marker": "o", "markersize": 3} if len(recs) > 1 else {"marker": "*",
                                                                              "markersize": 12}
            line = axes[2].plot(t, q, label=method, **style)[0]
            obj = [r["objective"] for r in recs]
            if obj[-1] is None:
                continue
            label = method
            if obj[-1] > top:
                label = f"{method} (ends at {obj[-1] / best:.3g}x best, off scale)"
            clipped = [min(o, top) for o in obj]
            axes[0].plot(t, clipped, label=label, color=line.get_color(), **style)
            axes[1].plot(steps, clipped, label=label, color=line.get_color(), **style)
        axes[0].set(xlabel="training time (s)", ylabel="objective", title="objective vs time")
        axes[1].set(xlabel="epoch / iteration", ylabel="objective",
                    title="objective vs epoch")
        axes[2].set(xlabel="training time (s)", ylabel=f"held-out {qkey}",
                    title=f"held-out {qkey} vs time")
        for ax in axes[:2]:
            if math.isfinite(best):
                ax.set_ylim(0.98 * best, top * 1.02)
        for ax in axes:
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        axes[2].legend(fontsize=8)
        fig.suptitle(self.data, fontsize=9)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110)
            plt.close(fig)
        return fig


