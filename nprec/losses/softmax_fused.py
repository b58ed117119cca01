"""Softmax cross-entropy with its gradient formed in the forward pass (NARM's decoder loss).

The same loss as `softmax_ce` (Li et al. 2017 train NARM with it over all V items):

    loss = (1/B) Σ_b [log Σ_v exp(logits_bv) - logits_{b, t_b}]
    dlogits = dloss/B · (softmax(logits) - onehot(targets))

`softmax_ce` keeps the (B, V) softmax in its cache and forms the gradient in backward, which
sweeps the score matrix again. Here the Numba kernel `nprec.kernels.softmax_rows.softmax_ce_rows`
computes the loss and the gradient together, one pass per row while the row is in cache, and
the cache holds the gradient for dloss = 1. With `overwrite=True` it is written into the
logits' own buffer: no second (B, V) array is allocated (NARM's scores are not needed after
the loss). Backward only rescales when dloss is not 1.

Derivation: docs/derivations/softmax_fused.md (the softmax cross-entropy of softmax.md).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.errors import DataError
from nprec.kernels.softmax_rows import softmax_ce_rows
from nprec.losses._contract import as_loss, upstream_scale


class SoftmaxCeFusedCache(NamedTuple):
    dlogits: np.ndarray  # (B, V) (softmax - onehot(targets)) / B, the gradient for dloss = 1


def softmax_ce_fused_forward(logits: np.ndarray, targets: np.ndarray, *,
                             overwrite: bool = False) -> tuple[np.floating, SoftmaxCeFusedCache]:
    """Softmax cross-entropy, mean over rows, with the gradient computed at the same time.

        loss = (1/B) Σ_b [log Σ_v exp(logits_bv) - logits_{b, t_b}]      (Li et al. 2017)

    Args:
        logits:    (B, V) scores, float32 or float64.
        targets:   (B,) int target columns t_b in [0, V).
        overwrite: reuse the logits' buffer for the gradient (the caller's logits are then
                   destroyed); otherwise a copy is made.
    Returns:
        The loss (scalar of the logits' dtype) and the cache (the gradient for dloss = 1).
    Raises:
        DataError if targets is not an integer array of shape (B,) with values in [0, V).
    """
    B, V = logits.shape
    targets = np.asarray(targets)
    if targets.shape != (B,) or not np.issubdtype(targets.dtype, np.integer) \
            or (B and (targets.min() < 0 or targets.max() >= V)):
        raise DataError(f"softmax_ce_fused: targets must be {B} integers in [0, {V}), got "
                        f"{targets.dtype} array of shape {targets.shape}")
    if overwrite and logits.flags.c_contiguous and logits.flags.writeable:
        grad = logits                                                   # (B, V) reused
    else:
        grad = np.array(logits, order="C")                              # (B, V) a copy
    # One pass per row: row losses out, the buffer now holds (softmax - onehot) / B.
    row_loss = softmax_ce_rows(grad, targets, 1.0 / B)                  # (B,)
    return as_loss(row_loss.mean(), logits.dtype), SoftmaxCeFusedCache(grad)


def softmax_ce_fused_backward(dloss: float, cache: SoftmaxCeFusedCache
                              ) -> tuple[np.ndarray, None]:
    """Returns dlogits (B, V) = (softmax - onehot(targets)) dloss / B, and None (targets).

    For dloss = 1 (the loss at the end of a model) this is the cached array itself, no copy.
    """
    if dloss == 1:
        return cache.dlogits, None
    return cache.dlogits * upstream_scale(dloss, 1, cache.dlogits.dtype), None
