"""Squared error for explicit ratings (biased MF, AutoRec) and CDAE's square loss.

Two forms, by how the targets come:

- `squared_error`: predictions and targets as parallel (N,) vectors, the mean over entries
  (biased MF: one rating per row of the batch; CDAE: the flattened (user, item) pairs).
- `masked_squared_error`: a dense (B, C) prediction matrix and a sparse (B, C) target
  matrix; only the stored entries count, summed per row and averaged over rows. This is
  AutoRec's objective (Sedhain et al. 2015, eq. (2)): a row is one item's (or user's)
  rating vector, and "only the observed ratings enter the loss".

Derivation: docs/derivations/squared.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from nprec.errors import DataError
from nprec.losses._contract import as_loss, upstream_scale


class SquaredErrorCache(NamedTuple):
    diff: np.ndarray     # (N,) prediction - target


class MaskedSquaredErrorCache(NamedTuple):
    diff: np.ndarray     # (nnz,) prediction - target at the stored entries
    rows: np.ndarray     # (nnz,) row of each stored entry
    cols: np.ndarray     # (nnz,) column of each stored entry
    shape: tuple         # (B, C)


def squared_error_forward(pred: np.ndarray, target: np.ndarray
                          ) -> tuple[np.floating, SquaredErrorCache]:
    """Mean squared error: loss = (1/N) Σ_n (pred_n - target_n)².

    Args:
        pred: (N,) predictions.  target: (N,) targets (cast to pred's dtype).
    Returns:
        The loss (scalar of pred's dtype) and the cache (the differences).
    """
    target = np.asarray(target).astype(pred.dtype, copy=False)          # (N,)
    if target.shape != pred.shape:
        raise DataError(f"squared_error: target shape {target.shape} is not {pred.shape}")
    diff = pred - target                                                # (N,)
    return as_loss(np.dot(diff, diff) / max(diff.size, 1), pred.dtype), SquaredErrorCache(diff)


def squared_error_backward(dloss: float, cache: SquaredErrorCache
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Returns dpred (N,) = 2 (pred - target) dloss / N and dtarget = -dpred.

    The targets are data in every nprec model, but they are floats, so their true gradient
    is returned (the caller ignores it).
    """
    diff = cache.diff
    dpred = diff * (2 * upstream_scale(dloss, max(diff.size, 1), diff.dtype))  # (N,)
    return dpred, -dpred


def masked_squared_error_forward(pred: np.ndarray, target: sp.csr_array | sp.csr_matrix
                                 ) -> tuple[np.floating, MaskedSquaredErrorCache]:
    """Squared error over the stored entries of a sparse target, per-row sums averaged.

        loss = (1/B) Σ_b Σ_{c : (b, c) stored} (pred_bc - target_bc)²

    Args:
        pred:   (B, C) dense predictions.
        target: (B, C) SciPy CSR matrix; its stored entries are the observed targets (a
                stored 0 counts as an observed 0).
    Returns:
        The loss (scalar of pred's dtype) and the cache (differences at the stored entries,
        their rows and columns, the shape).
    Raises:
        DataError if target is not a CSR matrix of pred's shape with unique entries.
    """
    B, C = pred.shape
    if not sp.issparse(target) or target.format != "csr" or target.shape != (B, C):
        raise DataError(f"masked_squared_error: target must be a ({B}, {C}) CSR matrix, got "
                        f"{type(target).__name__} of shape {getattr(target, 'shape', None)}")
    if not target.has_canonical_format:
        raise DataError("masked_squared_error: the target has repeated or unsorted entries; "
                        "call sum_duplicates() first")
    rows = np.repeat(np.arange(B), np.diff(target.indptr))              # (nnz,)
    cols = target.indices.astype(np.int64)                              # (nnz,)
    diff = pred[rows, cols] - np.asarray(target.data, dtype=pred.dtype)  # (nnz,)
    loss = np.dot(diff, diff) / B
    return as_loss(loss, pred.dtype), MaskedSquaredErrorCache(diff, rows, cols, (B, C))


def masked_squared_error_backward(dloss: float, cache: MaskedSquaredErrorCache
                                  ) -> tuple[np.ndarray, None]:
    """Returns dpred (B, C), 2 (pred - target) dloss / B at the stored entries and 0
    elsewhere (unobserved entries do not enter the loss), and None (the target is data)."""
    diff, rows, cols, shape = cache
    dpred = np.zeros(shape, dtype=diff.dtype)                           # (B, C)
    dpred[rows, cols] = diff * (2 * upstream_scale(dloss, shape[0], diff.dtype))
    return dpred, None
