"""Per-row top-k: the item indices of a recommendation list.

Order: by score descending; equal scores by LOWER item index first, so a list is a pure
function of the scores (no dependence on sort stability or thread timing). NaN scores rank
like -inf. Scores of -inf (e.g. seen items masked out) are not removed: they come last, after
every finite score, and appear in a list only when a row has fewer than k finite scores.
This produces lists; how ties affect metrics is the ranking metrics' tie policy.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from nprec.kernels._jit import jit


def _check_topk(scores: np.ndarray, k: int) -> None:
    if scores.ndim != 2:
        raise ValueError(f"topk_rows: scores must be (B, V), got shape {scores.shape}")
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"topk_rows: k={k} must be in [1, V={scores.shape[1]}]")


def topk_rows_ref(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores of each row, best first, ties by lower index (twin).

    `np.partition` finds each row's k-th largest value `kth`; every item above it is in, and
    items equal to it fill the remaining places lowest index first; a stable sort by
    descending score orders the k chosen items.

    Args:
        scores: (B, V) float scores.
        k:      list length, 1 <= k <= V.
    Returns:
        (B, k) int64 item indices.
    """
    _check_topk(scores, k)
    s = np.where(np.isnan(scores), -np.inf, scores)                     # (B, V)
    B, V = s.shape
    kth = np.partition(s, V - k, axis=1)[:, V - k]                      # (B,)
    above = s > kth[:, None]                                            # (B, V)
    tied = s == kth[:, None]                                            # (B, V)
    room = k - above.sum(axis=1)                                        # (B,) places for ties
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room[:, None]))  # (B, V), k per row
    idx = np.nonzero(chosen)[1].reshape(B, k)                           # (B, k) ascending
    order = np.argsort(-np.take_along_axis(s, idx, axis=1), axis=1, kind="stable")  # (B, k)
    return np.take_along_axis(idx, order, axis=1).astype(np.int64)


def topk_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores of each row; same contract as `topk_rows_ref`.

    One pass per row with a size-k min-heap of (score, index), whose root is the worst kept
    item; the heap is then sorted. Rows run in parallel.
    """
    _check_topk(scores, k)
    out = np.empty((scores.shape[0], k), dtype=np.int64)                # (B, k)
    _topk_rows(np.ascontiguousarray(scores), out)
    return out


@jit(inline="always")
def _worse(sa, ia, sb, ib):
    """Is (score sa, index ia) ranked after (sb, ib)?"""
    return sa < sb or (sa == sb and ia > ib)


@jit(inline="always")
def _sift_down(hs, hi, i, n):
    """Restore the heap below position i: each parent is worse than its children."""
    while True:
        c = 2 * i + 1
        if c >= n:
            return
        if c + 1 < n and _worse(hs[c + 1], hi[c + 1], hs[c], hi[c]):
            c += 1
        if _worse(hs[c], hi[c], hs[i], hi[i]):
            hs[i], hs[c] = hs[c], hs[i]
            hi[i], hi[c] = hi[c], hi[i]
            i = c
        else:
            return


@jit(parallel=True)
def _topk_rows(scores, out):
    # Parallel: row b writes out[b] only; each row has its own heap.
    B, V = scores.shape
    k = out.shape[1]
    for b in prange(B):
        hs = np.empty(k, dtype=np.float64)     # heap scores (the root is the worst kept)
        hi = np.empty(k, dtype=np.int64)       # heap item indices
        for j in range(k):
            s = scores[b, j]
            hs[j] = -np.inf if s != s else s
            hi[j] = j
        for i in range(k // 2 - 1, -1, -1):
            _sift_down(hs, hi, i, k)
        for j in range(k, V):
            s = scores[b, j]
            if s != s:
                s = -np.inf
            if s > hs[0]:                      # j beats the root only on a strictly higher
                hs[0] = s                      # score: on a tie its index is the larger one
                hi[0] = j
                _sift_down(hs, hi, 0, k)
        for n in range(k - 1, -1, -1):         # heap sort: pop the worst into the last place
            out[b, n] = hi[0]
            hs[0] = hs[n]
            hi[0] = hi[n]
            _sift_down(hs, hi, 0, n)
