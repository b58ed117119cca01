"""Embedding lookup: the first layer of every model in nprec.

Derivation: docs/derivations/embedding.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.kernels import coalesce_rows
from nprec.layers.rowgrad import RowGrad


class EmbeddingCache(NamedTuple):
    ids: np.ndarray      # (N,) the ids that were read
    n_rows: int          # V, rows of the table


def embedding_forward(ids: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, EmbeddingCache]:
    """Read one row of the table per id: out[n] = E[ids[n]].

    Args:
        ids: (N,) integer ids in [0, V).
        E:   (V, D) embedding table.
    Returns:
        out (N, D) and the cache (the ids and V).
    """
    out = E[ids]                                                        # (N, D)
    return out, EmbeddingCache(ids, E.shape[0])


def embedding_backward(dout: np.ndarray, cache: EmbeddingCache) -> tuple[None, RowGrad]:
    """Gradient of the table: row v receives the sum of dout over every n with ids[n] = v.

    Returns (None, dE) with dE a `RowGrad` over the sorted unique ids; ids get `None`.
    """
    rows, values = coalesce_rows(cache.ids, dout)                       # (K,), (K, D)
    return None, RowGrad(rows, values, cache.n_rows)
