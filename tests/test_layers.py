"""The package's layers: each module imports only from its own layer or those below, and
no module imports a private name (``_x``) from another fastmf module outside the kernels."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "fastmf"

# Lower number = lower layer. Kernels know nothing of the rest; the command line sits on top.
LAYERS = {
    "_kernels": 0, "_install": 0,  # _install: the distribution name; it imports nothing
    "_validation": 1, "_matrix": 1, "_compile_notice": 1, "_compile_helper": 1, "_threads": 1, "_progress": 1, "_params": 1, "_ids": 1, "_interrupts": 1, "_memory": 1,
    "_interactions": 2, "_io": 2, "datasets": 2, "split": 2,
    "_weighting": 3, "_objective": 3, "solvers": 3, "_defaults": 3,
    "_scoring": 4, "_persistence": 4, "_model": 4, "_run": 4, "_incremental": 4, "wals": 4, "sgd": 4, "svd": 4,
    "_sgd_epochs": 4, "_sgd_ranking": 4,
    "_evaluation": 5, "metrics": 5, "compare": 5, "_comparison": 5, "_compare_plot": 5,
    "_tune": 5,
    "distributed": 5,
    "__main__": 6, "__init__": 7,
}
MAX_LINES = 400


def _layer_of(parts):
    return LAYERS[parts[0]] if parts[0] in LAYERS else None


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("").parts
        yield path, rel


def _imports(path, rel):
    """(imported module parts inside fastmf, imported names) per import statement."""
    tree = ast.parse(path.read_text())
    package = rel[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
            target = tuple(base) + (tuple(node.module.split(".")) if node.module else ())
            names = [a.name for a in node.names]
            if not node.module:  # "from . import x": the names are modules
                for name in names:
                    yield tuple(base) + (name,), []
            else:
                yield target, names
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fastmf"):
            yield tuple(node.module.split(".")[1:]), [a.name for a in node.names]


@pytest.mark.parametrize("path, rel", list(_modules()), ids=lambda x: "/".join(x)
                         if isinstance(x, tuple) else "")
def test_no_upward_imports_and_no_private_names(path, rel):
    own = _layer_of(rel)
    assert own is not None, f"{'/'.join(rel)} is in no layer; add it to LAYERS"
    for target, names in _imports(path, rel):
        if not target:
            continue
        their = _layer_of(target)
        assert their is not None, f"{'/'.join(rel)} imports unknown {'.'.join(target)}"
        if rel[0] == target[0]:
            continue  # inside one package or module
        assert their <= own, (f"{'/'.join(rel)} (layer {own}) imports "
                              f"{'.'.join(target)} (layer {their})")
        if target[0] != "_kernels":
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            assert not private, f"{'/'.join(rel)} imports private {private} from {target}"


@pytest.mark.parametrize("path", [p for p, _ in _modules()], ids=lambda p: p.name)
def test_modules_stay_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES + 50, f"{path.name} has {lines} lines; split it by concern"
