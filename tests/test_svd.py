import numpy as np
import pytest
from conftest import random_csr

import fastmf
from fastmf import SVD


@pytest.mark.parametrize("target", ["binary", "value"])
def test_svd_is_the_best_rank_d_approximation(target):
    A = random_csr(40, 30, 0.2, 0, empty_rows=(3,), empty_cols=(7,))
    T = A.toarray()
    if target == "binary":
        T = (T != 0).astype(float)
    model = SVD(factors=5, target=target, dtype=np.float64, random_state=0).fit(A)
    U, s, Vt = np.linalg.svd(T)
    best = (U[:, :5] * s[:5]) @ Vt[:5]
    approx = model.user_factors @ model.item_factors.T
    np.testing.assert_allclose(approx, best, atol=1e-8)
    # symmetric split of the singular values
    np.testing.assert_allclose(np.linalg.norm(model.user_factors, axis=0),
                               np.linalg.norm(model.item_factors, axis=0), rtol=1e-8)


def test_svd_reports_the_shared_objective_and_is_reproducible():
    A = random_csr(50, 40, 0.15, 1)
    a = SVD(factors=4, random_state=3).fit(A)
    b = SVD(factors=4, random_state=3).fit(A)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    assert len(a.history_) == 1
    want = fastmf.objective(A, a.user_factors, a.item_factors, w0=1.0, reg=0.005,
                            reg_exponent=1.0)
    assert a.history_[0]["objective"] == pytest.approx(want, rel=1e-6)
    assert a.objective(A) == pytest.approx(want, rel=1e-6)
    ids, _ = a.recommend([0, 1], k=3)
    assert ids.shape == (2, 3)


def test_svd_rank_must_be_below_the_smaller_side(tmp_path):
    A = random_csr(10, 6, 0.5, 2)
    with pytest.raises(ValueError, match="below min"):
        SVD(factors=6).fit(A)
    model = SVD(factors=2, random_state=0).fit(A)
    model.save(tmp_path / "m.npz")
    again = fastmf.load(tmp_path / "m.npz")
    assert isinstance(again, SVD)
    np.testing.assert_array_equal(again.item_factors, model.item_factors)
