"""
SGD and WALS converging on one objective
========================================

WALS (CG and Cholesky row solves) and Hogwild SGD minimize the same implicit-feedback
objective, so their per-iteration objective values (``model.history_``) can be drawn on
one axis, against iterations (epochs) and against training time.
"""

# %%
import matplotlib.pyplot as plt

import fastmf
from fastmf.datasets import make_synthetic

A = make_synthetic(4_000, 1_000, 60_000, random_state=0)
# Every model resolves its 'auto' weights and penalty from the same data by the same rules,
# so all three minimize the same objective.
common = dict(factors=32, random_state=0)

models = {
    "WALS (CG)": fastmf.WALS(solver="cg", iterations=12, **common),
    "WALS (Cholesky)": fastmf.WALS(solver="cholesky", iterations=12, **common),
    # For implicit feedback SGD's step defaults to AdaGrad with lr = 0.05, which keeps the
    # exact Gram ("gravity") term stable whatever the scale of the weights.
    "SGD (gravity, AdaGrad)": fastmf.SGD(epochs=30, **common),
}
for name, model in models.items():
    model.fit(A)
    last = model.history_[-1]
    print(f"{name:24s} {len(model.history_):3d} steps  objective {last['objective']:.5g}  "
          f"{last['time']:.2f} s")

# %%
# The objective after each WALS iteration (two half-sweeps) and after each SGD epoch (one
# pass over the entries). Time is training time only; the objective is evaluated outside
# the timed part.
fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for name, model in models.items():
    steps = [r["iteration"] for r in model.history_]
    seconds = [r["time"] for r in model.history_]
    values = [r["objective"] for r in model.history_]
    by_step.plot(steps, values, marker=".", label=name)
    by_time.plot(seconds, values, marker=".", label=name)
by_step.set(xlabel="iteration / epoch", ylabel="objective", yscale="log")
by_time.set(xlabel="training seconds")
by_step.legend()
fig.suptitle("One objective, three solvers (4,000 x 1,000, 60,000 entries, d = 32)")
fig.tight_layout()
plt.show()

# %%
# ``fastmf compare`` (the command line) runs the same study on a larger embedded data set,
# with held-out NDCG, the truncated-SVD baseline, observed-only MF (``w0 = 0``) and SGD with
# the logistic and BPR ranking losses (compared on held-out quality only: they do not
# minimize this objective), and writes the curves to CSV and JSON.
