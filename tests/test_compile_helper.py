"""The helper process that compiles some of compare's kernels meanwhile: when it starts,
and that a failing helper is harmless."""

import os
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

from fastmf.evaluation import _compile_helper as helper


def _fake_kernel(index_path, signatures=()):
    cache = SimpleNamespace(_cache_file=SimpleNamespace(_index_path=str(index_path)))
    return SimpleNamespace(signatures=list(signatures), _cache=cache)


def test_helper_takes_uncached_sgd_methods_only_when_others_remain(monkeypatch, tmp_path):
    index = tmp_path / "kernel.nbi"
    monkeypatch.setitem(helper.HELPER_KERNELS, "sgd", _fake_kernel(index))
    assert helper.helper_methods(["wals-cg", "sgd", "svd"]) == ["sgd"]
    assert helper.helper_methods(["sgd", "svd"]) == []  # nothing left for this process
    index.write_bytes(b"")  # cached already
    assert helper.helper_methods(["wals-cg", "sgd"]) == []
    monkeypatch.setitem(helper.HELPER_KERNELS, "sgd", _fake_kernel(tmp_path / "x", [1]))
    assert helper.helper_methods(["wals-cg", "sgd"]) == []  # compiled in this process
    # no on-disk cache (Numba's NullCache), or the JIT disabled: no helper
    monkeypatch.setitem(helper.HELPER_KERNELS, "sgd", SimpleNamespace(signatures=[],
                                                                      _cache=object()))
    assert helper.helper_methods(["wals-cg", "sgd"]) == []
    monkeypatch.setitem(helper.HELPER_KERNELS, "sgd", lambda: None)
    assert helper.helper_methods(["wals-cg", "sgd"]) == []


def test_a_failing_helper_is_reported_and_cleaned_up():
    tiny = sp.csr_array(np.eye(4, dtype=np.float32))
    handle = helper.start(tiny, ["sgd"], {"no such setting": 1})
    assert handle is not None
    assert helper.finish(handle, 0.0) is False
    assert not os.path.exists(handle["folder"])
    # settings that are not JSON: no helper at all
    assert helper.start(tiny, ["sgd"], {"bad": object()}) is None
