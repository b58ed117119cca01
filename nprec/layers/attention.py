"""Additive attention over the hidden states of a sequence: NARM's local encoder.

Derivation: docs/derivations/attention.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.layers.activations import fast_sigmoid


class AttentionCache(NamedTuple):
    hs: np.ndarray       # (B, T, H) hidden states attended over
    h_t: np.ndarray      # (B, H) query (NARM: the last hidden state)
    mask: np.ndarray     # (B, T) bool, positions that may be attended
    A1: np.ndarray       # (H, H) query projection
    A2: np.ndarray       # (H, H) key projection
    v: np.ndarray        # (H,) scoring vector
    S: np.ndarray        # (B, T, H) σ(h_t A1 + h_j A2)
    alpha: np.ndarray    # (B, T) attention weights (0 at masked positions)


def attention_forward(hs: np.ndarray, h_t: np.ndarray, mask: np.ndarray, A1: np.ndarray,
                      A2: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, AttentionCache]:
    """Attention-weighted sum of the states (Li et al. 2017, NARM's local encoder).

        e_j = v · σ(h_t A1 + h_j A2)                  for each position j
        α_j = exp(e_j) / Σ_{k: mask_k} exp(e_k)       where mask_j, else 0
        c   = Σ_j α_j h_j

    NARM writes the projections as A1 h_t, A2 h_j on column vectors; nprec's row vectors
    give h_t A1, h_j A2 (the transposed matrices). A row whose mask is all False attends
    to nothing: its weights and c are 0, and so are its gradients.

    Args:
        hs: (B, T, H) states.  h_t: (B, H) query.  mask: (B, T) bool.
        A1: (H, H).  A2: (H, H).  v: (H,).
    Returns:
        c (B, H) and an `AttentionCache` (inputs, the gate activations S and the weights α).
    """
    B, T, H = hs.shape
    mask = np.asarray(mask, dtype=bool)
    q = h_t @ A1                                                        # (B, H)
    K = (hs.reshape(B * T, H) @ A2).reshape(B, T, H)                    # (B, T, H)
    S = fast_sigmoid(q[:, None, :] + K)                                 # (B, T, H)
    e = S @ v                                                           # (B, T)
    # Masked softmax: shift by the largest real score (0 for an empty row) and send
    # masked positions to exp(-inf) = 0, so nothing overflows and no row divides by 0.
    e_max = np.max(np.where(mask, e, -np.inf), axis=1, keepdims=True)   # (B, 1)
    e_max = np.where(np.isfinite(e_max), e_max, 0)                      # (B, 1)
    ex = np.exp(np.where(mask, e - e_max, -np.inf))                     # (B, T)
    denom = ex.sum(axis=1, keepdims=True)                               # (B, 1)
    alpha = ex / np.where(denom > 0, denom, 1)                          # (B, T)
    c = (alpha[:, None, :] @ hs)[:, 0]                                  # (B, H)
    return c, AttentionCache(hs, h_t, mask, A1, A2, v, S, alpha)


def attention_backward(dc: np.ndarray, cache: AttentionCache) -> tuple[np.ndarray | None, ...]:
    """Backward of `attention_forward`.

    Returns dhs (B, T, H), dh_t (B, H), None (mask), dA1 (H, H), dA2 (H, H), dv (H,).
    """
    hs, h_t, _, A1, A2, v, S, alpha = cache
    B, T, H = hs.shape
    # c = Σ_j α_j h_j: path 1 into the states directly, weighted by α ...
    dhs = alpha[:, :, None] * dc[:, None, :]                            # (B, T, H)
    # ... and into the weights: dα_j = dc · h_j.
    dalpha = (hs @ dc[:, :, None])[:, :, 0]                             # (B, T)
    # Softmax: de_j = α_j (dα_j - Σ_k α_k dα_k); 0 where α is 0 (masked, empty rows).
    de = alpha * (dalpha - np.sum(alpha * dalpha, axis=1, keepdims=True))  # (B, T)
    # e_j = v · S_j: into v and into S.
    dv = de.reshape(B * T) @ S.reshape(B * T, H)                        # (H,)
    dS = de[:, :, None] * v                                             # (B, T, H)
    # S = σ(P), P_j = q + K_j.
    dP = dS * S * (1.0 - S)                                             # (B, T, H)
    # q = h_t A1 is broadcast over positions: its gradient sums over them.
    dq = dP.sum(axis=1)                                                 # (B, H)
    dh_t = dq @ A1.T                                                    # (B, H)
    dA1 = h_t.T @ dq                                                    # (H, H)
    # K = hs A2: path 2 into the states, through the keys.
    dP2 = dP.reshape(B * T, H)                                          # (BT, H)
    dhs += (dP2 @ A2.T).reshape(B, T, H)
    dA2 = hs.reshape(B * T, H).T @ dP2                                  # (H, H)
    return dhs, dh_t, None, dA1, dA2, dv
