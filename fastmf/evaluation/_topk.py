"""The computations behind :mod:`fastmf.metrics`: input checks, top-k lists in bounded
blocks, the ranking and AUC kernels' drivers. Models are addressed by index here."""

import numpy as np
import scipy.sparse as sp

from ..core import _interrupts as interrupts
from ..core import _validation as v
from .._kernels.metrics import _auc_rows, _ranking_rows
from ..models._base import FactorModel
from ..models._scoring import SCORE_BLOCK_BYTES, NotFittedError
from ..core._threads import resolve_num_threads, thread_context

# Top-k lists (ids and scores from ``recommend``) held at once, in bytes.
_RANK_BLOCK_BYTES = 64 * 2**20
# Dense score blocks of the AUC, in bytes.
_AUC_BLOCK_BYTES = SCORE_BLOCK_BYTES
# Gathered factor rows of one ``predict`` call in rmse / mae, in bytes.
_PREDICT_BLOCK_BYTES = 64 * 2**20

RANKING = ("precision", "recall", "ndcg", "map", "coverage")
METRICS = ("rmse", "mae", "precision", "recall", "ndcg", "map", "auc", "coverage")
# Column of each per-user metric in the ranking kernel's output.
_COLUMN = {"precision": 1, "recall": 2, "ndcg": 3, "map": 4}


# ---------------------------------------------------------------------------- validation
def check_model(model, owner):
    """(n_users, n_items) of a fitted fastmf model."""
    if not isinstance(model, FactorModel):
        raise TypeError(f"{owner} needs a fastmf model (such as fastmf.WALS or fastmf.SGD); "
                        f"got {type(model).__module__}.{type(model).__name__}.")
    if not model.is_fitted:
        raise NotFittedError(f"This {type(model).__name__} is not fitted yet; call fit(A) "
                             f"first.")
    return model.n_users, model.n_items


def as_matrix(x, name, shape, dtype=np.float64):
    """``x`` as validated canonical :class:`fastmf.core._validation.Csr` of the given shape.

    ``x`` is a scipy.sparse matrix or array, or anything holding one in ``.matrix`` (an
    :class:`fastmf.Interactions`).
    """
    if not sp.issparse(x) and hasattr(x, "matrix"):
        x = x.matrix
    return v.check_matrix(x, name, dtype=dtype, shape=shape)


def test_users(test, owner):
    users = np.flatnonzero(test.row_nnz() > 0).astype(np.int64)
    if users.size == 0:
        raise ValueError(f"{owner} averages over the users with at least one item in test, "
                         f"but test has no stored entries.")
    return users


def seen_matrix(train):
    """``train``'s structure as a scipy CSR with float32 ones, which ``recommend`` takes
    without copying."""
    data = np.ones(train.nnz, np.float32)
    return sp.csr_array((data, train.indices[:train.nnz], train.indptr), shape=train.shape)


def parse_metrics(metrics, k):
    """``metrics`` as a list of (key, name, k or None), duplicates dropped."""
    if isinstance(metrics, str):
        metrics = [metrics]
    valid = ("Valid metrics are 'rmse', 'mae', 'auc', and 'precision', 'recall', 'ndcg', "
             "'map', 'coverage', each optionally as 'name@k' (such as 'ndcg@20'); without "
             "'@k' the k argument is used.")
    try:
        names = list(metrics)
    except TypeError:
        raise ValueError(f"metrics must be a list of metric names; got {metrics!r}. "
                         f"{valid}") from None
    if not names:
        raise ValueError(f"metrics is empty. {valid}")
    out = []
    for name in names:
        base, at, suffix = name.partition("@") if isinstance(name, str) else (None, "", "")
        ok = base in METRICS
        if ok and at:
            ok = (base in RANKING and suffix.isascii() and suffix.isdigit()
                  and int(suffix) >= 1)
        if not ok:
            raise ValueError(f"Unknown metric {name!r}. {valid}")
        kk = int(suffix) if at else (k if base in RANKING else None)
        key = base if kk is None else f"{base}@{kk}"
        if key not in [o[0] for o in out]:
            out.append((key, base, kk))
    return out


# ---------------------------------------------------------------------------- computation
@interrupts.deferring
def error_sums(model, test):
    """Sum of squared and of absolute errors of ``model.predict`` over the stored entries
    of ``test``, in blocks of entries."""
    nnz = test.nnz
    d = model.user_factors.shape[1]
    block = max(1, _PREDICT_BLOCK_BYTES // (16 * (d + 2)))
    sse = 0.0
    sae = 0.0
    for start in range(0, nnz, block):
        interrupts.checkpoint()
        stop = min(nnz, start + block)
        pos = np.arange(start, stop)
        users = np.searchsorted(test.indptr, pos, side="right") - 1
        err = model.predict(users, test.indices[start:stop], ids="index") - test.data[start:stop]
        sse += float(np.dot(err, err))
        sae += float(np.abs(err).sum())
    return sse, sae


def topk_blocks(model, seen, users, k):
    """(users block, top-k ids) in blocks that bound the memory of the lists."""
    width = min(k, model.n_items)
    block = max(1, _RANK_BLOCK_BYTES // (16 * width))
    for start in range(0, users.shape[0], block):
        interrupts.checkpoint()
        rows = users[start:start + block]
        ids, _ = model.recommend(rows, A=seen, k=width, filter_seen=True, ids="index")
        yield rows, ids


@interrupts.deferring
def ranking(model, train, test, requests, owner):
    """Averages over the test users of the ranking metrics in ``requests`` (key, name, k),
    from one top-max(k) computation; coverage is over the same users' lists."""
    users = test_users(test, owner)
    n = model.n_items
    ks = sorted({kk for _, _, kk in requests})
    sums = {kk: np.zeros(5) for kk in ks}
    shown = {kk: np.zeros(n, bool) for kk in ks}
    need_kernel = {kk for _, name, kk in requests if name != "coverage"}
    for rows, ids in topk_blocks(model, seen_matrix(train), users, max(ks)):
        for kk in ks:
            # Top-kk lists are prefixes of the top-max(k) lists (ties go to the lower id).
            sub = np.ascontiguousarray(ids[:, :min(kk, n)], dtype=np.int64)
            shown[kk][sub[sub >= 0]] = True
            if kk in need_kernel:
                out = np.empty((rows.shape[0], 5))
                with thread_context(resolve_num_threads(owner, model.num_threads)):
                    _ranking_rows(sub, rows, test.indptr, test.indices, kk, out)
                sums[kk] += out.sum(axis=0)
    result = {}
    for key, name, kk in requests:
        if name == "coverage":
            result[key] = float(np.count_nonzero(shown[kk]) / n)
        else:
            result[key] = float(sums[kk][_COLUMN[name]] / users.shape[0])
    return result


@interrupts.deferring
def auc_value(model, train, test, owner):
    users = test_users(test, owner)
    V = model.item_factors
    n = V.shape[0]
    offsets = None if model.item_biases is None else model.item_biases.astype(V.dtype)
    block = max(1, _AUC_BLOCK_BYTES // max(1, n * V.itemsize))
    per_user = np.empty(users.shape[0])
    with thread_context(resolve_num_threads(owner, model.num_threads)):
        for start in range(0, users.shape[0], block):
            interrupts.checkpoint()
            rows = users[start:start + block]
            # The user's bias and the global mean shift all of a user's scores alike and
            # leave the AUC unchanged.
            scores = model.user_factors[rows] @ V.T
            if offsets is not None:
                scores += offsets
            _auc_rows(scores, rows, train.indptr, train.indices, test.indptr, test.indices,
                      per_user[start:start + block])
    valid = ~np.isnan(per_user)
    if not valid.any():
        raise ValueError("auc needs a user with both a test item and a negative item (one in "
                         "neither train nor test); every test user has seen all items.")
    return float(per_user[valid].mean())


