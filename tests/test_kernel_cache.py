"""Compiled kernels are cached in the user's cache directory, outside the installed package
(which a reinstall deletes), and a second process loads them from there."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import fastmf

SCRIPT = """
import numpy as np
from fastmf._kernels.partition import _balanced_chunks
_balanced_chunks(np.array([0, 2, 5, 9], np.int64), 1.0, 2)
print(sum(_balanced_chunks.stats.cache_hits.values()))
"""


def _run(cache_home):
    env = {k: val for k, val in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(cache_home)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_CACHE_HOME is the Linux cache folder")
def test_kernels_are_cached_outside_the_package_and_reused(tmp_path):
    assert _run(tmp_path) == 0                       # compiled
    folders = list((tmp_path / "fastmf").glob("numba-*"))
    assert len(folders) == 1, list(tmp_path.rglob("*"))
    assert any(f.name.startswith("partition._balanced_chunks") for f in folders[0].iterdir())
    package = Path(fastmf.__file__).parent
    assert package not in folders[0].parents
    assert _run(tmp_path) == 1                       # loaded from that cache


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_CACHE_HOME is the Linux cache folder")
def test_two_source_trees_of_one_version_keep_separate_caches(tmp_path):
    # a checkout beside an install: cached kernels of one tree may name types the other
    # tree lacks, so neither reads the other's
    import shutil
    package = Path(fastmf.__file__).parent
    for tree in ("a", "b"):
        shutil.copytree(package, tmp_path / tree / "fastmf",
                        ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    for tree in ("a", "b"):
        env = {k: val for k, val in os.environ.items() if k != "NUMBA_CACHE_DIR"}
        env["XDG_CACHE_HOME"] = str(cache)
        env["PYTHONPATH"] = str(tmp_path / tree)
        out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                             text=True, timeout=300, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().splitlines()[-1] == "0"  # compiled: not the other's
    assert len(list((cache / "fastmf").glob("numba-*"))) == 2
