"""Inverted dropout with the mask given as data (DESIGN.md §3: randomness is data).

The caller draws the mask, already scaled by 1 / keep, from its own `np.random.Generator`
with `dropout_mask`; forward and backward are then deterministic and checkable by finite
differences. At evaluation time the layer is simply not applied.

Derivation: docs/derivations/dropout.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DropoutCache(NamedTuple):
    mask: np.ndarray     # same shape as x: 0 for dropped units, 1 / keep for kept ones


def dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float,
                 dtype: np.dtype = np.float32) -> np.ndarray:
    """A mask that drops each unit with probability p and scales the kept ones by 1/(1-p)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    keep = 1.0 - p
    dtype = np.dtype(dtype)
    kept = rng.random(shape, dtype=np.float32) < keep                   # shape, bool
    return kept.astype(dtype) * dtype.type(1.0 / keep)                  # shape


def dropout_forward(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, DropoutCache]:
    """y = x * mask."""
    y = x * mask                                                        # like x
    return y, DropoutCache(mask)


def dropout_backward(dy: np.ndarray, cache: DropoutCache) -> tuple[np.ndarray, None]:
    """Returns (dx, None): dx = dy * mask; the mask is data and gets no gradient."""
    return dy * cache.mask, None
