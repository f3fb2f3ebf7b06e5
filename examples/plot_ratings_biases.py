"""
Explicit ratings with biases
============================

Observed-only matrix factorization of 1-5 ratings, with a global mean and user and item
biases, fitted by Hogwild SGD and by WALS on the same objective.
"""

# %%
import numpy as np

import fastmf
from fastmf import split
from fastmf.datasets import make_synthetic

R = make_synthetic(3_000, 800, 60_000, kind="explicit", random_state=0)
train, test = split.random_holdout(R, test_size=0.2, random_state=0)
print(f"{train.nnz} training and {test.nnz} test ratings")

# %%
# The ratings objective: unobserved pairs carry no information (``w0 = 0``), the target is
# the rating itself (``target='value'``), every rating weighs 1 (``confidence='none'``).
ratings = dict(w0=0.0, target="value", confidence="none", biases=True, reg=0.05)
sgd = fastmf.SGD(32, lr=0.01, epochs=25, random_state=0, **ratings).fit(train)
als = fastmf.WALS(32, solver="cholesky", iterations=10, random_state=0, **ratings).fit(train)

for name, model in (("SGD", sgd), ("WALS", als)):
    print(f"{name:5s} objective {model.loss(train):12.1f}   "
          f"test RMSE {fastmf.metrics.rmse(model, test):.4f}")

# %%
# Predictions include the global mean and the biases.
print("global mean", round(als.global_mean, 3))
print("predicted ratings", als.predict([0, 1, 2], [5, 7, 9]).round(2))

# %%
# A baseline: the global mean and biases alone (``factors`` are still fitted, but their
# contribution is what the RMSE gap shows).
coo = test.tocoo()
baseline = (als.global_mean + als.user_biases[coo.row] + als.item_biases[coo.col])
print("biases only: test RMSE", round(float(np.sqrt(np.mean((baseline - coo.data) ** 2))), 4))
