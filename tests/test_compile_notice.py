"""The one-line notice while kernels compile for the first time."""

import io
import time
from types import SimpleNamespace

from fastmf.core import _compile_notice as notice


def test_notice_shows_once_for_a_slow_first_compile(monkeypatch):
    monkeypatch.setattr(notice, "DELAY", 0.05)
    monkeypatch.setitem(notice._state, "shown", False)
    cold = SimpleNamespace(signatures=[])
    out = io.StringIO()
    with notice.first_compile_notice([cold], stream=out):
        time.sleep(0.3)
    assert out.getvalue().count("compiling the kernels for first use") == 1
    with notice.first_compile_notice([cold], stream=out):
        time.sleep(0.3)
    assert out.getvalue().count("\n") == 1  # once per process


def test_no_notice_when_warm_or_fast(monkeypatch):
    monkeypatch.setattr(notice, "DELAY", 0.05)
    monkeypatch.setitem(notice._state, "shown", False)
    out = io.StringIO()
    with notice.first_compile_notice([SimpleNamespace(signatures=["x"])], stream=out):
        time.sleep(0.2)                     # compiled or loaded already: no notice
    with notice.first_compile_notice([SimpleNamespace(signatures=[])], stream=out):
        pass                                # a fast first call (cache hit): no notice
    time.sleep(0.1)
    assert out.getvalue() == ""
