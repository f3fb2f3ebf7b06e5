"""One distributed WALS fit: the client holds the factors, the workers hold the blocks.

Each half-sweep sends every block its current rows (the warm start), the fixed-side rows
it references and the d x d Gram matrix, and gets back its new rows, its d x d product
``X_b^T X_b`` (summed here into the next half-sweep's Gram matrix) and its share of the
objective. One task per block per half-sweep; a block whose worker died is rebuilt and its
task sent again.
"""

import time
from types import SimpleNamespace

import numpy as np

from .. import solvers
from .._model import Run
from .._weighting import gram64
from ..wals import check_iteration, start_factors
from .blocks import solve_block
from .frames import FrameInput, frame_layout
from .layout import lost_errors, matrix_layout, placement

# Tries of one half-sweep when workers keep dying under it.
MAX_ATTEMPTS = 5


class DaskRun(Run):
    """Initial factors (the draws of a local fit), then per step the item half-sweep and
    the user half-sweep, each one task per block."""

    def __init__(self, model, data, p, client, *, track, worker_threads, n_blocks):
        w = model._weighting
        dtype = p.dtype
        d = p.factors
        k = d + 1 if p.biases else d
        # the solver object travels to the workers (a registered solver defined in a
        # script works there too); the client handle stays here
        params = SimpleNamespace(**{n: val for n, val in vars(p).items() if n != "client"})
        solver = solvers.get(p.solver, params)
        self.client = client
        if n_blocks is None:
            n_blocks = max(1, sum(ws["nthreads"] for ws in
                                  client.scheduler_info(n_workers=-1)["workers"].values()))
        if isinstance(data, FrameInput):
            self.layout = frame_layout(client, data, w, solver, k=k, dtype=dtype,
                                       n_blocks=n_blocks,
                                       check_sizes=lambda m, n: model._check_sizes(w, m, n))
            self.ids = self.layout.ids
        else:
            self.layout = matrix_layout(client, data, w, solver, k=k, dtype=dtype,
                                        n_blocks=n_blocks)
        self.layout.wait_built()
        m, n = self.layout.shape
        start_factors(model, p, (m, n), self.layout.target_mean)
        for side, X in (("items", model.item_factors), ("users", model.user_factors)):
            for r in self.layout.refs[side]:
                X[r.free_rows] = 0
        self.model = model
        self.weighting = w
        self.steps = p.iterations
        self.track = track
        self.worker_threads = worker_threads
        self.grams = {"users": gram64(model.user_factors) if w.has_unobserved else None,
                      "items": None}
        self.penalty = {"users": 0.0, "items": 0.0}
        self.loss = (0.0, 0.0)
        self.sent = self.received = 0

    # ------------------------------------------------------------------ the Run interface
    def seen(self, csr):
        # a data-frame input never comes to the client as a matrix
        return None if isinstance(csr, FrameInput) else csr

    def step(self, it):
        self.sent = self.received = 0
        failed = self._half("items") + self._half("users")
        check_iteration(self.model, it, failed)

    def objective(self, model, csr):
        obs, sq = self.loss
        unobserved = self.weighting.unobserved_term_of(self.grams["users"],
                                                       self.grams["items"], sq)
        return float(obs + unobserved + self.penalty["users"] + self.penalty["items"])

    def after(self, record):
        record["bytes_sent"] = self.sent
        record["bytes_received"] = self.received
        return False

    # ------------------------------------------------------------------ half-sweeps
    def _half(self, side):
        f = self.model
        if side == "items":
            X, Xb, Y, Yb, other = (f.item_factors, f.item_biases, f.user_factors,
                                   f.user_biases, "users")
        else:
            X, Xb, Y, Yb, other = (f.user_factors, f.user_biases, f.item_factors,
                                   f.item_biases, "items")
        w = self.weighting
        gram = None
        if Xb is None and w.has_unobserved:
            gram = w.unobserved_gram_of(self.grams[other], X.dtype)
        results = self._solve_all(self.layout.refs[side], X, Xb, Y, Yb, gram)
        for r, res in results:
            X[r.start:r.stop] = res["X"]
            if Xb is not None:
                Xb[r.start:r.stop] = res["Xb"]
        if w.has_unobserved:
            self.grams[side] = sum(res["gram"] for _, res in results)
        self.penalty[side] = sum(res["penalty"] for _, res in results)
        if side == "users" and self.track:
            self.loss = tuple(sum(res["loss"][a] for _, res in results) for a in (0, 1))
        return sum(res["failed"] for _, res in results)

    def _solve_all(self, refs, X, Xb, Y, Yb, gram):
        """Results of every block's task, in block order; blocks lost with a worker are
        rebuilt and their tasks sent again."""
        from distributed import wait
        lost = lost_errors()
        done = {}
        pending = list(refs)
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                time.sleep(min(2.0, 0.25 * 2 ** attempt))  # let a nanny restart its worker
            try:
                self.layout.repair(pending)
                tasks = self._submit(pending, X, Xb, Y, Yb, gram)
                wait(list(tasks.values()))
            except lost:
                continue
            for fut in tasks.values():
                if fut.status == "error" and not isinstance(fut.exception(), lost):
                    fut.result()  # a real error in the task: raise it here
            ok = [r for r in pending if tasks[r].status == "finished"]
            try:
                got = self.client.gather([tasks[r] for r in ok], direct=True)
            except lost:
                continue
            for r, res in zip(ok, got):
                self.received += _nbytes(res)
                done[id(r)] = (r, res)
            pending = [r for r in pending if id(r) not in done]
            if not pending:
                return [done[id(r)] for r in refs]
        raise RuntimeError(f"DaskWALS: {len(pending)} blocks could not be solved after "
                           f"{MAX_ATTEMPTS} attempts; workers kept dying under them.")

    def _submit(self, refs, X, Xb, Y, Yb, gram):
        """Scatter each block's inputs straight to the worker holding the block (one call
        per worker) and submit its task."""
        client = self.client
        by_worker = {}
        for r, worker in zip(refs, self.layout.where(refs)):
            by_worker.setdefault(worker, []).append(r)
        tasks = {}
        for worker, group in by_worker.items():
            inputs = []
            for r in group:
                cols = slice(None) if r.cols is None else r.cols
                inputs.append([X[r.start:r.stop], None if Xb is None else Xb[r.start:r.stop],
                               Y[cols], None if Yb is None else Yb[cols], gram])
            arrays = [a for args in inputs for a in args if a is not None]
            self.sent += sum(a.nbytes for a in arrays)
            futures = iter(client.scatter(arrays, workers=None if worker is None
                                          else [worker], direct=True, hash=False))
            for r, args in zip(group, inputs):
                args = [None if a is None else next(futures) for a in args]
                tasks[r] = client.submit(solve_block, r.future, *args,
                                         self.model.global_mean, self.track,
                                         self.worker_threads, pure=False,
                                         **placement(None if worker is None else [worker]))
        return tasks


def _nbytes(result):
    return sum(a.nbytes for a in result.values() if isinstance(a, np.ndarray))
