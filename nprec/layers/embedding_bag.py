"""Weighted embedding bag: a sparse input row times a table, without densifying the row.

GRU4Rec's session-state input (Hidasi et al. 2016, §3.1) is a V-dimensional vector with a
few non-zeros per row; its product with an input weight matrix is a weighted sum of table
rows. The plain embedding lookup is the special case of one id per row with weight 1.

Derivation: docs/derivations/embedding_bag.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.errors import DataError
from nprec.kernels import coalesce_rows
from nprec.layers.rowgrad import RowGrad


class EmbeddingBagCache(NamedTuple):
    row: np.ndarray      # (N,) the output row of every (id, weight) entry
    ids: np.ndarray      # (N,) the table rows read
    weights: np.ndarray  # (N,) their weights
    n_rows: int          # V, rows of the table


def embedding_bag_forward(indptr: np.ndarray, ids: np.ndarray, weights: np.ndarray,
                          E: np.ndarray) -> tuple[np.ndarray, EmbeddingBagCache]:
    """out = X E for the sparse matrix X (B, V) given in CSR form.

        out[b] = Σ_{n in row b} weights[n] E[ids[n]]

    Args:
        indptr:  (B + 1,) row pointers: row b holds entries indptr[b]:indptr[b + 1].
        ids:     (N,) integer table rows in [0, V).
        weights: (N,) weight of each entry (data: gets no gradient).
        E:       (V, D) table.
    Returns:
        out (B, D) in E's dtype (an empty row gives zeros) and the cache.
    Raises:
        DataError if indptr, ids and weights do not describe a CSR matrix.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    ids = np.asarray(ids, dtype=np.int64)
    N = ids.size
    if indptr.ndim != 1 or indptr.size < 1 or indptr[0] != 0 or indptr[-1] != N \
            or np.any(np.diff(indptr) < 0) or weights.shape != (N,):
        raise DataError(f"embedding_bag: indptr {indptr.shape}, ids {ids.shape} and weights "
                        f"{np.shape(weights)} do not describe a CSR matrix")
    B = indptr.size - 1
    row = np.repeat(np.arange(B), np.diff(indptr))                      # (N,)
    w = weights.astype(E.dtype, copy=False)                             # (N,)
    out = np.zeros((B, E.shape[1]), dtype=E.dtype)                      # (B, D)
    nonempty = indptr[:-1] < indptr[1:]                                 # (B,)
    if N:
        # Sum each row's weighted table rows: reduceat over the starts of non-empty rows.
        out[nonempty] = np.add.reduceat(E[ids] * w[:, None], indptr[:-1][nonempty], axis=0)
    return out, EmbeddingBagCache(row, ids, w, E.shape[0])


def embedding_bag_backward(dout: np.ndarray, cache: EmbeddingBagCache
                           ) -> tuple[None, None, None, RowGrad]:
    """Gradient of the table: dE[v] = Σ_{n : ids[n] = v} weights[n] dout[row(n)].

    Returns (None, None, None, dE) with dE a `RowGrad` over the sorted unique ids; indptr,
    ids and weights are data and get `None`.
    """
    row, ids, w, n_rows = cache
    rows, values = coalesce_rows(ids, dout[row] * w[:, None])           # (K,), (K, D)
    return None, None, None, RowGrad(rows, values, n_rows)
