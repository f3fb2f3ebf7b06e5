"""Where the blocks are: the client's record of every row block (its rows, the fixed-side
rows it references, the future of the block on its worker) and how to rebuild a block
whose worker died."""

import numpy as np

from .._kernels.partition import _balanced_chunks
from .._validation import Csr
from .blocks import block_info, build_block

SIDES = ("items", "users")
# Future states of a block whose data went with its worker: "lost" (the scheduler
# recomputes it if it can: a block of a data-frame input), "cancelled" (it cannot: the
# block was built from rows scattered by the client, which then scatters them again).
LOST = ("cancelled", "lost", "error")


def lost_errors():
    """Exceptions that mean "a worker went away", not "the computation is wrong"."""
    import concurrent.futures

    from distributed.client import FutureCancelledError
    from distributed.comm import CommClosedError
    from distributed.scheduler import KilledWorker
    # TimeoutError: a scatter to a worker that left between two calls finds no worker
    return (FutureCancelledError, KilledWorker, CommClosedError, TimeoutError,
            concurrent.futures.CancelledError)


class BlockRef:
    """One block as the client knows it. ``rebuild()`` returns a new future of the block
    (None when the scheduler rebuilds it from the task graph itself)."""

    def __init__(self, side, start, stop, future, rebuild=None):
        self.side, self.start, self.stop = side, int(start), int(stop)
        self.future = future
        self.rebuild = rebuild
        self.cols = None
        self.free_rows = np.zeros(0, np.int64)
        self.target_sums = (0.0, 0.0)


class Layout:
    """The blocks of both sides of one fit, on one client."""

    def __init__(self, client, shape, refs, ids=None):
        self.client = client
        self.shape = shape
        self.refs = {side: [r for r in refs if r.side == side] for side in SIDES}
        self.ids = ids

    def all_refs(self):
        return self.refs["items"] + self.refs["users"]

    def wait_built(self):
        """Wait for every block, raise a build error as it is (bad data), then fetch what
        the client keeps about each block."""
        from distributed import wait
        refs = self.all_refs()
        wait([r.future for r in refs])
        for r in refs:
            if r.future.status == "error":
                r.future.result()  # raises the worker's exception
        infos = self.client.gather([self.client.submit(block_info, r.future, pure=False)
                                    for r in refs], direct=True)
        for r, info in zip(refs, infos):
            r.cols = info["cols"]
            r.free_rows = info["free_rows"]
            r.target_sums = info["target_sums"]

    def repair(self, refs):
        """Rebuild the blocks among ``refs`` whose data was lost with a worker."""
        for r in refs:
            if r.future.status not in LOST:
                continue
            if r.future.status == "error":
                exc = r.future.exception()
                if not isinstance(exc, lost_errors()):
                    raise exc
            if r.rebuild is None and r.future.status == "lost":
                continue  # the scheduler recomputes it from its task graph
            if r.rebuild is None:
                raise RuntimeError(f"DaskWALS: the {r.side} block of rows {r.start}.."
                                   f"{r.stop - 1} was lost with its worker and cannot be "
                                   f"rebuilt.")
            r.future = r.rebuild()

    def where(self, refs):
        """The worker holding each block (None while it is being rebuilt)."""
        who = self.client.who_has([r.future for r in refs])
        live = self.client.scheduler_info(n_workers=-1)["workers"]
        held = [[w for w in who.get(r.future.key, ()) if w in live] for r in refs]
        return [h[0] if h else None for h in held]

    def target_mean(self):
        """Weighted mean of the observed targets, from the user blocks' sums."""
        total = sum(r.target_sums[0] for r in self.refs["users"])
        weighted = sum(r.target_sums[1] for r in self.refs["users"])
        return float(weighted / total) if total > 0 else 0.0

    def release(self):
        futures = [r.future for r in self.all_refs() if r.future is not None]
        for r in self.all_refs():
            r.future = None
        if futures and self.client.status == "running":
            self.client.cancel(futures)


def block_bounds(counts, k, n_blocks):
    """Row ranges of at most ``n_blocks`` blocks of about equal work (nonzeros plus ``k``
    per row), empty ranges dropped."""
    indptr = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    b = _balanced_chunks(indptr, k, max(1, min(n_blocks, counts.size)))
    return [(int(s), int(e)) for s, e in zip(b[:-1], b[1:]) if e > s]


def row_part(csr, start, stop):
    """Rows ``start .. stop - 1`` of ``csr`` (views of its index and value arrays)."""
    s, e = int(csr.indptr[start]), int(csr.indptr[stop])
    return Csr(csr.indptr[start:stop + 1] - s, csr.indices[s:e], csr.data[s:e],
               (stop - start, csr.shape[1]))


def column_part(csr, start, stop):
    """Columns ``start .. stop - 1`` of ``csr`` as rows of its transpose (a copy of that
    block only, sorted as ``Csr.transpose`` sorts)."""
    t = csr.to_scipy()[:, start:stop].T.tocsr()
    t.sum_duplicates()
    return Csr(t.indptr, t.indices, t.data, (stop - start, csr.shape[0]))


def matrix_layout(client, csr, weighting, solver, *, k, dtype, n_blocks):
    """Blocks of a matrix held by the client: each block's rows are scattered to a worker
    and the block is built there. A lost block is rebuilt by scattering its rows again from
    ``csr`` (the client's validated matrix, not a copy of it)."""
    m, n = csr.shape
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    refs = []
    for side, counts, transposed, n_other, part_of in (
            ("items", np.bincount(csr.indices[:csr.nnz], minlength=n), True, m, column_part),
            ("users", csr.row_nnz(), False, n, row_part)):
        for b, (start, stop) in enumerate(block_bounds(counts, k, n_blocks)):
            def rebuild(start=start, stop=stop, part_of=part_of, transposed=transposed,
                        n_other=n_other, worker=workers[b % len(workers)]):
                return _scatter_and_build(client, part_of(csr, start, stop), start, worker,
                                          weighting, solver, transposed, n_other, k, dtype)
            refs.append(BlockRef(side, start, stop, rebuild(), rebuild))
    return Layout(client, (m, n), refs)


def _scatter_and_build(client, part, start, worker, weighting, solver, transposed, n_other,
                       k, dtype):
    live = client.scheduler_info(n_workers=-1)["workers"]
    target = [worker] if worker in live else None
    part_future = client.scatter(part, workers=target, direct=True, hash=False)
    return client.submit(build_block, part_future, start, weighting, solver, transposed,
                         n_other, k, dtype, pure=False, **placement(target))


def placement(workers):
    """submit's keywords for a task that should run on ``workers`` (None: anywhere) but
    may run elsewhere once they are gone."""
    return {} if workers is None else {"workers": workers, "allow_other_workers": True}


def expected_bytes(A, factors, dtype, n_blocks, *, biases=False, unobserved=True):
    """(sent, received): the array bytes one iteration moves between the client and the
    workers for the matrix ``A``, from the blocks' rows and referenced columns:

    sent     = sum over blocks b of (rows_b + R_b) (d + beta) s + gamma d^2 s
    received = sum over blocks b of rows_b (d + beta) s + gamma 8 d^2

    over the item and the user blocks, with s the factor itemsize, R_b the fixed-side rows
    block b references (the whole side when that is at least ``WHOLE_SIDE`` of it),
    beta = 1 with biases, gamma = 1 with an unobserved term (w0 > 0)."""
    from .blocks import WHOLE_SIDE
    csr = A.tocsr()
    s = np.dtype(dtype).itemsize
    d, beta, gamma = factors, int(biases), int(unobserved)
    k = d + 1 if biases else d
    sent = received = 0
    for X in (csr.T.tocsr(), csr):
        n_other = X.shape[1]
        for start, stop in block_bounds(np.diff(X.indptr), k, n_blocks):
            ref = np.unique(X.indices[X.indptr[start]:X.indptr[stop]]).size
            ref = n_other if ref >= WHOLE_SIDE * n_other else ref
            sent += (stop - start + ref) * (d + beta) * s + gamma * d * d * s
            received += (stop - start) * (d + beta) * s + gamma * 8 * d * d
    return sent, received
