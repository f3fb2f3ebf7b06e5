"""Compiled kernels: pure ``@njit`` functions over arrays.

Nothing here validates its input: every caller in :mod:`fastmf` checks shapes, dtypes,
index ranges and finiteness first, because Numba does not bounds-check.
"""
