"""Fully connected (affine) layer.

Derivation: docs/derivations/dense.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DenseCache(NamedTuple):
    x: np.ndarray        # (B, I) input
    W: np.ndarray        # (I, O) weights


def dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None
                  ) -> tuple[np.ndarray, DenseCache]:
    """Affine map y = x W + b.

    Args:
        x: (B, I) inputs.  W: (I, O) weights.  b: (O,) bias, or None when the caller adds
        it later itself (fused into the kernel that reads y next; the backward is the same).
    Returns:
        y (B, O) and the cache (x, W).
    """
    y = x @ W                                                           # (B, O)
    if b is None:
        pass
    elif y.dtype == np.result_type(y, b):
        y += b                  # in place: a second (B, O) array would cost a pass and pages
    else:
        y = y + b
    return y, DenseCache(x, W)


def dense_backward(dy: np.ndarray, cache: DenseCache) -> tuple[np.ndarray, ...]:
    """Returns dx (B, I), dW (I, O), db (O,)."""
    x, W = cache
    dx = dy @ W.T                                                       # (B, I)
    dW = x.T @ dy                                                       # (I, O)
    db = dy.sum(axis=0)                                                 # (O,)
    return dx, dW, db
