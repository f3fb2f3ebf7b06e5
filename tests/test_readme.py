"""Every Python snippet of README.md runs as written: the snippets are executed in order,
in one namespace, in a temporary folder. Snippets that read a real data set skip when
FASTMF_DATA does not point at a data folder."""

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
# A snippet that loads a named data set needs the real files (never downloaded in tests).
NEEDS_DATA = re.compile(r"""\bload\(\s*["'](movielens|lastfm|citeulike)""")


def snippets():
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def _title(code):
    return code.strip().splitlines()[0][:40]


@pytest.fixture(scope="module")
def namespace(tmp_path_factory):
    # run as a script would be (a snippet may guard its body with __name__ == "__main__")
    return {"__name__": "__main__", "folder": tmp_path_factory.mktemp("readme")}


def test_readme_has_snippets():
    assert len(snippets()) >= 3


@pytest.mark.parametrize("index", range(len(snippets())),
                         ids=[f"{i}-{_title(c)}" for i, c in enumerate(snippets())])
def test_readme_snippet_runs(index, namespace, monkeypatch):
    code = snippets()[index]
    if NEEDS_DATA.search(code):
        home = os.environ.get("FASTMF_DATA")
        if not home or not Path(home).is_dir():
            pytest.skip("this snippet reads a real data set: FASTMF_DATA is not set")
    monkeypatch.chdir(namespace["folder"])
    exec(compile(code, f"README.md snippet {index}", "exec"), namespace)
