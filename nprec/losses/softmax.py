"""Full-softmax losses: cross-entropy over all items (NARM) and the multinomial likelihood
(Mult-DAE, Mult-VAE).

Both subtract each row's largest logit before exponentiating (log-sum-exp), so no logit,
however large, overflows. The sum of the exponentials is then 1 + ε, ε the other items'
mass, and for a confident row ε is below float32's resolution at 1 (1.2e-7): summed in
float32, log(1 + ε) would lose ε's digits (a loss of 1.2e-5 came out 1 % wrong). The sums
are therefore accumulated in float64, as in the fused kernels (`nprec.kernels.softmax_rows`).
The sampled cross-entropy of GRU4Rec is in `sampled.py`.

Derivation: docs/derivations/softmax.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.errors import DataError
from nprec.losses._contract import as_loss, upstream_scale


class SoftmaxCeCache(NamedTuple):
    probs: np.ndarray    # (B, V) softmax of the logits
    targets: np.ndarray  # (B,) int, the target column of each row


class MultinomialNllCache(NamedTuple):
    log_probs: np.ndarray  # (B, V) log softmax of the logits
    x: np.ndarray          # (B, V) counts, in the dtype of the logits


def softmax_ce_forward(logits: np.ndarray, targets: np.ndarray
                       ) -> tuple[np.floating, SoftmaxCeCache]:
    """Softmax cross-entropy against one target per row, mean over rows (NARM, Li et al. 2017).

        loss = (1/B) Σ_b [log Σ_v exp(logits_bv) - logits_{b, t_b}]

    Args:
        logits: (B, V) scores.  targets: (B,) int target columns t_b in [0, V).
    Returns:
        The loss (scalar of the logits' dtype) and the cache (softmax, targets).
    Raises:
        DataError if targets is not an integer array of shape (B,).
    """
    B, V = logits.shape
    targets = np.asarray(targets)
    if targets.shape != (B,) or not np.issubdtype(targets.dtype, np.integer):
        raise DataError(f"softmax_ce: targets must be {B} integers, got {targets.dtype} "
                        f"array of shape {targets.shape}")
    rows = np.arange(B)                                                 # (B,)
    shifted = logits - logits.max(axis=1, keepdims=True)                # (B, V), max 0
    target_shifted = shifted[rows, targets]                             # (B,)
    probs = np.exp(shifted, out=shifted)                                # (B, V) unnormalised
    sum_exp = probs.sum(axis=1, dtype=np.float64)                       # (B,) in [1, V]
    probs /= sum_exp[:, None]                                           # (B, V)
    loss = np.mean(np.log(sum_exp) - target_shifted)
    return as_loss(loss, logits.dtype), SoftmaxCeCache(probs, targets)


def softmax_ce_backward(dloss: float, cache: SoftmaxCeCache) -> tuple[np.ndarray, None]:
    """Returns dlogits (B, V) = (softmax - onehot(targets)) dloss / B, and None (targets)."""
    probs, targets = cache
    B = probs.shape[0]
    scale = upstream_scale(dloss, B, probs.dtype)
    # The log-sum-exp term's gradient is the softmax ...
    dlogits = probs * scale                                             # (B, V)
    # ... and the target term's is -1 at the target column.
    dlogits[np.arange(B), targets] -= scale
    return dlogits, None


def multinomial_nll_forward(logits: np.ndarray, x: np.ndarray
                            ) -> tuple[np.floating, MultinomialNllCache]:
    """Multinomial negative log-likelihood, mean over rows (Liang et al. 2018, Mult-VAE).

        π_b = softmax(logits_b)
        loss = -(1/B) Σ_b Σ_v x_bv log π_bv

    Args:
        logits: (B, V) scores.  x: (B, V) click counts (0/1 in Mult-VAE), any non-negative floats.
    Returns:
        The loss (scalar of the logits' dtype) and the cache (log softmax, x).
    """
    B = logits.shape[0]
    x = np.asarray(x).astype(logits.dtype, copy=False)                  # (B, V)
    shifted = logits - logits.max(axis=1, keepdims=True)                # (B, V), max 0
    sum_exp = np.exp(shifted).sum(axis=1, keepdims=True, dtype=np.float64)  # (B, 1) in [1, V]
    log_sum_exp = np.log(sum_exp)                                       # (B, 1)
    log_probs = np.subtract(shifted, log_sum_exp, out=shifted)          # (B, V)
    loss = -np.vdot(x, log_probs) / B
    return as_loss(loss, logits.dtype), MultinomialNllCache(log_probs, x)


def multinomial_nll_backward(dloss: float, cache: MultinomialNllCache
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Returns dlogits (B, V) = (π Σ_v x_v - x) dloss / B and dx (B, V) = -log π dloss / B.

    x is data in Mult-VAE, but it is a float argument, so its true gradient is returned.
    """
    log_probs, x = cache
    B = x.shape[0]
    scale = upstream_scale(dloss, B, x.dtype)
    # Σ_v x_v log π_v = Σ_v x_v logits_v - (Σ_v x_v) log-sum-exp: the second term spreads
    # the row's total count over the softmax, the first gives -x.
    dlogits = np.exp(log_probs) * x.sum(axis=1, keepdims=True)          # (B, V)
    dlogits -= x
    dlogits *= scale
    dx = -log_probs * scale                                             # (B, V)
    return dlogits, dx
