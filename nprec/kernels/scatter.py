"""Row coalescing: sum the gradient rows of repeated ids (the embedding backward's kernel),
and the sorted unique ids with each id's position among them (`unique_inverse`).

`np.add.at` does this but is slow; sorting the ids once with `np.unique` and adding each row
into its slot with a serial Numba loop is about 20 times faster at mini-batch sizes
(DESIGN.md §9).
"""

from __future__ import annotations

import numpy as np
from numba import njit


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
    rows, slot = unique_inverse(ids)
    values = np.zeros((rows.size, dY.shape[1]), dtype=dY.dtype)         # (K, D)
    _scatter_add(values, slot, np.ascontiguousarray(dY))
    return rows, values


def unique_inverse_ref(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted unique ids and, for each id, its position among them (reference twin).

    Args:
        ids: (N,) non-negative integer ids.
    Returns:
        u (K,) int64 sorted unique ids; inverse (N,) int64 with u[inverse] == ids.
    """
    u, inverse = np.unique(np.asarray(ids, dtype=np.int64), return_inverse=True)
    return u, inverse.astype(np.int64).reshape(-1)


def unique_inverse(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(ids, return_inverse=True)` for non-negative ids without sorting all of them.

    Same contract as `unique_inverse_ref`. A slot table over 0..max(ids) marks each id's
    first occurrence, only the K distinct ids are sorted, and one more pass writes the
    positions: O(N + K log K) instead of a full sort of N (GRU4Rec reads ~2,000 columns of
    ~1,500 distinct items per step).
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1:
        raise ValueError(f"unique_inverse: ids must be 1-D, got shape {ids.shape}")
    if ids.size == 0:
        return ids.copy(), ids.copy()
    low, high = int(ids.min()), int(ids.max())
    if low < 0:
        raise ValueError(f"unique_inverse: ids must be >= 0, got {low}")
    if high >= 32 * ids.size + (1 << 16):
        # Few ids over a large range: filling a slot table per call would cost more than
        # sorting them (a batch of 256 ids into a million-row table).
        return unique_inverse_ref(ids)
    return _unique_inverse(ids, high + 1)


@njit(cache=True)
def _unique_inverse(ids, n_slots):
    slot = np.full(n_slots, -1, dtype=np.int64)
    u = np.empty(ids.size, dtype=np.int64)
    k = 0
    for i in range(ids.size):                       # distinct ids, in order of appearance
        x = ids[i]
        if slot[x] < 0:
            slot[x] = 0
            u[k] = x
            k += 1
    u = np.sort(u[:k])
    for j in range(k):                              # each id's position in sorted order
        slot[u[j]] = j
    inverse = np.empty(ids.size, dtype=np.int64)
    for i in range(ids.size):
        inverse[i] = slot[ids[i]]
    return u, inverse


@njit(cache=True)
def _scatter_add(values, slot, dY):
    # Serial on purpose: equal slots write the same row, so a parallel loop would race.
    for i in range(dY.shape[0]):
        k = slot[i]
        for d in range(dY.shape[1]):
            values[k, d] += dY[i, d]
