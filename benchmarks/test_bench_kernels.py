"""pytest-benchmark timings of fastmf's kernels, each at a small and a medium size.

    python -m pytest benchmarks --benchmark-only              # everything, ~2 min on 2 cores
    python -m pytest benchmarks --benchmark-only -k small     # small sizes only
    FASTMF_BENCH_THREADS=1 python -m pytest benchmarks --benchmark-only

Each kernel is called the way the estimator calls it: WALS half-sweeps and SGD epochs go
through the estimators' own preparation (``_common.WalsSweeps`` / ``_common.SgdEpochs``,
checked bit for bit against ``fit`` once per session), the Gram matrix is the product each
half-sweep forms, the objective is ``fastmf.objective`` and top-k is ``model.recommend``.
Every benchmark calls its function once before timing, so compilation (or the Numba cache
load) is not measured. Kernels run on $FASTMF_BENCH_THREADS Numba threads (default: all)
with BLAS on one thread, as inside ``fit``. Library versions go into every benchmark's
``extra_info`` (pytest-benchmark records the CPU itself).

There is deliberately no benchmarks/conftest.py: tests/ imports helpers with
``from conftest import ...``, which a second conftest module would shadow when both
directories are collected in one run.
"""

import os

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

from _common import SgdEpochs, WalsSweeps, check_steps_match_estimators, machine_info

import fastmf
from fastmf.core._threads import thread_context
from fastmf.datasets import make_synthetic

SIZES = {
    "small": {"users": 10_000, "items": 2_000, "nnz": 100_000, "factors": 64},
    "medium": {"users": 100_000, "items": 20_000, "nnz": 1_000_000, "factors": 64},
}
RECOMMEND_USERS = 10_000
RATINGS = {"w0": 0.0, "confidence": "none", "target": "value"}

_cache = {}


def cached(key, make):
    """Data and prepared solvers are built once per session and size."""
    if key not in _cache:
        _cache[key] = make()
    return _cache[key]


def implicit_data(size):
    s = SIZES[size]
    return cached(("implicit", size), lambda: make_synthetic(
        s["users"], s["items"], s["nnz"], random_state=0))


def ratings_data(size):
    s = SIZES[size]
    return cached(("ratings", size), lambda: make_synthetic(
        s["users"], s["items"], s["nnz"], kind="explicit", random_state=0))


def wals_steps(size, solver, threads):
    def make():
        model = fastmf.WALS(SIZES[size]["factors"], solver=solver, num_threads=threads,
                            random_state=0)
        steps = WalsSweeps(implicit_data(size), model)
        with steps.threads():
            steps.iteration()  # compiles, and moves the factors off their random start
        return steps
    return cached(("wals", size, solver, threads), make)


def describe(benchmark, size, threads, versions, **extra):
    s = SIZES[size]
    benchmark.extra_info.update(size=size, users=s["users"], items=s["items"], nnz=s["nnz"],
                                factors=s["factors"], threads=threads, versions=versions,
                                **extra)


@pytest.fixture(scope="module", autouse=True)
def _steps_match_estimators():
    """The benchmarks time WalsSweeps / SgdEpochs; make sure they still do what fit does."""
    check_steps_match_estimators()


@pytest.fixture(scope="module")
def bench_threads():
    import numba
    return int(os.environ.get("FASTMF_BENCH_THREADS") or numba.config.NUMBA_NUM_THREADS)


@pytest.fixture(scope="module")
def versions():
    return machine_info()


@pytest.fixture(params=list(SIZES))
def size(request):
    return request.param


@pytest.mark.parametrize("side", ["items", "users"])
@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_wals_half_sweep(benchmark, size, solver, side, bench_threads, versions):
    steps = wals_steps(size, solver, bench_threads)
    benchmark.group = f"WALS half-sweep, {size}"
    describe(benchmark, size, bench_threads, versions,
             rows=steps.sides[side].indptr.shape[0] - 1)
    with steps.threads():
        steps.half_sweep(side)  # warm-up, outside the timing
        benchmark(steps.half_sweep, side)
    assert np.isfinite(steps.U).all() and np.isfinite(steps.V).all()


@pytest.mark.parametrize("variant", ["ratings", "gravity"])
def test_sgd_epoch(benchmark, size, variant, bench_threads, versions):
    d = SIZES[size]["factors"]
    if variant == "ratings":
        data = ratings_data(size)
        model = fastmf.SGD(d, lr=0.005, reg=0.02, num_threads=bench_threads, random_state=0,
                           **RATINGS)
    else:  # implicit feedback, unobserved term by gravity (Gram matrices each epoch)
        data = implicit_data(size)
        model = fastmf.SGD(d, lr=0.0005, lr_schedule="constant", init_scale=0.01,
                           num_threads=bench_threads,
                           random_state=0)
    steps = SgdEpochs(data, model)
    benchmark.group = f"SGD epoch, {size}"
    describe(benchmark, size, bench_threads, versions, variant=variant)
    with steps.threads():
        steps.epoch()  # warm-up, outside the timing
        benchmark(steps.epoch)
    # A diverged run would time NaN arithmetic: refuse to report it.
    assert np.isfinite(steps.U).all() and np.isfinite(steps.V).all(), "SGD diverged"
    if benchmark.stats:  # None under --benchmark-disable
        benchmark.extra_info["updates_per_s_at_min"] = steps.nnz / benchmark.stats.stats.min


@pytest.mark.parametrize("side", ["items", "users"])
def test_gram(benchmark, size, side, bench_threads, versions):
    """G = w0 * Y^T Y of the fixed side, as each half-sweep forms it (BLAS, one thread)."""
    steps = wals_steps(size, "cg", bench_threads)
    Y = steps.V if side == "items" else steps.U
    w0 = Y.dtype.type(1.0)
    benchmark.group = f"Gram, {size}"
    describe(benchmark, size, bench_threads, versions, rows=Y.shape[0])
    with steps.threads():
        (Y.T @ Y) * w0
        benchmark(lambda: (Y.T @ Y) * w0)


def test_objective(benchmark, size, bench_threads, versions):
    steps = wals_steps(size, "cg", bench_threads)
    A = implicit_data(size)
    kw = {"w0": 1.0, "confidence": "linear", "alpha": 1.0, "reg": 0.005, "reg_exponent": 1.0}
    benchmark.group = f"objective and top-k, {size}"
    describe(benchmark, size, bench_threads, versions)
    # fastmf.objective runs on the current Numba thread count: set it as fit does.
    with thread_context(bench_threads):
        fastmf.objective(A, steps.U, steps.V, **kw)
        value = benchmark(fastmf.objective, A, steps.U, steps.V, **kw)
    assert np.isfinite(value)


def test_recommend(benchmark, size, bench_threads, versions):
    A = implicit_data(size)
    s = SIZES[size]
    model = cached(("model", size, bench_threads), lambda: fastmf.WALS(
        s["factors"], iterations=2, num_threads=bench_threads, random_state=0).fit(
            A, track_objective=False))
    users = np.arange(min(RECOMMEND_USERS, s["users"]))
    benchmark.group = f"objective and top-k, {size}"
    describe(benchmark, size, bench_threads, versions, queries=users.shape[0], k=10)
    model.recommend(users[:100], k=10)
    ids, _ = benchmark(model.recommend, users, k=10)
    assert ids.shape == (users.shape[0], 10)
