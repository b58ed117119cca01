"""Logistic matrix factorisation's loss as one op: Rendle et al. (2020)'s per-example objective.

The same function as `rowdot` + three bias adds + `bce_with_logits` + `l2_penalty` on every
row read (biases and the global bias included), as `nprec.models.mf` composes them:

    s_n  = b + b_u,n + b_i,n + p_n · q_n
    loss = (1/B) Σ_n [softplus(s_n) - y_n s_n + ½ λ (‖p_n‖² + ‖q_n‖² + b_u,n² + b_i,n² + b²)]

Its gradient for dloss = 1 depends on nothing the backward would add, so the Numba kernel
`nprec.kernels.ncf.logistic_mf` computes the loss and every gradient in one pass over the
examples and the cache holds them; the backward only scales by dloss. Rendle et al. train on
~9 million examples per ML-1M epoch for 256 epochs, where thirty NumPy passes per mini-batch
are most of the time.

Derivation: docs/derivations/logistic_mf.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.kernels.ncf import logistic_mf
from nprec.losses._contract import as_loss


class LogisticMfCache(NamedTuple):
    dp: np.ndarray       # (B, D) gradient of p for dloss = 1
    dq: np.ndarray       # (B, D) gradient of q
    db_u: np.ndarray     # (B, 1) gradient of b_u
    db_i: np.ndarray     # (B, 1) gradient of b_i
    db: np.ndarray       # (1,) gradient of b


def logistic_mf_forward(p: np.ndarray, q: np.ndarray, b_u: np.ndarray, b_i: np.ndarray,
                        b: np.ndarray, labels: np.ndarray, lam: float
                        ) -> tuple[np.floating, LogisticMfCache]:
    """Mean log loss of s = b + b_u + b_i + p·q plus ½ λ on every parameter read, per example.

    Args:
        p, q: (B, D) user and item factors of each example.  b_u, b_i: (B, 1) their biases.
        b: (1,) the global bias.  labels: (B,) targets in [0, 1], data.  lam: λ >= 0.
    Returns:
        The loss (scalar of p's dtype) and the cache (the gradients for dloss = 1).
    """
    loss, dp, dq, db_u, db_i, db = logistic_mf(p, q, b_u[:, 0], b_i[:, 0], b[0], labels, lam)
    return as_loss(loss, p.dtype), LogisticMfCache(dp, dq, db_u[:, None], db_i[:, None],
                                                   np.array([db], dtype=p.dtype))


def logistic_mf_backward(dloss: float, cache: LogisticMfCache
                         ) -> tuple[np.ndarray, ...]:
    """Returns dp, dq (B, D), db_u, db_i (B, 1), db (1,), and None for labels and λ."""
    if dloss == 1.0:
        return (*cache, None, None)
    scale = cache.dp.dtype.type(dloss)
    return (*(g * scale for g in cache), None, None)
