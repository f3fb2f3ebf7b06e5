"""Replay a stream of interactions: partial_fit after each batch against a full refit and
against no update.

MovieLens 100K (ratings >= 4, as implicit feedback), ordered by timestamp: a WALS model
(the defaults, 64 factors, 15 iterations) is fitted on the first 50%, and the rest arrives
in 10 equal batches. After each batch, each strategy's model recommends 20 unseen items to
the users of the next batch that it already knows, and is scored by NDCG@20 against the
items those users take in that next batch. Strategies:

(a) ``partial_fit`` with the batch (the touched rows re-solved exactly, one sweep);
(b) a full refit on everything so far (cold: a new fit, its 'auto' values resolved again);
(c) no update.

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


def replay(name, frame, half, batches, params, updates=10):
    """Fit on the first ``half`` rows of ``frame``, then for each of the first ``updates``
    batches (index arrays into ``frame``): update by each strategy, time it, and score on
    the next batch."""
    base = frame.iloc[:half]
    models = {"partial_fit": fastmf.WALS(**params).fit(base),
              "refit": fastmf.WALS(**params).fit(base),
              "no update": fastmf.WALS(**params).fit(base)}
    rows = []
    seen = base
    for b in range(updates):
        batch = frame.iloc[batches[b]]
        seen = pd.concat([seen, batch])
        t0 = time.perf_counter()
        models["partial_fit"].partial_fit(batch)
        t_partial = time.perf_counter() - t0
        t0 = time.perf_counter()
        models["refit"] = fastmf.WALS(**params).fit(seen)
        t_refit = time.perf_counter() - t0
        row = {"batch": b + 1, "partial_seconds": t_partial, "refit_seconds": t_refit}
        if b + 1 < len(batches):
            nxt = frame.iloc[batches[b + 1]]
            for key, model in models.items():
                row[key] = ndcg_known(model, seen if key != "no update" else base, nxt)
        rows.append(row)
        print(f"  batch {b + 1:2d}: partial_fit {t_partial:6.3f} s, refit {t_refit:6.3f} s"
              + "".join(f", {k} {row[k]:.4f}" for k in models if k in row))
    table = pd.DataFrame(rows)
    scored = table.dropna()
    ratio_q = (scored["partial_fit"] / scored["refit"]).mean()
    ratio_t = table["partial_seconds"].mean() / table["refit_seconds"].mean()
    print(f"{name}: NDCG@20 mean partial_fit {scored['partial_fit'].mean():.4f}, refit "
          f"{scored['refit'].mean():.4f}, no update {scored['no update'].mean():.4f}; "
          f"partial_fit/refit quality {ratio_q:.3f}x, time {ratio_t:.4f}x")
    return {"rows": rows, "quality_ratio": ratio_q, "time_ratio": ratio_t}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-movielens", action="store_true")
    parser.add_argument("--out", default=str(OUT_DIR / "replay.json"))
    args = parser.parse_args()
    print(machine())
    record = JsonRecord(args.out, machine=machine_info())
    params = dict(factors=64, iterations=15, random_state=0)
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
            np.arange(half, len(frame)), 10), params)
    A = fastmf.datasets.make_synthetic(50_000, 10_000, 1_000_000, random_state=0).tocoo()
    order = np.random.default_rng(0).permutation(A.nnz)
    synthetic = pd.DataFrame({"user": A.row[order], "item": A.col[order],
                              "value": A.data[order].astype(float)})
    n_batch = len(synthetic) // 1000  # one batch: 0.1% of the data
    half = len(synthetic) // 2
    # fitted on the first half, then 10 batches of 0.1% each (and one more to score)
    print(f"\nsynthetic: {len(synthetic):,} entries, batches of {n_batch:,}")
    batches = [np.arange(half + b * n_batch, half + (b + 1) * n_batch) for b in range(11)]
    out["synthetic"] = replay("synthetic", synthetic, half, batches, params)
    record.set(results=out)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
