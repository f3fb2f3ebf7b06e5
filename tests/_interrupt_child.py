"""Child process of test_interrupts.py: fit until interrupted, then report the model's
state as one JSON line."""

import json
import sys
import time
import warnings

import numpy as np

import fastmf
from fastmf.datasets import make_synthetic

which = sys.argv[1]
A = make_synthetic(20000, 5000, 300000, random_state=0)
if which == "wals":
    # float64: the objective recorded in the sweep then agrees with a separate evaluation
    # to ~1e-15, so the test can tell the last recorded iterate from a neighbour at 1e-9
    model = fastmf.WALS(32, iterations=100000, random_state=0, dtype="float64")
elif which == "sgd":
    model = fastmf.SGD(32, epochs=100000, lr=0.05, lr_schedule="adagrad", random_state=0)
else:
    model = fastmf.WALS(32, iterations=3, random_state=0).fit(A)
warnings.simplefilter("ignore")
steps = {"wals": "iterations", "sgd": "epochs"}.get(which)
if steps:
    model.set_params(**{steps: 1}).fit(A[:200])  # compile (or load) the kernels first
    model.set_params(**{steps: 100000})
print("ready", flush=True)
out = {"interrupted": False}
try:
    if which == "evaluate":
        while True:
            fastmf.evaluate(model, A, A, k=10)
    model.fit(A)
except KeyboardInterrupt as exc:
    out = {"interrupted": True, "caught": time.time(), "message": str(exc),
           "fitted": model.is_fitted}
    if model.is_fitted and which != "evaluate":
        out["iterations"] = len(model.history_)
        out["finite"] = bool(np.isfinite(model.user_factors).all()
                             and np.isfinite(model.item_factors).all())
        out["loss"] = model.objective(A)
        out["last"] = model.history_[-1]["objective"]
print(json.dumps(out), flush=True)
