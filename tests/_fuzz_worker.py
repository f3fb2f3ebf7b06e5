"""Run fuzz cases in this process and report each on stdout, one JSON line per event.

Usage: ``python _fuzz_worker.py CASES.pkl FIRST [LAST]`` runs cases FIRST..LAST-1 of the
pickled list. Before a case starts it prints ``{"start": i}``; after it, ``{"done": i,
...}`` with the outcome. A process killed by a signal therefore names its culprit: the
last case started and not done.
"""

import faulthandler
import json
import pickle
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _fuzz_cases import base_matrix, build

import fastmf

# Exceptions that count as a clear refusal; anything else is reported as not ordinary.
ORDINARY = (ValueError, TypeError, FloatingPointError, MemoryError, fastmf.NotFittedError)

_models = {}


def _model(m, n, dtype):
    key = (m, n, dtype)
    if key not in _models:
        _models[key] = fastmf.WALS(factors=4, iterations=1, random_state=0, dtype=dtype,
                                   num_threads=1).fit(base_matrix(m, n, 0.5, 1))
    return _models[key]


def run_case(case):
    A = build(case)
    m, n = case["base"][:2]
    dtype = case["dtype"]
    target = case["target"]
    if target == "wals":
        fastmf.WALS(factors=4, iterations=1, dtype=dtype, random_state=0,
                    num_threads=1).fit(A)
    elif target == "sgd":
        fastmf.SGD(factors=4, epochs=1, dtype=dtype, random_state=0, num_threads=1).fit(A)
    elif target == "objective":
        rng = np.random.default_rng(0)
        U = rng.standard_normal((m, 4)).astype(dtype)
        V = rng.standard_normal((n, 4)).astype(dtype)
        fastmf.objective(A, U, V, w0=1)
    elif target == "recommend":
        _model(m, n, dtype).recommend(np.arange(min(m, 2)), A=A)
    elif target == "fold_in":
        _model(m, n, dtype).fold_in(A)
    elif target == "loss":
        _model(m, n, dtype).objective(A)
    elif target == "evaluate_train":
        fastmf.evaluate(_model(m, n, dtype), A, base_matrix(m, n, 0.5, 2))
    elif target == "evaluate_test":
        fastmf.evaluate(_model(m, n, dtype), base_matrix(m, n, 0.5, 2), A)
    else:
        raise AssertionError(f"unknown target {target}")


def main():
    faulthandler.enable()
    warnings.simplefilter("ignore")
    with open(sys.argv[1], "rb") as f:
        cases = pickle.load(f)
    first = int(sys.argv[2])
    last = int(sys.argv[3]) if len(sys.argv) > 3 else len(cases)
    out = sys.stdout
    for i in range(first, last):
        out.write(json.dumps({"start": i}) + "\n")
        out.flush()
        try:
            run_case(cases[i])
            result = {"done": i, "outcome": "ok"}
        except BaseException as exc:  # noqa: BLE001 - every outcome is reported
            result = {"done": i, "outcome": "raised", "type": type(exc).__name__,
                      "ordinary": isinstance(exc, ORDINARY),
                      "refusal": isinstance(exc, (ValueError, TypeError)),
                      "message": str(exc)[:300]}
        out.write(json.dumps(result) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
