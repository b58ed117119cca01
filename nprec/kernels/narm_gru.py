"""NARM's masked GRU over padded prefixes, forward and BPTT, as fused passes per step.

The same function as `nprec.layers.gru_forward` / `gru_backward` (Cho et al. 2014; weights
packed as there: W = [W_z|W_r|W_h] (D, 3H), U_zr = [U_z|U_r] (H, 2H), U_h (H, H)):

    z, r   = σ(x_t W_zr + h_{t-1} U_zr + b_zr)
    h_cand = tanh(x_t W_h + (r ⊙ h_{t-1}) U_h + b_h)
    h_t    = h_{t-1} + z ⊙ (h_cand - h_{t-1})     where mask[:, t], else h_t = h_{t-1}

and the twins are the layer functions themselves (`gru_sequence_forward_ref` and
`gru_sequence_backward_ref`), so this fast path is held to the layer's definition. Three
things make it faster on NARM's batches (B = 512 prefixes, mostly 1 to 10 items):

- Active rows only. Step t works on rows [0, n_t), where n_t is one past the last row with a
  real item at t. NARM sorts each batch's rows by length, longest first, so n_t is exactly
  the number of prefixes still running and no padded row is ever computed.
- Step-major compact storage: the N = Σ_t n_t computed rows are stored step after step
  (step t's are [off_t, off_t + n_t), one contiguous block for BLAS), so the products with
  the shared weights — x W before the loop, dA Wᵀ, xᵀ dA, h_prevᵀ dA after it — run over
  those N rows and not over all T·B (on NARM's batches about a quarter are real).
- The elementwise chains between the matrix products (the blend, the gate gradients, the
  state gradient) are single compiled passes; sigmoid and tanh stay in NumPy's SIMD loops
  (σ(x) = (1 + tanh(x/2)) / 2). The passes are serial: a step holds about 50,000 numbers,
  less work than starting threads costs on a busy machine.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.kernels._jit import jit
from nprec.layers import gru_backward, gru_forward


class GRUSequenceCache(NamedTuple):
    x_c: np.ndarray      # (N, D) inputs of the computed rows, step by step
    mask_t: np.ndarray   # (T, B) bool, True where the step is real
    off: np.ndarray      # (T + 1,) step t's computed rows are [off[t], off[t + 1]) of the blocks
    rows: np.ndarray     # (N,) batch row of each computed row
    steps: np.ndarray    # (N,) step of each computed row
    h0: np.ndarray       # (B, H) initial state
    hs_t: np.ndarray     # (T, B, H) states after every step
    zr_c: np.ndarray     # (N, 2H) gates [z | r] of the computed rows
    cand_c: np.ndarray   # (N, H) candidates of the computed rows
    W: np.ndarray        # (D, 3H)
    U_zr: np.ndarray     # (H, 2H)
    U_h: np.ndarray      # (H, H)


def gru_sequence_forward_ref(x, mask, h0, W, U_zr, U_h, b):
    """Reference twin of `gru_sequence_forward`: the layer `nprec.layers.gru_forward`."""
    return gru_forward(x, mask, h0, W, U_zr, U_h, b)


def gru_sequence_backward_ref(dhs, cache):
    """Reference twin of `gru_sequence_backward`: the layer `nprec.layers.gru_backward`."""
    return gru_backward(dhs, cache)


def _sigmoid_inplace(a: np.ndarray) -> np.ndarray:
    """a <- σ(a) = (1 + tanh(a / 2)) / 2, four SIMD passes, no overflow for any a."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def gru_sequence_forward(x: np.ndarray, mask: np.ndarray, h0: np.ndarray, W: np.ndarray,
                         U_zr: np.ndarray, U_h: np.ndarray, b: np.ndarray
                         ) -> tuple[np.ndarray, GRUSequenceCache]:
    """The masked GRU over T steps (same contract as `nprec.layers.gru_forward`).

    Args:
        x: (B, T, D) inputs.  mask: (B, T) bool.  h0: (B, H).  W: (D, 3H).  U_zr: (H, 2H).
        U_h: (H, H).  b: (3H,).
    Returns:
        hs (B, T, H) and a `GRUSequenceCache`.
    """
    B, T, D = x.shape
    H = h0.shape[1]
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (B, T):
        raise ValueError(f"gru_sequence_forward: mask {mask.shape}, expected {(B, T)}")
    dtype = np.result_type(x, h0, W)
    mask_t = np.ascontiguousarray(mask.T)                               # (T, B)
    # One past the last real row of each step (0 for a step with none): the computed rows.
    n_active = np.where(mask_t.any(axis=1), B - np.argmax(mask_t[:, ::-1], axis=1), 0)  # (T,)
    off = np.concatenate([[0], np.cumsum(n_active)])                    # (T + 1,)
    steps = np.repeat(np.arange(T), n_active)                           # (N,)
    rows = np.arange(off[-1]) - off[steps]                              # (N,) 0..n_t-1 per step
    x_c = np.asarray(x, dtype=dtype)[rows, steps]                       # (N, D) gathered
    A = x_c @ W                                                         # (N, 3H) input parts
    if A.dtype == np.result_type(A, b):
        A += b                      # in place: a second (N, 3H) array costs a pass and pages
    else:
        A = A + b
    hs_t = np.empty((T, B, H), dtype=dtype)                             # (T, B, H)
    zr_c = np.empty((off[-1], 2 * H), dtype=dtype)                      # (N, 2H)
    cand_c = np.empty((off[-1], H), dtype=dtype)                        # (N, H)
    h = np.array(h0, dtype=dtype)                                       # (B, H) the running state
    for t in range(T):
        n, o = n_active[t], off[t]
        if n:
            zr, cand, hn = zr_c[o:o + n], cand_c[o:o + n], h[:n]
            np.matmul(hn, U_zr, out=zr)
            zr += A[o:o + n, :2 * H]
            _sigmoid_inplace(zr)                                        # (n, 2H) [z | r]
            np.matmul(zr[:, H:] * hn, U_h, out=cand)
            cand += A[o:o + n, 2 * H:]
            np.tanh(cand, out=cand)                                     # (n, H)
            _blend(hn, zr, cand, mask_t[t, :n])                         # h <- h + z (cand - h)
        hs_t[t] = h
    hs = np.ascontiguousarray(hs_t.transpose(1, 0, 2))                  # (B, T, H)
    return hs, GRUSequenceCache(x_c, mask_t, off, rows, steps, np.asarray(h0, dtype=dtype),
                                hs_t, zr_c, cand_c, W, U_zr, U_h)


def gru_sequence_backward(dhs: np.ndarray, cache: GRUSequenceCache
                          ) -> tuple[np.ndarray | None, ...]:
    """BPTT of `gru_sequence_forward` (same contract as `nprec.layers.gru_backward`).

    Returns dx (B, T, D), None (mask), dh0 (B, H), dW (D, 3H), dU_zr (H, 2H), dU_h (H, H),
    db (3H,).
    """
    x_c, mask_t, off, rows, steps, h0, hs_t, zr_c, cand_c, W, U_zr, U_h = cache
    T, B = mask_t.shape
    D, H = x_c.shape[1], h0.shape[1]
    dA = np.empty((off[-1], 3 * H), dtype=dhs.dtype)                    # (N, 3H)
    h_prev_c = np.empty((off[-1], H), dtype=dhs.dtype)                  # (N, H)
    dh = np.zeros((B, H), dtype=dhs.dtype)                              # (B, H) dL/dh_t
    for t in range(T - 1, -1, -1):
        # h_t feeds the loss directly (dhs) and the next step (dh carried from t + 1).
        dh += dhs[:, t]
        o, n = off[t], off[t + 1] - off[t]
        if not n:
            continue                                                    # h_t = h_{t-1} everywhere
        h_prev = h_prev_c[o:o + n]                                      # (n, H)
        h_prev[...] = hs_t[t - 1, :n] if t else h0[:n]
        zr, da, m, dhn = zr_c[o:o + n], dA[o:o + n], mask_t[t, :n], dh[:n]
        # Through the blend and the tanh: da_h and da_z (rows of padded steps get 0).
        _blend_backward(dhn, h_prev, zr, cand_c[o:o + n], m, da)
        drh = da[:, 2 * H:] @ U_h.T                                     # (n, H) into r ⊙ h_prev
        # Through r: da_r; the blend (1 - z) and the reset product r reach h_prev.
        _reset_backward(dhn, h_prev, zr, drh, m, da)
        dhn += da[:, :2 * H] @ U_zr.T                                   # the gates' U_zr path
    # Shared weights: one product over the computed rows of all steps each.
    dx = np.zeros((B, T, D), dtype=dhs.dtype)                           # (B, T, D)
    dx[rows, steps] = dA @ W.T                                          # padded rows stay 0
    dW = x_c.T @ dA                                                     # (D, 3H)
    dU_zr = h_prev_c.T @ dA[:, :2 * H]                                  # (H, 2H)
    dU_h = (zr_c[:, H:] * h_prev_c).T @ dA[:, 2 * H:]                   # (H, H) via r ⊙ h_prev
    return dx, None, dh, dW, dU_zr, dU_h, dA.sum(axis=0)


@jit()
def _blend(h, zr, cand, m):
    """h <- h + z ⊙ (cand - h) on the rows where m is True (the others carry h)."""
    n, H = cand.shape
    for i in range(n):
        if m[i]:
            for j in range(H):
                h[i, j] += zr[i, j] * (cand[i, j] - h[i, j])


@jit()
def _blend_backward(dh, h_prev, zr, cand, m, da):
    """da_z = dh (cand - h_prev) z (1 - z), da_h = dh z (1 - cand²); zero on padded rows."""
    n, H = cand.shape
    for i in range(n):
        if m[i]:
            # Two loops, one store each: with both stores into da in one loop the compiler
            # did not vectorise it (five times slower at 512 x 100, the same numbers).
            for j in range(H):
                z = zr[i, j]
                da[i, j] = dh[i, j] * (cand[i, j] - h_prev[i, j]) * z * (1 - z)
            for j in range(H):
                c = cand[i, j]
                da[i, 2 * H + j] = dh[i, j] * zr[i, j] * (1 - c * c)
        else:
            for j in range(3 * H):
                da[i, j] = 0


@jit()
def _reset_backward(dh, h_prev, zr, drh, m, da):
    """da_r = drh h_prev r (1 - r); dh <- dh (1 - z) + drh r on real rows (padded: dh kept)."""
    n, H = drh.shape
    for i in range(n):
        if m[i]:
            for j in range(H):
                r = zr[i, H + j]
                da[i, H + j] = drh[i, j] * h_prev[i, j] * r * (1 - r)
                dh[i, j] = dh[i, j] * (1 - zr[i, j]) + drh[i, j] * r
