"""The one fit loop of every factor model: a fit runs on a working copy, each model's
:class:`~fastmf.models._run.Run` does the iterations, and the loop times them, records the
objective and history, shows progress, calls the callback, takes Ctrl-C between steps, and
leaves no half-fitted model after an error."""

import time

import numpy as np

from ..core import _interrupts as interrupts
from ..core._compile_notice import first_compile_notice
from ..core._progress import progress_bar
from ..core._threads import thread_context
from ..data._interactions import named_columns
from ._scoring import fitting


class FitLoop:
    """``fit``'s body, shared by the models; each says in ``_start`` how a fit begins."""

    @fitting
    def _fit(self, A, *, callback=None, show_progress=False, track_objective=True,
             columns=None, **options):
        if columns is not None:
            A = named_columns(A, *columns)
        # The fit runs on a working copy and its state is published in one step at the
        # end (also after a Ctrl-C or an error, as the fit leaves it): a read from another
        # thread sees the old model or the new one, never a mix, and never waits.
        work = self._working_copy()
        started = []
        try:
            work._fit_here(A, callback, show_progress, track_objective, started, options)
        except BaseException:
            if started:
                self._publish(work)
            raise
        self._publish(work)
        return self

    def _fit_here(self, A, callback, show_progress, track_objective, started, options):
        # a warm start begins from the model as it is (see solvers._engine.warm_rows)
        warm = (self.user_factors, self.item_factors, self.user_biases, self.item_biases,
                self.user_ids_, self.item_ids_) if options.pop("warm_start", False) else None
        p, csr, ids = self._setup(A, **options)
        if warm is not None:
            p.warm_start = (warm, ids)
        if csr is not None and hasattr(csr, "nnz"):
            self._check_fit_memory(csr.shape, csr.nnz, p)
        self._forget_fit()
        self.history_ = []
        started.append(True)
        run = None
        try:
            with interrupts.deferred():
                run = self._start(csr, p, **options)
                self.user_ids_, self.item_ids_ = ids if run.ids is None else run.ids
                self._seen = run.seen(csr)
                self._seen_values = self._seen is csr
                self._loop(run, csr, p, callback, show_progress, track_objective)
                run.finish()
        except KeyboardInterrupt:
            done = len(self.history_)
            if run is None or done == 0:
                self._forget_fit()
                raise
            run.current()
            raise KeyboardInterrupt(
                f"{type(self).__name__}.fit interrupted; the model keeps the factors and "
                f"history_ of iteration {done} (of {run.steps}).") from None
        except BaseException as exc:
            if run is None or not isinstance(exc, run.keeps):
                self._forget_fit()
            raise

    def _loop(self, run, csr, p, callback, show_progress, track_objective):
        """The iterations of a fit; a Ctrl-C is taken between steps (or inside a step at
        the run's own safe points, which then restore the last complete iterate)."""
        elapsed = 0.0
        run.track_objective = bool(track_objective and run.shared_objective)
        with thread_context(p.num_threads), progress_bar(run.steps, show_progress,
                                                         type(self).__name__) as bar:
            for it in range(run.steps):
                interrupts.checkpoint()
                t0 = time.perf_counter()
                if it == 0:
                    with first_compile_notice(run.kernels):
                        run.step(it)
                else:
                    run.step(it)
                seconds = time.perf_counter() - t0
                elapsed += seconds
                record = {**run.labels(it), "iteration": it + 1, "seconds": seconds,
                          "time": elapsed}
                if run.track_objective:
                    record["objective"] = run.objective(self, csr)
                stop = run.after(record)
                self.history_.append(record)
                bar.update(record)
                if callback is not None:
                    run.current()
                    if callback(self, record):
                        break
                    run.resumed()
                if stop:
                    break
            interrupts.checkpoint()

    def _check_fit_memory(self, shape, nnz, p):
        """Refuse a fit whose factors and working copies cannot fit in memory: about
        three factor-sized arrays (the factors, a copy for interrupts or SGD's step
        sizes, the final snapshot) and the data's transpose."""
        from ..core._memory import check_memory
        m, n = shape
        itemsize = np.dtype(p.dtype).itemsize
        need = 3 * (m + n) * (p.factors + 1) * itemsize + nnz * (8 + itemsize)
        check_memory(need, f"{type(self).__name__}.fit of a {m:,} x {n:,} matrix with "
                           f"{p.factors} factors",
                     "reduce factors, use dtype=float32, or fit on a Dask cluster "
                     "(fastmf.distributed)")

    def _start(self, csr, params, **options):
        """Set the initial state on the model and return the :class:`Run`."""
        raise NotImplementedError
