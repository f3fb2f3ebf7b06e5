"""
Tuning with fastmf.tune
=======================

:func:`fastmf.tune` searches a model's parameters by successive halving on a validation
carve of the training data: every candidate is fitted for a few iterations, the best third
goes on for three times as many, and so on up to the model's full ``iterations``; the best
setting is then refit on all of the training data. The test split is never seen by the
search and is used once, at the end.
"""

# %%
import fastmf
from fastmf import split
from fastmf.datasets import make_synthetic

A = make_synthetic(3_000, 800, 40_000, random_state=2)
train, test = split.per_user(A, test_size=0.2, random_state=0, warn=False)

# %%
# The starting point is a model: its parameters are kept except the searched ones, and its
# ``iterations`` (9 here) are the full budget of one candidate, so the rungs run 1, 3 and 9
# iterations. Without ``space``, ``tune`` searches ``reg``, ``w0`` and ``alpha`` around their
# data-aware ('auto') values (75 candidates for implicit counts); a small space of our own
# keeps this example short: the embedding dimension and the penalty, 6 candidates.
model = fastmf.WALS(iterations=9, random_state=0)
space = {"factors": [16, 32], "reg": [0.01, 0.03, 0.1]}
result = fastmf.tune(model, train, metric="ndcg@10", space=space, validation=0.1,
                     random_state=0)
print(result.summary())
print("best", {k: result.best_params[k] for k in space},
      f"validation NDCG@10 {result.best_score:.4f}")

# %%
# ``result.table`` has one row per candidate and rung (its parameters, ``iterations``,
# ``score`` and ``seconds``), and ``result.model`` is the best setting refit on all of
# ``train``. Score it once on the test part.
for row in result.table[:3]:
    print(row)
for name, value in fastmf.evaluate(result.model, train, test, k=10).items():
    print(f"  {name:14s} {value:.4f}")

# %%
# The same search from the command line (on a data-set name or a CSV/Parquet file):
# ``fastmf tune plays.csv --metric ndcg@20 -o model.npz`` (``--kind ratings`` for ratings,
# scored by RMSE).
