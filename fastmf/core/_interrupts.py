"""Ctrl-C that never lands inside a kernel.

Interrupting a Numba parallel region is unsafe (the process can die with a segmentation
fault). While :func:`deferred` is active, SIGINT only sets a flag; the code between kernel
calls asks :func:`pending` or calls :func:`checkpoint` (which raises KeyboardInterrupt at
that safe point). Python runs signal handlers in the main thread only, so deferral is
installed there; elsewhere (a fit in a worker thread) it is a no-op, and a Ctrl-C goes to
the main thread as usual.
"""

import functools
import signal
import threading
from contextlib import contextmanager

_depth = 0
_pending = False


def _flag(signum, frame):
    global _pending
    _pending = True


def _main():
    return threading.current_thread() is threading.main_thread()


@contextmanager
def deferred():
    """Defer SIGINT to the next :func:`checkpoint` (re-entrant). A SIGINT still pending
    when the outermost block ends is raised there. Only the main thread defers (Python
    runs signal handlers there); elsewhere this does nothing."""
    global _depth, _pending
    if not _main():
        yield
        return
    if _depth > 0:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield  # the program handles SIGINT itself
        return
    _pending = False
    previous = signal.signal(signal.SIGINT, _flag)
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        signal.signal(signal.SIGINT, previous)
        if _pending:
            _pending = False
            raise KeyboardInterrupt


def active():
    """Whether SIGINT is being deferred now for this thread (so checkpoints can see it)."""
    return _main() and _depth > 0 and signal.getsignal(signal.SIGINT) is _flag


def pending():
    """Whether a SIGINT arrived and has not been raised yet (main thread only)."""
    return _pending and _main()


def checkpoint():
    """Raise the deferred KeyboardInterrupt, if any (a safe point between kernel calls)."""
    global _pending
    if _pending and _main():
        _pending = False
        raise KeyboardInterrupt


def deferring(func):
    """Decorator: run ``func`` with SIGINT deferred to its checkpoints."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with deferred():
            return func(*args, **kwargs)
    return wrapper
