"""Ctrl-C at random moments of a fit (or an evaluation) never kills the process; the model
keeps the factors and history of its last complete iteration."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

CHILD = Path(__file__).with_name("_interrupt_child.py")


def _interrupt_once(which, delay):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(CHILD), which], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(delay)
        sent = time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}: {err[-2000:]}"
    assert proc.returncode == 0, err[-2000:]
    res = json.loads(out.strip().splitlines()[-1])
    assert res["interrupted"]
    if res.get("iterations"):
        assert res["fitted"] and res["finite"]
        assert "keeps the factors and history_ of iteration" in res["message"]
        # the factors are those of the last recorded iteration, exactly
        assert res["loss"] == pytest.approx(res["last"], rel=1e-9)
    return res["caught"] - sent


def _trials(n, seed):
    rng = np.random.default_rng(seed)
    kinds = ["wals", "sgd", "evaluate"]
    latencies = []
    for t in range(n):
        latencies.append(_interrupt_once(kinds[t % 3], float(rng.uniform(0.0, 1.5))))
    print(f"stop latency after SIGINT: median {np.median(latencies):.3f} s, max "
          f"{max(latencies):.3f} s over {n} trials")
    return latencies


def test_sigint_at_random_moments_is_safe():
    _trials(3, 0)


def _spin(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


@pytest.mark.slow
def test_sigint_at_random_moments_is_safe_30_times():
    # beside a busy process, 95% of the stops take at most 1 s
    import multiprocessing
    busy = multiprocessing.Process(target=_spin, args=(3600,))
    busy.start()
    try:
        latencies = _trials(30, 1)
    finally:
        busy.terminate()
    assert np.percentile(latencies, 95) <= 1.0, sorted(latencies)


def test_deferral_holds_sigint_until_a_checkpoint():
    from fastmf.core import _interrupts as interrupts
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)                 # the handler only sets the flag
            assert interrupts.pending()
            with interrupts.deferred():      # nested: still deferred
                assert interrupts.active()
            interrupts.checkpoint()          # raised here, at the safe point
    assert not interrupts.pending() and not interrupts.active()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_deferral_is_a_no_op_outside_the_main_thread():
    import threading
    from fastmf.core import _interrupts as interrupts
    seen = []

    def worker():
        with interrupts.deferred():
            seen.append(interrupts.active())
            interrupts.checkpoint()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [False]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _fit_in_a_thread(make, A):
    import threading
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("m", make().fit(A)))
    t.start()
    t.join()
    return out["m"]


@pytest.mark.parametrize("solver", ["cg", "cholesky", "ials++"])
def test_half_sweeps_cut_into_slices_give_the_same_factors(solver, monkeypatch):
    # a fit in the main thread defers Ctrl-C and runs long half-sweeps in slices (here
    # tiny ones); in another thread it runs them whole: the factors agree exactly
    from conftest import random_csr

    import fastmf
    from fastmf.solvers import _base
    monkeypatch.setattr(_base, "SLICE_WORK", 2000)
    A = random_csr(200, 150, 0.05, 3)

    def make():
        return fastmf.WALS(6, solver=solver, block_size=4, iterations=3, random_state=0,
                           dtype=np.float64)

    sliced = make().fit(A)
    whole = _fit_in_a_thread(make, A)
    np.testing.assert_array_equal(sliced.user_factors, whole.user_factors)
    np.testing.assert_array_equal(sliced.item_factors, whole.item_factors)
    assert [h["objective"] for h in sliced.history_] == pytest.approx(
        [h["objective"] for h in whole.history_], rel=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_half_sweep_slices_keep_every_thread_busy(threads, monkeypatch):
    """A long half-sweep cut into slices (Ctrl-C deferred) still hands each kernel call
    SLICE_CHUNKS_PER_THREAD chunks per thread: with one chunk per call a Cholesky
    half-sweep ran on one thread."""
    import types

    import numba
    from fastmf.core import _interrupts
    from fastmf.solvers import _base
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip("needs 2 threads")
    monkeypatch.setattr(_interrupts, "active", lambda: True)
    n_rows, k = 20_000, 64
    indptr = np.arange(n_rows + 1, dtype=np.int64) * 50
    chunks = np.linspace(0, n_rows, 257).astype(np.int64)
    side = types.SimpleNamespace(chunks=chunks, indptr=indptr, k=k,
                                 free_rows=np.zeros(0, np.int64))
    heavy = types.SimpleNamespace(entry_work=lambda k: float(k) ** 2 * 50)  # many slices
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        slices = list(_base._slices(heavy, side, None))
    finally:
        numba.set_num_threads(previous)
    sizes = [part.chunks.shape[0] - 1 for part, _ in slices]
    assert len(slices) > 1 and sum(sizes) == 256
    assert min(sizes) >= _base.SLICE_CHUNKS_PER_THREAD * threads
    np.testing.assert_array_equal(np.concatenate([p.chunks[:-1] for p, _ in slices]),
                                  chunks[:-1])


def test_sgd_epochs_cut_into_pieces_give_the_same_factors(monkeypatch):
    from conftest import random_csr

    import fastmf
    from fastmf.solvers import _sgd_epochs
    monkeypatch.setattr(_sgd_epochs, "SLICE_ENTRIES", 50)
    A = random_csr(200, 150, 0.05, 3)

    def make():
        return fastmf.SGD(6, epochs=3, lr=0.05, lr_schedule="adagrad", random_state=0,
                          num_threads=1, dtype=np.float64)

    np.testing.assert_array_equal(make().fit(A).user_factors,
                                  _fit_in_a_thread(make, A).user_factors)
