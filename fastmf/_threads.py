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
