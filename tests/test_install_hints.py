"""The distribution is ``fastmf-recsys`` (``fastmf`` on the package index is another
project): the packaging, CI and every install instruction or hint agree on that name, and
none tells users to ``pip install fastmf``."""

import re
from pathlib import Path

import pytest

import fastmf
from fastmf._install import _EXTRAS, DISTRIBUTION, install_hint

ROOT = Path(__file__).resolve().parent.parent
# "pip install fastmf", "pip install 'fastmf[...]'", '"fastmf[dist]"' -- not fastmf-recsys
OLD_NAME = re.compile(r"""pip install\s+["']?fastmf(?![\w-])|["']fastmf\[""")


def _texts():
    package = Path(fastmf.__file__).resolve().parent  # the installed package under CI
    files = list(package.rglob("*.py"))
    files += [ROOT / "README.md", ROOT / "datasets" / "README.md",
              ROOT / "benchmarks" / "README.md", ROOT / "pyproject.toml"]
    files += [p for p in (ROOT / "docs").rglob("*")
              if p.suffix in (".md", ".rst", ".py") and "_build" not in p.parts
              and "generated" not in p.parts and "auto_examples" not in p.parts]
    return [p for p in files if p.is_file()]


def test_no_install_instruction_names_the_other_projects_distribution():
    bad = [f"{p}: {m.group(0)}" for p in _texts()
           for m in OLD_NAME.finditer(p.read_text(encoding="utf-8"))]
    assert not bad, bad


def _pyproject():
    tomllib = pytest.importorskip("tomllib")
    path = ROOT / "pyproject.toml"
    if not path.is_file():
        pytest.skip("no source tree next to the tests")
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_packaging_uses_the_distribution_name():
    project = _pyproject()["project"]
    assert project["name"] == DISTRIBUTION
    assert project["optional-dependencies"]["all"][0].startswith(f"{DISTRIBUTION}[")
    assert project["scripts"] == {"fastmf": "fastmf.__main__:main"}
    # CI finds the wheel by its file name, which spells the name with underscores
    wheel = DISTRIBUTION.replace("-", "_")
    assert f"dist/{wheel}-*.whl" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_wheel_named_in_the_docs_is_the_one_a_build_writes():
    wheel = f"{DISTRIBUTION.replace('-', '_')}-{fastmf.__version__}-py3-none-any.whl"
    for path in (ROOT / "README.md", ROOT / "docs" / "index.rst"):
        named = re.findall(r"fastmf\w*-[\w.]+-py3-none-any\.whl", path.read_text("utf-8"))
        assert named and set(named) == {wheel}, (path, named)


def test_install_hints_name_packages_that_the_extra_installs():
    extras = _pyproject()["project"]["optional-dependencies"]
    for extra, packages in _EXTRAS.items():
        hint = install_hint(extra)
        assert f"pip install '.[{extra}]'" in hint and DISTRIBUTION in hint
        wanted = {re.split(r"[\[<>=]", r)[0] for r in extras[extra]}
        for package in packages.replace("'", "").split():
            assert re.split(r"[\[<>=]", package)[0] in wanted, (extra, package)
