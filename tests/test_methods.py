"""The one table of compare's methods and the command line's models."""

import pytest

from fastmf import BPR, SGD, SVD, WALS, WARP, LogisticMF
from fastmf.compare import METHODS as DEFAULT
from fastmf.evaluation import _compile_helper as helper
from fastmf.evaluation._compare import OBJECTIVES, SGD_SETTINGS
from fastmf.evaluation._methods import METHODS, MODELS, known_methods, method

BUILT = {"wals-cg": WALS, "wals-cholesky": WALS, "sgd": SGD, "sgd-logistic": LogisticMF,
         "sgd-bpr": BPR, "sgd-warp": WARP, "observed-only": WALS, "svd": SVD}


@pytest.mark.parametrize("name", list(BUILT))
def test_each_method_builds_its_estimator_with_valid_parameters(name):
    m = method(name)
    model = m.build(8, 3, dict(OBJECTIVES["implicit"]), dict(SGD_SETTINGS["implicit"]),
                    {"num_threads": 1, "random_state": 0})
    assert type(model) is BUILT[name]
    model.check_params()
    if m.steps is not None:
        assert model.get_params()[m.steps] == 3
    assert m.implicit_only == (type(model) in (BPR, LogisticMF, WARP)
                               or name == "observed-only")


def test_the_names_defaults_and_helper_kernels_come_from_the_table():
    assert set(METHODS) == set(BUILT) and set(known_methods()) >= set(BUILT)
    assert DEFAULT == tuple(n for n in METHODS if n != "sgd-warp")
    assert set(helper.HELPER_KERNELS) == {"sgd", "sgd-logistic", "sgd-bpr", "sgd-warp"}
    assert set(MODELS) == {"wals", "sgd", "svd", "bpr", "logistic", "warp"}
    with pytest.raises(KeyError):
        method("wals-lu")


def test_the_command_lines_ratings_parameters_come_from_the_preset_table():
    from fastmf.models._defaults import PRESETS
    ratings = PRESETS["ratings"]
    assert MODELS["sgd"].params_for("ratings") == {"kind": "ratings"}
    assert MODELS["wals"].params_for("ratings") == {"kind": "ratings", "solver": "cholesky"}
    assert MODELS["svd"].params_for("ratings") == {
        k: ratings[k] for k in ("target", "w0", "confidence")}
    assert all(m.params_for("implicit") == {} for m in MODELS.values())


def test_resolve_reads_the_preset_table(monkeypatch):
    from conftest import random_csr

    from fastmf.models import _defaults
    A = random_csr(30, 20, 0.3, 0)
    r = WALS(4, kind="ratings", iterations=1).fit(A).resolved_params_
    preset = _defaults.PRESETS["ratings"]
    assert (r["target"], r["w0"], r["confidence"], r["biases"]) == (
        preset["target"], preset["w0"], preset["confidence"], preset["biases"])
    monkeypatch.setitem(_defaults.PRESETS["implicit"], "lr", 0.125)
    assert SGD(4, epochs=1).fit(A).resolved_params_["lr"] == 0.125
