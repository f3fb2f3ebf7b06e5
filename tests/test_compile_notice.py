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
    text = out.getvalue()
    assert text.count("compiling the kernels for first use") == 1
    assert text.count("kernels ready after") == 1
    with notice.first_compile_notice([cold], stream=out):
        time.sleep(0.3)
    assert out.getvalue() == text  # once per process


def test_a_long_compile_reports_progress_and_says_where_the_cache_is(monkeypatch):
    monkeypatch.setattr(notice, "DELAY", 0.05)
    monkeypatch.setattr(notice, "TICK", 0.1)
    monkeypatch.setitem(notice._state, "shown", False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/some/cache/folder")
    kernels = [SimpleNamespace(signatures=[]), SimpleNamespace(signatures=[])]
    out = io.StringIO()
    with notice.first_compile_notice(kernels, stream=out):
        time.sleep(0.3)
        kernels[0].signatures.append("compiled")
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert "/some/cache/folder" in lines[0] and "this user" in lines[0]
    progress = [line for line in lines if "still compiling" in line]
    assert len(progress) >= 3  # never more than TICK seconds of silence
    assert "0 of 2 kernels ready" in progress[0] and "1 of 2 kernels ready" in progress[-1]
    assert lines[-1].startswith("fastmf: kernels ready after")


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
