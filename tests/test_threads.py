"""The OpenMP wait policy fastmf sets for its parallel kernels."""

import os
import subprocess
import sys

import pytest

_PRINT = "import os, fastmf; print(os.environ.get('OMP_WAIT_POLICY'))"


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE"),
                                             ("passive", "passive")])
def test_a_passive_wait_unless_the_environment_sets_one(given, expected):
    # idle OpenMP threads that spin take CPU from busy neighbours (benchmarks/contention.py)
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    out = subprocess.run([sys.executable, "-c", _PRINT], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split()[-1] == expected
