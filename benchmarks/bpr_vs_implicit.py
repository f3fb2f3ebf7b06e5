"""Seconds per BPR epoch, fastmf's Hogwild kernel against implicit's CPU BPR, side by side.

Both run in this process on the same synthetic power-law matrix, float32, the same factors
(plus an item bias in both: implicit always learns one), the same threads, nnz samples per
epoch, negatives drawn by popularity and a sampled item the user has seen skipped (implicit's
``verify_negative_samples=True``; fastmf ``tries=1``). fastmf's kernel is driven directly
over the block grid that ``fastmf.solvers._sgd_epochs.entry_grid`` builds; its epoch time includes drawing
the block order and seeds. implicit's epoch time is the ``elapsed`` its fit reports for the epoch (a one-epoch fit, so
the two libraries take turns epoch by epoch). Each figure is the median over --epochs epochs
after one warm-up epoch. Skips implicit when it is not installed.

    python benchmarks/bpr_vs_implicit.py                    # 100k x 20k x 5.7M, d=64
    python benchmarks/bpr_vs_implicit.py --quick --threads 1,2
"""

import argparse
import statistics
import time

import numpy as np
from _common import add_data_args, apply_quick, machine

from fastmf._kernels.sgd import SCHEDULES
from fastmf._kernels.sampling import popularity_negatives
from fastmf._kernels.sgd_ranking import _sgd_epoch_bpr
from fastmf.core._weighting import check_weighting
from fastmf.core._threads import thread_context
from fastmf.core._validation import check_matrix
from fastmf.datasets import make_synthetic
from fastmf.solvers._sgd_epochs import block_order as _block_order
from fastmf.solvers._sgd_epochs import entry_grid as _entry_grid


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_args(p)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--reg", type=float, default=0.01)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    apply_quick(args)
    args.threads = [int(t) for t in args.threads.split(",")]
    return args


class FastmfBpr:
    """BPR epochs of fastmf's kernel on ``A`` (what a model class would run per epoch)."""

    def __init__(self, A, factors, lr, reg, seed=0):
        dtype = np.float32
        csr = check_matrix(A, dtype=dtype)
        m, n = csr.shape
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.U = (rng.standard_normal((m, factors)) * 0.1).astype(dtype)
        self.V = (rng.standard_normal((n, factors)) * 0.1).astype(dtype)
        self.vb = np.zeros(n, dtype)
        self.placeholder = np.zeros((1, 1), dtype)
        self.placeholder1 = np.zeros(1, dtype)
        row_nnz = csr.row_nnz()
        col_nnz = np.bincount(csr.indices[:csr.nnz], minlength=n)
        rows = np.repeat(np.arange(m, dtype=csr.indices.dtype), row_nnz)
        self.rows, self.cols, self.vals, self.block_ptr, self.grid = _entry_grid(
            csr, rows, rng, factors, np.dtype(dtype).itemsize)
        w = check_weighting("bench", 0.0, "none", 1.0, 1.0, "binary", reg, 0.0)
        self.weighting = w.kernel_args(csr.shape, False, dtype)
        # reg per update on each of the three rows, as implicit does
        self.lam_rows = np.full(m, reg, dtype)
        self.lam_cols = np.full(n, reg, dtype)
        self.ones_m = np.ones(m, dtype)
        self.ones_n = np.ones(n, dtype)
        self.sampler = popularity_negatives(col_nnz, 1.0, csr.indptr, csr.indices, tries=1)
        self.lr = lr
        self.loss = np.zeros(self.block_ptr.shape[0] - 1)
        self.nnz = csr.nnz

    def epoch(self, track_loss=False):
        order = _block_order(self.rng, self.grid)
        seeds = self.rng.integers(1, 2**63 - 1, self.block_ptr.shape[0] - 1, dtype=np.uint64)
        loss = self.loss if track_loss else self.loss[:0]
        ph, ph1 = self.placeholder, self.placeholder1
        _sgd_epoch_bpr(self.rows, self.cols, self.vals, self.block_ptr, order, True,
                       self.ones_m, self.ones_n, self.U, self.V, self.vb, ph, ph, ph1,
                       self.weighting, self.sampler, self.lam_rows, self.lam_cols, True,
                       self.lr, SCHEDULES["constant"], seeds, loss)
        return float(loss.sum()) / self.nnz if track_loss else None


def implicit_epoch(A, args, threads):
    """One epoch of implicit's BPR, as the seconds its fit reports for it (its set-up and
    initialization are not counted)."""
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    times = []
    model = BayesianPersonalizedRanking(factors=args.factors, learning_rate=args.lr,
                                        regularization=args.reg, dtype=np.float32,
                                        iterations=1, num_threads=threads,
                                        verify_negative_samples=True, random_state=0)
    model.fit(A, show_progress=False, callback=lambda epoch, elapsed, *_: times.append(elapsed))
    return times[0]


def time_both(A, args, threads, have_implicit):
    """Per-epoch seconds of both, taking turns epoch by epoch (a slow spell of a shared
    machine then hits both alike); the first epoch of each is a warm-up."""
    run = FastmfBpr(A, args.factors, args.lr, args.reg)
    ours, theirs = [], []
    with thread_context(threads):
        for e in range(args.epochs + 1):
            t0 = time.perf_counter()
            run.epoch()
            ours.append(time.perf_counter() - t0)
            if have_implicit:
                theirs.append(implicit_epoch(A, args, threads))
        loss = run.epoch(track_loss=True)
    return ours[1:], theirs[1:], loss


def main(argv=None):
    args = parse_args(argv)
    print(f"machine: {machine()}")
    try:
        import implicit
        have_implicit = True
        print(f"implicit {implicit.__version__}")
    except ImportError:
        have_implicit = False
        print("implicit is not installed: timing fastmf alone")
    A = make_synthetic(args.users, args.items, args.nnz, random_state=0).tocsr()
    print(f"data: {A.shape[0]:,} x {A.shape[1]:,}, {A.nnz:,} nonzeros, float32; factors="
          f"{args.factors} (+ item bias), samples per epoch = nnz, popularity negatives, "
          f"median of {args.epochs} epochs")
    print(f"{'threads':>7s} {'fastmf s':>9s} {'implicit s':>10s} {'ratio':>6s} "
          f"{'fastmf M/s':>10s}")
    rows = []
    for threads in args.threads:
        ours, theirs, loss = time_both(A, args, threads, have_implicit)
        med = statistics.median(ours)
        theirs = statistics.median(theirs) if have_implicit else None
        ratio = med / theirs if theirs else float("nan")
        print(f"{threads:7d} {med:9.3f} {theirs or float('nan'):10.3f} {ratio:6.2f} "
              f"{A.nnz / med / 1e6:10.1f}   (fastmf epochs {', '.join(f'{t:.3f}' for t in ours)};"
              f" sampled loss after {args.epochs + 2} epochs {loss:.4f})", flush=True)
        rows.append({"threads": threads, "fastmf": med, "implicit": theirs, "ratio": ratio})
    return rows


if __name__ == "__main__":
    main()
