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
- Time-major storage (T, B, ·): the rows of a step are one contiguous block for BLAS.
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
    xt: np.ndarray       # (T, B, D) inputs, time-major
    mask_t: np.ndarray   # (T, B) bool, True where the step is real
    n_active: np.ndarray  # (T,) rows [0, n_t) hold every real row of step t
    h0: np.ndarray       # (B, H) initial state
    hs_t: np.ndarray     # (T, B, H) states after every step
    zr_t: np.ndarray     # (T, B, 2H) gates [z | r] (0 outside the active rows)
    cand_t: np.ndarray   # (T, B, H) candidates (0 outside the active rows)
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
    # One past the last real row of each step (0 for a step with none).
    n_active = np.where(mask_t.any(axis=1), B - np.argmax(mask_t[:, ::-1], axis=1), 0)  # (T,)
    xt = np.ascontiguousarray(x.transpose(1, 0, 2), dtype=dtype)        # (T, B, D)
    A = (xt.reshape(T * B, D) @ W + b).reshape(T, B, 3 * H)             # (T, B, 3H)
    hs_t = np.empty((T, B, H), dtype=dtype)                             # (T, B, H)
    zr_t = np.zeros((T, B, 2 * H), dtype=dtype)                         # (T, B, 2H)
    cand_t = np.zeros((T, B, H), dtype=dtype)                           # (T, B, H)
    h = np.array(h0, dtype=dtype)                                       # (B, H) the running state
    for t in range(T):
        n = n_active[t]
        if n:
            zr, cand, hn = zr_t[t, :n], cand_t[t, :n], h[:n]
            np.matmul(hn, U_zr, out=zr)
            zr += A[t, :n, :2 * H]
            _sigmoid_inplace(zr)                                        # (n, 2H) [z | r]
            np.matmul(zr[:, H:] * hn, U_h, out=cand)
            cand += A[t, :n, 2 * H:]
            np.tanh(cand, out=cand)                                     # (n, H)
            _blend(hn, zr, cand, mask_t[t, :n])                         # h <- h + z (cand - h)
        hs_t[t] = h
    hs = np.ascontiguousarray(hs_t.transpose(1, 0, 2))                  # (B, T, H)
    return hs, GRUSequenceCache(xt, mask_t, n_active, np.asarray(h0, dtype=dtype), hs_t,
                                zr_t, cand_t, W, U_zr, U_h)


def gru_sequence_backward(dhs: np.ndarray, cache: GRUSequenceCache
                          ) -> tuple[np.ndarray | None, ...]:
    """BPTT of `gru_sequence_forward` (same contract as `nprec.layers.gru_backward`).

    Returns dx (B, T, D), None (mask), dh0 (B, H), dW (D, 3H), dU_zr (H, 2H), dU_h (H, H),
    db (3H,).
    """
    xt, mask_t, n_active, h0, hs_t, zr_t, cand_t, W, U_zr, U_h = cache
    T, B, D = xt.shape
    H = h0.shape[1]
    dA = np.zeros((T, B, 3 * H), dtype=dhs.dtype)                       # (T, B, 3H)
    dh = np.zeros((B, H), dtype=dhs.dtype)                              # (B, H) dL/dh_t
    for t in range(T - 1, -1, -1):
        # h_t feeds the loss directly (dhs) and the next step (dh carried from t + 1).
        dh += dhs[:, t]
        n = n_active[t]
        if not n:
            continue                                                    # h_t = h_{t-1} everywhere
        h_prev = hs_t[t - 1, :n] if t else h0[:n]                       # (n, H)
        zr, da, m, dhn = zr_t[t, :n], dA[t, :n], mask_t[t, :n], dh[:n]
        # Through the blend and the tanh: da_h and da_z (rows of padded steps stay 0).
        _blend_backward(dhn, h_prev, zr, cand_t[t, :n], m, da)
        drh = da[:, 2 * H:] @ U_h.T                                     # (n, H) into r ⊙ h_prev
        # Through r: da_r; the blend (1 - z) and the reset product r reach h_prev.
        _reset_backward(dhn, h_prev, zr, drh, m, da)
        dhn += da[:, :2 * H] @ U_zr.T                                   # the gates' U_zr path
    # Shared weights: one product over all steps each (padded rows have dA = 0).
    dA2 = dA.reshape(T * B, 3 * H)                                      # (TB, 3H)
    dx = (dA2 @ W.T).reshape(T, B, D).transpose(1, 0, 2)                # (B, T, D)
    dW = xt.reshape(T * B, D).T @ dA2                                   # (D, 3H)
    h_prev2 = np.concatenate([h0[None], hs_t[:-1]]).reshape(T * B, H)   # (TB, H)
    dU_zr = h_prev2.T @ dA2[:, :2 * H]                                  # (H, 2H)
    rh2 = zr_t[:, :, H:].reshape(T * B, H) * h_prev2                    # (TB, H) r ⊙ h_prev
    dU_h = rh2.T @ dA2[:, 2 * H:]                                       # (H, H)
    return dx, None, dh, dW, dU_zr, dU_h, dA2.sum(axis=0)


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
            for j in range(H):
                z, c, d = zr[i, j], cand[i, j], dh[i, j]
                da[i, j] = d * (c - h_prev[i, j]) * z * (1 - z)
                da[i, 2 * H + j] = d * z * (1 - c * c)
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
