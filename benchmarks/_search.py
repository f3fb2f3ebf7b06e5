"""Grid search for the tuned comparisons: a grid extended until the chosen setting is
interior on every axis, and a one-line account of where the setting sits."""

import itertools


def _is_numeric_axis(values):
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _step_beyond(values, side, lower_bound):
    """One value beyond an end of a sorted numeric axis, by the ratio of its last two values
    (or x2); below a positive axis's low end only down to ``lower_bound`` (the bound itself
    when the step would pass it), else None."""
    if side > 0:
        hi, prev = values[-1], values[-2]
        v = hi * (hi / prev) if prev > 0 else hi + (hi - prev)
    else:
        lo, nxt = values[0], values[1]
        v = lo / (nxt / lo) if lo > 0 else lo - (nxt - lo)
        if lower_bound is not None and v < lower_bound:
            # the bound itself, when the axis has not reached it yet
            v = lower_bound if lo > lower_bound else None
            if v is None:
                return None
    if all(isinstance(x, int) for x in values):
        v = round(v)
        return None if v in values else v
    return v


def _midpoints(key, names, axes, lines):
    """The settings halfway (geometric mean for positive values) between the best and each
    of its neighbours along each numeric axis, the other axes held at the best's."""
    out = []
    for i, n in enumerate(names):
        if n not in lines:
            continue
        pos = lines[n].index(key[i])
        for other in lines[n][max(pos - 1, 0):pos] + lines[n][pos + 1:pos + 2]:
            a, b = key[i], other
            v = (a * b) ** 0.5 if a > 0 and b > 0 else (a + b) / 2
            if all(isinstance(x, int) for x in axes[n]):
                v = round(v)
            if v not in axes[n]:
                axes[n] = sorted(set(axes[n]) | {v})
                out.append(key[:i] + (v,) + key[i + 1:])
    return out


def search_interior(score, grid, max_points=400, lower_bounds=None, refine=0,
                    lines_only=(), tried=None):
    """Maximize ``score(params)`` over a grid, extended until the best setting is interior.

    Scores the full product of ``grid`` (axis name -> values), then, while the best
    setting lacks a scored neighbour on one side of a numeric axis (its values along that
    axis, the other axes held at the best's, all on one side of it), scores that
    neighbour: the next value of the axis, or one step beyond its end (the ratio of its
    last two values). An axis whose low end has reached its ``lower_bounds`` entry (a
    value below it is invalid, e.g. a count or an exponent that must be >= 0) is reported,
    not extended. Non-numeric axes (tuples, strings) are searched over their values only.
    Axes in ``lines_only`` (for costly fits) are first held at their first value while the
    other axes are searched as above, refinement included; their other values are then
    scored one axis at a time at the best setting so far, and the search goes on over all
    axes. ``tried`` (params tuple -> score) holds the settings scored so far.
    Once the best is interior, each of ``refine`` rounds scores the midpoints between the
    best and its neighbours on every axis (halving the step there) and searches on until
    the best is interior again.

    Returns (best params, best score, the scored values of each axis along the best's
    lines, the names of the axes on which the best is not interior).
    """
    names = list(grid)
    lower_bounds = lower_bounds or {}
    tried = {} if tried is None else tried
    if lines_only:
        # the other axes first, the line axes at their first values, to the end (refined)
        search_interior(score, {n: v[:1] if n in lines_only else v for n, v in grid.items()},
                        max_points, lower_bounds, refine, tried=tried)
        for i, n in enumerate(names):
            if n in lines_only:
                key = max(tried, key=tried.get)
                for v in grid[n][1:]:
                    t = key[:i] + (v,) + key[i + 1:]
                    if t not in tried:
                        tried[t] = score(dict(zip(names, t)))
    else:
        for values in itertools.product(*grid.values()):
            if values not in tried:
                tried[values] = score(dict(zip(names, values)))
    axes = {n: sorted(set(v) | {k[i] for k in tried}) if _is_numeric_axis(v) else list(v)
            for i, (n, v) in enumerate(grid.items())}
    while True:
        key = max(tried, key=tried.get)
        lines, edges, todo = {}, [], []
        for i, n in enumerate(names):
            if not _is_numeric_axis(axes[n]):
                continue
            line = sorted({k[i] for k in tried
                           if all(k[j] == key[j] for j in range(len(names)) if j != i)})
            lines[n] = line
            if len(axes[n]) < 2:
                continue
            for side, at_end in ((-1, line[0] == key[i]), (1, line[-1] == key[i])):
                if not at_end:
                    continue
                vals = axes[n]
                pos = vals.index(key[i]) + side
                v = vals[pos] if 0 <= pos < len(vals) else _step_beyond(
                    vals, side, lower_bounds.get(n))
                if v is None:
                    edges.append(n)
                    continue
                axes[n] = sorted(set(vals) | {v})
                todo.append(key[:i] + (v,) + key[i + 1:])
        todo = [t for t in todo if t not in tried]
        if not todo and refine > 0:
            refine -= 1
            todo = _midpoints(key, names, axes, lines)
        if not todo or len(tried) >= max_points:
            if todo:
                edges += [n for n in lines if key[names.index(n)] in (lines[n][0],
                                                                       lines[n][-1])]
            return dict(zip(names, key)), tried[key], lines, sorted(set(edges))
        for t in todo:
            tried[t] = score(dict(zip(names, t)))


def describe_position(best, lines, edges):
    """'reg 5 [10] 20; w0 0.25 [0.5] 1' -- each numeric axis's scored values along the
    best setting's line, the chosen one in brackets; then where the best is not interior."""
    parts = []
    for n, line in lines.items():
        cells = [f"[{v:.3g}]" if v == best[n] else f"{v:.3g}" for v in line]
        parts.append(f"{n} {' '.join(cells)}")
    text = "; ".join(parts)
    single = [n for n, line in lines.items() if len(line) == 1]
    if edges:
        return text + f"; ON AN EDGE: {', '.join(edges)}"
    if single:
        return text + f"; interior on every axis but {', '.join(single)} (one value)"
    return text + "; interior on every axis"
