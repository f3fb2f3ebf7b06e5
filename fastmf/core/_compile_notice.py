"""A one-line notice while Numba compiles kernels for the first time.

The first call of a kernel in a process either loads it from Numba's cache (well under a
second) or compiles it (tens of seconds on a fresh install). A timer started before the
call prints one line to stderr when the call is still running after ``DELAY`` seconds and
no kernel of this process has been compiled or loaded yet, so a user sees why the first
fit stalls; warm runs print nothing.
"""

import sys
import threading
from contextlib import contextmanager

DELAY = 2.0
_MESSAGE = ("fastmf: compiling the kernels for first use (once per installation; later runs "
            "load them from Numba's cache)...")
_state = {"shown": False}


def _warm(kernels):
    # (with NUMBA_DISABLE_JIT the kernels are plain functions: nothing to compile)
    return all(len(getattr(k, "signatures", (None,))) > 0 for k in kernels)


@contextmanager
def first_compile_notice(kernels, stream=None):
    """Show the notice if the block runs longer than ``DELAY`` seconds while any of the
    dispatchers ``kernels`` has no compiled or loaded version in this process."""
    if _state["shown"] or _warm(kernels):
        yield
        return
    out = stream or sys.stderr

    def show():
        if not _state["shown"]:
            _state["shown"] = True
            print(_MESSAGE, file=out, flush=True)

    timer = threading.Timer(DELAY, show)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
