"""The picture of :func:`fastmf.compare`: the objective against time and against epoch, and
held-out quality against time; and the rule that decides which objective curves are off
the scale."""

import math
import textwrap

# A method is off the scale when drawing it would squeeze the curves already on the scale
# into the bottom 1/SQUEEZE of the panel.
SQUEEZE = 3.0
# The height of the scale is at least this fraction of the best objective, so that methods
# that all end near the best (flat curves, single points) still leave room for one at
# 1.5 times the best.
FLOOR = 0.25


def off_scale(curves, squeeze=SQUEEZE, floor=FLOOR):
    """The methods whose objective curves lie far above the others', in rising order.

    The methods are placed in the order of the lowest objective each reaches. The scale
    runs from the best objective (the lowest any method reaches) up to the highest value of
    the methods placed so far, and is at least ``floor * |best|`` high. A method whose
    lowest value lies more than ``(squeeze - 1)`` heights of the scale above the best is
    off the scale: showing it would squeeze the curves already placed into the bottom
    ``1 / squeeze`` of the panel. So is every method after it (their lowest values are
    higher still). A method that comes down into range is placed, and the scale grows to
    hold all of its curve.

    Parameters
    ----------
    curves : dict
        Method -> sequence of objective values (None and non-finite values are ignored).

    Returns
    -------
    list of str
    """
    finite = {m: [x for x in vals if x is not None and math.isfinite(x)]
              for m, vals in curves.items()}
    order = sorted((m for m in finite if finite[m]), key=lambda m: min(finite[m]))
    if not order:
        return []
    best, top = min(finite[order[0]]), max(finite[order[0]])
    for i, method in enumerate(order[1:], 1):
        height = max(top - best, floor * abs(best))
        if height > 0 and min(finite[method]) - best > (squeeze - 1) * height:
            return order[i:]
        top = max(top, max(finite[method]))
    return []


def _ratios(values, best):
    """'6.41x', or '62.1x to 318x': the range of a curve as multiples of the best."""
    values = [x for x in values if x is not None and math.isfinite(x)]
    low, high = f"{min(values) / best:.3g}x", f"{max(values) / best:.3g}x"
    return low if low == high else f"{low} to {high}"


def draw(result, log_gap=False):
    """The figure of a :class:`~fastmf.evaluation._comparison.Comparison` (see its ``plot``)."""
    import matplotlib.pyplot as plt

    qkey = result.quality_keys[-1]
    methods = list(dict.fromkeys(r["method"] for r in result.curves))
    recs = {m: [r for r in result.curves if r["method"] == m] for m in methods}
    objectives = {m: [r["objective"] for r in recs[m]] for m in methods
                  if any(r["objective"] is not None for r in recs[m])}
    values = [x for vals in objectives.values() for x in vals
              if x is not None and math.isfinite(x)]
    best = min(values) if values else math.nan
    off = [] if log_gap else off_scale(objectives)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for method in methods:
        t = [r["time"] for r in recs[method]]
        steps = [r["step"] for r in recs[method]]
        q = [r.get(qkey, math.nan) for r in recs[method]]
        style = ({"marker": "o", "markersize": 3} if len(t) > 1
                 else {"marker": "*", "markersize": 12})
        color = axes[2].plot(t, q, label=method, **style)[0].get_color()
        if method not in objectives or method in off:
            continue
        y = [math.nan if x is None else x for x in objectives[method]]
        if log_gap:  # the best point itself has no gap: it is left out of the log axis
            scale = abs(best) or 1.0
            y = [(x - best) / scale if x - best > 0 else math.nan for x in y]
        for ax, x in ((axes[0], t), (axes[1], steps)):
            ax.plot(x, y, label=method, color=color, **style)

    ylabel = "(objective − best) / best" if log_gap else "objective"
    what = "gap to the best objective" if log_gap else "objective"
    axes[0].set(xlabel="training time (s)", ylabel=ylabel, title=f"{what} vs time")
    axes[1].set(xlabel="epoch / iteration", ylabel=ylabel, title=f"{what} vs epoch")
    axes[2].set(xlabel="training time (s)", ylabel=f"held-out {qkey}",
                title=f"held-out {qkey} vs time")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8, loc="upper right" if ax is not axes[2] else "best")
    if log_gap:
        for ax in axes[:2]:
            ax.set_yscale("log")

    notes = []
    if off:
        notes.append("Off the scale of the objective panels, not drawn: "
                     + ", ".join(f"{m} ({_ratios(objectives[m], best)} the best)" for m in off)
                     + ".")
    if log_gap and values:
        at = min(((m, r["step"]) for m in objectives for r in recs[m]
                  if r["objective"] == best), key=lambda x: x[1])
        notes.append(f"Gap to the best objective, {best:.6g} ({at[0]}, step {at[1]}); that "
                     f"point has no gap and is left out of the log axis.")
    ranking = [m for m in methods if m not in objectives]
    if ranking:
        notes.append(f"Not on the objective panels: {', '.join(ranking)} (a loss of their "
                     f"own, not this objective).")
    note = "\n".join(textwrap.fill(n, 190) for n in notes)
    if note:
        fig.text(0.01, 0.01, note, fontsize=8, ha="left", va="bottom")
    fig.suptitle(result.data, fontsize=9)
    lines = note.count("\n") + 1 if note else 0
    fig.tight_layout(rect=(0, 0.035 * lines, 1, 1))
    return fig
