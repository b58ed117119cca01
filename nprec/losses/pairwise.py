"""Pairwise loss: Bayesian personalised ranking on (positive, negative) score pairs.

The GRU4Rec variants over a whole score matrix (BPR, TOP1 and their -max forms) are in
`sampled.py` and `sampled_max.py`.

Derivation: docs/derivations/bce_bpr.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit

from nprec.losses._contract import as_loss, upstream_scale
from nprec.losses.stable import softplus


class BprCache(NamedTuple):
    diff: np.ndarray     # (B,) pos - neg


def bpr_forward(pos: np.ndarray, neg: np.ndarray) -> tuple[np.floating, BprCache]:
    """BPR loss, mean over pairs (Rendle et al. 2009, the BPR-Opt criterion without λ).

        loss = -(1/B) Σ_b log σ(pos_b - neg_b) = (1/B) Σ_b softplus(neg_b - pos_b)

    softplus is `nprec.losses.stable.softplus`, stable for any score. The λ‖Θ‖² term of
    BPR-Opt is `l2_penalty`, added by the model on the rows it read.

    Args:
        pos: (B,) scores of the positive items.  neg: (B,) scores of the sampled negatives.
    Returns:
        The loss (scalar of the scores' dtype) and the cache (the differences).
    """
    diff = pos - neg                                                    # (B,)
    loss = softplus(-diff).mean()
    return as_loss(loss, diff.dtype), BprCache(diff)


def bpr_backward(dloss: float, cache: BprCache) -> tuple[np.ndarray, np.ndarray]:
    """Returns dpos (B,) = -σ(neg - pos) dloss / B and dneg (B,) = -dpos."""
    diff = cache.diff
    scale = upstream_scale(dloss, diff.size, diff.dtype)
    # d softplus(-d)/dd = -σ(-d); d = pos - neg moves with pos and against neg.
    ddiff = -expit(-diff) * scale                                       # (B,)
    return ddiff, -ddiff
