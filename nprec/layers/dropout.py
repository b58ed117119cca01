"""Inverted dropout with the mask given as data (DESIGN.md §3: randomness is data).

The caller draws the mask, already scaled by 1 / keep, from its own `np.random.Generator`
with `dropout_mask`; forward and backward are then deterministic and checkable by finite
differences. At evaluation time the layer is simply not applied.

Derivation: docs/derivations/dropout.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp


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


def dropout_sparse_input(X: sp.csr_array, mask: np.ndarray) -> sp.csr_array:
    """Dropout on the stored entries of a CSR input, the dropped entries removed.

    For an input that is data, such as an autoencoder's batch of item vectors (no gradient
    flows into it, so there is no backward). Dropping a zero changes nothing, so masking the
    stored entries is dropout on the whole (B, V) matrix. A dropped entry would stay behind
    as a stored zero that the sparse products still walk (half of them at keep probability
    0.5); taking it out changes no result, since adding 0 · w leaves a sum as it was.
    (Integer positions, not a boolean mask, select the kept entries: indexing with a random
    boolean mask was six times slower at Mult-VAE's 46,000 entries a batch.)

    Args:
        X: (B, V) CSR matrix with nnz stored entries.
        mask: (nnz,) `dropout_mask` for X's stored entries, in X's order.
    Returns:
        (B, V) CSR matrix holding X_bv · mask of the kept entries only.
    """
    if mask.shape != X.data.shape:
        raise ValueError(f"dropout_sparse_input: mask {mask.shape} does not match the "
                         f"{X.data.size} stored entries")
    kept = np.flatnonzero(mask)             # (n_kept,) ascending positions of kept entries
    data = X.data[kept] * mask[kept]                                    # (n_kept,)
    # Row b's entries start at position indptr[b]: in the kept array, after the kept
    # entries before it, whose number a binary search in `kept` gives.
    indptr = np.searchsorted(kept, X.indptr)                            # (B + 1,)
    return sp.csr_array((data, X.indices[kept], indptr), shape=X.shape)
