r"""Evaluation metrics for fitted models: rating errors, top-k ranking quality, AUC, coverage.

Every function takes a fitted model (:class:`fastmf.WALS`, :class:`fastmf.SGD`) and its
data as scipy.sparse matrices of shape (n_users, n_items), or as objects holding one in a
``.matrix`` attribute (such as :class:`fastmf.Interactions`).

Conventions of the ranking metrics (precision, recall, nDCG, MAP, AUC):

* relevance is binary: the relevant items of user :math:`u`, :math:`T_u`, are the stored
  entries of row :math:`u` of ``test`` (their values are ignored);
* the items stored in row :math:`u` of ``train`` are removed from the ranking, as
  ``model.recommend(..., filter_seen=True)`` does. A test item that is also in ``train``
  can therefore never be recommended and counts as a miss: split train and test disjointly;
* each metric is averaged over the users with at least one test item; users without one
  are ignored. A ``test`` with no stored entry raises ``ValueError``.

With :math:`L_u = (l_1, \dots, l_k)` the top-:math:`k` list of user :math:`u` and
:math:`\mathrm{rel}_r = [l_r \in T_u]`, the per-user values are

.. math::

    P@k = \frac{1}{k} \sum_{r=1}^{k} \mathrm{rel}_r, \qquad
    R@k = \frac{1}{\min(k, |T_u|)} \sum_{r=1}^{k} \mathrm{rel}_r,

    \mathrm{nDCG}@k = \frac{\sum_{r=1}^{k} \mathrm{rel}_r / \log_2(r + 1)}
                          {\sum_{r=1}^{\min(k, |T_u|)} 1 / \log_2(r + 1)}, \qquad
    \mathrm{AP}@k = \frac{1}{\min(k, |T_u|)} \sum_{r=1}^{k} P@r \cdot \mathrm{rel}_r.

When fewer than :math:`k` items remain after filtering, the list is shorter (``recommend``
pads it with -1) and the empty slots are misses; :math:`P@k` still divides by :math:`k`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import warnings

import numpy as np
import scipy.sparse as sp

from ..core import _interrupts as interrupts
from ..core import _validation as v
from ._topk import (RANKING, as_matrix, auc_value, check_model, error_sums, parse_metrics,
                          ranking, seen_matrix, topk_blocks)

if TYPE_CHECKING:
    from ..data._interactions import Interactions
    from ..models._base import FactorModel


# ---------------------------------------------------------------------------- public API
def rmse(model, test):
    r"""Root mean squared error of the predictions on the stored entries of ``test``.

    .. math::

        \mathrm{RMSE} = \sqrt{\frac{1}{|\Omega|} \sum_{(u,i)\in\Omega}
                        (\hat a_{ui} - a_{ui})^2}

    with :math:`\Omega` the stored entries of ``test``, :math:`a_{ui}` their values and
    :math:`\hat a_{ui}` = ``model.predict(u, i)``.

    Parameters
    ----------
    model : fitted fastmf model
    test : scipy.sparse matrix or fastmf.Interactions, shape (n_users, n_items)

    Returns
    -------
    float
    """
    shape = check_model(model, "rmse")
    test = as_matrix(test, "test", shape)
    if test.nnz == 0:
        raise ValueError("rmse needs stored entries in test; it has none.")
    sse, _ = error_sums(model, test)
    return float(np.sqrt(sse / test.nnz))


def mae(model, test):
    r"""Mean absolute error of the predictions on the stored entries of ``test``.

    .. math::

        \mathrm{MAE} = \frac{1}{|\Omega|} \sum_{(u,i)\in\Omega} |\hat a_{ui} - a_{ui}|

    with the notation of :func:`rmse`.
    """
    shape = check_model(model, "mae")
    test = as_matrix(test, "test", shape)
    if test.nnz == 0:
        raise ValueError("mae needs stored entries in test; it has none.")
    _, sae = error_sums(model, test)
    return float(sae / test.nnz)


def _one_ranking_metric(name, owner, model, train, test, k):
    k = v.check_int(owner, "k", k, low=1)
    shape = check_model(model, owner)
    train = as_matrix(train, "train", shape, np.float32)
    test = as_matrix(test, "test", shape, np.float32)
    key = f"{name}@{k}"
    return ranking(model, train, test, [(key, name, k)], owner)[key]


def precision_at_k(model, train, test, k=10):
    r"""Mean precision at ``k``: the fraction of each top-``k`` list that is relevant.

    .. math::

        P@k = \frac{1}{|\mathcal U|} \sum_{u\in\mathcal U} \frac{1}{k}
              \sum_{r=1}^{k} [l_{u,r} \in T_u]

    over the users :math:`\mathcal U` with at least one test item; :math:`l_{u,r}` is the
    item at rank :math:`r` of user :math:`u`'s list with the ``train`` items removed and
    :math:`T_u` the user's test items (see the module notes). The denominator is :math:`k`
    even when fewer than :math:`k` items are left to recommend.

    Parameters
    ----------
    model : fitted fastmf model
    train : scipy.sparse matrix or fastmf.Interactions, shape (n_users, n_items)
        Items removed from each user's ranking.
    test : scipy.sparse matrix or fastmf.Interactions, shape (n_users, n_items)
        Relevant items (stored entries; values ignored).
    k : int, default 10

    Returns
    -------
    float

    See Also
    --------
    ranking_metrics : precision, recall, nDCG, MAP and coverage from one top-k computation.
    """
    return _one_ranking_metric("precision", "precision_at_k", model, train, test, k)


def recall_at_k(model, train, test, k=10):
    r"""Mean recall at ``k``, with the attainable number of hits as denominator.

    .. math::

        R@k = \frac{1}{|\mathcal U|} \sum_{u\in\mathcal U} \frac{1}{\min(k, |T_u|)}
              \sum_{r=1}^{k} [l_{u,r} \in T_u]

    Notation, parameters and averaging as in :func:`precision_at_k`.
    """
    return _one_ranking_metric("recall", "recall_at_k", model, train, test, k)


def ndcg_at_k(model, train, test, k=10):
    r"""Mean normalized discounted cumulative gain at ``k``, binary relevance.

    .. math::

        \mathrm{nDCG}@k = \frac{1}{|\mathcal U|} \sum_{u\in\mathcal U}
            \frac{\sum_{r=1}^{k} [l_{u,r} \in T_u] / \log_2(r + 1)}
                 {\sum_{r=1}^{\min(k, |T_u|)} 1 / \log_2(r + 1)}

    The denominator is the DCG of an ideal list, whose first :math:`\min(k, |T_u|)` items
    are all relevant. Notation, parameters and averaging as in :func:`precision_at_k`.
    """
    return _one_ranking_metric("ndcg", "ndcg_at_k", model, train, test, k)


def map_at_k(model, train, test, k=10):
    r"""Mean average precision at ``k``.

    .. math::

        \mathrm{MAP}@k = \frac{1}{|\mathcal U|} \sum_{u\in\mathcal U}
            \frac{1}{\min(k, |T_u|)} \sum_{r=1}^{k} P_u@r \cdot [l_{u,r} \in T_u]

    with :math:`P_u@r` the precision of user :math:`u`'s first :math:`r` items. Notation,
    parameters and averaging as in :func:`precision_at_k`.
    """
    return _one_ranking_metric("map", "map_at_k", model, train, test, k)


def auc(model, train, test):
    r"""Mean per-user area under the ROC curve.

    For user :math:`u` with test items :math:`T_u` and negatives
    :math:`N_u = \{i : i \notin T_u,\ i \notin S_u\}` (:math:`S_u` the user's ``train``
    items),

    .. math::

        \mathrm{AUC}_u = \frac{1}{|T_u|\,|N_u|} \sum_{i\in T_u} \sum_{j\in N_u}
            \Big([s_{ui} > s_{uj}] + \tfrac12 [s_{ui} = s_{uj}]\Big),

    with :math:`s` the model's scores (the ranking of :meth:`recommend`). The result is the
    mean of :math:`\mathrm{AUC}_u` over the users with at least one test item and one
    negative. Every item's score is needed: scores are computed in blocks of users, and
    each user costs :math:`O(n \log |T_u|)`.

    Parameters
    ----------
    model : fitted fastmf model
    train, test : scipy.sparse matrix or fastmf.Interactions, shape (n_users, n_items)

    Returns
    -------
    float
    """
    shape = check_model(model, "auc")
    train = as_matrix(train, "train", shape, np.float32)
    test = as_matrix(test, "test", shape, np.float32)
    return auc_value(model, train, test, "auc")


def coverage(model, train, users=None, k=10):
    r"""Catalog coverage: the share of items recommended to at least one of ``users``.

    .. math::

        \mathrm{coverage}@k = \frac{|\bigcup_{u\in\mathcal U} L_u|}{n_{\text{items}}}

    with :math:`L_u` the top-``k`` list of user :math:`u`, ``train`` items removed (padding
    slots do not count).

    Parameters
    ----------
    model : fitted fastmf model
    train : scipy.sparse matrix or fastmf.Interactions, shape (n_users, n_items)
        Items removed from each user's ranking.
    users : array-like of int, optional
        The users :math:`\mathcal U` (default: all users).
    k : int, default 10

    Returns
    -------
    float
    """
    k = v.check_int("coverage", "k", k, low=1)
    shape = check_model(model, "coverage")
    train = as_matrix(train, "train", shape, np.float32)
    if users is None:
        users = np.arange(shape[0], dtype=np.int64)
    else:
        users = v.check_ids("users", users, shape[0])
        if users.size == 0:
            raise ValueError("coverage needs at least one user; users is empty.")
    shown = np.zeros(shape[1], bool)
    with interrupts.deferred():
        for _, ids in topk_blocks(model, seen_matrix(train), users, k):
            shown[ids[ids >= 0]] = True
    return float(np.count_nonzero(shown) / shape[1])


def ranking_metrics(model, train, test, k=10):
    """Precision, recall, nDCG, MAP and coverage at ``k`` from one top-``k`` computation.

    The top-``k`` lists of the users with at least one test item are computed once, in
    blocks of users so that memory stays bounded, and every metric is read from them. The
    metrics are those of :func:`precision_at_k`, :func:`recall_at_k`, :func:`ndcg_at_k` and
    :func:`map_at_k`; coverage is that of :func:`coverage` over the same users (those with a
    test item), not over all users.

    Parameters
    ----------
    model : fitted fastmf model
    train : scipy.sparse matrix or fastmf.Interactions, shape (n_users, n_items)
        Items removed from each user's ranking.
    test : scipy.sparse matrix or fastmf.Interactions, shape (n_users, n_items)
        Relevant items (stored entries; values ignored).
    k : int, default 10

    Returns
    -------
    dict
        ``{"precision@k": ..., "recall@k": ..., "ndcg@k": ..., "map@k": ...,
        "coverage@k": ...}`` (with the value of ``k`` in the keys), floats.
    """
    k = v.check_int("ranking_metrics", "k", k, low=1)
    shape = check_model(model, "ranking_metrics")
    train = as_matrix(train, "train", shape, np.float32)
    test = as_matrix(test, "test", shape, np.float32)
    requests = [(f"{name}@{k}", name, k) for name in RANKING]
    return ranking(model, train, test, requests, "ranking_metrics")


def evaluate(model: FactorModel, train: sp.sparray | sp.spmatrix | Interactions,
             test: sp.sparray | sp.spmatrix | Interactions, k: int = 10,
             metrics: Sequence[str] | None = None, *,
             unknown: str = "error") -> dict[str, float]:
    """Several metrics of a fitted model at once, as a dict of name to float.

    Parameters
    ----------
    model : fitted fastmf model
    train : scipy.sparse matrix or fastmf.Interactions, shape (n_users, n_items)
        The training interactions, removed from each user's ranking.
    test : scipy.sparse matrix or fastmf.Interactions, shape (n_users, n_items)
        Held-out interactions: relevant items for the ranking metrics, target values for
        rmse and mae.
    k : int, default 10
        Cut-off of the ranking metrics named without ``@k``.
    metrics : list of str, optional
        Which metrics, among ``'rmse'``, ``'mae'``, ``'auc'``, and ``'precision'``,
        ``'recall'``, ``'ndcg'``, ``'map'``, ``'coverage'``, each optionally with its own
        cut-off (``'ndcg@20'``). By default: precision, recall, ndcg, map and coverage at
        ``k`` and auc, plus rmse and mae first when the model predicts values
        (``target='value'``, ratings); a model with binary targets (implicit feedback)
        predicts preference, not the stored counts, so they are left out. For a model
        without a ``target`` attribute they are included when the test values are not all
        equal to 1.
    unknown : {'error', 'drop'}, default 'error'
        For a model fitted on raw ids, ``train`` and ``test`` given as
        :class:`fastmf.Interactions` are matched to the model's ids by raw id (their own
        catalogues may differ). Entries of users or items the model does not know raise a
        ``KeyError`` ('error') or are left out with a warning ('drop').

    Returns
    -------
    dict
        Keyed ``'rmse'``, ``'mae'``, ``'precision@10'``, ``'recall@10'``, ``'ndcg@10'``,
        ``'map@10'``, ``'auc'``, ``'coverage@10'`` (the requested ones, in the requested
        order).

    Notes
    -----
    All ranking metrics come from one top-``max(k)`` computation (a top-k list is a prefix
    of a longer one) over the users with at least one test item, and are averaged over
    those users; coverage too is over their lists. See :func:`ranking_metrics`,
    :func:`auc`, :func:`rmse` and :func:`mae` for the definitions.

    Examples
    --------
    >>> fastmf.evaluate(model, train, test, k=20)  # doctest: +SKIP
    {'precision@20': 0.11, 'recall@20': 0.25, 'ndcg@20': 0.21, 'map@20': 0.09,
     'auc': 0.93, 'coverage@20': 0.31}
    """
    k = v.check_int("evaluate", "k", k, low=1)
    requests = None if metrics is None else parse_metrics(metrics, k)
    shape = check_model(model, "evaluate")
    unknown = v.check_option("evaluate", "unknown", unknown, ("error", "drop"))
    train = as_matrix(_by_model_ids(model, train, "train", unknown), "train", shape,
                      np.float32)
    test = as_matrix(_by_model_ids(model, test, "test", unknown), "test", shape, np.float64)
    if requests is None:
        names = ["precision", "recall", "ndcg", "map", "auc", "coverage"]
        target = _target(model)
        if target == "value" or (target is None and np.any(test.data[:test.nnz] != 1)):
            names = ["rmse", "mae"] + names
        requests = parse_metrics(names, k)
    ranked = [r for r in requests if r[1] in RANKING]
    result = {}
    if ranked:
        result.update(ranking(model, train, test, ranked, "evaluate"))
        _warn_if_disjoint(train, test)
        _warn_if_all_seen(train, test)
    if any(r[1] == "auc" for r in requests):
        result["auc"] = auc_value(model, train, test, "evaluate")
    if any(r[1] in ("rmse", "mae") for r in requests):
        if test.nnz == 0:
            raise ValueError("rmse and mae need stored entries in test; it has none.")
        sse, sae = error_sums(model, test)
        result["rmse"] = float(np.sqrt(sse / test.nnz))
        result["mae"] = float(sae / test.nnz)
    return {key: result[key] for key, _, _ in requests}


def _by_model_ids(model, data, name, unknown):
    """Interactions with raw ids as a matrix over the model's users and items (entries of
    ids the model does not know raise, or are dropped with a warning); anything else as
    it is."""
    from ..data._ids import lookup_ids
    from ..data._interactions import Interactions
    if not isinstance(data, Interactions) or model.user_ids_ is None:
        return data
    rows = lookup_ids(model.user_ids_, data.user_ids, "users", unknown=-1)[data.users]
    cols = lookup_ids(model.item_ids_, data.item_ids, "items", unknown=-1)[data.items]
    keep = (rows >= 0) & (cols >= 0)
    lost = int((~keep).sum())
    if lost and unknown == "error":
        raise KeyError(f"{name} holds {lost} entries of users or items the model does not "
                       f"know; pass unknown='drop' to leave them out.")
    if lost:
        warnings.warn(f"evaluate: {lost} {name} entries of users or items the model does "
                      f"not know were left out.", RuntimeWarning, stacklevel=3)
    return sp.csr_array((data.values[keep], (rows[keep], cols[keep])),
                        shape=(model.user_ids_.size, model.item_ids_.size))


def _target(model):
    """The target a fitted model predicts ('value' or 'binary'): the resolved one (the
    constructor's may be 'auto'), or None when unknown."""
    resolved = getattr(model, "resolved_params_", None)
    if isinstance(resolved, dict) and resolved.get("target") in ("value", "binary"):
        return resolved["target"]
    target = getattr(model, "target", None)
    return target if target in ("value", "binary") else None


def _warn_if_all_seen(train, test):
    """Every test entry is also in train: recommendations leave seen items out, so the
    ranking metrics are 0; say so."""
    if test.nnz == 0 or train.nnz == 0:
        return
    t = test.to_scipy().tocoo()
    keys = t.row.astype(np.int64) * test.shape[1] + t.col
    r = train.to_scipy().tocoo()
    seen = np.isin(keys, r.row.astype(np.int64) * train.shape[1] + r.col)
    if seen.all():
        warnings.warn("Every test entry is also in train: recommendations leave the items a "
                      "user has in train out, so the ranking metrics are 0. Pass the "
                      "training part of a split (fastmf.split) as train.", RuntimeWarning,
                      stacklevel=3)


def _warn_if_disjoint(train, test):
    """Test shares no user or no item with train: the ranking metrics mean nothing (they
    are 0, or ties among untrained factors); say so."""
    test_rows = np.flatnonzero(test.row_nnz() > 0)
    shared_users = np.any(train.row_nnz()[test_rows] > 0)
    train_items = np.zeros(train.shape[1], bool)
    train_items[train.indices[:train.nnz]] = True
    shared_items = np.any(train_items[test.indices[:test.nnz]])
    if not (shared_users and shared_items):
        what = "users" if not shared_users else "items"
        warnings.warn(f"Test and train share no {what}: nothing the model learned applies "
                      f"to the test entries, so the ranking metrics mean nothing (were they "
                      f"indexed with the training set's ids, e.g. train.like(...)?).",
                      RuntimeWarning, stacklevel=3)


__all__ = ["auc", "coverage", "evaluate", "mae", "map_at_k", "ndcg_at_k", "precision_at_k",
           "ranking_metrics", "recall_at_k", "rmse"]
