import numpy as np
import pytest
import scipy.sparse as sp

import fastmf

from _reference import dense_objective
from conftest import random_csr

CASES = [
    dict(w0=1.0, confidence="linear", alpha=3.0, target="binary", reg=0.1),
    dict(w0=0.0, confidence="none", target="value", reg=0.05),
    dict(w0=0.2, confidence="log", alpha=2.0, epsilon=0.5, target="value", reg=0.3,
         reg_exponent=0.7),
    dict(w0=0.1, confidence="linear", alpha=1.0, target="binary", reg=0.0,
         row_weights="r", col_weights="c"),
    dict(w0=0.0, confidence="none", target="value", reg=0.2, biases=True),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_objective_matches_dense_reference(case, dtype):
    A = random_csr(30, 20, 0.2, 3, empty_rows=(0,), empty_cols=(19,))
    rng = np.random.default_rng(4)
    kw = dict(case)
    if kw.pop("biases", False):
        kw.update(user_biases=rng.standard_normal(30), item_biases=rng.standard_normal(20),
                  global_mean=3.1)
    if kw.get("row_weights") == "r":
        kw["row_weights"] = rng.uniform(0, 2, 30)
        kw["col_weights"] = rng.uniform(0, 2, 20)
    U = rng.standard_normal((30, 4)).astype(dtype)
    V = rng.standard_normal((20, 4)).astype(dtype)
    got = fastmf.objective(A, U, V, **kw)
    want = dense_objective(A, U, V, **kw)
    assert got == pytest.approx(want, rel=1e-9 if dtype == np.float64 else 1e-5)


def test_objective_sums_duplicates_and_accepts_any_sparse_format():
    rows = np.array([0, 0, 1, 2])
    cols = np.array([1, 1, 0, 2])
    vals = np.array([1.0, 2.0, 1.0, 4.0])
    coo = sp.coo_matrix((vals, (rows, cols)), shape=(3, 3))
    summed = sp.csr_array(([3.0, 1.0, 4.0], ([0, 1, 2], [1, 0, 2])), shape=(3, 3))
    rng = np.random.default_rng(0)
    U, V = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    a = fastmf.objective(coo, U, V, w0=0.5)
    b = fastmf.objective(summed, U, V, w0=0.5)
    c = fastmf.objective(sp.csc_matrix(coo), U, V, w0=0.5)
    assert a == pytest.approx(b, rel=1e-12) and a == pytest.approx(c, rel=1e-12)


def test_objective_rejects_bad_input():
    A = random_csr(5, 4, 0.5, 0)
    U, V = np.ones((5, 2)), np.ones((4, 2))
    with pytest.raises(ValueError, match="'w0' parameter of objective"):
        fastmf.objective(A, U, V, w0=-1)
    with pytest.raises(ValueError, match="U has 4 rows"):
        fastmf.objective(A, U[:4], V, w0=1)
    with pytest.raises(ValueError, match="same number of columns"):
        fastmf.objective(A, U, V[:, :1], w0=1)
    with pytest.raises(ValueError, match="NaN"):
        fastmf.objective(A, U * np.nan, V, w0=1)
    with pytest.raises(ValueError, match="observed-only"):
        fastmf.objective(A, U, V, w0=1, user_biases=np.zeros(5), item_biases=np.zeros(4))
