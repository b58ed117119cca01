"""Pointwise loss: binary cross-entropy on logits (NCF's log loss, CDAE's logistic loss).

Derivation: docs/derivations/bce_bpr.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit

from nprec.losses._contract import as_loss, upstream_scale
from nprec.losses.stable import softplus


class BceWithLogitsCache(NamedTuple):
    logits: np.ndarray   # (B,) scores before the sigmoid
    labels: np.ndarray   # (B,) targets in [0, 1], in the dtype of logits


def bce_with_logits_forward(logits: np.ndarray, labels: np.ndarray
                            ) -> tuple[np.floating, BceWithLogitsCache]:
    """Binary cross-entropy of σ(logits) against labels, mean over rows (He et al. 2017, NCF).

        loss = -(1/B) Σ_b [y_b log σ(x_b) + (1 - y_b) log(1 - σ(x_b))]
             =  (1/B) Σ_b [softplus(x_b) - y_b x_b]

    with x = logits, y = labels and softplus(x) = log(1 + eˣ) computed as
    max(x, 0) + log1p(e^{-|x|}) (`nprec.losses.stable.softplus`), which neither overflows
    nor loses the answer for |x| ~ 1e4.

    Args:
        logits: (B,) scores.  labels: (B,) targets in [0, 1] (0/1 for implicit feedback).
    Returns:
        The loss (scalar of the logits' dtype) and the cache (logits, labels).
    """
    labels = np.asarray(labels).astype(logits.dtype, copy=False)        # (B,)
    per_row = softplus(logits) - labels * logits                        # (B,)
    return as_loss(per_row.mean(), logits.dtype), BceWithLogitsCache(logits, labels)


def bce_with_logits_backward(dloss: float, cache: BceWithLogitsCache
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Returns dlogits (B,) = (σ(x) - y) dloss / B and dlabels (B,) = -x dloss / B.

    The labels are data in every nprec model, but they are floats, so their true gradient
    is returned (the caller ignores it).
    """
    logits, labels = cache
    scale = upstream_scale(dloss, logits.size, logits.dtype)
    # d softplus(x)/dx = σ(x); d(-y x)/dx = -y.
    dlogits = (expit(logits) - labels) * scale                          # (B,)
    dlabels = -logits * scale                                           # (B,)
    return dlogits, dlabels
