"""SGD.partial_fit: epochs over the new entries and a sample of the old ones, from the
fitted factors and step sizes."""

import copy

import numpy as np
import pytest
import scipy.sparse as sp

import fastmf
from fastmf import SGD

pd = pytest.importorskip("pandas")


def _split(seed=0, share=0.05):
    A = fastmf.datasets.make_synthetic(600, 200, 9000, random_state=seed).tocsr()
    coo = A.tocoo()
    new = np.random.default_rng(1).random(A.nnz) < share
    part = [sp.csr_array((coo.data[k], (coo.row[k], coo.col[k])), shape=A.shape)
            for k in (~new, new)]
    return A, part[0], part[1]


def _model(A, **kw):
    return SGD(**dict(dict(factors=8, random_state=0, num_threads=1), **kw)).fit(A)


def test_no_new_entries_change_nothing():
    A, old, _ = _split()
    model = _model(old)
    U, V = model.user_factors.copy(), model.item_factors.copy()
    model.partial_fit(sp.csr_array(A.shape))
    np.testing.assert_array_equal(model.user_factors, U)
    np.testing.assert_array_equal(model.item_factors, V)


def test_rows_not_visited_do_not_move():
    A, old, _ = _split()
    model = _model(old)
    U, V = model.user_factors.copy(), model.item_factors.copy()
    new = sp.csr_array(([1.0, 1.0], ([3, 7], [5, 5])), shape=A.shape)
    model.partial_fit(new, replay=0.0)
    moved_u = np.flatnonzero(np.any(model.user_factors != U, axis=1))
    moved_v = np.flatnonzero(np.any(model.item_factors != V, axis=1))
    assert set(moved_u) == {3, 7} and set(moved_v) == {5}


@pytest.mark.parametrize("schedule", ["adagrad", "inverse"])
def test_the_update_improves_the_objective_on_the_merged_data(schedule):
    A, old, new = _split()
    model = _model(old, lr_schedule=schedule, lr=0.05 if schedule == "adagrad" else 0.01)
    before = model.objective(A)
    model.partial_fit(new)
    assert model.objective(A) < before
    assert model._seen.nnz == A.nnz


def test_the_step_sizes_go_on_from_the_fit():
    # AdaGrad's accumulators are kept: starting them afresh takes steps the size of a
    # first epoch's and undoes the fit
    A, old, new = _split()
    model = _model(old, lr_schedule="adagrad")
    before = model.objective(A)
    fresh = copy.deepcopy(model)
    fresh._optimizer = None
    fresh.partial_fit(new)
    model.partial_fit(new)
    assert model.objective(A) < before < fresh.objective(A)


def test_new_users_and_items_get_raw_ids_and_factors(tmp_path):
    A, old, _ = _split()
    coo = sp.coo_array(old)
    df = pd.DataFrame({"user": coo.row, "item": coo.col, "value": coo.data.astype(float)})
    model = _model(df)
    new = pd.DataFrame({"user": [600, 600, 1], "item": [0, 200, 200], "value": 1.0})
    model.partial_fit(new)
    assert model.user_ids_[-1] == 600 and model.item_ids_[-1] == 200
    assert np.all(np.isfinite(model.user_factors)) and np.any(model.user_factors[-1] != 0)
    path = tmp_path / "sgd.npz"
    model.save(path)
    loaded = fastmf.load(path)
    assert set(loaded._optimizer) == set(model._optimizer)
    more = pd.DataFrame({"user": [2, 3], "item": [4, 5], "value": 1.0})
    model.partial_fit(more)
    loaded.partial_fit(more)
    np.testing.assert_array_equal(loaded.user_factors, model.user_factors)


def test_partial_fit_refuses_what_it_cannot_do():
    A, old, new = _split()
    assert not hasattr(fastmf.BPR(), "partial_fit")  # the ranking models refit only
    model = _model(old)
    with pytest.raises(ValueError, match="replay"):
        model.partial_fit(new, replay=-1.0)
    with pytest.raises(ValueError, match="epochs"):
        model.partial_fit(new, epochs=0)
