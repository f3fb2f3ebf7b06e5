"""Dask DataFrame input: (user, item[, value]) rows, e.g. from ``dask.dataframe.read_parquet``.

The raw ids are indexed on the workers: a tree reduction of each partition's unique ids
gives the catalogues (sorted, as :class:`fastmf.Interactions` sorts them), each partition
maps its ids to indices and splits its entries by row block, and each block gathers its
pieces into a part where it lands. Only the catalogues and the per-row counts (m + n
numbers) come to the client. Every part is a task of one graph that starts at the
frame's partitions, so the scheduler recomputes a part lost with its worker.
"""

import operator

import numpy as np

from ..data._ids import factorize, lookup
from ..data._interactions import entry_values
from .blocks import part_from_pieces
from .layout import BlockRef, Layout, block_bounds

FRAME_COLUMNS = ("user", "item", "value")
# Partitions or partial results merged per task in the tree reductions.
TREE_WIDTH = 8


def is_dask_frame(A):
    return (type(A).__module__.startswith("dask")
            and callable(getattr(A, "to_delayed", None)) and hasattr(A, "columns"))


class FrameInput:
    """A Dask DataFrame with columns user, item and optionally value, as ``fit`` takes it
    (nothing is computed until the fit starts)."""

    def __init__(self, frame):
        cols = [str(c) for c in frame.columns]
        if "user" not in cols or "item" not in cols:
            raise ValueError(f"A DataFrame passed to fit needs columns 'user' and 'item' "
                             f"(and optionally 'value'); it has {cols}.")
        self.has_value = "value" in cols
        self.frame = frame[[c for c in FRAME_COLUMNS if c in cols]]

    def __repr__(self):
        return f"<Dask DataFrame input, {self.frame.npartitions} partitions>"


# ---------------------------------------------------------------------- partition tasks
def partition_ids(df):
    """Sorted unique raw user and item ids of one partition (missing ids raise)."""
    return (factorize("users", df["user"].to_numpy())[0],
            factorize("items", df["item"].to_numpy())[0])


def merge_ids(*parts):
    return tuple(np.unique(np.concatenate([p[a] for p in parts])) for a in (0, 1))


def index_partition(df, catalogues, has_value):
    """(user index, item index, value) arrays of one partition; values checked as
    :class:`fastmf.Interactions` checks them."""
    out = []
    for col, name, cat in (("user", "users", catalogues[0]), ("item", "items", catalogues[1])):
        uniq, codes = factorize(name, df[col].to_numpy())
        out.append(lookup(cat, uniq, name)[codes])
    if has_value:
        values = entry_values(df["value"].to_numpy())
    else:
        values = np.ones(out[0].size)
    return out[0], out[1], values


def count_entries(indexed, m, n):
    return np.bincount(indexed[0], minlength=m), np.bincount(indexed[1], minlength=n)


def add_counts(*parts):
    return tuple(sum(p[a] for p in parts) for a in (0, 1))


def split_partition(indexed, bounds, axis):
    """The partition's entries per block of rows (``axis`` 0: users, 1: items), each as
    (row, column, value) in that orientation."""
    rows, cols = indexed[axis], indexed[1 - axis]
    starts = np.array([s for s, _ in bounds] + [bounds[-1][1]])
    which = np.searchsorted(starts, rows, side="right") - 1
    order = np.argsort(which, kind="stable")
    cuts = np.searchsorted(which[order], np.arange(len(bounds) + 1))
    return [(rows[order[a:b]], cols[order[a:b]], indexed[2][order[a:b]])
            for a, b in zip(cuts[:-1], cuts[1:])]


# ---------------------------------------------------------------------- the graph
def _tree(client, futures, fn):
    while len(futures) > 1:
        futures = [client.submit(fn, *futures[i:i + TREE_WIDTH])
                   for i in range(0, len(futures), TREE_WIDTH)]
    return futures[0]


def frame_layout(client, data, *, k, dtype, n_blocks, nonnegative, check_sizes):
    """Index ``data`` (a :class:`FrameInput`) on the workers and build the parts of both
    sides there. ``check_sizes(m, n)`` runs once the catalogues are known (row/column
    weights)."""
    parts = client.compute(data.frame.to_delayed())
    catalogues = _tree(client, [client.submit(partition_ids, p) for p in parts], merge_ids)
    user_ids, item_ids = catalogues.result()
    m, n = user_ids.size, item_ids.size
    check_sizes(m, n)
    indexed = [client.submit(index_partition, p, catalogues, data.has_value) for p in parts]
    counts = _tree(client, [client.submit(count_entries, x, m, n) for x in indexed],
                   add_counts).result()
    refs = []
    for side, axis, n_other in (("items", 1, m), ("users", 0, n)):
        bounds = block_bounds(counts[axis], k, n_blocks)
        splits = [client.submit(split_partition, x, bounds, axis) for x in indexed]
        for b, (start, stop) in enumerate(bounds):
            pieces = [client.submit(operator.getitem, s, b) for s in splits]
            part = client.submit(part_from_pieces, pieces, start, stop, n_other, dtype,
                                 nonnegative)
            refs.append(BlockRef(side, start, stop, part))
    return Layout(client, (m, n), refs, ids=(user_ids, item_ids))
