"""On real data (skipped unless FASTMF_DATA points at the data sets)."""

import numpy as np
import scipy.sparse as sp

from fastmf import WALS


def _ml100k_positives(data_home):
    raw = np.loadtxt(data_home / "ml-100k" / "u.data", dtype=np.int64)
    keep = raw[:, 2] >= 4
    return sp.csr_array((np.ones(keep.sum(), np.float32),
                         (raw[keep, 0] - 1, raw[keep, 1] - 1)))


def _split(A, seed):
    coo = A.tocoo()
    test = np.random.default_rng(seed).random(coo.nnz) < 0.2
    part = lambda m: sp.csr_array((coo.data[m], (coo.row[m], coo.col[m])), shape=A.shape)
    return part(~test), part(test)


def _recall(ids, users, test, k):
    out = []
    for row, u in enumerate(users):
        truth = test.indices[test.indptr[u]:test.indptr[u + 1]]
        out.append(np.isin(ids[row, :k], truth).sum() / min(k, truth.size))
    return float(np.mean(out))


def test_wals_beats_popularity_on_movielens(data_home):
    train, test = _split(_ml100k_positives(data_home), 0)
    users = np.flatnonzero(np.diff(test.indptr))
    model = WALS(64, iterations=10, random_state=0).fit(train)
    ids, _ = model.recommend(users, k=20)
    # Popularity baseline: most frequent training items the user has not seen.
    pop = np.argsort(-np.asarray(train.sum(axis=0)).ravel(), kind="stable")
    seen = train.tolil().rows
    pop_ids = np.array([[j for j in pop if j not in set(seen[u])][:20] for u in users])
    ours, baseline = _recall(ids, users, test, 20), _recall(pop_ids, users, test, 20)
    assert ours > 1.3 * baseline, (ours, baseline)
    # Every recommended item is unseen and valid.
    assert not any(np.isin(ids[r], seen[u]).any() for r, u in enumerate(users))
