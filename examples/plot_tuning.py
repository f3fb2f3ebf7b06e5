"""
Tuning with a validation split
==============================

A small grid search: hold out a validation split of the training data with
:mod:`fastmf.split`, score each setting with :func:`fastmf.evaluate`, refit the best on the
whole training part and report it once on the test part.
"""

# %%
import itertools

import fastmf
from fastmf import split
from fastmf.datasets import make_synthetic

A = make_synthetic(3_000, 800, 40_000, random_state=2)
train, test = split.per_user(A, test_size=0.2, random_state=0, warn=False)
fit_part, valid = split.per_user(train, test_size=0.2, random_state=1, warn=False)

# %%
# The grid: the embedding dimension and the penalty matter most; ``w0`` (the weight of the
# unobserved pairs) comes next for implicit feedback.
grid = {"factors": [16, 32], "reg": [0.001, 0.01], "w0": [0.5, 1.0]}
results = []
for values in itertools.product(*grid.values()):
    params = dict(zip(grid, values))
    model = fastmf.WALS(iterations=8, random_state=0, **params).fit(fit_part)
    score = fastmf.evaluate(model, fit_part, valid, k=10, metrics=["ndcg"])["ndcg@10"]
    results.append((score, params))
    print(f"{params}  validation NDCG@10 {score:.4f}")

# %%
# Refit the best setting on all of the training part; the test part is used once.
best_score, best = max(results, key=lambda r: r[0])
final = fastmf.WALS(iterations=8, random_state=0, **best).fit(train)
print("best", best)
for name, value in fastmf.evaluate(final, train, test, k=10).items():
    print(f"  {name:14s} {value:.4f}")
