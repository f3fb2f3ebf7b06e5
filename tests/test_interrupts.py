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


@pytest.mark.slow
def test_sigint_at_random_moments_is_safe_30_times():
    _trials(30, 1)


def test_deferral_holds_sigint_until_a_checkpoint():
    from fastmf import _interrupts as interrupts
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
    from fastmf import _interrupts as interrupts
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
