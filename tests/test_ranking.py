"""The ranking estimators (BPR, LogisticMF, WARP): the fit against the kernels driven by
hand, their parameters, the per-loss 'auto' rules, and files of the former
``SGD(loss=...)``."""

import inspect
import json

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_csr

import fastmf
from fastmf import BPR, SGD, WARP, LogisticMF
from fastmf._kernels.sampling import item_visits, uniform_negatives, warp_rank_weights
from fastmf._kernels.sgd import SCHEDULES
from fastmf._kernels.sgd_ranking import _sgd_epoch_bpr, _sgd_epoch_logistic, _sgd_epoch_warp
from fastmf.core._validation import check_matrix
from fastmf.core._weighting import check_weighting
from fastmf.models._defaults import RANKING_AUTO, RANKING_EPOCHS, ranking_epochs
from fastmf.solvers._sgd_epochs import block_order, entry_grid
from fastmf.solvers._sgd_ranking import LOSSES

CLASSES = {"bpr": BPR, "logistic": LogisticMF, "warp": WARP}
OWN = {"bpr": {}, "logistic": {"negatives": 3}, "warp": {"max_trials": 7}}


def _by_hand(A, loss, d, epochs, lr, reg, seed, negatives=3, max_trials=7):
    """The fit of an estimator written out with the kernels (one thread, float64,
    uniform negatives, constant step, no empty rows or columns): the weighting of a
    model without an unobserved term (w0 = 0, binary targets, penalty reg * nnz_i), the
    generator's draws in the order the estimators make them."""
    csr = check_matrix(A, dtype=np.float64)
    m, n = csr.shape
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((m, d)) * 0.1
    V = rng.standard_normal((n, d)) * 0.1
    vb = np.zeros(n)
    row_nnz = csr.row_nnz()
    col_nnz = np.bincount(csr.indices[:csr.nnz], minlength=n)
    w = check_weighting("test", 0.0, "none", 1.0, 1.0, "binary", reg, 1.0)
    lam_rows = reg * row_nnz.astype(np.float64)
    lam_cols = reg * col_nnz.astype(np.float64)
    np.testing.assert_array_equal(lam_rows, w.row_penalty(row_nnz, n, np.float64))
    rows = np.repeat(np.arange(m, dtype=csr.indices.dtype), row_nnz)
    g_rows, g_cols, g_vals, block_ptr, grid = entry_grid(csr, rows, rng, d, 8)
    per_entry = negatives if loss == "logistic" else 1
    row_div = np.maximum(row_nnz, 1).astype(np.float64)
    col_div = item_visits(col_nnz, csr.nnz, per_entry)
    sampler = uniform_negatives(csr.indptr, csr.indices, 3)
    kargs = w.kernel_args(csr.shape, False, np.float64)
    g2, g2b = np.zeros((1, 1)), np.zeros(1)
    extra = {"bpr": (), "logistic": (negatives, 1.0),
             "warp": (max_trials, warp_rank_weights(n))}[loss]
    kernel = {"bpr": _sgd_epoch_bpr, "logistic": _sgd_epoch_logistic,
              "warp": _sgd_epoch_warp}[loss]
    for _ in range(epochs):
        order = block_order(rng, grid)
        seeds = rng.integers(1, 2**63 - 1, block_ptr.shape[0] - 1, dtype=np.uint64)
        kernel(g_rows, g_cols, g_vals, block_ptr, order, True, row_div, col_div, U, V, vb,
               g2, g2, g2b, kargs, sampler, *extra, lam_rows, lam_cols, False, lr,
               SCHEDULES["constant"], seeds, np.zeros(block_ptr.shape[0] - 1))
    return U, V


@pytest.mark.parametrize("loss", list(CLASSES))
def test_a_fit_is_the_kernels_without_an_unobserved_term(loss):
    """Bit for bit on one thread. (On the former ``SGD(loss=..., w0=0.0)`` with the same
    explicit parameters these estimators gave bit-identical factors too.)"""
    A = random_csr(30, 20, 0.3, 4)
    assert np.diff(A.indptr).min() > 0 and np.bincount(A.indices, minlength=20).min() > 0
    model = CLASSES[loss](4, epochs=3, lr=0.05, lr_schedule="constant", reg=0.02,
                          reg_exponent=1.0, confidence="none", sampling="uniform",
                          num_threads=1, random_state=3, dtype=np.float64,
                          **OWN[loss]).fit(A)
    U, V = _by_hand(A, loss, 4, 3, 0.05, 0.02, 3)
    np.testing.assert_array_equal(model.user_factors, U)
    np.testing.assert_array_equal(model.item_factors, V)
    assert [sorted(h) for h in model.history_][0] == sorted(
        ["epoch", "iteration", "seconds", "time", "sampled_loss"])


@pytest.mark.parametrize("loss", list(CLASSES))
def test_the_registry_names_each_estimators_own_parameters(loss):
    cls = CLASSES[loss]
    names = set(cls._get_param_names())
    shared = set(BPR._get_param_names())
    assert names - shared == set(LOSSES[loss].params)
    assert set(cls._parameter_constraints) == names
    assert set(RANKING_AUTO[loss]) - {"pairs"} <= names


@pytest.mark.parametrize("loss", list(CLASSES))
@pytest.mark.parametrize("name", ["w0", "unobserved", "gravity_steps", "kind", "target",
                                  "popularity_exponent", "loss"])
def test_parameters_of_other_models_are_rejected(loss, name):
    with pytest.raises(TypeError, match=name):
        CLASSES[loss](**{name: 0})


def test_each_loss_rejects_the_others_parameters():
    for cls in (BPR, WARP):
        with pytest.raises(TypeError, match="negatives"):
            cls(negatives=5)
    for cls in (BPR, LogisticMF):
        with pytest.raises(TypeError, match="max_trials"):
            cls(max_trials=5)
    for name in ("loss", "sampling", "max_trials"):
        with pytest.raises(TypeError, match=name):
            SGD(**{name: "bpr"})
    with pytest.raises(ValueError, match="'negatives' parameter of LogisticMF"):
        LogisticMF(negatives=0).check_params()
    with pytest.raises(ValueError, match="'sampling' parameter of WARP"):
        WARP(sampling="inverse").check_params()


@pytest.mark.parametrize("loss", list(CLASSES))
def test_auto_values_resolve_from_the_table_and_the_implicit_confidence(loss):
    counts = random_csr(40, 30, 0.2, 1)
    binary = counts.copy()
    binary.data[:] = 1.0
    model = CLASSES[loss](4, epochs=1, num_threads=1, random_state=0).fit(counts)
    r = model.resolved_params_
    for name, value in RANKING_AUTO[loss].items():
        if name != "pairs":
            assert r[name] == value, name
    assert r["epochs"] == 1
    assert r["confidence"] == "log" and r["alpha"] == 1.0
    assert r["epsilon"] == float(np.median(counts.data))
    assert not {"w0", "target", "kind", "unobserved"} & set(r)
    r = CLASSES[loss](4, epochs=1, num_threads=1).fit(binary).resolved_params_
    assert r["confidence"] == "none"
    auto = CLASSES[loss](4, num_threads=1).fit(binary)
    expected = ranking_epochs(RANKING_AUTO[loss]["pairs"], binary.shape, binary.nnz)
    assert auto.resolved_params_["epochs"] == expected
    assert len(auto.history_) == expected


def test_auto_epochs_grow_with_the_inverse_density_within_their_range():
    lo, hi = RANKING_EPOCHS
    assert ranking_epochs(0.75, (1000, 2000), 50_000) == 30      # density 0.025
    assert ranking_epochs(0.75, (5000, 16000), 125_000) == 480   # density 0.0016
    assert ranking_epochs(0.125, (5000, 16000), 125_000) == 80
    assert ranking_epochs(0.75, (100, 100), 5_000) == lo         # dense: at least lo
    assert ranking_epochs(0.75, (10**6, 10**5), 10**6) == hi     # very sparse: at most hi
    assert ranking_epochs(0.75, (10, 10), 0) == lo


def _old_sgd_file(path, loss):
    """A file as the former SGD(loss=...) wrote it (class 'SGD', every SGD parameter)."""
    params = dict(factors=3, kind="implicit", lr=0.05, lr_schedule="adagrad", lr_decay=0.0,
                  epochs=2, unobserved="gravity", negatives=4, gravity_steps=8,
                  init_scale=0.1, w0=0.0, alpha="auto", confidence="none", epsilon="auto",
                  target="auto", row_weights=None, col_weights=None, reg=0.01,
                  reg_exponent=1.0, biases="auto", popularity_exponent="auto", loss=loss,
                  sampling="popularity", max_trials=9, dtype="float32", num_threads=1,
                  random_state=0)
    resolved = dict(params, alpha=1.0, epsilon=1.0, target="binary", biases=False,
                    popularity_exponent=0.0)
    meta = {"class": "SGD", "params": params, "global_mean": 0.0, "format": 1,
            "resolved": resolved}
    rng = np.random.default_rng(0)
    U = rng.standard_normal((6, 3)).astype(np.float32)
    V = rng.standard_normal((5, 3)).astype(np.float32)
    np.savez(path, meta=np.array(json.dumps(meta)), user_factors=U, item_factors=V,
             extra__history=np.array(json.dumps([{"epoch": 1, "sampled_loss": 0.6}])))
    return U, V


@pytest.mark.parametrize("loss", list(CLASSES))
def test_a_file_of_sgd_with_a_ranking_loss_loads_as_the_new_class(tmp_path, loss):
    path = tmp_path / "old.npz"
    U, V = _old_sgd_file(path, loss)
    model = fastmf.load(path)
    assert type(model) is CLASSES[loss]
    np.testing.assert_array_equal(model.user_factors, U)
    np.testing.assert_array_equal(model.item_factors, V)
    assert model.sampling == "popularity" and model.epochs == 2
    assert model.get_params().get("negatives", 4) == 4
    assert model.get_params().get("max_trials", 9) == 9
    assert model.resolved_params_["confidence"] == "none"
    assert model.recommend([0], k=2, filter_seen=False)[0].shape == (1, 2)
    model.save(tmp_path / "new.npz")
    assert type(fastmf.load(tmp_path / "new.npz")) is CLASSES[loss]


def test_a_file_of_sgd_with_the_squared_loss_still_loads(tmp_path):
    path = tmp_path / "old.npz"
    _old_sgd_file(path, "squared")
    model = fastmf.load(path)
    assert type(model) is SGD and not hasattr(model, "loss")


def test_save_load_keeps_the_loss_parameters(tmp_path):
    A = sp.csr_array(random_csr(30, 20, 0.2, 2))
    model = WARP(3, epochs=2, max_trials=11, biases=True, num_threads=1,
                 random_state=0).fit(A)
    model.save(tmp_path / "w.npz")
    loaded = fastmf.load(tmp_path / "w.npz")
    assert loaded.max_trials == 11 and loaded.resolved_params_ == model.resolved_params_
    np.testing.assert_array_equal(loaded.item_biases, model.item_biases)


def test_docstrings_list_each_parameter():
    for cls in CLASSES.values():
        doc = inspect.getdoc(cls)
        for name in cls._get_param_names():
            assert name in doc, (cls.__name__, name)


def test_tune_searches_a_ranking_model_around_its_auto_values():
    from fastmf.evaluation._tune import default_space
    from fastmf.models._defaults import RANKING_AUTO, RANKING_EPOCHS, ranking_epochs
    A = random_csr(60, 40, 0.15, 5)
    space = default_space(BPR(4), A)
    assert set(space) == {"reg", "alpha"}
    assert RANKING_AUTO["bpr"]["reg"] in space["reg"]
    result = fastmf.tune(BPR(4, num_threads=1, random_state=0), A, metric="ndcg@5",
                         space={"reg": [0.01, 0.1]}, refit=False)
    assert result.best_params["reg"] in (0.01, 0.1)
    assert 1 <= result.best_params["epochs"] <= RANKING_EPOCHS[1]
