"""Shared helpers for the benchmark scripts: the machine, timing, memory, and the
estimators' own solve steps callable one at a time."""

import importlib.metadata
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

OUT_DIR = Path(__file__).with_name("out")

# Distributions whose versions a benchmark record names (those installed).
_VERSIONED = ("numpy", "scipy", "numba", "fastmf-recsys", "implicit", "libmf", "scikit-surprise",
              "threadpoolctl")


# ----------------------------------------------------------------------------- machine
# The side-by-side data set (100k x 20k, 5.7M power-law nonzeros) and its --quick size.
DATA_SIZE = (100_000, 20_000, 5_700_000)
QUICK_SIZE = (20_000, 5_000, 600_000)


def add_data_args(parser):
    """--users, --items, --nnz (the side-by-side data set) and --factors (64)."""
    for name, default in zip(("--users", "--items", "--nnz"), DATA_SIZE):
        parser.add_argument(name, type=int, default=default)
    parser.add_argument("--factors", type=int, default=64)


def apply_quick(args):
    """With --quick, the small data set."""
    if args.quick:
        args.users, args.items, args.nnz = QUICK_SIZE
    return args


def cpu_model():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def available_cores():
    """Cores this process may run on (the affinity mask; os.cpu_count() where unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine_info():
    """The machine and library versions as a dict (for JSON records)."""
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": available_cores(),
            "python": platform.python_version()}
    for dist in _VERSIONED:
        try:
            info[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        import numpy  # noqa: F401  (loads the BLAS threadpoolctl reports)
        from threadpoolctl import threadpool_info
        blas = [f"{p['internal_api']} {p['version']}" for p in threadpool_info()
                if p["user_api"] == "blas"]
        if blas:
            info["blas"] = ", ".join(blas)
    except ImportError:
        pass
    return info


def machine():
    """One line naming the CPU, cores and library versions."""
    info = machine_info()
    parts = [info["cpu"], f"{info['cores']} cores"]
    if info["usable_cores"] != info["cores"]:
        parts.append(f"{info['usable_cores']} usable")
    parts.append(f"python {info['python']}")
    parts += [f"{name} {info[name]}" for name in _VERSIONED
              if name in info and name != "threadpoolctl"]
    if "blas" in info:
        parts.append(f"BLAS {info['blas']}")
    return ", ".join(parts)


def import_libmf():
    """The pip libmf binding's ``mf`` module, without the lines it prints on import."""
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        from libmf import mf
    return mf


def import_libmf_native():
    """The ``mf`` module of a LibMF built with its AVX kernels (see README: "Native LibMF"),
    loaded from the site-packages folder named by ``$LIBMF_NATIVE``; None when that is
    unset or holds no build. Loaded under its own module name, so the pip binding can be
    imported beside it."""
    import contextlib
    import importlib.util
    import io
    home = os.environ.get("LIBMF_NATIVE")
    if not home:
        return None
    home = Path(home)
    libs = sorted(home.glob("libmf*.so"))
    if not libs or not (home / "libmf" / "mf.py").is_file():
        return None
    spec = importlib.util.spec_from_file_location("libmf_native_mf", home / "libmf" / "mf.py")
    module = importlib.util.module_from_spec(spec)
    saved = os.environ.get("LIBMF_OBJ")
    os.environ["LIBMF_OBJ"] = str(libs[0])
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            spec.loader.exec_module(module)
    finally:
        if saved is None:
            del os.environ["LIBMF_OBJ"]
        else:
            os.environ["LIBMF_OBJ"] = saved
    return module


# ----------------------------------------------------------------------------- timing
def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def per_iteration(fits, repeats, short=1, long=4):
    """Per fit: median over repeats of (t(long iterations) - t(short)) / (long - short).

    ``fits`` maps a name to ``fit(iterations)``. Set-up (conversion, transpose, first-call
    compilation) cancels in the difference. The fits take turns within each repeat, so a
    slow spell of a shared machine hits them alike instead of biasing one of them.
    Returns {name: (median, [per repeat])}.
    """
    out = {name: [] for name in fits}
    for _ in range(repeats):
        for name, fit in fits.items():
            t0 = time.perf_counter()
            fit(short)
            t1 = time.perf_counter()
            fit(long)
            t2 = time.perf_counter()
            out[name].append(((t2 - t1) - (t1 - t0)) / (long - short))
    return {name: (statistics.median(v), v) for name, v in out.items()}


# ----------------------------------------------------------------------------- memory
def proc_status(key):
    """A /proc/self/status entry (VmRSS, VmHWM, ...) in bytes; None where unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def release_freed_memory():
    """Hand memory freed by the allocator back to the system (glibc malloc_trim), so that
    the RSS before a measured step does not count heap the step will merely reuse."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux clear_refs); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss():
    """Peak resident set size in bytes: VmHWM, else getrusage (which cannot be reset)."""
    hwm = proc_status("VmHWM")
    if hwm is not None:
        return hwm
    import resource
    import sys
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def mib(nbytes):
    return f"{nbytes / 2**20:,.1f} MiB"


# ----------------------------------------------------------------------------- records
class JsonRecord:
    """A JSON file rewritten after every ``add``, so an interrupted run keeps what it had."""

    def __init__(self, path, **header):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data = dict(header, rows=[])
        self._write()

    def add(self, row):
        self.data["rows"].append(row)
        self._write()

    def set(self, **items):
        self.data.update(items)
        self._write()

    def _write(self):
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=_jsonable))
        os.replace(tmp, self.path)


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


# ----------------------------------------------------------------------------- solve steps
class WalsSweeps:
    """One WALS half-sweep at a time, through the estimator's own preparation.

    ``WALS.prepare_sweeps`` is the set-up :meth:`fastmf.WALS.fit` runs before its iteration
    loop (validation, transpose, per-side weights, penalties and work chunks, the initial
    factors); it returns the :class:`fastmf.solvers.Sweeps` whose half-sweeps fit calls,
    through the row-solver seam. A benchmark can so time a half-sweep or an iteration
    without the once-per-fit set-up. ``check_steps_match_estimators`` holds it to
    ``WALS.fit`` bit for bit. Run the sweeps inside ``self.threads()`` (Numba threads set,
    BLAS on one thread).
    """

    def __init__(self, A, model):
        self.model = model
        self.sweeps = model.prepare_sweeps(A)
        self.csr, self.csr_t = self.sweeps.csr, self.sweeps.csr_t
        self.U, self.V = model.user_factors, model.item_factors

    def threads(self, num_threads=None):
        from fastmf.core._threads import resolve_num_threads, thread_context
        return thread_context(num_threads or resolve_num_threads("benchmark",
                                                                 self.model.num_threads))

    def half_sweep(self, side):
        """Solve every item row ('items', users fixed) or user row ('users')."""
        return self.sweeps.items() if side == "items" else self.sweeps.users()

    def iteration(self):
        return self.half_sweep("items") + self.half_sweep("users")

    def input_bytes(self):
        """(CSR, transpose, factors) sizes in bytes."""
        size = lambda c: c.indptr.nbytes + c.indices.nbytes + c.data.nbytes
        return size(self.csr), size(self.csr_t), self.U.nbytes + self.V.nbytes


class SgdEpochs:
    """One Hogwild SGD epoch at a time, through the estimator's own code.

    ``SGD.prepare_epochs`` validates the data as ``fit`` does and returns the
    ``fastmf.solvers._sgd_epochs.Epochs`` that holds the state of an SGD fit and the body of one epoch (what
    :meth:`fastmf.SGD.fit` runs); this drives it epoch by epoch.
    ``check_steps_match_estimators`` holds it to ``SGD.fit`` bit for bit on one thread. Run
    epochs inside ``self.threads()``.
    """

    def __init__(self, A, model):
        self.model = model
        self.run = model.prepare_epochs(A)
        self.nnz = self.run.nnz
        self.epoch_count = 0

    @property
    def U(self):
        return self.run.U

    @property
    def V(self):
        return self.run.V

    def threads(self, num_threads=None):
        from fastmf.core._threads import resolve_num_threads, thread_context
        return thread_context(num_threads or resolve_num_threads("benchmark",
                                                                 self.model.num_threads))

    def epoch(self):
        self.run.epoch(self.epoch_count)
        self.epoch_count += 1


def check_steps_match_estimators():
    """Raise AssertionError unless WalsSweeps / SgdEpochs reproduce WALS.fit / SGD.fit bit
    for bit on a small matrix (so a change to the estimators cannot leave the benchmarks
    timing something else)."""
    import fastmf
    from fastmf.datasets import make_synthetic
    A = make_synthetic(300, 120, 3000, random_state=1)
    R = make_synthetic(300, 120, 3000, kind="explicit", random_state=1)
    for solver in ("cg", "cholesky"):
        kw = {"solver": solver, "iterations": 2, "num_threads": 1, "random_state": 3}
        ref = fastmf.WALS(8, **kw).fit(A, track_objective=False)
        steps = WalsSweeps(A, fastmf.WALS(8, **kw))
        with steps.threads():
            steps.iteration()
            steps.iteration()
        assert np.array_equal(steps.U, ref.user_factors), f"WalsSweeps ({solver}) != WALS.fit"
        assert np.array_equal(steps.V, ref.item_factors), f"WalsSweeps ({solver}) != WALS.fit"
    ratings = {"w0": 0.0, "confidence": "none", "target": "value", "biases": True, "lr": 0.005}
    for data, kw in ((A, {"lr": 0.001}), (R, ratings)):
        kw = dict(kw, epochs=2, num_threads=1, random_state=3)
        ref = fastmf.SGD(8, **kw).fit(data, track_objective=False)
        steps = SgdEpochs(data, fastmf.SGD(8, **kw))
        with steps.threads():
            steps.epoch()
            steps.epoch()
        assert np.array_equal(steps.U, ref.user_factors), "SgdEpochs != SGD.fit"
        assert np.array_equal(steps.V, ref.item_factors), "SgdEpochs != SGD.fit"
