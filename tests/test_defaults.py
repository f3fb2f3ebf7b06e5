"""The 'auto' rules of fastmf.models._defaults as a fit resolves them."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastmf
from fastmf.evaluation._tune import default_space


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    m, n = 60, 40
    # item j drawn with probability rising in j, so the items' counts differ
    p = np.linspace(0.05, 0.5, n)
    A = sp.csr_matrix((rng.random((m, n)) < p).astype(np.float64))
    A.eliminate_zeros()
    return A


def _fit(A, **kw):
    return fastmf.WALS(4, iterations=1, random_state=0, num_threads=1, **kw).fit(A)


def test_auto_unobserved_weight_is_popularity_weighted(binary):
    q = _fit(binary).resolved_params_
    m, n = binary.shape
    density = binary.nnz / (m * n)
    assert q["popularity_exponent"] == 0.5
    w0 = np.asarray(q["w0"])
    assert w0.shape == (n,)
    # the same total as the uniform rule, in proportion to sqrt(item counts)
    np.testing.assert_allclose(w0.mean(), density / 0.3, rtol=1e-12)
    counts = np.bincount(binary.indices, minlength=n)
    np.testing.assert_allclose(w0 / w0.mean(), np.sqrt(counts) / np.sqrt(counts).mean(),
                               rtol=1e-12)
    assert q["reg"] == pytest.approx(0.03)


def test_given_w0_stays_uniform_and_given_exponent_wins(binary):
    q = _fit(binary, w0=0.2).resolved_params_
    assert q["popularity_exponent"] == 0.0 and np.ndim(q["w0"]) == 0 and q["w0"] == 0.2
    q = _fit(binary, w0=0.2, popularity_exponent=1.0).resolved_params_
    counts = np.bincount(binary.indices, minlength=binary.shape[1])
    np.testing.assert_allclose(np.asarray(q["w0"]), 0.2 * counts / counts.mean(), rtol=1e-12)
    q = _fit(binary, popularity_exponent=0.0).resolved_params_
    assert np.ndim(q["w0"]) == 0
    assert q["w0"] == pytest.approx(binary.nnz / np.prod(binary.shape) / 0.3)


def test_ratings_preset_has_no_popularity_weighting(binary):
    R = binary.copy()
    R.data = 1.0 + (np.arange(R.nnz) % 5)
    q = _fit(R, kind="ratings").resolved_params_
    assert q["popularity_exponent"] == 0.0 and q["w0"] == 0.0


def test_sgd_resolves_the_same_weighting(binary):
    q = fastmf.SGD(4, epochs=1, random_state=0, num_threads=1).fit(binary).resolved_params_
    assert q["popularity_exponent"] == 0.5 and np.asarray(q["w0"]).shape == (binary.shape[1],)


def test_tune_space_scales_the_uniform_w0(binary):
    space = default_space(fastmf.WALS(4), binary)
    w0 = binary.nnz / np.prod(binary.shape) / 0.3
    np.testing.assert_allclose(space["w0"], [w0 * s for s in (1 / 27, 1 / 9, 1 / 3, 1, 3, 9, 27)])
    assert space["popularity_exponent"] == [0.0, 0.5]


def test_value_statistics_in_blocks_match_the_whole_array(monkeypatch):
    # the defaults read the stored values in float64 blocks; small blocks must give what
    # the whole array gives
    from fastmf.models import _defaults
    A = sp.random_array((300, 200), density=0.1, random_state=4, format="csr")
    A.data = np.ceil(A.data * 9).astype(np.float32)

    def resolved():
        return fastmf.WALS(8, iterations=1, random_state=0).fit(A).resolved_params_

    whole = resolved()
    monkeypatch.setattr(_defaults, "BLOCK", 7)
    blocked = resolved()
    assert blocked["confidence"] == whole["confidence"] == "log"
    for key in ("epsilon", "reg"):
        assert blocked[key] == pytest.approx(whole[key], rel=1e-12)
    assert np.allclose(blocked["w0"], whole["w0"], rtol=1e-12)
    data = A.data.astype(np.float64)
    assert whole["epsilon"] == np.median(data)
    assert _defaults._std(A.data) == pytest.approx(data.std(), rel=1e-12)
