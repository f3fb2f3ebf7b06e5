"""Compiled kernels: pure ``@njit`` functions over arrays.

Nothing here validates its input: every caller in :mod:`fastmf` checks shapes, dtypes,
index ranges and finiteness first, because Numba does not bounds-check.
"""

from ._cache import install as _install_cache_locator

_install_cache_locator()
