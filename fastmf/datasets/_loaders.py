"""Parsers for the official file formats, and :func:`load`.

Each parser reads one file as the official archive lays it out and returns the columns
``(users, items, values, timestamps)`` (raw ids, timestamps None where the format has
none). The files are read by ``pandas.read_csv`` (C engine); pandas comes with the
``datasets`` extra and is imported only when a data set is read.
"""

import csv
import warnings

import numpy as np

from .._install import install_hint
from ..data._interactions import Interactions
from ._catalogue import CATALOGUE, get_entry
from ._download import ensure

_INSTALL = install_hint("datasets")


def _pandas():
    """pandas, imported when a file is read; a clear ImportError when it is missing."""
    try:
        import pandas
    except ImportError:
        raise ImportError(f"Reading the data-set files needs pandas: {_INSTALL}") from None
    return pandas


def _numeric_table(path, ncols, sep, header, int_cols):
    """Columns of an all-numeric table; ``int_cols`` are returned as int64."""
    pd = _pandas()
    # '::' is not a single character, which pandas's C engine needs: read ':' and keep
    # every other column (the fields between the two colons are empty).
    double = sep == "::"
    try:
        df = pd.read_csv(path, sep=":" if double else sep, header=0 if header else None,
                         usecols=[2 * i for i in range(ncols)] if double else None,
                         engine="c", skip_blank_lines=True)
    except (ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"{path}: could not be read as {ncols} {sep!r}-separated "
                         f"columns: {e}") from e
    if df.shape[1] != ncols:
        raise ValueError(f"{path}: expected {ncols} columns, found {df.shape[1]}.")
    cols = []
    for i in range(ncols):
        col = df.iloc[:, i]
        if col.dtype.kind not in "iuf" or col.isna().any():
            raise ValueError(f"{path}: column {i + 1} holds non-numeric or missing "
                             f"values.")
        cols.append(col.to_numpy())
    out = []
    for i, col in enumerate(cols):
        if i in int_cols:
            if col.dtype.kind == "f" and np.any(col != np.round(col)):
                raise ValueError(f"{path}: column {i + 1} should hold integers.")
            col = col.astype(np.int64)
        else:
            col = col.astype(np.float64)
        out.append(col)
    return out


# ---------------------------------------------------------------------- parsers
def _movielens_100k(path):
    """``u.data``: ``user \\t item \\t rating \\t timestamp``, no header."""
    u, i, r, t = _numeric_table(path, 4, "\t", False, int_cols=(0, 1, 3))
    return u, i, r, t


def _movielens_dat(path):
    """ml-1m / ml-10M100K ``ratings.dat``: ``UserID::MovieID::Rating::Timestamp``."""
    u, i, r, t = _numeric_table(path, 4, "::", False, int_cols=(0, 1, 3))
    return u, i, r, t


def _movielens_csv(path):
    """ml-20m / ml-25m / ml-latest-small ``ratings.csv``: header
    ``userId,movieId,rating,timestamp``."""
    u, i, r, t = _numeric_table(path, 4, ",", True, int_cols=(0, 1, 3))
    return u, i, r, t


def _hetrec_user_artists(path):
    """HetRec 2011 ``user_artists.dat``: header ``userID \\t artistID \\t weight``; the
    weight is the user's play count of the artist."""
    u, i, w = _numeric_table(path, 3, "\t", True, int_cols=(0, 1))
    return u, i, w, None


def _citeulike(path):
    """CiteULike-a ``users.dat``: line u (user u, from 0) is ``count item item ...``."""
    users, items = [], []
    with open(path, "rb") as f:
        for u, line in enumerate(f):
            nums = line.split()
            if not nums:
                raise ValueError(f"{path}: line {u + 1} is empty; every user has a line.")
            try:
                row = np.array(nums, dtype=np.int64)
            except ValueError:
                raise ValueError(f"{path}: line {u + 1} holds something other than "
                                 f"integers.") from None
            if row[0] != row.size - 1:
                raise ValueError(f"{path}: line {u + 1} announces {row[0]} items but lists "
                                 f"{row.size - 1}.")
            users.append(np.full(row.size - 1, u, dtype=np.int64))
            items.append(row[1:])
    if not users:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), None
    items = np.concatenate(items)
    return np.concatenate(users), items, np.ones(items.size), None


def _lastfm_360k_pandas(pd, path):
    bad = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        # No quoting (names hold stray quotes); '\n' alone ends a line (some names hold a
        # bare '\r'); no NA parsing (an artist called "NaN" or "null" stays a string).
        df = pd.read_csv(path, sep="\t", header=None, names=["user", "mbid", "name", "plays"],
                         dtype=str, quoting=csv.QUOTE_NONE, na_filter=False,
                         lineterminator="\n", on_bad_lines="warn", engine="c",
                         encoding="utf-8", encoding_errors="replace")
    for w in caught:
        if issubclass(w.category, pd.errors.ParserWarning):
            bad += str(w.message).count("Skipping line")
        else:  # pragma: no cover - not ours to swallow
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    plays = pd.to_numeric(df["plays"], errors="coerce").to_numpy(dtype=np.float64)
    user = df["user"].to_numpy(dtype=object)
    mbid = df["mbid"].str.strip().to_numpy(dtype=object)
    name = df["name"].to_numpy(dtype=object)
    return user, mbid, name, plays, bad


def _lastfm_360k(path):
    """``usersha1-artmbid-artname-plays.tsv``: ``user-sha1 \\t artist-mbid \\t artist-name
    \\t plays``, no header.

    The artist id is the MusicBrainz id when the row has one, else the artist name (the
    file's own convention: 107,373 artists have no MBID). Rows without a user, without any
    artist id, with a play count that is not a number, or with more than four fields are
    skipped, and their number is given in one warning.
    """
    user, mbid, name, plays, bad = _lastfm_360k_pandas(_pandas(), path)
    no_user = np.fromiter((not s.strip() for s in user), bool, user.size)
    item = np.where(mbid != "", mbid, name)
    no_item = np.fromiter((not s.strip() for s in item), bool, item.size)
    no_plays = ~np.isfinite(plays)
    skip = no_user | no_item | no_plays
    if skip.any() or bad:
        parts = [f"{int(n):,} {what}" for n, what in (
            (no_user.sum(), "without a user"),
            ((no_item & ~no_user).sum(), "without an artist"),
            ((no_plays & ~no_user & ~no_item).sum(), "with a play count that is not a number"),
            (bad, "with more than four fields")) if n]
        warnings.warn(f"lastfm-360k: skipped {int(skip.sum()) + bad:,} malformed rows of "
                      f"{path.name} ({', '.join(parts)}).", RuntimeWarning, stacklevel=3)
        keep = ~skip
        user, item, plays = user[keep], item[keep], plays[keep]
    return user, item, plays, None


PARSERS = {
    "movielens_100k": _movielens_100k,
    "movielens_dat": _movielens_dat,
    "movielens_csv": _movielens_csv,
    "hetrec_user_artists": _hetrec_user_artists,
    "lastfm_360k": _lastfm_360k,
    "citeulike": _citeulike,
}


# ---------------------------------------------------------------------- public API
def list_datasets():
    """The data sets :func:`load` knows.

    Returns
    -------
    dict
        Name -> one-line description, in catalogue order.
    """
    return {name: entry.description for name, entry in CATALOGUE.items()}


def load(name, data_home=None, download=True, *, verify=True, show_progress=True):
    """Load a public data set as :class:`fastmf.Interactions`, downloading it if needed.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`: 'movielens-100k', 'movielens-1m', 'movielens-10m',
        'movielens-20m', 'movielens-25m', 'movielens-latest-small', 'lastfm-2k',
        'lastfm-360k', 'citeulike-a'.
    data_home : str or path-like, optional
        Folder holding the data sets as their archives unpack
        (``<data_home>/ml-100k/u.data``, ...). Default: ``$FASTMF_DATA``, else
        ``$XDG_CACHE_HOME/fastmf`` or ``~/.cache/fastmf`` (see :func:`get_data_home`).
    download : bool, default True
        Download a missing data set from its official source, verify its checksum and unpack
        it into the data home. False raises :class:`DatasetNotFoundError` instead, without
        touching the network.
    verify : bool, default True
        Refuse a download that does not match the recorded checksum (or that has none
        recorded). False accepts it with a warning.
    show_progress : bool, default True
        Progress bar while downloading (tqdm when installed, else a line on stderr).

    Returns
    -------
    Interactions
        Raw ids as the files give them: MovieLens, HetRec and CiteULike ids are integers;
        Last.fm 360K users are SHA-1 strings and artists are MusicBrainz ids, or the
        artist's name where the row has no MBID. Values are ratings (MovieLens), play
        counts (Last.fm; repeated user-artist rows are summed) or 1.0 (CiteULike).
        MovieLens entries carry their timestamps (int64 seconds since the epoch).

    Raises
    ------
    DatasetNotFoundError
        The files are missing and could not be downloaded (or ``download=False``); the
        message says which files to put where, and the URL.
    ChecksumMismatchError
        A download did not match its recorded checksum; nothing was kept.
    """
    entry = get_entry(name)
    paths = ensure(name, data_home, download, verify=verify, show_progress=show_progress)
    users, items, values, timestamps = PARSERS[entry.parser](paths[0])
    return Interactions(users, items, values, timestamps=timestamps)
