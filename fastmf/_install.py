"""fastmf's distribution name and the install hints its error messages give.

The import name is ``fastmf``; the distribution (what pip installs) is ``fastmf-recsys``,
because ``fastmf`` on the package index belongs to an unrelated project. Until
``fastmf-recsys`` is published, an extra is installed from the source tree or a built
wheel, so a hint names the packages themselves first: that works however fastmf was
installed.
"""

DISTRIBUTION = "fastmf-recsys"

# What each optional feature needs, as pip arguments.
_EXTRAS = {"datasets": "pandas pooch", "plots": "matplotlib", "progress": "tqdm",
           "dist": "'dask[distributed]'"}


def install_hint(extra):
    """``pip install ...`` for an extra: its packages, and the extra of the source tree."""
    return (f"pip install {_EXTRAS[extra]} (the '{extra}' extra of {DISTRIBUTION}; from "
            f"fastmf's source tree: pip install '.[{extra}]')")
