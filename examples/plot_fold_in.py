"""
Fold in a new user
==================

Give a user who was not in the training data factors from their interactions, without
refitting, and recommend for them.
"""

# %%
import numpy as np
import pandas as pd

import fastmf
from fastmf.datasets import make_synthetic

A = make_synthetic(2_000, 500, 30_000, random_state=3).tocoo()
log = pd.DataFrame({"user": [f"u{u}" for u in A.row], "item": [f"i{i}" for i in A.col],
                    "value": A.data})
model = fastmf.WALS(factors=32, iterations=10, solver="cholesky", random_state=0).fit(log)

# %%
# The new user's interactions, with the same raw item ids. ``fold_in`` solves the user's
# row exactly as a WALS user update would (same weights, ``w0`` and penalty) against the
# trained item factors. Items the model does not know are left out with a warning.
new = pd.DataFrame({"user": ["newcomer"] * 4, "item": ["i3", "i17", "i17", "i250"],
                    "value": [2.0, 1.0, 1.0, 5.0]})
x = model.fold_in(new)
print(x.shape)

# %%
# Score every item, drop the ones the user has, and take the best ten.
scores = x[0] @ model.item_factors.T
seen = np.isin(model.item_ids_, new["item"].unique())
scores[seen] = -np.inf
top = np.argsort(-scores)[:10]
print(model.item_ids_[top])

# %%
# Check: folding in a training user's own row reproduces the factors the fit gave them
# (the last update of a WALS fit with an exact solver is the user side).
user = "u7"
row = log[log["user"] == user]
again = model.fold_in(row)
i = np.searchsorted(model.user_ids_, user)
print(np.allclose(again[0], model.user_factors[i], atol=1e-4))
