"""Data sets: public recommender data sets with verified downloads, and a deterministic
synthetic generator.

>>> from fastmf.datasets import load, list_datasets
>>> data = load("movielens-100k")       # doctest: +SKIP
>>> data                                 # doctest: +SKIP
Interactions(943 users x 1,682 items, 100,000 entries, timestamps)

Files live in a data home (``data_home`` argument, else ``$FASTMF_DATA``, else
``~/.cache/fastmf``) laid out as the official archives unpack; a missing data set is
downloaded from its official source and its checksum verified before it is unpacked.
"""

from ._catalogue import CATALOGUE
from ._download import (
    ChecksumMismatchError,
    DatasetNotFoundError,
    download,
    get_data_home,
)
from ._loaders import list_datasets, load
from ._synthetic import make_synthetic

__all__ = [
    "CATALOGUE",
    "ChecksumMismatchError",
    "DatasetNotFoundError",
    "download",
    "get_data_home",
    "list_datasets",
    "load",
    "make_synthetic",
]
