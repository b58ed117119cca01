"""Multinomial likelihood with sparse counts, its gradient formed in the forward pass.

The same loss as `multinomial_nll` (Liang et al. 2018, Mult-DAE and Mult-VAE), for a click
matrix X given as a SciPy CSR matrix instead of a dense (B, V) array:

    π_b = softmax(logits_b)
    loss = -(1/B) Σ_b Σ_v x_bv log π_bv = (1/B) Σ_b [n_b log Σ_v exp(logits_bv)
                                                    - Σ_{v : x_bv ≠ 0} x_bv logits_bv]
    dlogits_bv = dloss/B · (n_b π_bv - x_bv),      n_b = Σ_v x_bv

Only the dense softmax needs all V columns; the click terms touch X's stored entries. The
gradient is formed right after the softmax (five sweeps of the (B, V) matrix in all: max,
shift, exp, row sums, scale), and with `overwrite=True` it is written into the logits' own
buffer, as `softmax_ce_fused` does for NARM.

Derivation: docs/derivations/multinomial_sparse.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from nprec.errors import DataError
from nprec.losses._contract import as_loss, upstream_scale


class MultinomialNllSparseCache(NamedTuple):
    dlogits: np.ndarray  # (B, V) (n_b π_bv - x_bv) / B, the gradient for dloss = 1


def multinomial_nll_sparse_forward(logits: np.ndarray, X: sp.csr_array | sp.csr_matrix, *,
                                   overwrite: bool = False
                                   ) -> tuple[np.floating, MultinomialNllSparseCache]:
    """Multinomial negative log-likelihood of sparse counts, mean over rows.

    Args:
        logits:    (B, V) scores, float32 or float64.
        X:         (B, V) SciPy CSR matrix of non-negative counts (0/1 clicks in Mult-VAE).
        overwrite: reuse the logits' buffer for the gradient (the caller's logits are then
                   destroyed); otherwise a copy is made.
    Returns:
        The loss (scalar of the logits' dtype) and the cache (the gradient for dloss = 1).
    Raises:
        DataError if X is not a CSR matrix of the logits' shape or holds a negative count.
    """
    B, V = logits.shape
    if not sp.issparse(X) or X.format != "csr" or X.shape != (B, V):
        raise DataError(f"multinomial_nll_sparse: X must be a ({B}, {V}) CSR matrix, got "
                        f"{type(X).__name__} of shape {getattr(X, 'shape', None)}")
    if not X.has_canonical_format:              # repeated (row, column) entries are summed
        X = sp.csr_array(X, copy=True)
        X.sum_duplicates()
    x = np.asarray(X.data, dtype=logits.dtype)                          # (nnz,)
    if x.size and x.min() < 0:
        raise DataError("multinomial_nll_sparse: counts must be non-negative")
    rows = np.repeat(np.arange(B), np.diff(X.indptr))                   # (nnz,)
    cols = X.indices                                                    # (nnz,)
    n = np.bincount(rows, weights=x, minlength=B)                       # (B,) float64 totals
    if overwrite and logits.flags.c_contiguous and logits.flags.writeable:
        g = logits                                                      # (B, V) reused
    else:
        g = np.array(logits, order="C")                                 # (B, V) a copy
    g -= g.max(axis=1, keepdims=True)                                   # (B, V) shifted, max 0
    clicked = g[rows, cols].astype(np.float64)                          # (nnz,) shifted logits
    np.exp(g, out=g)                                                    # (B, V) e^(s - max)
    Z = g.sum(axis=1, dtype=np.float64)                                 # (B,) in [1, V]
    # n_b log Z_b - Σ x s over the shifted logits (the row max cancels between the terms).
    loss = (n @ np.log(Z) - x.astype(np.float64) @ clicked) / B
    # Softmax times the row total, then minus the counts at the clicked entries, all / B.
    g *= (n / (Z * B)).astype(g.dtype)[:, None]                         # (B, V) n_b π_b / B
    g[rows, cols] -= x / x.dtype.type(B)
    return as_loss(loss, logits.dtype), MultinomialNllSparseCache(g)


def multinomial_nll_sparse_backward(dloss: float, cache: MultinomialNllSparseCache
                                    ) -> tuple[np.ndarray, None]:
    """Returns dlogits (B, V) = (n_b π_bv - x_bv) dloss / B, and None (X is data).

    For dloss = 1 (the loss at the end of a model) this is the cached array itself, no copy.
    """
    if dloss == 1:
        return cache.dlogits, None
    return cache.dlogits * upstream_scale(dloss, 1, cache.dlogits.dtype), None
