"""
Serving recommendations from threads
====================================

A service loads a model once and answers ``recommend`` from a pool of threads. Reads of
one model run concurrently (each works on a snapshot of the fitted state; NumPy, BLAS and
fastmf's kernels release the GIL), and a refit -- here on data with a day's new
interactions -- builds its state aside and publishes it in one step: every answer comes
from the old model or the new one, never a mix, and no request waits for the refit.
"""

# %%
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import fastmf
from fastmf.datasets import make_synthetic

folder = Path(tempfile.mkdtemp())
A = make_synthetic(3_000, 800, 40_000, random_state=0)
fastmf.WALS(32, iterations=8, random_state=0).fit(A).save(folder / "model.npz")

model = fastmf.load(folder / "model.npz")          # loaded once, shared by every request thread


def handle(user):
    """One request: the top 10 unseen items of a user."""
    items, scores = model.recommend([user], k=10)
    return items[0]


# %%
# Requests from 8 threads while the model is refitted on newer data. The refit publishes
# its state in one step; requests before it get the old answers, after it the new ones.
rng = np.random.default_rng(1)
newer = make_synthetic(3_000, 800, 45_000, random_state=1)
before = handle(7)
with ThreadPoolExecutor(8) as pool:
    t0 = time.perf_counter()
    answers = pool.map(handle, rng.integers(0, 3_000, 4_000))
    model.set_params(random_state=1).fit(newer)   # the swap, while requests run
    answered = sum(1 for _ in answers)
    seconds = time.perf_counter() - t0
after = handle(7)
print(f"{answered} requests in {seconds:.2f} s on 8 threads, during one refit")
print("user 7 before:", before[:5], " after:", after[:5])

# %%
# Swapping a whole model object works the same way: requests that already hold the old
# object finish on it, new ones get the new one.
fastmf.WALS(32, iterations=8, random_state=2).fit(newer).save(folder / "model-v2.npz")
model = fastmf.load(folder / "model-v2.npz")
print("user 7 with model v2:", handle(7)[:5])
