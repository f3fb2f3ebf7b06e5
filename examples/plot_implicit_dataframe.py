"""
Implicit counts with raw string ids from a DataFrame
====================================================

Fit on a pandas DataFrame whose users and items are strings; the model then takes and
returns raw ids.
"""

# %%
# A play log with string ids, as it would come from a database: one row per
# (user, item, count). Repeated pairs are summed.
import numpy as np
import pandas as pd

import fastmf
from fastmf.datasets import make_synthetic

A = make_synthetic(2_000, 500, 30_000, random_state=1).tocoo()
log = pd.DataFrame({
    "user": [f"user-{u:04d}" for u in A.row],
    "item": [f"song-{i:03d}" for i in A.col],
    "value": A.data,
})
print(log.head())

# %%
# Fit on the DataFrame directly (columns ``user``, ``item`` and optionally ``value``).
# For other column names use ``fastmf.Interactions.from_dataframe(df, user=..., item=...,
# value=...)``.
model = fastmf.WALS(factors=32, iterations=8, random_state=0).fit(log)
print(model.user_ids_[:3], model.item_ids_[:3])

# %%
# Raw ids in, raw ids out: no index bookkeeping.
ids, scores = model.recommend(["user-0007", "user-0042"], k=5)
print(ids)
print(model.similar_items(["song-010"], k=3)[0])
print(model.predict(["user-0007"], [ids[0, 0]]).round(3))

# %%
# The same with :class:`fastmf.Interactions`, which also keeps timestamps and lets a test
# set be indexed with the training set's ids (``train.like(...)``).
data = fastmf.Interactions.from_dataframe(log, user="user", item="item", value="value")
print(data)
same = fastmf.WALS(factors=32, iterations=8, random_state=0).fit(data)
print(np.array_equal(same.recommend(["user-0007"], k=5)[0], ids[:1]))

# %%
# An unknown id is an error that names it (``ids='index'`` switches a call to row and
# column indices instead).
try:
    model.recommend(["nobody"])
except KeyError as err:
    print("KeyError:", err)
print(model.recommend([0], k=3, ids="index")[0])
