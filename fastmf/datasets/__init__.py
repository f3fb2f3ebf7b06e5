"""Data sets: a deterministic synthetic generator (more loaders build on this package)."""

from ._synthetic import make_synthetic

__all__ = ["make_synthetic"]
