"""
Quickstart
==========

Fit WALS on implicit feedback, recommend, find similar items, fold in a user, save and
load.
"""

# %%
# A users x items matrix of interaction counts. :func:`fastmf.datasets.make_synthetic`
# makes one with power-law activity and a planted low-rank structure; any
# ``scipy.sparse`` matrix works the same way.
import fastmf
from fastmf.datasets import make_synthetic

A = make_synthetic(3_000, 800, 40_000, random_state=0)
print(repr(A))

# %%
# Fit. The defaults are the implicit-feedback objective (confidence weights
# :math:`1 + \alpha a`, unobserved pairs pulled to 0 with weight ``w0 = 1``).
model = fastmf.WALS(factors=32, iterations=10, solver="cg", random_state=0).fit(A)
for record in model.history_[-3:]:
    print(record)

# %%
# Top-10 items for three users (the items they already have are filtered out), and the
# items most similar to item 42 by cosine similarity of their factors.
ids, scores = model.recommend([0, 1, 2], k=10)
print(ids)
similar, sims = model.similar_items([42], k=5)
print(similar, sims.round(3))

# %%
# Fold in: factors for a user from their interactions, by one exact row solve against the
# trained item factors (no refit).
new_user = model.fold_in(A[[7]])
print(new_user.shape)

# %%
# Save and load: a NumPy ``.npz`` archive, no pickle.
import os
import tempfile

path = os.path.join(tempfile.mkdtemp(), "model.npz")
model.save(path)
again = fastmf.load(path)
print(again, (again.recommend([0], k=10)[0] == ids[:1]).all())
