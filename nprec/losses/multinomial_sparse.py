"""Multinomial likelihood with sparse counts, its gradient formed in the forward pass.

The same loss as `multinomial_nll` (Liang et al. 2018, Mult-DAE and Mult-VAE), for a click
matrix X given as a SciPy CSR matrix instead of a dense (B, V) array:

    π_b = softmax(logits_b)
    loss = -(1/B) Σ_b Σ_v x_bv log π_bv = (1/B) Σ_b [n_b log Σ_v exp(logits_bv)
                                                    - Σ_{v : x_bv ≠ 0} x_bv logits_bv]
    dlogits_bv = dloss/B · (n_b π_bv - x_bv),      n_b = Σ_v x_bv

Only the dense softmax needs all V columns; the click terms touch X's stored entries. The
loss and the gradient are formed together, one pass per row while the row is in cache, by
the Numba kernel `nprec.kernels.softmax_rows.softmax_counts_rows` (NARM's `softmax_ce_rows`
is the same kernel with one target per row), and with `overwrite=True` the gradient is
written into the logits' own buffer. The output layer's bias can be handed over too
(`bias=b`, the scores are then logits + b): the kernel adds it to each row while the row is
in cache, instead of a pass over the whole matrix before; the gradient is the same for the
bias as for the logits, so the layer's backward is unchanged.

Derivation: docs/derivations/multinomial_sparse.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from nprec.errors import DataError
from nprec.kernels.softmax_rows import softmax_counts_rows
from nprec.losses._contract import as_loss, upstream_scale


class MultinomialNllSparseCache(NamedTuple):
    dlogits: np.ndarray  # (B, V) (n_b π_bv - x_bv) / B, the gradient for dloss = 1


def multinomial_nll_sparse_forward(logits: np.ndarray, X: sp.csr_array | sp.csr_matrix, *,
                                   overwrite: bool = False, bias: np.ndarray | None = None
                                   ) -> tuple[np.floating, MultinomialNllSparseCache]:
    """Multinomial negative log-likelihood of sparse counts, mean over rows.

    Args:
        logits:    (B, V) scores, float32 or float64.
        X:         (B, V) SciPy CSR matrix of non-negative counts (0/1 clicks in Mult-VAE).
        overwrite: reuse the logits' buffer for the gradient (the caller's logits are then
                   destroyed); otherwise a copy is made.
        bias:      optional (V,) output bias: the scores are logits + bias (the same numbers
                   as adding it first, bit for bit).
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
    x = np.asarray(X.data, dtype=np.float64)                            # (nnz,)
    if x.size and not (np.isfinite(x).all() and x.min() >= 0):
        raise DataError("multinomial_nll_sparse: counts must be finite and non-negative")
    if overwrite and logits.flags.c_contiguous and logits.flags.writeable \
            and logits.dtype in (np.float32, np.float64):
        g = logits                                                      # (B, V) reused
    else:
        g = np.array(logits, order="C", dtype=np.result_type(logits.dtype, np.float32))
    # One pass per row: n_b log Z_b - Σ x s out, the buffer now holds (n_b π_b - x_b) / B.
    if bias is not None:
        bias = np.asarray(bias, dtype=g.dtype)                          # (V,)
    row_loss = softmax_counts_rows(g, X.indptr, X.indices, x, 1.0 / B, bias=bias)  # (B,)
    loss = row_loss.sum() / B
    return as_loss(loss, logits.dtype), MultinomialNllSparseCache(g)


def multinomial_nll_sparse_backward(dloss: float, cache: MultinomialNllSparseCache
                                    ) -> tuple[np.ndarray, None]:
    """Returns dlogits (B, V) = (n_b π_bv - x_bv) dloss / B, and None (X is data).

    For dloss = 1 (the loss at the end of a model) this is the cached array itself, no copy.
    """
    if dloss == 1:
        return cache.dlogits, None
    return cache.dlogits * upstream_scale(dloss, 1, cache.dlogits.dtype), None
