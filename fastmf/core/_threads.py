"""One ``num_threads`` knob for Numba, with BLAS kept from competing for the same cores."""

import os
import threading
from contextlib import contextmanager

import numba
from threadpoolctl import ThreadpoolController

# Idle OpenMP threads (Numba's 'omp' threading layer, GNU OpenMP) wait by spinning
# between the parallel regions of a fit. Beside other busy processes the spinning threads
# take CPU from the ones with work, and a region waits for its slowest thread: on 2 shared
# cores, 2 threads beside one busy process, a BPR epoch took 2.8x its quiet time spinning
# and 1.2x with a passive wait, an SGD epoch 2.1x and 1.3x (benchmarks/contention.py; on
# a quiet machine the difference was within the noise). So the wait is passive unless the
# environment sets OMP_WAIT_POLICY itself (GNU OpenMP reads it when it starts, at the
# first parallel kernel).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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


# Numba's 'workqueue' threading layer aborts the process when two threads launch parallel
# kernels at once; 'omp' and 'tbb' support concurrent callers. Under workqueue (or before
# the layer is known: it is chosen at the first parallel launch) the kernel sections of
# different threads take turns on this lock.
_TURNS = threading.RLock()
_CONCURRENT_LAYERS = ("omp", "tbb")


def concurrent_kernels():
    """Whether parallel kernels may run from several threads at once (the active Numba
    threading layer is 'omp' or 'tbb')."""
    try:
        return numba.threading_layer() in _CONCURRENT_LAYERS
    except ValueError:  # no parallel kernel has run yet: the layer is not chosen
        return False


@contextmanager
def thread_context(num_threads):
    """Run Numba kernels on ``num_threads`` threads (a per-thread setting in Numba) and
    BLAS on one, restoring both after. Under a threading layer that does not support
    concurrent callers, the sections of different threads run one at a time."""
    turns = None if concurrent_kernels() else _TURNS
    if turns is not None:
        turns.acquire()
    previous = numba.get_num_threads()
    numba.set_num_threads(num_threads)
    _blas_enter()
    try:
        yield num_threads
    finally:
        _blas_exit()
        numba.set_num_threads(previous)
        if turns is not None:
            turns.release()


# BLAS's thread count is one setting for the whole process: the first thread into a
# kernel section sets it to 1 and the last one out restores it (a limit per section would
# let one thread's exit undo another's, or leave 1 behind for good).
# The BLAS libraries are found once (threadpoolctl's scan of the loaded libraries costs
# about a millisecond with Numba's OpenMP loaded: more than a small recommend call).
_BLAS_LOCK = threading.Lock()
_blas = {"users": 0, "limiter": None, "controller": None}


def _blas_enter():
    with _BLAS_LOCK:
        if _blas["users"] == 0:
            if _blas["controller"] is None:
                _blas["controller"] = ThreadpoolController()
            _blas["limiter"] = _blas["controller"].limit(limits=1, user_api="blas")
        _blas["users"] += 1


def _blas_exit():
    with _BLAS_LOCK:
        _blas["users"] -= 1
        if _blas["users"] == 0:
            _blas["limiter"].restore_original_limits()
            _blas["limiter"] = None


# Parallel loops run over this many chunks of about equal work. A fixed number (not one per
# thread) keeps every sum, and so every result, independent of the thread count.
N_CHUNKS = 256


def n_chunks_for(n_rows):
    return int(max(1, min(n_rows, N_CHUNKS)))


# Row blocks of a threaded Gram product: a fixed number for a given row count (never the
# thread count), summed in a fixed order, so the result does not depend on the threads.
GRAM_BLOCK_ROWS = 8192
GRAM_MAX_BLOCKS = 32
# Multiply-adds of a Gram product per thread below which more threads do not pay: handing
# out two blocks of a 20,000 x 64 product took longer than one thread doing both (2.5
# against 2.0 ms on 2 cores), and beside a busy process the Python threads doubled the Gram
# time of an SGD epoch.
GRAM_WORK_PER_THREAD = 1 << 27
_gram_pool = {"pool": None}
_GRAM_POOL_LOCK = threading.Lock()


def _gram_threads():
    """The thread pool for Gram blocks, made once with Numba's thread limit (starting
    threads at every product cost more than the small products take)."""
    with _GRAM_POOL_LOCK:
        if _gram_pool["pool"] is None:
            from concurrent.futures import ThreadPoolExecutor
            _gram_pool["pool"] = ThreadPoolExecutor(numba.config.NUMBA_NUM_THREADS,
                                                    thread_name_prefix="fastmf-gram")
        return _gram_pool["pool"]


def gram(Y, weights=None):
    """``Y^T Y`` (``Y^T diag(weights) Y`` with ``weights``) in ``Y``'s dtype, on up to
    Numba's current number of threads (set by :func:`thread_context`).

    With BLAS held to one thread during a fit, one product over all rows would be the serial
    part of every half-sweep (a third of a 16-thread WALS iteration on a million users);
    instead the rows are cut into blocks whose products (BLAS's symmetric rank-k update,
    half the work of a general product) run on a pool of Python threads (BLAS releases the
    GIL) and are summed in block order. A product too small to share runs its blocks on the
    calling thread, in the same order: the result is the same.
    """
    m, d = Y.shape
    blocks = max(1, min(GRAM_MAX_BLOCKS, m // GRAM_BLOCK_ROWS))
    bounds = [m * b // blocks for b in range(blocks + 1)]

    def part(b):
        rows = Y[bounds[b]:bounds[b + 1]]
        if weights is None:
            return rows.T @ rows
        return (rows.T * weights[bounds[b]:bounds[b + 1]].astype(Y.dtype)) @ rows

    threads = min(blocks, numba.get_num_threads(), m * d * d // GRAM_WORK_PER_THREAD)
    if threads <= 1:
        parts = [part(b) for b in range(blocks)]
    else:
        # ``threads`` tasks, each a run of consecutive blocks
        runs = [range(blocks * t // threads, blocks * (t + 1) // threads)
                for t in range(threads)]
        pool = _gram_threads()
        parts = [p for run in pool.map(lambda r: [part(b) for b in r], runs) for p in run]
    total = parts[0]
    for p in parts[1:]:
        total += p
    return total
