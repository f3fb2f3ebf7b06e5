"""Every example in examples/ and the README's Dask snippet run as scripts (``python
file.py``), as a user runs them: a Dask LocalCluster of worker processes started at module
level without a ``__main__`` guard fails only then."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def _run(path, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(path)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_as_a_script(path, tmp_path):
    if "dask" in path.stem:
        pytest.importorskip("distributed")
    done = _run(path, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


def test_readme_dask_snippet_runs_as_a_script(tmp_path):
    pytest.importorskip("distributed")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = [c for c in re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
            if "LocalCluster" in c]
    assert code, "README.md has no Dask snippet"
    script = tmp_path / "snippet.py"
    script.write_text(code[0], encoding="utf-8")
    done = _run(script, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
