"""Split rows into contiguous chunks of about equal work."""

import numpy as np
from numba import njit


@njit(cache=True)
def _balanced_chunks(indptr, per_row_cost, n_chunks):
    """Boundaries of ``n_chunks`` contiguous row ranges of about equal cost.

    The cost of row ``i`` is ``indptr[i + 1] - indptr[i] + per_row_cost``: the nonzeros
    of the row plus a fixed part (the dense d x d work every row pays). Power-law data
    puts most nonzeros in a few rows, so equal row counts would leave threads idle.
    Returns an int64 array ``b`` of length ``n_chunks + 1``; chunk ``c`` is rows
    ``b[c]:b[c + 1]`` (possibly empty).
    """
    n_rows = indptr.shape[0] - 1
    total = float(indptr[n_rows] - indptr[0]) + per_row_cost * n_rows
    bounds = np.empty(n_chunks + 1, dtype=np.int64)
    bounds[0] = 0
    c = 1
    acc = 0.0
    for i in range(n_rows):
        acc += float(indptr[i + 1] - indptr[i]) + per_row_cost
        while c < n_chunks and acc >= total * c / n_chunks:
            bounds[c] = i + 1
            c += 1
    while c <= n_chunks:
        bounds[c] = n_rows
        c += 1
    return bounds

