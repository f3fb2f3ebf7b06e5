"""Where the blocks are: the client's record of every row block of both sides (its rows,
the future of its part and of its set-up :class:`~fastmf.distributed.blocks.Block`), how
to rebuild a block whose worker died, and the data-aware defaults from reductions over the
parts."""

from types import SimpleNamespace

import numpy as np

from ..models._defaults import MEDIAN_SAMPLE, median_scale_of
from .._kernels.partition import _balanced_chunks
from ..core._validation import Csr
from .blocks import (block_info, build_block, part_nnz, row_counts, value_pass,
                     value_summary)

SIDES = ("items", "users")


def lost_errors():
    """Exceptions that mean "a worker went away", not "the computation is wrong"."""
    import concurrent.futures

    from distributed.client import FutureCancelledError
    from distributed.comm import CommClosedError
    from distributed.scheduler import KilledWorker
    # TimeoutError: a scatter to a worker that left between two calls finds no worker
    return (FutureCancelledError, KilledWorker, CommClosedError, TimeoutError,
            concurrent.futures.CancelledError)


def worker_threads(client, *, wait=0.0):
    """``{address: threads}`` of the workers the scheduler has now, asked of the scheduler
    directly (``Client.scheduler_info`` may hand back a cached identity that lists no
    workers). With ``wait`` > 0, waits up to that many seconds for a first worker and
    fails clearly if none comes."""
    threads = dict(client.nthreads())
    if not threads and wait > 0:
        try:
            client.wait_for_workers(1, timeout=wait)
        except Exception as exc:  # noqa: BLE001 - a timeout, in whichever class
            raise RuntimeError(f"The Dask cluster has no workers (none joined in {wait:g} "
                               f"s).") from exc
        threads = dict(client.nthreads())
    return threads


def survivors(client, futures):
    """A test of "this future's data is still held by a live worker", for ``futures``."""
    finished = [f for f in futures if f.status == "finished"]
    held = client.who_has(finished) if finished else {}
    live = set(worker_threads(client))
    keys = {f.key for f in finished if any(w in live for w in held.get(f.key, ()))}
    return lambda f: f.key in keys


class BlockRef:
    """One block as the client knows it: its rows, the future of its part (``rescatter``
    makes a new one when the part was scattered by the client and lost with its worker;
    None when the scheduler recomputes it from its task graph), and the future of the
    set-up block."""

    def __init__(self, side, start, stop, part, rescatter=None):
        self.side, self.start, self.stop = side, int(start), int(stop)
        self.part = part
        self.rescatter = rescatter
        self.block = None
        self.in_counts = None
        self.target_sums = (0.0, 0.0)
        self.nnz = 0


class Layout:
    """The blocks of both sides of one fit, on one client."""

    def __init__(self, client, shape, refs, ids=None):
        self.client = client
        self.shape = shape
        self.refs = {side: [r for r in refs if r.side == side] for side in SIDES}
        self.ids = ids
        self.weighting = None
        self._weighting_value = None
        self._build_args = None

    def all_refs(self):
        return self.refs["items"] + self.refs["users"]

    def bounds(self, side):
        return [(r.start, r.stop) for r in self.refs[side]]

    # ------------------------------------------------------------------ parts
    def wait_parts(self):
        """Wait for every part; raise a build error as it is (bad data on a worker)."""
        from distributed import wait
        futures = [r.part for r in self.all_refs()]
        wait(futures)
        for f in futures:
            if f.status == "error":
                f.result()

    def stats(self):
        """The summaries :func:`fastmf.models._defaults.resolve_from` reads, reduced over the
        user parts on the workers."""
        return PartStats(self)

    # ------------------------------------------------------------------ blocks
    def build(self, weighting, solver, *, k, dtype):
        """Set up every block for the fit (on the worker holding its part) and fetch what
        the client keeps about each."""
        from distributed import wait
        self._weighting_value = weighting
        self._scatter_weighting()
        self._build_args = (solver, k, dtype)
        for r in self.all_refs():
            r.block = self._submit_build(r)
        refs = self.all_refs()
        wait([r.block for r in refs])
        for r in refs:
            if r.block.status == "error":
                r.block.result()
        infos = self.client.gather([self.client.submit(block_info, r.block, pure=False)
                                    for r in refs], direct=True)
        for r, info in zip(refs, infos):
            r.in_counts = info["in_counts"]
            r.target_sums = info["target_sums"]
            r.nnz = info["nnz"]

    def _scatter_weighting(self):
        # one copy per worker, sent once per fit: every block's set-up reads it
        self.weighting = self.client.scatter(self._weighting_value, broadcast=True,
                                             hash=False)

    def _submit_build(self, r):
        solver, k, dtype = self._build_args
        transposed = r.side == "items"
        other = "users" if transposed else "items"
        n_other = self.shape[0] if transposed else self.shape[1]
        return self.client.submit(build_block, r.part, r.start, self.weighting, solver,
                                  transposed, n_other, k, dtype, self.bounds(other),
                                  pure=False)

    def repair(self):
        """Rebuild what a dead worker took: parts the client scattered (sent again),
        the weighting, and the set-up blocks. Returns the refs rebuilt."""
        alive = survivors(self.client, [r.part for r in self.all_refs()]
                          + [r.block for r in self.all_refs()] + [self.weighting])

        if not alive(self.weighting):
            self._scatter_weighting()
        rebuilt = []
        for r in self.all_refs():
            if alive(r.block):
                continue
            if r.rescatter is not None and not alive(r.part):
                r.part = r.rescatter()
            r.block = self._submit_build(r)
            rebuilt.append(r)
        return rebuilt

    def target_mean(self):
        """Weighted mean of the observed targets, from the user blocks' sums."""
        total = sum(r.target_sums[0] for r in self.refs["users"])
        weighted = sum(r.target_sums[1] for r in self.refs["users"])
        return float(weighted / total) if total > 0 else 0.0

    def release(self):
        """Drop the futures of the parts and blocks (which releases them on the
        workers)."""
        for r in self.all_refs():
            r.part = r.block = None
        self.weighting = None


class PartStats:
    """:func:`fastmf.models._defaults.resolve_from`'s summaries of data held in parts on the
    workers: each a reduction whose result (scalars, a median sample of at most
    MEDIAN_SAMPLE values, and the items' counts) is all that reaches the client."""

    def __init__(self, layout):
        self.layout = layout
        self.client = layout.client
        self.users = [r.part for r in layout.refs["users"]]
        self.shape = layout.shape
        self.nnz = sum(self.client.gather([self.client.submit(part_nnz, f, pure=False)
                                           for f in self.users], direct=True))
        stride = max(1, -(-self.nnz // MEDIAN_SAMPLE))
        parts = self.client.gather([self.client.submit(value_summary, f, stride, pure=False)
                                    for f in self.users], direct=True)
        self.nnz = sum(p["nnz"] for p in parts)
        self._min = min((p["min"] for p in parts), default=np.inf)
        self._max = max((p["max"] for p in parts), default=-np.inf)
        self._sum = sum(p["sum"] for p in parts)
        samples = [p["sample"] for p in parts]
        self._sample = np.concatenate(samples) if samples else np.zeros(0)
        self._passes = {}

    def all_equal(self):
        return self._min == self._max

    def median_scale(self):
        return median_scale_of(self._sample)

    def _pass(self, q):
        key = (q.confidence, q.alpha, q.epsilon)
        if key not in self._passes:
            mean = self._sum / self.nnz if self.nnz else 0.0
            q = SimpleNamespace(confidence=q.confidence, alpha=q.alpha, epsilon=q.epsilon)
            got = self.client.gather([self.client.submit(value_pass, f, q, mean, pure=False)
                                      for f in self.users], direct=True)
            self._passes[key] = (sum(g[0] for g in got), sum(g[1] for g in got))
        return self._passes[key]

    def mean_confidence(self, q):
        if self.nnz == 0 or q.confidence == "none":
            return 1.0
        return self._pass(q)[0] / self.nnz

    def std(self):
        q = SimpleNamespace(confidence="none", alpha=1.0, epsilon=1.0)
        return float(np.sqrt(self._pass(q)[1] / self.nnz))

    def col_nnz(self):
        counts = self.client.gather([self.client.submit(row_counts, r.part, pure=False)
                                     for r in self.layout.refs["items"]], direct=True)
        return np.concatenate(counts) if counts else np.zeros(0, np.int64)


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


def matrix_layout(client, csr, *, k, n_blocks):
    """The parts of a matrix held by the client, each scattered to a worker once (a part
    lost with its worker is scattered again from ``csr``, the client's validated matrix,
    not a copy of it)."""
    m, n = csr.shape
    workers = sorted(worker_threads(client, wait=60))
    refs = []
    for side, counts, part_of in (
            ("items", np.bincount(csr.indices[:csr.nnz], minlength=n), column_part),
            ("users", csr.row_nnz(), row_part)):
        for b, (start, stop) in enumerate(block_bounds(counts, k, n_blocks)):
            def rescatter(start=start, stop=stop, part_of=part_of,
                          worker=workers[b % len(workers)]):
                live = worker_threads(client)
                target = [worker] if worker in live else None
                # (a list of one: a Csr is a tuple, which scatter would split)
                return client.scatter([part_of(csr, start, stop)], workers=target,
                                      direct=True, hash=False)[0]
            refs.append(BlockRef(side, start, stop, rescatter(), rescatter))
    return Layout(client, (m, n), refs)


def expected_bytes(A, factors, dtype, n_blocks, *, biases=False, unobserved=True):
    """The bytes of factor rows one iteration moves between the workers for the matrix
    ``A`` (none of them through the client): each block receives, from every block of the
    other side, the rows it references,

        sum over blocks b of R_b (d + beta) s

    over the item and the user blocks, with s the factor itemsize, R_b the fixed-side rows
    block b references (the whole side when that is at least ``WHOLE_SIDE`` of it) and
    beta = 1 with biases. Rows a block takes from a source block on its own worker do not
    cross a link, so this is an upper bound on the traffic between workers."""
    from .blocks import WHOLE_SIDE
    csr = A.tocsr()
    s = np.dtype(dtype).itemsize
    d, beta = factors, int(biases)
    k = d + 1 if biases else d
    total = 0
    for X in (csr.T.tocsr(), csr):
        n_other = X.shape[1]
        for start, stop in block_bounds(np.diff(X.indptr), k, n_blocks):
            ref = np.unique(X.indices[X.indptr[start]:X.indptr[stop]]).size
            ref = n_other if ref >= WHOLE_SIDE * n_other else ref
            total += ref * (d + beta) * s
    return total
