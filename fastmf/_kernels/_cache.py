"""Where Numba caches fastmf's kernels: a folder in the user's cache directory
(``~/.cache/fastmf/numba-<version>-<hash of the install folder>`` on Linux), not
``__pycache__`` inside the installed package, which ``pip install`` deletes, so a
reinstall of the same version in the same place keeps the compiled kernels. Numba checks
each cached kernel against a hash of its source file, so a changed kernel is still
recompiled. ``NUMBA_CACHE_DIR``, when set, wins as usual.

Numba offers no public hook for this; the locator is added to its table of locators and,
if that table ever moves, fastmf simply falls back to Numba's default.
"""

import hashlib
import os


def _version():
    try:
        from importlib.metadata import version

        from .._install import DISTRIBUTION
        return version(DISTRIBUTION)
    except Exception:  # not installed (a source tree on sys.path)
        return "dev"


#: the folder fastmf's kernels are cached in (set by :func:`install`; None: Numba's
#: defaults, the ``__pycache__`` folders beside the kernels)
ROOT = None


def where():
    """Where compiled kernels are cached, for messages."""
    return (os.environ.get("NUMBA_CACHE_DIR") or ROOT
            or "the __pycache__ folders of fastmf/_kernels")


def install():
    """Put the fastmf locator in front of Numba's defaults (after NUMBA_CACHE_DIR's)."""
    global ROOT
    try:
        from numba.core import caching
        from numba.misc.appdirs import AppDirs
    except ImportError:
        return None
    table = getattr(getattr(caching, "CacheImpl", None), "_locator_classes", None)
    base = getattr(caching, "_CacheLocator", None)
    mixin = getattr(caching, "_SourceFileBackedLocatorMixin", None)
    if not isinstance(table, list) or base is None or mixin is None:
        return None
    kernels_dir = os.path.dirname(os.path.abspath(__file__))
    # one folder per version and per installed copy: two source trees of one version
    # (a checkout beside an install) must not read each other's compiled kernels, whose
    # cached types may name classes the other tree does not have
    where_from = hashlib.sha1(kernels_dir.encode()).hexdigest()[:8]
    root = os.path.join(AppDirs(appname="fastmf", appauthor=False).user_cache_dir,
                        f"numba-{_version()}-{where_from}")

    class FastmfCacheLocator(mixin, base):
        """fastmf's kernels, cached under the user's cache directory."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = root

        def get_cache_path(self):
            return self._cache_path

        @classmethod
        def from_function(cls, py_func, py_file):
            if os.path.dirname(os.path.abspath(py_file)) != kernels_dir:
                return None  # not a fastmf kernel: Numba's own locators decide
            self = cls(py_func, py_file)
            try:
                self.ensure_cache_path()
            except OSError:
                return None  # not writable: Numba's defaults
            return self

    if not any(getattr(k, "__name__", "") == "FastmfCacheLocator" for k in table):
        position = 1 if table and "UserProvided" in table[0].__name__ else 0
        table.insert(position, FastmfCacheLocator)
    ROOT = root
    return root
