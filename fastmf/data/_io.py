"""Reading interactions from a data-set name or a CSV / Parquet file."""

import csv
import os

from .._install import install_hint
from ._interactions import Interactions


def read_interactions(source, *, user="user", item="item", value=None, timestamp=None,
                      sep=None, data_home=None, download=True, show_progress=True):
    """Interactions from a data-set name (see :func:`fastmf.datasets.load`) or a file.

    Files: ``.parquet`` (needs pandas with pyarrow) or delimited text (``.csv``, ``.tsv``,
    ...) with a header row naming the columns ``user`` and ``item`` (and ``value`` /
    ``timestamp`` when given). ``sep`` defaults to a tab for ``.tsv`` / ``.tab`` and a comma
    otherwise. Files are read by pandas (the ``datasets`` extra).
    """
    from .. import datasets

    if isinstance(source, Interactions):
        return source
    source = os.fspath(source)
    names = datasets.list_datasets() if hasattr(datasets, "list_datasets") else {}
    if source in names:
        return datasets.load(source, data_home=data_home, download=download,
                             show_progress=show_progress)
    if not os.path.isfile(source):
        known = ", ".join(sorted(names))
        raise FileNotFoundError(f"{source!r} is neither a data-set name ({known}) nor a file.")
    columns = [c for c in (user, item, value, timestamp) if c is not None]
    if source.endswith(".parquet"):
        pd = _pandas()
        try:
            df = pd.read_parquet(source, columns=columns)
        except ImportError as exc:
            raise ImportError("Reading Parquet needs pyarrow (pip install pyarrow).") from exc
        return Interactions.from_dataframe(df, user, item, value, timestamp)
    if sep is None:
        sep = "\t" if source.endswith((".tsv", ".tab")) else ","
    pd = _pandas()
    df = pd.read_csv(source, sep=sep, usecols=lambda c: c in columns)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in {source}; use --user/--item/--value "
                         f"to name the columns.")
    if df[columns].isna().any().any():
        bad = df[columns].isna().any(axis=1).to_numpy().nonzero()[0][0]
        raise ValueError(f"{source}: missing value in data row {bad + 1}.")
    return Interactions.from_dataframe(df, user, item, value, timestamp)


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("Reading interaction files needs pandas: "
                          + install_hint("datasets")) from None
    return pandas


#: Column names taken as the value of an entry when no value column is named.
VALUE_COLUMNS = ("value", "rating", "count")


def detect_value_column(source, sep=None):
    """The one column of a delimited text or Parquet file named like a value (``value``,
    ``rating``, ``count``), or None; raises ValueError when there are several."""
    source = os.fspath(source)
    if not os.path.isfile(source):
        return None
    if source.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
            header = list(pq.read_schema(source).names)
        except ImportError:
            return None
    else:
        if sep is None:
            sep = "\t" if source.endswith((".tsv", ".tab")) else ","
        with open(source, newline="") as f:
            header = next(csv.reader(f, delimiter=sep), None) or []
    found = [c for c in VALUE_COLUMNS if c in header]
    if len(found) > 1:
        raise ValueError(f"{source} has several value columns ({', '.join(found)}); name the "
                         f"one to use with --value.")
    return found[0] if found else None
