"""Row coalescing: sum the gradient rows of repeated ids (the embedding backward's kernel).

`np.add.at` does this but is slow; sorting the ids once with `np.unique` and adding each row
into its slot with a serial Numba loop is about 20 times faster at mini-batch sizes
(DESIGN.md §9).
"""

from __future__ import annotations

import numpy as np

from nprec.kernels._jit import jit


def coalesce_rows_ref(ids: np.ndarray, dY: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the rows of dY that share an id (reference twin of `coalesce_rows`).

    Args:
        ids: (N,) integer ids.
        dY:  (N, D) one gradient row per id.
    Returns:
        rows (K,) int64, the sorted unique ids; values (K, D), the summed rows, dtype of dY.
    """
    rows, slot = np.unique(np.asarray(ids, dtype=np.int64), return_inverse=True)
    values = np.zeros((rows.size,) + dY.shape[1:], dtype=dY.dtype)    # (K, D)
    np.add.at(values, slot, dY)
    return rows, values


def coalesce_rows(ids: np.ndarray, dY: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the rows of dY that share an id: `rows` sorted and unique, `values` (K, D).

    Same contract as `coalesce_rows_ref`; the scatter-add runs in a compiled loop.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or dY.ndim != 2 or dY.shape[0] != ids.shape[0]:
        raise ValueError(f"coalesce_rows: ids {ids.shape} and dY {dY.shape} do not match")
    rows, slot = np.unique(ids, return_inverse=True)
    values = np.zeros((rows.size, dY.shape[1]), dtype=dY.dtype)         # (K, D)
    _scatter_add(values, slot.astype(np.int64), np.ascontiguousarray(dY))
    return rows, values


@jit()
def _scatter_add(values, slot, dY):
    # Serial on purpose: equal slots write the same row, so a parallel loop would race.
    for i in range(dY.shape[0]):
        k = slot[i]
        for d in range(dY.shape[1]):
            values[k, d] += dY[i, d]
