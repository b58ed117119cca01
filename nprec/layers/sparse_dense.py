"""Affine layer with a sparse input: the first layer of an autoencoder over item vectors.

Mult-DAE, Mult-VAE (Liang et al. 2018) and CDAE (Wu et al. 2016) read a user's whole item
vector, a (B, V) row batch with a few dozen non-zeros among thousands of items. This layer
is `dense` for that input, y = X W + b, with X a SciPy CSR matrix that is never densified:
both products walk X's stored entries only (`nprec.kernels.autoencoders`).

Derivation: docs/derivations/sparse_dense.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from nprec.kernels.autoencoders import csr_matmul, csr_t_matmul


class SparseDenseCache(NamedTuple):
    indptr: np.ndarray   # (B + 1,) row pointers of X
    indices: np.ndarray  # (nnz,) item of each stored entry
    data: np.ndarray     # (nnz,) value of each stored entry, in W's dtype
    n_in: int            # I, the number of columns of X (rows of W)


def sparse_dense_forward(X: sp.csr_array | sp.csr_matrix, W: np.ndarray, b: np.ndarray | None
                         ) -> tuple[np.ndarray, SparseDenseCache]:
    """Affine map y = X W + b of a sparse input.

        y_bo = Σ_{i : X_bi ≠ 0} X_bi W_io + b_o

    Args:
        X: (B, I) SciPy CSR matrix (`csr_array` or `csr_matrix`), the input; its values are
           cast to W's dtype.
        W: (I, O) weights.  b: (O,) bias, or None when the caller adds it later itself.
    Returns:
        y (B, O) in W's dtype, and the cache (X's CSR arrays and I).
    Raises:
        ValueError if X is not CSR or its width is not W's height.
    """
    if not sp.issparse(X) or X.format != "csr":
        raise ValueError(f"sparse_dense: X must be a SciPy CSR matrix, got {type(X).__name__}")
    if X.shape[1] != W.shape[0]:
        raise ValueError(f"sparse_dense: X has {X.shape[1]} columns, W has {W.shape[0]} rows")
    data = np.asarray(X.data, dtype=W.dtype)                            # (nnz,)
    y = csr_matmul(X.indptr, X.indices, data, W)                        # (B, O)
    if b is not None:
        y += b
    return y, SparseDenseCache(X.indptr, X.indices, data, W.shape[0])


def sparse_dense_backward(dy: np.ndarray, cache: SparseDenseCache
                          ) -> tuple[None, np.ndarray, np.ndarray]:
    """Returns (None, dW (I, O), db (O,)).

    X is data (the users' items), so it gets None like an id array. dW = Xᵀ dy is dense:
    rows of items absent from the batch are zero (Liang et al.'s TensorFlow code also
    updates the whole matrix with Adam).
    """
    indptr, indices, data, n_in = cache
    dW = csr_t_matmul(indptr, indices, data, dy, n_in)                  # (I, O)
    db = dy.sum(axis=0)                                                 # (O,)
    return None, dW, db
