"""What several kernels share: the fastmath flags, the CSR bundle and the four-row dot
product."""

from collections import namedtuple

from numba import njit

# Every kernel compiles with these flags. Reassociation lets LLVM vectorize the d-long
# reductions; no-NaN/no-inf flags stay off so a diverging solve or epoch still shows up as
# NaN instead of being optimized into garbage.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}

#: The CSR arrays of the rows a kernel walks, one argument: ``indptr``, ``indices`` (the
#: columns) and ``values`` (the stored values, from which the kernels compute weights and
#: targets). A kernel unpacks it once, outside its parallel loop.
CsrRows = namedtuple("CsrRows", ["indptr", "indices", "values"])


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _dot4(y0, y1, y2, y3, v, k, zero):
    """<y0, v>, <y1, v>, <y2, v>, <y3, v> in one pass over v: the four sums are independent,
    so they overlap instead of waiting on one another."""
    s0 = zero
    s1 = s0
    s2 = s0
    s3 = s0
    for a in range(k):
        va = v[a]
        s0 += y0[a] * va
        s1 += y1[a] * va
        s2 += y2[a] * va
        s3 += y3[a] * va
    return s0, s1, s2, s3
