# Sphinx configuration of the fastmf documentation.
#
# Why this stack: fastmf's docstrings are already written in the numpydoc format (the
# Parameters / Returns / Notes sections), so numpydoc renders them as they are; and the
# libraries fastmf sits next to -- implicit and scikit-learn -- document themselves with the
# same tools (Sphinx + numpydoc, the PyData theme, sphinx-gallery for runnable examples), so
# the pages look and read like the rest of the ecosystem. myst-parser lets the Markdown
# pages that already exist (architecture.md) be part of the site without conversion.
#
# Build (from the repository root; CI runs the same command):
#     pip install ".[docs]"
#     sphinx-build -W --keep-going -b html docs docs/_build/html
# The examples in examples/ are executed during the build (small synthetic data, no
# downloads).

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The installed fastmf is documented when there is one; a source checkout works too.
try:
    import fastmf
except ImportError:  # pragma: no cover - building from a checkout without installing
    sys.path.insert(0, str(ROOT))
    import fastmf

os.environ.setdefault("MPLBACKEND", "Agg")

project = "fastmf"
author = "the fastmf developers"
copyright = "2026, the fastmf developers"
release = fastmf.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "**.codeobj.json",
                    "sg_execution_times.rst"]
# bad_inputs.md is written separately; guide/bad_inputs.rst includes it when present.
exclude_patterns.append("bad_inputs.md")
templates_path = ["_templates"]

# -- API reference ------------------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
# The types are documented by numpydoc's Parameters sections; the annotations (for type
# checkers, see fastmf/py.typed) would repeat them at length in every signature.
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- MyST (Markdown pages) ------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
# Markdown pages link to files of the repository (../fastmf/..., README.md) that are not
# pages of this site; those links are shown as text instead of failing the build.
suppress_warnings = ["myst.xref_missing"]

# -- examples (sphinx-gallery) --------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "min_reported_time": 1,
    "reference_url": {"fastmf": None},
    "doc_module": ("fastmf",),
    "backreferences_dir": None,
    "write_computation_times": False,
}

# -- HTML -----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastmf {release}"
html_static_path = []
html_theme_options = {
    "github_url": "https://github.com/fastmf/fastmf",
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False


# -- optional pages -------------------------------------------------------------------------
def setup(app):
    """``.. include-if-exists:: PATH`` includes PATH (with the include directive's options,
    e.g. ``:parser: myst_parser.sphinx_``) when the file exists, and otherwise parses the
    directive's own content instead, so a page written separately (docs/bad_inputs.md) is
    part of the site once it lands and the build does not fail before."""
    from docutils import nodes
    from sphinx.directives.other import Include
    from sphinx.util.nodes import nested_parse_with_titles

    class IncludeIfExists(Include):
        has_content = True

        def run(self):
            env = self.state.document.settings.env
            _, path = env.relfn2path(self.arguments[0])
            if Path(path).is_file():
                env.note_dependency(path)
                self.content = []
                return super().run()
            node = nodes.container()
            nested_parse_with_titles(self.state, self.content, node)
            return node.children

    app.add_directive("include-if-exists", IncludeIfExists)
    return {"parallel_read_safe": True}
