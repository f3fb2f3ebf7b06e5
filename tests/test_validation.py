"""Every malformed input raises a clear error before any kernel runs."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_csr

import fastmf
from fastmf import WALS


@pytest.mark.parametrize("name, value, match", [
    ("factors", 0, r"The 'factors' parameter of WALS must be an int in the range \[1, inf\]. "
                   r"Got 0 instead."),
    ("factors", 2.5, "'factors'"),
    ("factors", True, "'factors'"),
    ("reg", -0.1, "'reg' parameter of WALS"),
    ("reg", float("nan"), "'reg' parameter of WALS"),
    ("w0", -1.0, "'w0' parameter of WALS"),
    ("alpha", -1.0, "'alpha'"),
    ("epsilon", 0.0, "'epsilon'"),
    ("solver", "lu", "'solver' parameter of WALS must be one of 'cg', 'cholesky'"),
    ("confidence", "exp", "'confidence'"),
    ("target", "rating", "'target'"),
    ("cg_steps", 0, "'cg_steps'"),
    ("iterations", -1, "'iterations'"),
    ("dtype", np.int32, "'dtype' parameter of WALS must be float32 or float64"),
    ("dtype", "float16", "'dtype'"),
    ("num_threads", -2, "'num_threads'"),
    ("num_threads", 10**6, "NUMBA_NUM_THREADS"),
    ("random_state", "seed", "'random_state'"),
    ("reg_exponent", -1, "'reg_exponent'"),
    ("row_weights", [1.0, -1.0], "'row_weights'"),
    ("col_weights", [[1.0]], "'col_weights'"),
])
def test_bad_parameters_raise(name, value, match):
    model = WALS(**{name: value})  # stored as given; checked when a fit starts
    assert model.get_params()[name] is value
    with pytest.raises(ValueError, match=match):
        model.fit(random_csr(10, 8, 0.3, 0))
    with pytest.raises(ValueError, match=match):
        model.check_params()
    assert not model.is_fitted


def test_biases_need_observed_only_model():
    with pytest.raises(ValueError, match="biases"):
        WALS(biases=True, w0=1.0).fit(random_csr(10, 8, 0.3, 0))


def _corrupt(A, **arrays):
    B = A.copy()
    for key, val in arrays.items():
        setattr(B, key, val)
    return B


@pytest.fixture
def A():
    return random_csr(10, 8, 0.3, 0)


def test_bad_matrices_raise(A):
    model = WALS(factors=2, iterations=1)
    # A dense 2-d numpy array is taken as CSR of its non-zeros; other containers are not.
    dense = WALS(factors=2, iterations=1, random_state=0, num_threads=1).fit(A.toarray())
    sparse = WALS(factors=2, iterations=1, random_state=0, num_threads=1).fit(A)
    np.testing.assert_array_equal(dense.user_factors, sparse.user_factors)
    with pytest.raises(TypeError, match="scipy.sparse"):
        model.fit([[1, 2], [3, 4]])
    bad = A.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.fit(bad)
    bad.data[0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.fit(bad)
    neg = A.copy()
    neg.data[0] = -1
    with pytest.raises(ValueError, match="negative values"):
        model.fit(neg)
    # Signed values are fine without confidence weighting.
    WALS(factors=2, iterations=1, confidence="none", target="value").fit(neg)
    with pytest.raises(TypeError, match="real numbers"):
        model.fit(sp.csr_array(A.astype(np.complex128)))


def test_corrupt_csr_structure_raises_not_crashes(A):
    model = WALS(factors=2, iterations=1)
    idx = A.indices.copy()
    idx[0] = 10**6
    with pytest.raises(ValueError, match="column indices"):
        model.fit(_corrupt(A, indices=idx))
    idx[0] = -5
    with pytest.raises(ValueError, match="column indices"):
        model.fit(_corrupt(A, indices=idx))
    ptr = A.indptr.copy()
    ptr[3], ptr[4] = ptr[4], ptr[3] - 1
    with pytest.raises(ValueError, match="indptr"):
        model.fit(_corrupt(A, indptr=ptr))
    ptr = A.indptr.copy()
    ptr[-1] = A.nnz + 100
    with pytest.raises(ValueError, match="indptr"):
        model.fit(_corrupt(A, indptr=ptr))
    with pytest.raises(ValueError, match="indptr"):
        model.fit(_corrupt(A, indptr=A.indptr[:-2]))


def test_weight_vectors_must_match_the_matrix(A):
    with pytest.raises(ValueError, match="row_weights.*10 rows"):
        WALS(factors=2, iterations=1, row_weights=np.ones(3)).fit(A)
    with pytest.raises(ValueError, match="col_weights.*8 columns"):
        WALS(factors=2, iterations=1, col_weights=np.ones(9)).fit(A)


def test_methods_validate_ids_and_shapes(A):
    with pytest.raises(fastmf.NotFittedError):
        WALS().recommend([0])
    model = WALS(factors=2, iterations=2, random_state=0).fit(A)
    with pytest.raises(ValueError, match=r"users must lie in \[0, 10\)"):
        model.recommend([10])
    with pytest.raises(ValueError, match="users must lie"):
        model.recommend([-1])
    with pytest.raises(ValueError, match="integer ids"):
        model.recommend(["a"])
    with pytest.raises(ValueError, match="'k' parameter of recommend"):
        model.recommend([0], k=0)
    with pytest.raises(ValueError, match="A must have 10 rows"):
        model.recommend([0], A=random_csr(9, 8, 0.3, 0))
    with pytest.raises(ValueError, match="items must lie"):
        model.similar_items([8])
    with pytest.raises(ValueError, match="same length"):
        model.predict([0, 1], [0])
    with pytest.raises(ValueError, match="A_rows must have 8 columns"):
        model.fold_in(random_csr(2, 7, 0.3, 0))
    with pytest.raises(ValueError, match="A must have 8 columns"):
        model.objective(random_csr(10, 7, 0.3, 0))


def test_load_rejects_foreign_files(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.ones(3))
    with pytest.raises(ValueError, match="not a fastmf model"):
        fastmf.load(path)


def test_empty_and_degenerate_matrices():
    empty = sp.csr_array((5, 4))
    model = WALS(factors=2, iterations=2, random_state=0, solver="cholesky").fit(empty)
    assert np.all(model.user_factors == 0) and np.all(model.item_factors == 0)
    cg = WALS(factors=2, iterations=2, random_state=0, solver="cg").fit(empty)
    # the minimizer is zero; CG on a 2 x 2 system reaches it in its 3 steps
    np.testing.assert_allclose(cg.user_factors, 0, atol=1e-6)
    np.testing.assert_allclose(cg.item_factors, 0, atol=1e-6)
    assert cg.history_[-1]["objective"] == pytest.approx(0, abs=1e-9)
    ids, _ = model.recommend([0], k=2)
    assert ids.shape == (1, 2)
    no_users = WALS(factors=3, iterations=2).fit(sp.csr_array((0, 4)))
    assert no_users.user_factors.shape == (0, 3) and no_users.item_factors.shape == (4, 3)
    assert np.isfinite(no_users.item_factors).all()
    assert no_users.recommend([], k=2)[0].shape == (0, 2)
    ratings = {"w0": 0, "reg": 0, "solver": "cholesky", "confidence": "none",
               "target": "value"}
    # empty rows without the unobserved term are undetermined: held at zero, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        free = WALS(factors=2, iterations=1, **ratings).fit(empty)
    assert np.all(free.user_factors == 0) and np.all(free.item_factors == 0)
    # a row with entries whose system is singular (all its weights 0) keeps its factors
    # and is reported
    one = sp.csr_array(([1.0, 2.0], ([0, 1], [0, 0])), shape=(2, 1))
    with pytest.warns(RuntimeWarning, match="singular"):
        WALS(factors=2, iterations=1, col_weights=np.zeros(1), **ratings).fit(one)


def test_a_fit_whose_factors_cannot_fit_in_memory_is_refused_before_allocating():
    import scipy.sparse as sp
    A = sp.csr_array(([1.0, 2.0], ([0, 1_999_999], [3, 999_999])),
                     shape=(2_000_000, 1_000_000))
    for model in (WALS(factors=1 << 16, iterations=1),
                  fastmf.SGD(factors=1 << 16, epochs=1)):
        with pytest.raises(MemoryError, match=r"needs about .* TiB .* reduce factors"):
            model.fit(A)
        assert not model.is_fitted


def test_a_recommendation_too_large_for_memory_is_refused():
    model = WALS(4, iterations=1).fit(random_csr(20, 10, 0.3, 0))
    with pytest.raises(MemoryError, match="smaller k"):
        model.recommend([0, 1], k=1 << 50)
