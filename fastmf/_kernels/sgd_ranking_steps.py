"""The ranking-loss steps and data terms applied serially to given samples (no sampling):
for the tests and the reference twins in ``tests/_reference_ranking.py``."""

from numba import njit

from .shared import FASTMATH
from .sgd_ranking import (_softplus, _score, _pair_score, _pair_update, _logistic_step, _bpr_step)


@njit(cache=True, fastmath=FASTMATH)
def _logistic_steps(users, items, labels, weights, lam_u, lam_v, U, V, vb, g2u, g2v, g2vb,
                    has_b, lr, schedule):
    """Logistic steps on given samples, in order: sample s is (users[s], items[s]) with
    label +1 or -1 and weight weights[s], penalties lam_u[s] on the user and lam_v[s] on
    the item. The epoch kernel's step, serially."""
    d = U.shape[1]
    dt = U.dtype.type
    lr = dt(lr)
    for s in range(users.shape[0]):
        _logistic_step(users[s], items[s], dt(labels[s]), dt(weights[s]), dt(lam_u[s]),
                       dt(lam_v[s]), U, V, vb, g2u, g2v, g2vb, has_b, lr, schedule, d, dt(0),
                       dt(1), dt(2), dt(1e-8))


@njit(cache=True, fastmath=FASTMATH)
def _bpr_steps(users, pos, neg, weights, lam_u, lam_j, lam_k, U, V, vb, g2u, g2v, g2vb,
               has_b, lr, schedule):
    """BPR steps on given triples (users[s], pos[s], neg[s]), in order; pos[s] != neg[s]."""
    d = U.shape[1]
    dt = U.dtype.type
    lr = dt(lr)
    for s in range(users.shape[0]):
        _bpr_step(users[s], pos[s], neg[s], dt(weights[s]), dt(lam_u[s]), dt(lam_j[s]),
                  dt(lam_k[s]), U, V, vb, g2u, g2v, g2vb, has_b, lr, schedule, d, dt(0),
                  dt(1), dt(2), dt(1e-8))


@njit(cache=True, fastmath=FASTMATH)
def _warp_steps(users, pos, neg, scales, lam_u, lam_j, lam_k, U, V, vb, g2u, g2v, g2vb, has_b,
                lr, schedule):
    """WARP steps on given triples whose violating item and weight w L(r) (``scales``) are
    already known: the epoch kernel's update after its search, serially."""
    d = U.shape[1]
    dt = U.dtype.type
    lr = dt(lr)
    for s in range(users.shape[0]):
        _pair_update(users[s], pos[s], neg[s], -dt(scales[s]), dt(lam_u[s]), dt(lam_j[s]),
                     dt(lam_k[s]), U, V, vb, g2u, g2v, g2vb, has_b, lr, schedule, d, dt(2),
                     dt(1e-8))


@njit(cache=True)
def _loss_logistic(users, items, labels, weights, U, V, vb, has_b):
    """sum_s weights[s] log(1 + exp(-labels[s] x_s)), in float64."""
    total = 0.0
    for s in range(users.shape[0]):
        x = _score(users[s], items[s], U, V, vb, has_b, U.shape[1], U.dtype.type(0))
        total += float(weights[s]) * _softplus(-float(labels[s]) * float(x))
    return total


@njit(cache=True)
def _loss_bpr(users, pos, neg, weights, U, V, vb, has_b):
    """sum_s -weights[s] log sigmoid(x_ij - x_ik), in float64."""
    total = 0.0
    for s in range(users.shape[0]):
        x = _pair_score(users[s], pos[s], neg[s], U, V, vb, has_b, U.shape[1],
                        U.dtype.type(0))
        total += float(weights[s]) * _softplus(-float(x))
    return total


@njit(cache=True)
def _loss_warp(users, pos, neg, scales, U, V, vb, has_b):
    """sum_s scales[s] max(0, 1 - x_ij + x_ik), in float64."""
    total = 0.0
    for s in range(users.shape[0]):
        x = _pair_score(users[s], pos[s], neg[s], U, V, vb, has_b, U.shape[1],
                        U.dtype.type(0))
        total += float(scales[s]) * max(0.0, 1.0 - float(x))
    return total
