"""One ``num_threads`` knob for Numba, with BLAS kept from competing for the same cores."""

from contextlib import contextmanager

import numba
from threadpoolctl import threadpool_limits


def resolve_num_threads(owner, num_threads):
    limit = numba.config.NUMBA_NUM_THREADS
    if num_threads is None or num_threads == 0:
        return limit
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0:
        raise ValueError(f"The 'num_threads' parameter of {owner} must be None, 0 (all cores) "
                         f"or a positive int. Got {num_threads!r} instead.")
    if num_threads > limit:
        raise ValueError(f"The 'num_threads' parameter of {owner} is {num_threads}, but Numba "
                         f"was started with {limit} threads; set NUMBA_NUM_THREADS before "
                         f"importing fastmf to allow more.")
    return num_threads


@contextmanager
def thread_context(num_threads):
    """Run Numba kernels on ``num_threads`` threads and BLAS on one, restoring both after."""
    previous = numba.get_num_threads()
    numba.set_num_threads(num_threads)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield num_threads
    finally:
        numba.set_num_threads(previous)


# Parallel loops run over this many chunks of about equal work. A fixed number (not one per
# thread) keeps every sum, and so every result, independent of the thread count.
N_CHUNKS = 256


def n_chunks_for(n_rows):
    return int(max(1, min(n_rows, N_CHUNKS)))


# Row blocks of a threaded Gram product: a fixed number for a given row count (never the
# thread count), summed in a fixed order, so the result does not depend on the threads.
GRAM_BLOCK_ROWS = 8192
GRAM_MAX_BLOCKS = 32


def gram(Y, weights=None):
    """``Y^T Y`` (``Y^T diag(weights) Y`` with ``weights``) in ``Y``'s dtype, on Numba's
    current number of threads (set by :func:`thread_context`).

    With BLAS held to one thread during a fit, one product over all rows would be the serial
    part of every half-sweep (a third of a 16-thread WALS iteration on a million users);
    instead the rows are cut into blocks whose products run on a pool of Python threads
    (BLAS releases the GIL) and are summed in block order.
    """
    m = Y.shape[0]
    blocks = max(1, min(GRAM_MAX_BLOCKS, m // GRAM_BLOCK_ROWS))
    bounds = [m * b // blocks for b in range(blocks + 1)]

    def part(b):
        rows = Y[bounds[b]:bounds[b + 1]]
        if weights is None:
            return rows.T @ rows
        return (rows.T * weights[bounds[b]:bounds[b + 1]].astype(Y.dtype)) @ rows

    threads = min(blocks, numba.get_num_threads())
    if threads <= 1:
        parts = [part(b) for b in range(blocks)]
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(part, range(blocks)))
    total = parts[0]
    for p in parts[1:]:
        total += p
    return total
