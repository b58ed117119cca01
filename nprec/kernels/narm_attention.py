"""NARM's attention (local encoder) with the elementwise work of each row in one pass.

The same function as `nprec.layers.attention_forward` / `attention_backward` (Li et al. 2017,
eq. 8; derivation in docs/derivations/attention.md), which are the twins:

    e_j = v · σ(h_t A1 + h_j A2)                  for each real position j
    α_j = exp(e_j) / Σ_{k real} exp(e_k),          c = Σ_j α_j h_j

The layer writes this as NumPy operations on (B, T, H) arrays: the products with A2 over all
B·T positions, the sum q + K, the sigmoid, the scores, a batched (1, T) x (T, H) product per
row for c, and in the backward about ten more whole-array passes. On NARM's batches most of
those entries are padding (B = 512 prefixes padded to the longest: about a quarter are
real), and the batched products run B tiny matrix products one after the other. Here the
real positions are gathered once into an (N, H) block, row by row (N = the number of real
positions); the products with A2 (K = h A2 forward; dP A2ᵀ and hᵀ dP backward) run on that
block only, and everything between them is one compiled pass per row over its N_b entries:

    forward,  row b:  S_bj = σ(q_b + K_bj), e_bj = S_bj · v, the softmax α_b over the row,
                      c_b = Σ_j α_bj h_bj
    backward, row b:  dα_bj = dc_b · h_bj, de_bj = α_bj (dα_bj - Σ_k α_bk dα_bk),
                      dh_bj = α_bj dc_b, dP_bj = de_bj v ⊙ S_bj ⊙ (1 - S_bj),
                      dq_b = Σ_j dP_bj

and dhs is scattered back to (B, T, H), zero at padded positions. Rows are independent and
run in parallel. σ is computed as 1 / (1 + e^-x) with the library exp (the layer's
`fast_sigmoid` is the same function by another formula: results agree to rounding). A row
with no real position attends to nothing: c, α and every gradient are 0.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import prange

from nprec.kernels._jit import jit
from nprec.layers.attention import AttentionCache, attention_backward, attention_forward

_PARALLEL_FROM = 1 << 15             # B·T·H entries from which rows are split over threads


class AttentionRowsCache(NamedTuple):
    h: np.ndarray        # (N, H) the states at the real positions, row by row
    pos: np.ndarray      # (N,) their flat index b·T + j in (B, T)
    row_ptr: np.ndarray  # (B + 1,) row b's entries are h[row_ptr[b]:row_ptr[b + 1]]
    shape: tuple         # (B, T, H)
    h_t: np.ndarray      # (B, H) query
    A1: np.ndarray       # (H, H)
    A2: np.ndarray       # (H, H)
    v: np.ndarray        # (H,)
    S: np.ndarray        # (N, H) σ(h_t A1 + h_j A2)
    a: np.ndarray        # (N,) attention weights of the real positions


def attention_rows_forward_ref(hs, h_t, mask, A1, A2, v) -> tuple[np.ndarray, AttentionCache]:
    """Reference twin: `nprec.layers.attention_forward`."""
    return attention_forward(hs, h_t, mask, A1, A2, v)


def attention_rows_backward_ref(dc, cache) -> tuple[np.ndarray | None, ...]:
    """Reference twin: `nprec.layers.attention_backward`."""
    return attention_backward(dc, cache)


def attention_rows_forward(hs: np.ndarray, h_t: np.ndarray, mask: np.ndarray, A1: np.ndarray,
                           A2: np.ndarray, v: np.ndarray
                           ) -> tuple[np.ndarray, AttentionRowsCache]:
    """Attention-weighted sum of the states; same contract as `attention_forward`.

    Args:
        hs: (B, T, H) states.  h_t: (B, H) query.  mask: (B, T) bool.
        A1: (H, H).  A2: (H, H).  v: (H,).
    Returns:
        c (B, H) and an `AttentionRowsCache` for `attention_rows_backward`.
    """
    B, T, H = hs.shape
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (B, T) or h_t.shape != (B, H) or A1.shape != (H, H) \
            or A2.shape != (H, H) or v.shape != (H,):
        raise ValueError(f"attention_rows_forward: shapes hs {hs.shape}, h_t {h_t.shape}, "
                         f"mask {mask.shape}, A1 {A1.shape}, A2 {A2.shape}, v {v.shape}")
    dtype = np.result_type(hs, h_t, A1, A2, v)
    pos = np.flatnonzero(mask)                                          # (N,) row-major
    row_ptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])        # (B + 1,)
    h = np.asarray(hs, dtype=dtype).reshape(B * T, H)[pos]              # (N, H) gathered
    q = np.ascontiguousarray(h_t @ A1, dtype=dtype)                     # (B, H)
    S = np.ascontiguousarray(h @ A2, dtype=dtype)                       # (N, H) K, then S
    a = np.empty(pos.size, dtype=dtype)                                 # (N,)
    c = np.empty((B, H), dtype=dtype)                                   # (B, H)
    run = _forward_parallel if S.size >= _PARALLEL_FROM else _forward_serial
    run(h, row_ptr, q, np.ascontiguousarray(v, dtype=dtype), S, a, c)
    return c, AttentionRowsCache(h, pos, row_ptr, (B, T, H), h_t, A1, A2, v, S, a)


def attention_rows_backward(dc: np.ndarray, cache: AttentionRowsCache
                            ) -> tuple[np.ndarray | None, ...]:
    """Backward of `attention_rows_forward`; same contract as `attention_backward`.

    Returns dhs (B, T, H), dh_t (B, H), None (mask), dA1 (H, H), dA2 (H, H), dv (H,).
    """
    h, pos, row_ptr, (B, T, H), h_t, A1, A2, v, S, a = cache
    dtype = h.dtype
    dc = np.ascontiguousarray(dc, dtype=dtype)                          # (B, H)
    dh = np.empty_like(h)                                               # (N, H)
    dP = np.empty_like(h)                                               # (N, H)
    de = np.empty(pos.size, dtype=dtype)                                # (N,)
    dq = np.empty((B, H), dtype=dtype)                                  # (B, H)
    run = _backward_parallel if S.size >= _PARALLEL_FROM else _backward_serial
    run(h, row_ptr, np.ascontiguousarray(v, dtype=dtype), S, a, dc, dh, dP, de, dq)
    dv = de @ S                                                         # (H,) e_j = v · S_j
    dh_t = dq @ A1.T                                                    # (B, H) q = h_t A1
    dA1 = h_t.T @ dq                                                    # (H, H)
    dh += dP @ A2.T                                                     # (N, H) K = h A2
    dA2 = h.T @ dP                                                      # (H, H)
    dhs = np.zeros((B * T, H), dtype=dtype)                             # (B·T, H)
    dhs[pos] = dh
    return dhs.reshape(B, T, H), dh_t, None, dA1, dA2, dv


@jit()
def _forward_row(h, q, v, S, a, c):
    """Row b's entries: h, S (N_b, H) (S holds K on entry), a (N_b,); q, c, v (H,)."""
    n, H = h.shape
    e_max = -np.inf
    for j in range(n):
        e = 0.0
        for k in range(H):
            s = 1.0 / (1.0 + math.exp(-(q[k] + S[j, k])))
            S[j, k] = s
            e += s * v[k]
        a[j] = e
        e_max = max(e_max, e)
    total = 0.0
    for j in range(n):
        w = math.exp(a[j] - e_max)
        a[j] = w
        total += w
    for k in range(H):
        c[k] = 0.0
    for j in range(n):
        w = a[j] / total
        a[j] = w
        for k in range(H):
            c[k] += w * h[j, k]


@jit()
def _forward_serial(h, row_ptr, q, v, S, a, c):
    for b in range(q.shape[0]):
        p0, p1 = row_ptr[b], row_ptr[b + 1]
        _forward_row(h[p0:p1], q[b], v, S[p0:p1], a[p0:p1], c[b])


@jit(parallel=True)
def _forward_parallel(h, row_ptr, q, v, S, a, c):
    # Parallel over rows: row b writes its own entries of S and a, and c[b].
    for b in prange(q.shape[0]):
        p0, p1 = row_ptr[b], row_ptr[b + 1]
        _forward_row(h[p0:p1], q[b], v, S[p0:p1], a[p0:p1], c[b])


@jit()
def _backward_row(h, v, S, a, dc, dh, dP, de, dq):
    """Row b's entries; writes dh (α dc), dP, de (N_b,) and dq (H,)."""
    n, H = h.shape
    weighted = 0.0                                                      # Σ_k α_k dα_k
    for j in range(n):
        da = 0.0
        for k in range(H):
            da += dc[k] * h[j, k]
        de[j] = da
        weighted += a[j] * da
    for k in range(H):
        dq[k] = 0.0
    for j in range(n):
        w = a[j]
        d = w * (de[j] - weighted)
        de[j] = d
        for k in range(H):
            s = S[j, k]
            g = d * v[k] * s * (1.0 - s)
            dP[j, k] = g
            dq[k] += g
            dh[j, k] = w * dc[k]


@jit()
def _backward_serial(h, row_ptr, v, S, a, dc, dh, dP, de, dq):
    for b in range(dc.shape[0]):
        p0, p1 = row_ptr[b], row_ptr[b + 1]
        _backward_row(h[p0:p1], v, S[p0:p1], a[p0:p1], dc[b], dh[p0:p1], dP[p0:p1],
                      de[p0:p1], dq[b])


@jit(parallel=True)
def _backward_parallel(h, row_ptr, v, S, a, dc, dh, dP, de, dq):
    # Parallel over rows: row b writes its own entries and dq[b] only.
    for b in prange(dc.shape[0]):
        p0, p1 = row_ptr[b], row_ptr[b + 1]
        _backward_row(h[p0:p1], v, S[p0:p1], a[p0:p1], dc[b], dh[p0:p1], dP[p0:p1],
                      de[p0:p1], dq[b])
