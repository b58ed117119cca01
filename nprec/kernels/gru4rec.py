"""GRU4Rec's per-step kernels: the sampled score/loss/gradient pass and the session state.

The sampled output of a GRU4Rec mini-batch (Hidasi & Karatzoglou 2018) scores each of the B
rows against M = B + S columns: the B targets of the mini-batch (row i's own at column i),
then S negatives shared by all rows. Many columns name the same item (popular items are
sampled often, a target may be sampled too), so the model reads each item's output row
once: with u the K unique items read and `cols` (M,) the position in u of every column,

    S  = h Wy[u]ᵀ                        (B, K)   one BLAS product over unique rows
    R_ij = S[i, cols_j] + By[u][cols_j]  (B, M)   the official score matrix

`sampled_loss` evaluates GRU4Rec's losses from S directly, each sum over columns written as
a sum over unique items weighted by their column counts, and returns dS: the gradient of
each item summed over its columns, which the two backward products (dS Wy[u], dSᵀ h) turn
into coalesced row gradients. No (B, M) matrix, no gather of scores, no scatter of their
gradients (docs/derivations/sampled_unique.md). It is whole-array NumPy: exp, tanh and
friends run in SIMD loops, several times faster than scalar compiled code here.

Its twin `sampled_loss_ref` builds the full (B, M) matrix and calls the nprec losses
(`nprec.losses`) and the ELU layer, so the fast path is held to the library's definitions.
The GRU step and the session-state input are in `gru4rec_step`.
"""

from __future__ import annotations

import numpy as np

from nprec.layers.activations import elu_backward, elu_forward
from nprec.losses import (
    sampled_bpr_backward,
    sampled_bpr_forward,
    sampled_bpr_max_backward,
    sampled_bpr_max_forward,
    sampled_top1_backward,
    sampled_top1_forward,
    sampled_top1_max_backward,
    sampled_top1_max_forward,
)

LOSSES = ("cross-entropy", "bpr-max", "top1-max", "top1", "bpr")
"""GRU4Rec's loss names, in the order of the kernel's integer codes."""

BPR_MAX_EPS = 1e-24
"""Inside BPR-max's log, as in the official code and `nprec.losses.sampled_max`."""

XE_EPS = 1e-24
"""Added to the target's softmax probability inside cross-entropy's log (official code)."""


def _check_sampled(S: np.ndarray, by: np.ndarray, cols: np.ndarray, log_q: np.ndarray | None,
                   loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"sampled_loss: unknown loss {loss!r} (one of {', '.join(LOSSES)})")
    if S.ndim != 2 or by.shape != (S.shape[1],) or cols.ndim != 1:
        raise ValueError(f"sampled_loss: S {S.shape}, by {by.shape} and cols {cols.shape} "
                         f"do not match (S (B, K), by (K,), cols (M,))")
    B, K = S.shape
    min_cols = max(B, 1 if loss in ("cross-entropy", "top1", "bpr") else 2)
    if B < 1 or cols.size < min_cols:
        raise ValueError(f"sampled_loss: {loss} needs M >= {min_cols} columns for {B} rows, "
                         f"got {cols.size}")
    if cols.size and (cols.min() < 0 or cols.max() >= K):
        raise ValueError(f"sampled_loss: column index outside [0, {K})")
    if log_q is not None and log_q.shape != cols.shape:
        raise ValueError(f"sampled_loss: log_q {log_q.shape} must be (M,) = {cols.shape}")


def sampled_loss_ref(S: np.ndarray, by: np.ndarray, cols: np.ndarray, loss: str, *,
                     log_q: np.ndarray | None = None, bpreg: float = 0.0,
                     elu_param: float = 0.0, scale: float = 1.0
                     ) -> tuple[float, np.ndarray]:
    """GRU4Rec's loss of a sampled score matrix and its gradient (reference twin).

        R_ij = S[i, cols_j] + by[cols_j]                 (B, M), row i's target at column i
        R    = ELU_α(R)  for the ranking losses when α = elu_param > 0
        total = scale · Σ_i loss_i(R)                    (official: scale = 1 / batch_size)

    with loss_i the per-row loss of `nprec.losses` (sampled_bpr_max with bpreg,
    sampled_top1_max, sampled_top1, sampled_bpr), except cross-entropy, which is the official
    code's (written out here; never ELU):

        p_ij   = softmax_j(R_ij - log_q_j)           logQ correction per column, or none
        loss_i = -log(p_ii + 1e-24)

    The 1e-24 is not cosmetic: a row whose target probability underflows gets the loss
    -log(1e-24) ≈ 55.3 and no gradient, where the exact log-sum-exp (`nprec.losses.
    sampled_xe`) would push on. Training with dropout on the carried hidden state (the
    official scheme) lets a few states grow far out of range on long sessions; the official
    loss leaves those rows alone, the exact one sends their huge gradients into Wy.

    Args:
        S:     (B, K) scores of the K unique items read this step, without their bias.
        by:    (K,) output bias of each unique item.
        cols:  (M,) int, the unique item of every column (M ≥ B; ≥ 2 for the max losses).
        loss:  one of `LOSSES`.
        log_q: (M,) logQ correction subtracted from each column (cross-entropy), or None.
        bpreg, elu_param, scale: Python floats.
    Returns:
        total (Python float) and dS (B, K) = d total / dS, dtype of S.
    """
    cols = np.asarray(cols, dtype=np.int64)
    _check_sampled(S, by, cols, log_q, loss)
    B, K = S.shape
    R = S[:, cols] + by[cols]                                           # (B, M)
    elu = loss != "cross-entropy" and elu_param > 0
    if elu:
        R, elu_cache = elu_forward(R, elu_param)
    if loss == "cross-entropy":
        O = R - log_q.astype(R.dtype) if log_q is not None else R       # (B, M)
        X = np.exp(O - O.max(axis=1, keepdims=True))                    # (B, M)
        X /= X.sum(axis=1, keepdims=True)                               # softmax
        p = X[np.arange(B), np.arange(B)]                               # (B,) targets
        mean = np.mean(-np.log(p + XE_EPS))
        # d(-log(p_i + ε)) = (p_i / (p_i + ε)) (X_ij - δ_ij) / B.
        dR = X
        dR[np.arange(B), np.arange(B)] -= 1.0
        dR *= (p / (p + XE_EPS))[:, None] / B
    elif loss == "bpr-max":
        mean, cache = sampled_bpr_max_forward(R, bpreg)
        dR = sampled_bpr_max_backward(1.0, cache)[0]
    elif loss == "top1-max":
        mean, cache = sampled_top1_max_forward(R)
        dR = sampled_top1_max_backward(1.0, cache)[0]
    elif loss == "top1":
        mean, cache = sampled_top1_forward(R)
        dR = sampled_top1_backward(1.0, cache)[0]
    else:
        mean, cache = sampled_bpr_forward(R)
        dR = sampled_bpr_backward(1.0, cache)[0]
    if elu:
        dR = elu_backward(dR, elu_cache)[0]
    # The library losses are means over the B rows: B · scale turns them into scale · Σ_i.
    dR = dR * S.dtype.type(B * scale)                                   # (B, M)
    # Columns naming the same item add up: dS = dR P with P (M, K) the one-hot of cols.
    P = np.zeros((cols.size, K), dtype=S.dtype)                         # (M, K)
    P[np.arange(cols.size), cols] = 1
    return float(mean) * B * scale, dR @ P


def sampled_loss(S: np.ndarray, by: np.ndarray, cols: np.ndarray, loss: str, *,
                 log_q: np.ndarray | None = None, bpreg: float = 0.0,
                 elu_param: float = 0.0, scale: float = 1.0) -> tuple[float, np.ndarray]:
    """GRU4Rec's loss of a sampled score matrix and its gradient; contract of the twin.

    Computed on the (B, K) unique-item scores directly, never forming R (B, M): the columns
    of one item share their score, so every sum over columns is a sum over unique items
    weighted by how many columns name the item (docs/derivations/sampled_unique.md):

        n_k   = #{j : cols_j = k}                    columns of item k
        m_ik  = n_k - [k = t_i]                      negatives of row i (t_i = cols_i)
        c_k   = Σ_{j : cols_j = k} exp(-log_q_j)     cross-entropy's corrected multiplicity

    and the gradient of item k is the sum of its columns' gradients, which is dS itself.
    Vectorised NumPy over (B, K): the exponentials and sigmoids run in SIMD loops.
    """
    cols = np.asarray(cols, dtype=np.int64)
    _check_sampled(S, by, cols, log_q, loss)
    B, K = S.shape
    dtype = S.dtype.type
    t = cols[:B]                                                        # (B,) targets
    R = S + by                                                          # (B, K)
    if loss == "cross-entropy":
        weights = None if log_q is None else np.exp(-np.asarray(log_q, dtype=np.float64))
        c = np.bincount(cols, weights=weights, minlength=K)             # (K,)
        target_q = 0.0 if log_q is None else np.asarray(log_q[:B], dtype=S.dtype)
        with np.errstate(divide="ignore"):       # items read only as inputs: log 0 = -inf
            log_c = np.log(c).astype(S.dtype)                           # (K,)
        per_row, G = _xe_unique(R, t, log_c, target_q)
    else:
        if elu_param > 0:
            R, d_elu = _elu(R, dtype(elu_param))                        # (B, K) each
        n = np.bincount(cols, minlength=K).astype(S.dtype)              # (K,)
        if loss == "top1":
            per_row, G = _top1_unique(R, t, n, cols.size)
        elif loss == "bpr":
            per_row, G = _bpr_unique(R, t, n, cols.size)
        else:
            s = _negative_weights(R, t, n)                              # (B, K)
            if loss == "bpr-max":
                per_row, G = _bpr_max_unique(R, t, s, bpreg)
            else:
                per_row, G = _top1_max_unique(R, t, s)
        if elu_param > 0:
            G *= d_elu                                                  # (B, K) through ELU
    G *= dtype(scale)
    return float(per_row.sum(dtype=np.float64)) * float(scale), G


def _xe_unique(R, t, log_c, target_q):
    """Cross-entropy: loss_i = -log(p_i + ε), p_i = exp(r_it - q_i) / Σ_k c_k exp(r_ik).

    p_i is the target column's own probability (a duplicate column of the target is not
    it); G = (p_i / (p_i + ε)) (P - e_t) with P_ik = c_k exp(r_ik) / Z_i, the mass of item k.
    """
    B = R.shape[0]
    rows = np.arange(B)                                                 # (B,)
    O = R + log_c                                                       # (B, K)
    m = O.max(axis=1, keepdims=True)                                    # (B, 1)
    O -= m
    np.exp(O, out=O)                                                    # (B, K)
    Z = O.sum(axis=1)                                                   # (B,)
    O /= Z[:, None]                                                     # item masses P
    p = np.exp(R[rows, t] - target_q - m[:, 0]) / Z                     # (B,)
    per_row = -np.log(p + XE_EPS)                                       # (B,)
    O[rows, t] -= 1.0
    O *= (p / (p + XE_EPS))[:, None]
    return per_row, O


def _sigmoid(x):
    """σ(x) = 1 / (1 + exp(-x)), relatively exact for negative x (BPR-max takes its log)."""
    y = np.negative(x)                                                  # like x
    with np.errstate(over="ignore"):            # exp(-x) = inf gives σ = 0, as it should
        np.exp(y, out=y)
    y += 1.0
    return np.reciprocal(y, out=y)


def _elu(x, alpha):
    """ELU and its derivative, y = max(x, 0) + α (exp(min(x, 0)) - 1), dy/dx = 1 or α e^x.

    Written without a data-dependent select (np.where on a random mask is slow); equal to
    `nprec.layers.elu_forward` / `elu_backward`.
    """
    e = np.minimum(x, 0)                                                # like x
    np.exp(e, out=e)
    y = np.maximum(x, 0)                                                # like x
    y += alpha * (e - 1.0)
    d = alpha * e                                                       # α e^x left of 0 ...
    d += (x > 0) * (1.0 - alpha)                                        # ... 1 right of it
    return y, d


def _negative_weights(R, t, n):
    """s_ik: the softmax mass of row i's negative columns of item k (m_ik exp(r_ik) / Z_i)."""
    B = R.shape[0]
    rows = np.arange(B)                                                 # (B,)
    m = np.broadcast_to(n, R.shape).copy()                              # (B, K) m_ik
    m[rows, t] -= 1
    # Scores of items without a negative column become -inf (their exp is 0); the softmax
    # is shifted by the largest remaining score, so no exponent is positive.
    s = R.copy()                                                        # (B, K)
    s[:, n == 0] = -np.inf                        # items read only as inputs
    single = n[t] == 1                            # targets with no other column
    s[rows[single], t[single]] = -np.inf
    s -= s.max(axis=1, keepdims=True)
    np.exp(s, out=s)
    s *= m
    s /= s.sum(axis=1, keepdims=True)
    return s


def _bpr_max_unique(R, t, s, bpreg):
    """BPR-max: -log(Σ_k s_ik σ(r_it - r_ik) + ε) + bpreg Σ_k s_ik r_ik²."""
    B = R.shape[0]
    rows = np.arange(B)                                                 # (B,)
    sig = _sigmoid(R[rows, t][:, None] - R)                             # (B, K) σ(r_t - r_k)
    A = np.einsum("ik,ik->i", s, sig)                                   # (B,)
    Q = np.einsum("ik,ik,ik->i", s, R, R)                               # (B,)
    inv = 1.0 / (A + BPR_MAX_EPS)                                       # (B,)
    # Negatives: through the weights and σ, s (A - σ²) / A; the regulariser s (r² - Q + 2r).
    G = (A[:, None] - sig * sig) * inv[:, None]                         # (B, K)
    G += bpreg * (R * R - Q[:, None] + 2.0 * R)
    G *= s
    # The target: -(1/A) Σ_k s_ik σ_ik (1 - σ_ik).
    G[rows, t] -= inv * np.einsum("ik,ik->i", s, sig * (1.0 - sig))
    return -np.log(A + BPR_MAX_EPS) + bpreg * Q, G


def _top1_max_unique(R, t, s):
    """TOP1-max: Σ_k s_ik [σ(r_ik - r_it) + σ(r_ik²)]."""
    B = R.shape[0]
    rows = np.arange(B)                                                 # (B,)
    sd = _sigmoid(R - R[rows, t][:, None])                              # (B, K) σ(r_k - r_t)
    sq = _sigmoid(R * R)                                                # (B, K) σ(r_k²)
    F = np.einsum("ik,ik->i", s, sd) + np.einsum("ik,ik->i", s, sq)     # (B,)
    d_diff = sd * (1.0 - sd)                                            # (B, K)
    # Negatives: through the weights, s (f - F), and through r_k in both sigmoids.
    G = sd + sq - F[:, None] + d_diff + 2.0 * R * sq * (1.0 - sq)       # (B, K)
    G *= s
    G[rows, t] -= np.einsum("ik,ik->i", s, d_diff)                      # the target
    return F, G


def _top1_unique(R, t, n, M):
    """TOP1: (1/M) [Σ_k n_k (σ(r_ik - r_it) + σ(r_ik²)) - σ(r_it²)]."""
    B = R.shape[0]
    rows = np.arange(B)                                                 # (B,)
    rt = R[rows, t]                                                     # (B,)
    sd = _sigmoid(R - rt[:, None])                                      # (B, K)
    sq = _sigmoid(R * R)                                                # (B, K)
    sq_t = _sigmoid(rt * rt)                                            # (B,)
    per_row = ((sd + sq) @ n - sq_t) / M                                # (B,)
    d_diff = sd * (1.0 - sd)                                            # (B, K)
    G = (d_diff + 2.0 * R * sq * (1.0 - sq)) * (n / M)                  # (B, K) every column
    # The target: -σ'(r_k - r_t) of every column, and -σ(r_t²) / M.
    G[rows, t] -= (d_diff @ n + 2.0 * rt * sq_t * (1.0 - sq_t)) / M
    return per_row, G


def _bpr_unique(R, t, n, M):
    """BPR: (1/M) Σ_k n_k softplus(r_ik - r_it) (the diagonal adds log(2)/M)."""
    B = R.shape[0]
    rows = np.arange(B)                                                 # (B,)
    diff = R - R[rows, t][:, None]                                      # (B, K) r_k - r_t
    # softplus(d) = max(d, 0) + log(1 + exp(-|d|)), without overflow.
    soft = np.abs(diff)                                                 # (B, K)
    np.negative(soft, out=soft)
    np.exp(soft, out=soft)
    np.log1p(soft, out=soft)
    soft += np.maximum(diff, 0)
    per_row = soft @ n / M                                              # (B,)
    G = _sigmoid(diff) * (n / M)                                        # (B, K)
    G[rows, t] -= G.sum(axis=1)
    return per_row, G
