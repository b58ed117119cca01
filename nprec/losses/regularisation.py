"""L2 penalty, part of the loss so that gradient checks cover it (DESIGN.md §3).

A model applies it to the parameter rows its batch read (BPR-MF: the user, positive and
negative rows; Mult-DAE: every weight matrix), and adds it to its data loss.

Derivation: docs/derivations/l2.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.losses._contract import as_loss


class L2PenaltyCache(NamedTuple):
    W: np.ndarray        # the penalised array, any shape
    lam: float           # λ


def l2_penalty_forward(W: np.ndarray, lam: float) -> tuple[np.floating, L2PenaltyCache]:
    """penalty = ½ λ Σ W² (a sum over all entries, not a mean: λ carries the scaling).

    With ½ the gradient is λ W, the usual "weight decay λ". Papers that write λ‖Θ‖²
    (Rendle et al. 2009) mean λ_paper = λ / 2 here.

    Args:
        W: the array to penalise, any shape.  lam: λ ≥ 0, a Python float.
    Returns:
        The penalty (scalar of W's dtype) and the cache (W, λ).
    """
    flat = W.reshape(-1)                                                # (W.size,)
    return as_loss(0.5 * lam * np.dot(flat, flat), W.dtype), L2PenaltyCache(W, lam)


def l2_penalty_backward(dloss: float, cache: L2PenaltyCache) -> tuple[np.ndarray, None]:
    """Returns dW = λ W dloss (shape of W) and None (λ)."""
    W, lam = cache
    return W * W.dtype.type(lam * float(dloss)), None
