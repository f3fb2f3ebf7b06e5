"""Slow dense twins of the kernels, for tests only. Written for clarity, in float64."""

import numpy as np


def unobserved_weights(w0, shape, w0_by_row=False):
    """Dense (m, n) array of the unobserved weight of every entry: ``w0`` a scalar, or one
    weight per column (per row with ``w0_by_row``, for the transpose of users x items)."""
    m, n = shape
    w = np.asarray(w0, float)
    if w.ndim == 0:
        return np.full((m, n), float(w))
    return np.broadcast_to(w[:, None] if w0_by_row else w[None, :], (m, n))


def dense_weights_targets(A, *, w0, confidence, alpha, epsilon, target, row_weights=None,
                          col_weights=None, w0_by_row=False):
    """Dense (m, n) arrays: mask of stored entries, weight and target of each entry. ``w0``
    is a scalar or per-item vector (see :func:`unobserved_weights`)."""
    A = A.tocoo()
    m, n = A.shape
    W0 = unobserved_weights(w0, (m, n), w0_by_row)
    mask = np.zeros((m, n), bool)
    vals = np.zeros((m, n))
    mask[A.row, A.col] = True
    np.add.at(vals, (A.row, A.col), A.data.astype(np.float64))
    if confidence == "none":
        kappa = np.ones((m, n))
    elif confidence == "linear":
        kappa = 1 + alpha * vals
    else:
        kappa = 1 + alpha * np.log1p(vals / epsilon)
    if row_weights is not None or col_weights is not None:
        r = np.ones(m) if row_weights is None else np.asarray(row_weights, float)
        c = np.ones(n) if col_weights is None else np.asarray(col_weights, float)
        weight = W0 + r[:, None] * c[None, :] * kappa
    else:
        weight = kappa
    tgt = np.ones((m, n)) if target == "binary" else vals
    return mask, weight, tgt


def penalties(mask, reg, reg_exponent, w0):
    """Penalties of the users (rows of ``mask``) and items: ``reg * (|Omega_i| + sum_j
    w0_j) ** nu`` and ``reg * (|Omega_j| + m w0_j) ** nu`` (``w0`` a scalar or per item)."""
    m, n = mask.shape
    if reg_exponent == 0:
        return np.full(m, reg), np.full(n, reg)
    W0 = unobserved_weights(w0, (m, n))
    return (reg * (mask.sum(1) + W0.sum(1)) ** reg_exponent,
            reg * (mask.sum(0) + m * W0[0]) ** reg_exponent)


def dense_objective(A, U, V, *, w0, confidence="linear", alpha=1.0, epsilon=1.0,
                    target="binary", reg=0.0, reg_exponent=0.0, row_weights=None,
                    col_weights=None, user_biases=None, item_biases=None, global_mean=0.0):
    mask, weight, tgt = dense_weights_targets(
        A, w0=w0, confidence=confidence, alpha=alpha, epsilon=epsilon, target=target,
        row_weights=row_weights, col_weights=col_weights)
    U = np.asarray(U, float)
    V = np.asarray(V, float)
    pred = U @ V.T
    bu = np.zeros(U.shape[0]) if user_biases is None else np.asarray(user_biases, float)
    bi = np.zeros(V.shape[0]) if item_biases is None else np.asarray(item_biases, float)
    if user_biases is not None:
        pred = pred + global_mean + bu[:, None] + bi[None, :]
    obs = np.sum(np.where(mask, weight * (tgt - pred) ** 2, 0.0))
    unobs = np.sum(np.where(mask, 0.0, unobserved_weights(w0, mask.shape) * pred ** 2))
    lu, lv = penalties(mask, reg, reg_exponent, w0)
    regterm = lu @ ((U ** 2).sum(1) + bu ** 2) + lv @ ((V ** 2).sum(1) + bi ** 2)
    return obs + unobs + regterm


def row_systems(A, Y, *, w0, lam, offsets=None, w0_by_row=False, **weighting):
    """For each row i of A: the dense system (M_i, b_i) of the WALS update with Y fixed.
    ``w0`` is a scalar or per item: per column of A, or per row with ``w0_by_row`` (A is
    then the transpose, items x users)."""
    mask, weight, tgt = dense_weights_targets(A, w0=w0, w0_by_row=w0_by_row, **weighting)
    W0 = unobserved_weights(w0, mask.shape, w0_by_row)
    m, n = mask.shape
    Y = np.asarray(Y, float)
    off = np.zeros(n) if offsets is None else np.asarray(offsets, float)
    k = Y.shape[1]
    out = []
    for i in range(m):
        # Full-weight form, straight from the objective: observed entries weigh w_ij,
        # unobserved ones w0 with target 0.
        wrow = np.where(mask[i], weight[i], W0[i])
        trow = np.where(mask[i], tgt[i] - off, 0.0)
        M = (Y * wrow[:, None]).T @ Y + lam[i] * np.eye(k)
        b = Y.T @ (wrow * trow)
        out.append((M, b))
    return out


def exact_rows(A, Y, **kw):
    return np.array([np.linalg.solve(M, b) for M, b in row_systems(A, Y, **kw)])


def cg_rows(A, X0, Y, *, cg_steps, **kw):
    """Plain CG from X0, ``cg_steps`` steps per row, on the dense systems."""
    X = np.array(X0, float)
    for i, (M, b) in enumerate(row_systems(A, Y, **kw)):
        x = X[i]
        r = b - M @ x
        p = r.copy()
        rs = r @ r
        for _ in range(cg_steps):
            if rs <= 1e-20:
                break
            ap = M @ p
            step = rs / (p @ ap)
            x = x + step * p
            r = r - step * ap
            rs_new = r @ r
            p = r + (rs_new / rs) * p
            rs = rs_new
        X[i] = x
    return X


def brute_topk(scores, k, exclude_mask=None):
    """Dense top-k, ties to the lower id; excluded entries never returned."""
    scores = np.asarray(scores, float).copy()
    q, n = scores.shape
    ids = np.full((q, k), -1)
    vals = np.full((q, k), -np.inf)
    for r in range(q):
        cand = [j for j in range(n) if exclude_mask is None or not exclude_mask[r, j]]
        cand.sort(key=lambda j: (-scores[r, j], j))
        top = cand[:k]
        ids[r, :len(top)] = top
        vals[r, :len(top)] = scores[r, top]
    return ids, vals


def sgd_epoch_reference(order, A, U, V, ub, vb, *, mu, lr, w0, gravity, lam_rows, lam_cols,
                        has_b, **weighting):
    """One SGD epoch applied entry by entry in ``order`` (constant step), then the gravity
    rows: the same updates as the Hogwild kernel on one thread, in float64."""
    A = A.tocsr()
    U, V = np.array(U, float), np.array(V, float)
    ub, vb = np.array(ub, float), np.array(vb, float)
    m, n = A.shape
    rows = np.repeat(np.arange(m), np.diff(A.indptr))
    row_nnz = np.maximum(np.diff(A.indptr), 1)
    col_nnz = np.maximum(np.bincount(A.indices, minlength=n), 1)
    mask, weight, tgt = dense_weights_targets(A, w0=w0, **weighting)
    corr = w0 if gravity else 0.0
    for e in order:
        i, j = rows[e], A.indices[e]
        dot = U[i] @ V[j]
        p = dot + (mu + ub[i] + vb[j] if has_b else 0.0)
        g = 2 * (weight[i, j] * (p - tgt[i, j]) - corr * dot)
        lu, lv = lam_rows[i] / row_nnz[i], lam_cols[j] / col_nnz[j]
        u_old = U[i].copy()
        U[i] = u_old - lr * (g * V[j] + 2 * lu * u_old)
        V[j] = V[j] - lr * (g * u_old + 2 * lv * V[j])
        if has_b:
            bi, cj = ub[i], vb[j]
            ub[i] = bi - lr * (g + 2 * lu * bi)
            vb[j] = cj - lr * (g + 2 * lv * cj)
    if gravity:
        U = U - lr * 2 * w0 * U @ (V.T @ V)
        V = V - lr * 2 * w0 * V @ (U.T @ U)
    return U, V, ub, vb


def subspace_rows(A, X0, Y, *, block, **kw):
    """One pass of iALS++'s block updates from X0 on the dense systems: for each block B
    of coordinates in order, x_B += M_BB^-1 (b - M x)_B."""
    X = np.array(X0, float)
    k = X.shape[1]
    for i, (M, b) in enumerate(row_systems(A, Y, **kw)):
        x = X[i]
        for b0 in range(0, k, block):
            B = slice(b0, min(b0 + block, k))
            x[B] += np.linalg.solve(M[B, B], (b - M @ x)[B])
        X[i] = x
    return X
