"""Shared helpers for the benchmark scripts: machine description and timing."""

import os
import platform
import statistics
import time


def machine():
    """One line naming the CPU, cores and library versions."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numba
    import numpy
    import scipy
    parts = [cpu, f"{os.cpu_count()} cores", f"python {platform.python_version()}",
             f"numpy {numpy.__version__}", f"scipy {scipy.__version__}",
             f"numba {numba.__version__}"]
    try:
        import implicit
        parts.append(f"implicit {implicit.__version__}")
    except ImportError:
        pass
    return ", ".join(parts)


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times
