"""A second process that compiles some of :func:`fastmf.compare`'s kernels into Numba's
on-disk cache while the calling process compiles the others.

Numba compiles on one core. On a fresh install ``compare`` compiles the SGD epoch kernels
(about half of its compile time) in a helper process started with the same tiny data and
settings, compiles the WALS and evaluation kernels itself meanwhile, then loads the SGD
kernels from the cache the helper filled. Everything is best effort: when the kernels are
cached already, the JIT is disabled, the cache is not on disk, or the helper fails or
stalls, the calling process simply compiles what is missing itself, as without a helper.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import scipy.sparse as sp

from ._methods import METHODS

# The methods a helper may take, by the kernel that dominates their compile time (from the
# method table). Only fastmf's own methods: a solver registered at run time would not
# exist in the helper.
HELPER_KERNELS = {name: m.kernel for name, m in METHODS.items() if m.kernel is not None}
# A helper still running this long after the caller finished its own share (and at least
# MIN_WAIT seconds) is stopped; the caller then compiles the rest itself.
WAIT_FACTOR = 3.0
MIN_WAIT = 120.0
_CHILD = ("import sys; from fastmf.compare import compile_methods_from; "
          "compile_methods_from(sys.argv[1])")


def helper_methods(methods):
    """The methods of ``methods`` worth handing to a helper: those of ``HELPER_KERNELS``
    whose kernel is neither compiled in this process nor found in the on-disk cache, when
    other methods remain for this process. Empty when no helper should start."""
    picked = []
    for method in methods:
        kernel = HELPER_KERNELS.get(method)
        if kernel is None:
            continue
        if getattr(kernel, "signatures", None) is None:
            return []  # NUMBA_DISABLE_JIT: plain functions, nothing to compile
        if kernel.signatures:
            continue
        try:
            index = kernel._cache._cache_file._index_path
        except AttributeError:
            return []  # no on-disk cache: a helper's work could not be shared
        if not os.path.exists(index):
            picked.append(method)
    rest = [m for m in methods if m not in picked
            and (m not in METHODS or METHODS[m].warm_up)]
    return picked if rest else []


def start(tiny, methods, settings):
    """Start a helper compiling ``methods`` on the matrix ``tiny`` with the JSON-able
    ``settings`` of :func:`fastmf.compare.compile_methods_from`; returns a handle for
    :func:`finish`, or None when it could not start."""
    folder = None
    try:
        folder = tempfile.mkdtemp(prefix="fastmf-compile-")
        sp.save_npz(os.path.join(folder, "data.npz"), sp.csr_matrix(tiny))
        with open(os.path.join(folder, "settings.json"), "w") as f:
            json.dump(dict(settings, methods=list(methods)), f)
        env = dict(os.environ)
        # the same fastmf as this process (a source tree on sys.path included)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, folder], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    except Exception:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        return None
    return {"proc": proc, "folder": folder}


def finish(helper, own_seconds):
    """Wait for the helper (at most ``WAIT_FACTOR`` times ``own_seconds``, the caller's own
    compile time, and at least ``MIN_WAIT``), stop it if it still runs, remove its files.
    Returns True when it ended normally."""
    if helper is None:
        return False
    proc = helper["proc"]
    try:
        proc.wait(timeout=max(MIN_WAIT, WAIT_FACTOR * own_seconds))
    except subprocess.TimeoutExpired:
        stop(helper)
        return False
    except BaseException:  # Ctrl-C while waiting
        stop(helper)
        raise
    finally:
        shutil.rmtree(helper["folder"], ignore_errors=True)
    return proc.returncode == 0


def stop(helper):
    """Stop a helper that still runs (on an error or interrupt of the caller)."""
    if helper is None:
        return
    proc = helper["proc"]
    if proc.poll() is None:
        proc.kill()
        deadline = time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    shutil.rmtree(helper["folder"], ignore_errors=True)
