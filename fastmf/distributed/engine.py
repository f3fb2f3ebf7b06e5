"""The Dask engine: a WALS fit whose data and factors live in row blocks on the workers.

``WALS().fit(A, engine=DaskEngine(client))`` runs the iterations here; everything else
(parameters, defaults, history, callbacks, persistence) is :class:`fastmf.WALS`'s.

Per half-sweep, block b of the side being solved gets from every block s of the other
side exactly the rows it references (a ``take_rows`` task where s lives; its index was
computed once, at set-up, where b lives: the in-/out-blocks of Spark MLlib's blocked ALS),
solves, and keeps its new factor block on its worker. The blocks' summaries (their d x d
share of the next Gram matrix, penalties, losses) are added up on the workers by a tree
reduction; the client reads one summary per half-sweep. The full factors come to the
client once, at the end of the fit (or when a callback or Ctrl-C asks for them).
"""

import time

import numpy as np

from ..core import _validation as v
from .. import solvers
from ..models._defaults import nonnegative_needed, resolve_from
from .._install import install_hint
from ..solvers import Engine
from .blocks import (add_summaries, copy_state, first, in_index, initial_state, second,
                     solve_block, state_summary, take_rows)
from .frames import FrameInput, frame_layout, is_dask_frame
from .layout import lost_errors, matrix_layout, survivors, worker_threads

# Tries of one iteration when workers keep dying under it.
MAX_ATTEMPTS = 5
# Summaries added per task in the tree reductions.
TREE_WIDTH = 8
# Rows drawn at a time when the client steps its generator past a block.
DRAW_ROWS = 1 << 16


class DaskEngine(Engine):
    """Run WALS's iterations on a Dask cluster, with the data and the factors in row
    blocks that stay on the workers.

    Parameters
    ----------
    client : distributed.Client, optional
        The cluster. By default a ``LocalCluster`` of one single-threaded worker process
        per core is started for each fit and closed at its end.
    n_blocks : int, optional
        Row blocks per side (users, items). Default: the number of worker threads.
    num_threads : int, optional
        Numba threads of each block's task on its worker (default: that worker's thread
        count).
    checkpoint_every : int, default 1
        Every this many iterations each factor block is copied to a second worker (worker
        to worker). A worker that dies takes its blocks of data and of factors: the fit
        rebuilds the data blocks, restores the factors of the last checkpoint from the
        surviving copies, replays the iterations since, and ends with the result of an
        undisturbed fit. 0 turns the copies off (a lost worker then fails the fit).
    """

    name = "dask"

    def __init__(self, client=None, *, n_blocks=None, num_threads=None, checkpoint_every=1):
        owner = type(self).__name__
        if client is not None and not all(hasattr(client, a) for a in
                                          ("submit", "scatter", "gather", "status")):
            raise ValueError(f"The 'client' parameter of {owner} must be None or a "
                             f"distributed.Client. Got {type(client).__name__} instead.")
        self.client = client
        self.n_blocks = None if n_blocks is None else v.check_int(owner, "n_blocks",
                                                                  n_blocks, low=1)
        self.num_threads = (None if num_threads is None else
                            v.check_int(owner, "num_threads", num_threads, low=0) or None)
        self.checkpoint_every = v.check_int(owner, "checkpoint_every", checkpoint_every,
                                            low=0)
        self._cluster = None
        self._client = None
        self._layout = None
        self._sweeps = None

    def __repr__(self):
        return (f"DaskEngine(client={self.client!r}, n_blocks={self.n_blocks!r}, "
                f"num_threads={self.num_threads!r}, "
                f"checkpoint_every={self.checkpoint_every!r})")

    # ------------------------------------------------------------------ the cluster
    def connect(self):
        if self._client is not None:
            return self._client
        client = self.client
        if client is None:
            try:
                from distributed import Client, LocalCluster
            except ImportError as exc:
                raise ImportError("The Dask engine needs dask.distributed; install it with "
                                  f"{install_hint('dist')}.") from exc
            self._cluster = LocalCluster(threads_per_worker=1, processes=True,
                                         dashboard_address=":0")
            client = Client(self._cluster)
        elif getattr(client, "status", None) != "running":
            raise ValueError(f"The client of the Dask engine is a distributed.Client that "
                             f"is not running (status {getattr(client, 'status', None)!r}).")
        self._client = client
        return client

    def _blocks(self, client):
        if self.n_blocks is not None:
            return self.n_blocks
        return max(1, sum(worker_threads(client, wait=60).values()))

    def close(self):
        try:
            if self._sweeps is not None:
                self._sweeps.release()
            if self._layout is not None:
                self._layout.release()
        finally:
            self._sweeps = self._layout = None
            if self._cluster is not None:
                self._client.close()
                self._cluster.close()
            self._cluster = self._client = None

    # ------------------------------------------------------------------ input
    def as_input(self, A):
        return FrameInput(A) if is_dask_frame(A) else A

    def is_remote(self, data):
        return isinstance(data, FrameInput)

    def setup_remote(self, model, data):
        """A Dask DataFrame: indexed and cut into parts on the workers, the 'auto' values
        resolved from reductions over the parts."""
        p = model._validate_params()
        client = self.connect()
        owner = type(model).__name__

        def check_sizes(m, n):
            v.check_weights_vector(owner, "row_weights", p.row_weights, m)
            v.check_weights_vector(owner, "col_weights", p.col_weights, n)

        k = p.factors + 1 if p.biases is True else p.factors
        layout = frame_layout(client, data, k=k, dtype=p.dtype,
                              n_blocks=self._blocks(client),
                              nonnegative=nonnegative_needed(p, p.kind),
                              check_sizes=check_sizes)
        self._layout = layout
        layout.wait_parts()
        p = resolve_from(p, layout.stats(), p.kind)
        model._adopt_params(p)
        return p, data, layout.ids

    # ------------------------------------------------------------------ the fit
    def start(self, model, data, p):
        client = self.connect()
        k = p.factors + 1 if p.biases else p.factors
        if self._layout is None:  # a matrix on the client: scatter its parts once
            self._layout = matrix_layout(client, data, k=k, n_blocks=self._blocks(client))
        solver = solvers.get(p.solver, _plain(p))
        self._layout.build(model._weighting, solver, k=k, dtype=p.dtype)
        self._sweeps = DaskSweeps(self, client, self._layout, model, p, solver)
        return self._sweeps


def _plain(p):
    """The parameters a solver object is made from, without the client (the solver
    travels to the workers)."""
    from types import SimpleNamespace
    return SimpleNamespace(**{n: val for n, val in vars(p).items() if n != "client"})


class DaskSweeps:
    """The running Dask engine (see :mod:`fastmf.solvers._engine` for the interface)."""

    def __init__(self, engine, client, layout, model, p, solver):
        from ..solvers._engine import initial_scale
        self.engine = engine
        self.client = client
        self.layout = layout
        self.model = model
        self.weighting = model._weighting
        self.kernels = ()  # compiled on the workers
        self.ids = layout.ids
        self.dtype = np.dtype(p.dtype)
        self.d = p.factors
        self.biased = bool(p.biases)
        self.threads = engine.num_threads
        self.every = int(engine.checkpoint_every or 0)
        self.global_mean = layout.target_mean() if self.biased else 0.0
        model.global_mean = self.global_mean
        model.user_factors = model.item_factors = None
        model.user_biases = model.item_biases = None
        self.sent = self.received = 0
        # the local fit's draws: users first, then items, from one generator
        rng = v.make_rng(p.random_state)
        scale = initial_scale(model, p)
        self.state = {}
        for side in ("users", "items"):
            self.state[side] = []
            for r in layout.refs[side]:
                seed = rng.bit_generator.state
                _advance(rng, r.stop - r.start, self.d)
                self.state[side].append(client.submit(
                    initial_state, r.block, seed, self.d, scale, self.dtype, self.biased,
                    pure=False))
        self.index = {side: self._index(side) for side in ("users", "items")}
        self.users_total = self._reduce([client.submit(state_summary, r.block, s, pure=False)
                                         for r, s in zip(layout.refs["users"],
                                                         self.state["users"])])
        self.iteration = 0
        self.gathered = -1
        self.checkpoints = []
        self._checkpoint()

    # ------------------------------------------------------------------ set-up pieces
    def _index(self, side, refs=None):
        """For each block of ``side``, per block of the other side: the future of the
        index of the rows it references (None: the whole block; absent: none)."""
        other = "items" if side == "users" else "users"
        sizes = [r.stop - r.start for r in self.layout.refs[other]]
        out = []
        for r in self.layout.refs[side]:
            row = {}
            for s, count in enumerate(r.in_counts):
                if count == 0:
                    continue
                row[s] = None if count == sizes[s] else self.client.submit(
                    in_index, r.block, s, pure=False)
            out.append(row)
        return out

    def _reduce(self, futures):
        while len(futures) > 1:
            futures = [self.client.submit(add_summaries, *futures[i:i + TREE_WIDTH],
                                          pure=False)
                       for i in range(0, len(futures), TREE_WIDTH)]
        return futures[0]

    # ------------------------------------------------------------------ half-sweeps
    def _half(self, side, state, other_state, other_total, track):
        """Submit the half-sweep of ``side``; returns (new factor blocks, total summary)
        as futures."""
        submit = self.client.submit
        new, summaries = [], []
        for b, r in enumerate(self.layout.refs[side]):
            pieces = []
            for s, idx in self.index[side][b].items():
                pieces.append(other_state[s] if idx is None else
                              submit(take_rows, other_state[s], idx, pure=False))
            if not pieces:  # no entries: the block still needs the shape of Y
                pieces.append(submit(take_rows, other_state[0], np.zeros(0, np.int32),
                                     pure=False))
            res = submit(solve_block, r.block, state[b], pieces, other_total,
                         self.global_mean, track and side == "users", self.threads,
                         pure=False)
            new.append(submit(first, res, pure=False))
            summaries.append(submit(second, res, pure=False))
        return new, self._reduce(summaries)

    def _iteration(self, track):
        items, items_total = self._half("items", self.state["items"], self.state["users"],
                                        self.users_total, False)
        users, users_total = self._half("users", self.state["users"], items, items_total,
                                        track)
        tot_items, tot_users = self.client.gather([items_total, users_total], direct=True)
        self.received += _nbytes(tot_items) + _nbytes(tot_users)
        # the iteration is complete: make it the current state
        self.state = {"users": users, "items": items}
        self.users_total = users_total
        self.iteration += 1
        self.finite_ = tot_items["finite"] and tot_users["finite"]
        failed = tot_items["failed"] + tot_users["failed"]
        objective = None
        if track:
            obs, sq = tot_users["loss"]
            unobserved = (0.0 if tot_users["gram"] is None else
                          self.weighting.unobserved_term_from(tot_users["gram"],
                                                              tot_items["gram"], sq))
            objective = float(obs + unobserved + tot_users["penalty"]
                              + tot_items["penalty"])
        return failed, objective

    # ------------------------------------------------------------------ the engine
    finite_ = True

    def step(self, track):
        self.sent = self.received = 0
        lost = lost_errors()
        for attempt in range(MAX_ATTEMPTS):
            try:
                if attempt:
                    self._recover(attempt)
                result = self._iteration(track)
                break
            except lost:
                continue
        else:
            raise RuntimeError(f"The Dask engine could not complete iteration "
                               f"{self.iteration + 1} in {MAX_ATTEMPTS} attempts; workers "
                               f"kept dying under it.")
        if self.every and self.iteration % self.every == 0:
            self._checkpoint()
        return result

    def finite(self):
        return self.finite_

    def forget(self):
        pass  # every half-sweep's Gram matrix comes from the blocks

    def seen(self, data):
        # a data-frame input never comes to the client as a matrix
        return None if isinstance(data, FrameInput) else data

    def record(self, record):
        record["bytes_sent"] = self.sent
        record["bytes_received"] = self.received

    def gather(self):
        """The factors of the last complete iteration onto the model (once per
        iteration)."""
        if self.gathered == self.iteration:
            return
        m = self.model
        for side in ("users", "items"):
            blocks = self.client.gather(self.state[side], direct=True)
            X = np.concatenate([b[0] for b in blocks])
            Xb = np.concatenate([b[1] for b in blocks]) if self.biased else None
            if side == "users":
                m.user_factors, m.user_biases = X, Xb
            else:
                m.item_factors, m.item_biases = X, Xb
        self.gathered = self.iteration

    def release(self):
        """Drop every future of the fit (the last reference to a future releases its
        data on the workers), after the checkpoint copies still in flight have finished
        (a cluster closed under them logs their cancellation)."""
        copies = [cp for _, pairs in self.checkpoints for side in pairs.values()
                  for _, cp in side]
        if copies and self.client.status == "running":
            from distributed import wait
            try:
                wait(copies, timeout=30)
            except Exception:  # noqa: BLE001 - a lost copy is no reason to fail here
                pass
        self.state, self.index, self.checkpoints, self.users_total = {}, {}, [], None

    # ------------------------------------------------------------------ faults
    def _live_workers(self):
        return sorted(worker_threads(self.client))

    def _checkpoint(self):
        """Copy every factor block to a second worker (worker to worker), without waiting:
        the copies are made while the next iteration runs. The previous checkpoint is
        kept until this one is complete."""
        if not self.every:
            return
        workers = self._live_workers()
        if len(workers) < 2:
            return
        futures = self.state["users"] + self.state["items"]
        held = self.client.who_has([f for f in futures if f.status == "finished"])
        pairs = {}
        for side in ("users", "items"):
            pairs[side] = []
            for f in self.state[side]:
                holders = held.get(f.key, ())
                home = holders[0] if holders else workers[0]
                buddy = workers[(workers.index(home) + 1) % len(workers)
                                if home in workers else 0]
                copy = self.client.submit(copy_state, f, workers=[buddy],
                                          allow_other_workers=True, pure=False)
                pairs[side].append((f, copy))
        # keep the newest complete checkpoint and this one
        complete = [c for c in self.checkpoints
                    if all(cp.status == "finished" for side in c[1].values()
                           for _, cp in side)]
        self.checkpoints = complete[-1:] + [(self.iteration, pairs)]

    def _restorable(self):
        """The newest checkpoint every factor block of which survives in one of its two
        copies, as (iteration, state), or None."""
        for done, pairs in reversed(self.checkpoints):
            alive = survivors(self.client, [f for side in pairs.values() for pair in side
                                            for f in pair])
            state = {side: [orig if alive(orig) else copy if alive(copy) else None
                            for orig, copy in side_pairs]
                     for side, side_pairs in pairs.items()}
            if all(f is not None for side in state.values() for f in side):
                return done, state
        return None

    def _recover(self, attempt):
        """After a worker died: rebuild the lost data blocks, restore the factors of the
        newest checkpoint that survived, and replay the iterations since."""
        if not self.checkpoints:
            raise RuntimeError("A worker died during the fit and no checkpoint of the "
                               "factors was kept (checkpoint_every=0, or a one-worker "
                               "cluster).")
        time.sleep(min(2.0, 0.25 * 2 ** attempt))  # let a nanny restart its worker
        self.client.wait_for_workers(1, timeout=60)
        self.layout.repair()
        restored = self._restorable()
        if restored is None:
            raise RuntimeError("Factor blocks were lost with both workers that held them; "
                               "the fit cannot go on.")
        done, self.state = restored
        self.index = {side: self._index(side) for side in ("users", "items")}
        self.users_total = self._reduce([self.client.submit(state_summary, r.block, s,
                                                            pure=False)
                                         for r, s in zip(self.layout.refs["users"],
                                                         self.state["users"])])
        target = self.iteration
        self.iteration = done
        while self.iteration < target:
            self._iteration(False)


def _advance(rng, rows, d):
    """Step ``rng`` past the Gaussian draw of ``rows`` x ``d`` float32 factors (in chunks:
    the generator's stream is the same as for one draw)."""
    for start in range(0, rows, DRAW_ROWS):
        rng.standard_normal((min(DRAW_ROWS, rows - start), d), dtype=np.float32)


def _nbytes(summary):
    return sum(a.nbytes for a in summary.values() if isinstance(a, np.ndarray))
