"""Replay a stream of interactions: partial_fit after each batch against a full refit and
against no update.

MovieLens 100K (ratings >= 4, as implicit feedback), ordered by timestamp: a WALS model
(the defaults, 64 factors, 15 iterations) is fitted on the first 50%, and the rest arrives
in 10 equal batches. After each batch, each strategy's model recommends 20 unseen items to
the users of the next batch that it already knows, and is scored by NDCG@20 against the
items those users take in that next batch. Strategies:

(a) ``partial_fit`` with the batch (the touched rows re-solved exactly, one sweep);
(b) a full refit on everything so far: cold (a new fit, its 'auto' values resolved again,
    15 iterations), and warm (``fit(warm_start=True)`` from the previous model, 3
    iterations);
(c) no update;
and for SGD (the defaults, 64 factors) on the same stream: ``SGD.partial_fit`` (epochs
over the batch and as many sampled old entries) against a cold SGD refit.

The same is run on a synthetic stream (``fastmf.datasets.make_synthetic``, 1M entries in
random order, fitted on the first 50%) with batches of 0.1% of the data (1,000 entries).
Times are the seconds of each update; the figures are the mean over batches and the ratio
of (a) to (b).

    FASTMF_DATA=../shared/datasets python benchmarks/replay.py
    python benchmarks/replay.py --skip-movielens      # synthetic only
"""

import argparse
import os
import time

import numpy as np
import pandas as pd
from _common import OUT_DIR, JsonRecord, machine, machine_info

import fastmf


def ndcg_known(model, history, nxt, k=20):
    """Mean NDCG@k over the users of ``nxt`` the model knows, relevant items: their items
    in ``nxt`` (those the model knows), seen items (``history``) filtered."""
    known_u = set(model.user_ids_.tolist())
    known_i = set(model.item_ids_.tolist())
    nxt = nxt[nxt.user.isin(known_u) & nxt.item.isin(known_i)]
    nxt = nxt.merge(history[["user", "item"]], how="left", on=["user", "item"],
                    indicator=True)
    nxt = nxt[nxt["_merge"] == "left_only"]
    users = np.array(sorted(set(nxt.user)))
    if users.size == 0:
        return float("nan")
    ids, _ = model.recommend(users, k=k)
    relevant = nxt.groupby("user")["item"].apply(set)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    scores = []
    for u, top in zip(users, ids):
        rel = relevant[u]
        dcg = sum(discounts[r] for r, item in enumerate(top) if item in rel)
        idcg = discounts[:min(len(rel), k)].sum()
        scores.append(dcg / idcg)
    return float(np.mean(scores))


WARM_ITERATIONS = 3


def strategies(params, sgd_params):
    """name -> (start(base), update(model, batch, seen) -> model)."""
    wals, sgd = (lambda: fastmf.WALS(**params)), (lambda: fastmf.SGD(**sgd_params))
    warm = dict(params, iterations=WARM_ITERATIONS)
    return {
        "partial_fit": (wals, lambda m, batch, seen: m.partial_fit(batch)),
        "refit": (wals, lambda m, batch, seen: fastmf.WALS(**params).fit(seen)),
        "warm refit": (wals, lambda m, batch, seen: m.set_params(**warm).fit(
            seen, warm_start=True)),
        "no update": (wals, lambda m, batch, seen: m),
        "SGD partial_fit": (sgd, lambda m, batch, seen: m.partial_fit(batch)),
        "SGD refit": (sgd, lambda m, batch, seen: fastmf.SGD(**sgd_params).fit(seen)),
    }


def replay(name, frame, half, batches, params, sgd_params, updates=10):
    """Fit on the first ``half`` rows of ``frame``, then for each of the first ``updates``
    batches (index arrays into ``frame``): update by each strategy, time it, and score on
    the next batch."""
    base = frame.iloc[:half]
    plan = strategies(params, sgd_params)
    models = {key: start().fit(base) for key, (start, _) in plan.items()}
    rows = []
    seen = base
    for b in range(updates):
        batch = frame.iloc[batches[b]]
        seen = pd.concat([seen, batch])
        row = {"batch": b + 1}
        for key, (_, update) in plan.items():
            t0 = time.perf_counter()
            models[key] = update(models[key], batch, seen)
            row[key + " seconds"] = time.perf_counter() - t0
        if b + 1 < len(batches):
            nxt = frame.iloc[batches[b + 1]]
            for key, model in models.items():
                row[key] = ndcg_known(model, seen if key != "no update" else base, nxt)
        rows.append(row)
        print(f"  batch {b + 1:2d}: " + ", ".join(
            f"{k} {row[k + ' seconds']:.3f} s" + (f" {row[k]:.4f}" if k in row else "")
            for k in plan))
    table = pd.DataFrame(rows)
    scored = table.dropna()
    summary = {}
    for key in plan:
        summary[key] = {"ndcg": float(scored[key].mean()),
                        "seconds": float(table[key + " seconds"].mean())}
    for fast, full in (("partial_fit", "refit"), ("partial_fit", "warm refit"),
                       ("SGD partial_fit", "SGD refit"), ("SGD partial_fit", "partial_fit")):
        q = float((scored[fast] / scored[full]).mean())
        t = summary[fast]["seconds"] / summary[full]["seconds"]
        summary[f"{fast} / {full}"] = {"quality": q, "time": t}
    print(f"{name}: mean NDCG@20 and seconds per update: " + ", ".join(
        f"{k} {summary[k]['ndcg']:.4f} ({summary[k]['seconds']:.3f} s)" for k in plan))
    for key, r in summary.items():
        if " / " in key:
            print(f"  {key}: quality {r['quality']:.3f}x, time {r['time']:.4f}x")
    return {"rows": rows, "summary": summary}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-movielens", action="store_true")
    parser.add_argument("--out", default=str(OUT_DIR / "replay.json"))
    args = parser.parse_args()
    print(machine())
    record = JsonRecord(args.out, machine=machine_info())
    params = dict(factors=64, iterations=15, random_state=0)
    sgd_params = dict(factors=64, random_state=0)
    out = {}
    if not args.skip_movielens:
        data = fastmf.datasets.load("movielens-100k", data_home=os.environ.get("FASTMF_DATA"),
                                    download=False)
        frame = pd.DataFrame({"user": data.user_ids[data.users],
                              "item": data.item_ids[data.items], "value": data.values,
                              "time": data.timestamps})
        frame = frame[frame.value >= 4].sort_values("time", kind="stable")
        frame = frame.assign(value=1.0)[["user", "item", "value"]]
        print(f"\nMovieLens 100K, ratings >= 4: {len(frame):,} entries by time")
        frame = frame.reset_index(drop=True)
        half = len(frame) // 2
        out["movielens-100k"] = replay("MovieLens 100K", frame, half, np.array_split(
            np.arange(half, len(frame)), 10), params, sgd_params)
    A = fastmf.datasets.make_synthetic(50_000, 10_000, 1_000_000, random_state=0).tocoo()
    order = np.random.default_rng(0).permutation(A.nnz)
    synthetic = pd.DataFrame({"user": A.row[order], "item": A.col[order],
                              "value": A.data[order].astype(float)})
    n_batch = len(synthetic) // 1000  # one batch: 0.1% of the data
    half = len(synthetic) // 2
    # fitted on the first half, then 10 batches of 0.1% each (and one more to score)
    print(f"\nsynthetic: {len(synthetic):,} entries, batches of {n_batch:,}")
    batches = [np.arange(half + b * n_batch, half + (b + 1) * n_batch) for b in range(11)]
    out["synthetic"] = replay("synthetic", synthetic, half, batches, params, sgd_params)
    record.set(results=out)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
