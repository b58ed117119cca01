"""Gated recurrent unit (Cho et al. 2014): one step, and a masked sequence with full BPTT.

The cell of GRU4Rec (Hidasi et al. 2016) and of NARM's encoders (Li et al. 2017). Both
public pairs share the cell math in `_cell_forward` / `_cell_backward`, which take the input
projection `a = x W + b` already computed: a sequence computes it for all T steps in one
matrix product before the loop, a single step just before calling the cell.

Weights are packed as in the official GRU4Rec: `W = [W_z | W_r | W_h]` (D, 3H),
`U_zr = [U_z | U_r]` (H, 2H), `U_h` (H, H), `b = [b_z | b_r | b_h]` (3H,).

Derivation: docs/derivations/gru.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.errors import DataError
from nprec.layers.activations import fast_sigmoid


class GRUStepCache(NamedTuple):
    x: np.ndarray        # (B, D) input
    h_prev: np.ndarray   # (B, H) previous hidden state
    z: np.ndarray        # (B, H) update gate
    r: np.ndarray        # (B, H) reset gate
    h_cand: np.ndarray   # (B, H) candidate state
    W: np.ndarray        # (D, 3H) input weights [W_z | W_r | W_h]
    U_zr: np.ndarray     # (H, 2H) recurrent weights of the gates [U_z | U_r]
    U_h: np.ndarray      # (H, H) recurrent weights of the candidate


class GRUCache(NamedTuple):
    x: np.ndarray        # (B, T, D) inputs
    mask: np.ndarray     # (B, T) bool, True where the step is real
    h0: np.ndarray       # (B, H) initial state
    hs: np.ndarray       # (B, T, H) hidden state after every step
    zr: np.ndarray       # (B, T, 2H) gates [z | r] of every step (0 at skipped steps)
    h_cand: np.ndarray   # (B, T, H) candidate of every step (0 at skipped steps)
    active: np.ndarray   # (T,) bool, steps where at least one row is real
    W: np.ndarray        # (D, 3H)
    U_zr: np.ndarray     # (H, 2H)
    U_h: np.ndarray      # (H, H)


def _cell_forward(a: np.ndarray, h_prev: np.ndarray, U_zr: np.ndarray, U_h: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The GRU cell given its input projection a = x W + b (B, 3H).

    Returns h (B, H), zr = [z | r] (B, 2H) and h_cand (B, H).
    """
    H = h_prev.shape[1]
    zr = fast_sigmoid(a[:, :2 * H] + h_prev @ U_zr)                     # (B, 2H)
    z, r = zr[:, :H], zr[:, H:]                                         # (B, H) each
    h_cand = (r * h_prev) @ U_h                                         # (B, H)
    h_cand += a[:, 2 * H:]
    np.tanh(h_cand, out=h_cand)
    # h = (1 - z) h_prev + z h_cand, written h_prev + z (h_cand - h_prev).
    h = h_cand - h_prev                                                 # (B, H)
    h *= z
    h += h_prev
    return h, zr, h_cand


def _cell_backward(dh: np.ndarray, h_prev: np.ndarray, z: np.ndarray, r: np.ndarray,
                   h_cand: np.ndarray, U_zr: np.ndarray, U_h: np.ndarray,
                   da: np.ndarray) -> np.ndarray:
    """Backward of `_cell_forward`: fills da (B, 3H) = dL/da and returns dh_prev (B, H).

    The weight gradients follow from da outside (dW = xᵀ da, dU_zr = h_prevᵀ da_zr,
    dU_h = (r h_prev)ᵀ da_h, db = Σ da), so a sequence can form them in one product over all
    steps instead of one per step.
    """
    H = h_prev.shape[1]
    # h = h_prev + z (h_cand - h_prev): paths into z, h_cand and (directly) h_prev.
    dz = dh * (h_cand - h_prev)                                         # (B, H)
    # h_cand = tanh(a_h + (r h_prev) U_h): through tanh into a_h ...
    da[:, 2 * H:] = dh * z * (1.0 - h_cand * h_cand)                    # (B, H) da_h
    # ... and through U_h into the product r * h_prev.
    drh = da[:, 2 * H:] @ U_h.T                                         # (B, H)
    # z = σ(a_z + h_prev U_z), r = σ(a_r + h_prev U_r): through the sigmoids.
    da[:, :H] = dz * z * (1.0 - z)                                      # (B, H) da_z
    da[:, H:2 * H] = drh * h_prev * r * (1.0 - r)                       # (B, H) da_r
    # Three paths reach h_prev: the blend (1 - z), the reset product r, the gates' U_zr.
    dh_prev = dh * (1.0 - z) + drh * r + da[:, :2 * H] @ U_zr.T         # (B, H)
    return dh_prev


def gru_step_forward(x: np.ndarray, h_prev: np.ndarray, W: np.ndarray, U_zr: np.ndarray,
                     U_h: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, GRUStepCache]:
    """One GRU step (Hidasi et al. 2016, eqs. (1)-(4); Cho et al. 2014 with z, 1 - z swapped).

        z = σ(x W_z + h_prev U_z + b_z)                  update gate
        r = σ(x W_r + h_prev U_r + b_r)                  reset gate
        h_cand = tanh(x W_h + (r ⊙ h_prev) U_h + b_h)    candidate
        h = (1 - z) ⊙ h_prev + z ⊙ h_cand

    Args:
        x: (B, D) inputs.  h_prev: (B, H) previous state.  W: (D, 3H) = [W_z | W_r | W_h].
        U_zr: (H, 2H) = [U_z | U_r].  U_h: (H, H).  b: (3H,) = [b_z | b_r | b_h].
    Returns:
        h (B, H) and a `GRUStepCache` (inputs, gates z and r, candidate, weights).
    """
    a = x @ W + b                                                       # (B, 3H)
    h, zr, h_cand = _cell_forward(a, h_prev, U_zr, U_h)                 # (B, H), (B, 2H), (B, H)
    H = h_prev.shape[1]
    return h, GRUStepCache(x, h_prev, zr[:, :H], zr[:, H:], h_cand, W, U_zr, U_h)


def gru_step_backward(dh: np.ndarray, cache: GRUStepCache) -> tuple[np.ndarray, ...]:
    """Backward of `gru_step_forward`.

    Returns dx (B, D), dh_prev (B, H), dW (D, 3H), dU_zr (H, 2H), dU_h (H, H), db (3H,).
    """
    x, h_prev, z, r, h_cand, W, U_zr, U_h = cache
    H = h_prev.shape[1]
    da = np.empty((x.shape[0], 3 * H), dtype=dh.dtype)                  # (B, 3H)
    dh_prev = _cell_backward(dh, h_prev, z, r, h_cand, U_zr, U_h, da)   # (B, H)
    # a = x W + b: the input projection spreads da to x, W and b.
    dx = da @ W.T                                                       # (B, D)
    dW = x.T @ da                                                       # (D, 3H)
    dU_zr = h_prev.T @ da[:, :2 * H]                                    # (H, 2H)
    dU_h = (r * h_prev).T @ da[:, 2 * H:]                               # (H, H)
    db = da.sum(axis=0)                                                 # (3H,)
    return dx, dh_prev, dW, dU_zr, dU_h, db


def gru_forward(x: np.ndarray, mask: np.ndarray, h0: np.ndarray, W: np.ndarray,
                U_zr: np.ndarray, U_h: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, GRUCache]:
    """Run the GRU cell over T steps; padded steps carry the previous state unchanged.

        h_t = gru_step(x_t, h_{t-1})   where mask[:, t] is True
        h_t = h_{t-1}                  where mask[:, t] is False     (h_{-1} = h0)

    The step equations are those of `gru_step_forward` (Cho et al. 2014). The input
    projection x W + b of all steps is one matrix product; steps where no row is real are
    skipped outright (a batch padded to a global T costs no more than its longest row).

    Args:
        x: (B, T, D) inputs.  mask: (B, T) bool.  h0: (B, H) initial state.
        W: (D, 3H).  U_zr: (H, 2H).  U_h: (H, H).  b: (3H,)  (as in `gru_step_forward`).
    Returns:
        hs (B, T, H), the state after every step, and a `GRUCache` (inputs, states, gates and
        candidates of every step, weights).
    Raises:
        DataError if the mask is not (B, T).
    """
    B, T, D = x.shape
    H = h0.shape[1]
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (B, T):
        raise DataError(f"gru_forward: mask has shape {mask.shape}, expected (B, T) = {(B, T)}")
    dtype = np.result_type(x, h0, W)
    A = (x.reshape(B * T, D) @ W + b).reshape(B, T, 3 * H)              # (B, T, 3H)
    hs = np.empty((B, T, H), dtype=dtype)                               # (B, T, H)
    # Gates and candidates stay zero at skipped steps, so backward's products over all
    # steps read finite numbers there (their dA is zero).
    zr_all = np.zeros((B, T, 2 * H), dtype=dtype)                       # (B, T, 2H)
    h_cand_all = np.zeros((B, T, H), dtype=dtype)                       # (B, T, H)
    active = mask.any(axis=0)                                           # (T,)
    full = mask.all(axis=0)                                             # (T,)
    h = h0
    for t in range(T):
        if active[t]:
            h_new, zr_all[:, t], h_cand_all[:, t] = _cell_forward(A[:, t], h, U_zr, U_h)
            # Padded rows carry their state (no copy needed when every row is real).
            h = h_new if full[t] else np.where(mask[:, t, None], h_new, h)  # (B, H)
        hs[:, t] = h
    return hs, GRUCache(x, mask, h0, hs, zr_all, h_cand_all, active, W, U_zr, U_h)


def gru_backward(dhs: np.ndarray, cache: GRUCache) -> tuple[np.ndarray | None, ...]:
    """Backpropagation through time of `gru_forward`, through the mask.

    Args:
        dhs: (B, T, H) gradient of the loss with respect to every hidden state.
    Returns:
        dx (B, T, D), None (mask), dh0 (B, H), dW (D, 3H), dU_zr (H, 2H), dU_h (H, H), db (3H,).
        dx is zero at padded steps; dh0 collects what flows back past t = 0.
    """
    x, mask, h0, hs, zr_all, h_cand_all, active, W, U_zr, U_h = cache
    B, T, D = x.shape
    H = h0.shape[1]
    # The state each step started from: h0, then the state after the step before.
    h_prev_all = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)      # (B, T, H)
    full = mask.all(axis=0)                                             # (T,) no padded row
    dA = np.zeros((B, T, 3 * H), dtype=dhs.dtype)                       # (B, T, 3H)
    dh = np.zeros((B, H), dtype=dhs.dtype)                              # (B, H) dL/dh_t
    for t in range(T - 1, -1, -1):
        # h_t feeds the loss directly (dhs) and the next step (dh carried from t + 1).
        dh = dh + dhs[:, t]                                             # (B, H)
        if not active[t]:
            continue                                                    # h_t = h_{t-1} everywhere
        m = mask[:, t, None]                                            # (B, 1)
        # Real rows: through the cell. Padded rows: the cell output was discarded.
        dh_cell = dh if full[t] else np.where(m, dh, 0)                 # (B, H)
        dh_prev = _cell_backward(dh_cell, h_prev_all[:, t], zr_all[:, t, :H], zr_all[:, t, H:],
                                 h_cand_all[:, t], U_zr, U_h, dA[:, t])  # (B, H)
        # Padded rows copied h_{t-1}, so their gradient passes straight through.
        dh = dh_prev if full[t] else np.where(m, dh_prev, dh)           # (B, H)
    # Weights are shared over time: their gradient is the sum over steps, one product each.
    # Padded steps have dA = 0 and add nothing.
    dA2 = dA.reshape(B * T, 3 * H)                                      # (BT, 3H)
    dx = (dA2 @ W.T).reshape(B, T, D)                                   # (B, T, D)
    dW = x.reshape(B * T, D).T @ dA2                                    # (D, 3H)
    h_prev2 = h_prev_all.reshape(B * T, H)                              # (BT, H)
    dU_zr = h_prev2.T @ dA2[:, :2 * H]                                  # (H, 2H)
    rh2 = zr_all[:, :, H:].reshape(B * T, H) * h_prev2                  # (BT, H) r ⊙ h_prev
    dU_h = rh2.T @ dA2[:, 2 * H:]                                       # (H, H)
    db = dA2.sum(axis=0)                                                # (3H,)
    return dx, None, dh, dW, dU_zr, dU_h, db
