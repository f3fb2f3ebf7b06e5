"""A notice while Numba compiles kernels for the first time, with progress.

The first call of a kernel in a process either loads it from Numba's cache (well under a
second) or compiles it (tens of seconds on a fresh install or after an upgrade). A watcher
thread started before the call prints a line to stderr when the call is still running
after ``DELAY`` seconds and no kernel of this process has been compiled or loaded yet --
what is happening and where the compiled kernels will be kept -- then a progress line
every ``TICK`` seconds (elapsed time, kernels ready), so the output is never silent for
long, and a last line when the call returns. Warm runs print nothing. The watcher only
prints: it never interrupts the compiling thread.
"""

import sys
import threading
import time
from contextlib import contextmanager

DELAY = 2.0
TICK = 4.0
_MESSAGE = ("fastmf: compiling the kernels for first use; they are cached for this user "
            "and this fastmf version in {where}, so later runs load them in under a "
            "second...")
_state = {"shown": False}


def _compiled(kernel):
    # (with NUMBA_DISABLE_JIT the kernels are plain functions: nothing to compile)
    return len(getattr(kernel, "signatures", (None,))) > 0


def _warm(kernels):
    return all(_compiled(k) for k in kernels)


def _where():
    from .._kernels._cache import where
    return where()


@contextmanager
def first_compile_notice(kernels, stream=None):
    """Show the notice (and progress) if the block runs longer than ``DELAY`` seconds
    while any of the dispatchers ``kernels`` has no compiled or loaded version in this
    process."""
    if _state["shown"] or _warm(kernels):
        yield
        return
    out = stream or sys.stderr
    done = threading.Event()
    shown = threading.Event()
    start = time.monotonic()

    def watch():
        if done.wait(DELAY) or _state["shown"]:
            return
        _state["shown"] = True
        shown.set()
        print(_MESSAGE.format(where=_where()), file=out, flush=True)
        while not done.wait(TICK):
            ready = sum(_compiled(k) for k in kernels)
            print(f"fastmf: still compiling ({time.monotonic() - start:.0f} s; "
                  f"{ready} of {len(kernels)} kernels ready)", file=out, flush=True)

    watcher = threading.Thread(target=watch, name="fastmf-compile-notice", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(1.0)
        if shown.is_set():
            print(f"fastmf: kernels ready after {time.monotonic() - start:.0f} s",
                  file=out, flush=True)
