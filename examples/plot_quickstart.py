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
# Fit. The default, ``kind='implicit'``, is the implicit-feedback objective: every stored
# entry has target 1 and a confidence weight that grows with its count, and unobserved
# pairs are pulled to 0 with weight ``w0``. The weights and the penalty are left at
# ``'auto'`` and set from the data at ``fit`` (density and value distribution);
# ``resolved_params_`` shows the values the fit used.
model = fastmf.WALS(factors=32, iterations=10, solver="cg", random_state=0).fit(A)
print({k: model.resolved_params_[k] for k in ("w0", "confidence", "alpha", "epsilon",
                                              "reg")})
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
