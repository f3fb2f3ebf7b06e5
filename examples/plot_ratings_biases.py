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
# The ratings preset, ``kind='ratings'``: unobserved pairs carry no information
# (``w0 = 0``), the target is the rating itself (``target='value'``), every rating weighs 1
# (``confidence='none'``), and a global mean and biases are fitted (``biases=True``). The
# penalty and SGD's step are set from the spread of the ratings at ``fit``;
# ``resolved_params_`` shows the values used. Any parameter given explicitly wins.
sgd = fastmf.SGD(32, kind="ratings", epochs=25, random_state=0).fit(train)
als = fastmf.WALS(32, kind="ratings", solver="cholesky", iterations=10,
                  random_state=0).fit(train)
print({k: sgd.resolved_params_[k] for k in ("w0", "target", "confidence", "biases", "reg",
                                            "lr", "lr_schedule")})

for name, model in (("SGD", sgd), ("WALS", als)):
    print(f"{name:5s} objective {model.objective(train):12.1f}   "
          f"test RMSE {fastmf.metrics.rmse(model, test):.4f}")

# %%
# Predictions include the global mean and the biases.
print("global mean", round(als.global_mean, 3))
print("predicted ratings", als.predict([0, 1, 2], [5, 7, 9]).round(2))

# %%
# A baseline: the global mean and the biases of the WALS model alone, without the factors'
# term. Compare it with the test RMSE of the full models above: on this small synthetic
# set the biases carry most of what can be predicted, and ``reg`` (or
# :func:`fastmf.tune` with ``metric='rmse'``) decides whether the factors add to it.
coo = test.tocoo()
baseline = (als.global_mean + als.user_biases[coo.row] + als.item_biases[coo.col])
print("biases only: test RMSE", round(float(np.sqrt(np.mean((baseline - coo.data) ** 2))), 4))
