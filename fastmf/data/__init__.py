"""Data: interactions with raw ids, id lookups, reading files, train/test splits.
The data-set loaders are the sibling package :mod:`fastmf.datasets`."""
