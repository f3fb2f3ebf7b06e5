"""The kernels run as plain Python (``NUMBA_DISABLE_JIT=1``): the kernel, SGD, metric and
objective tests pass on the Python twins too, and coverage measures the kernels' lines
(Numba-compiled code is invisible to coverage)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNEL_TESTS = ["test_kernels.py", "test_sgd.py", "test_metrics.py", "test_objective.py",
                "test_sgd_ranking.py", "test_eals.py", "test_subspace.py"]


@pytest.mark.slow
def test_kernels_pass_and_are_covered_without_jit(tmp_path):
    pytest.importorskip("coverage")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    data = str(tmp_path / ".coverage")
    kernels = str(ROOT / "fastmf" / "_kernels")
    run = subprocess.run(
        [sys.executable, "-m", "coverage", "run", f"--data-file={data}", f"--source={kernels}",
         "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow",
         *[str(ROOT / "tests" / t) for t in KERNEL_TESTS]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = subprocess.run(
        [sys.executable, "-m", "coverage", "report", f"--data-file={data}",
         "--omit=*/_cache.py", "--fail-under=90"], cwd=tmp_path, capture_output=True,
        text=True)
    print(report.stdout)
    assert report.returncode == 0, report.stdout
