"""GRU4Rec's softmax-weighted ranking losses: BPR-max and TOP1-max.

Hidasi & Karatzoglou (2018) weight each negative j of row i by its softmax score among the
row's negatives only, s_ij = exp(r_j) / Σ_{k ≠ i} exp(r_k) (s_ii = 0): the loss concentrates
on the negatives that currently outscore the target, which keeps gradients from vanishing as
the number of samples grows. Layout of R as in `sampled.py` (row i's target at column i).
Both reproduce the official code (`hidasib/GRU4Rec` gru4rec.py, `hidasib/GRU4Rec_PyTorch_
Official`); the official mean is over the configured batch size, nprec's over the B rows given.

Derivation: docs/derivations/sampled.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit

from nprec.layers.activations import fast_sigmoid
from nprec.losses._contract import as_loss, upstream_scale
from nprec.losses.sampled import check_score_matrix

BPR_MAX_EPS = 1e-24
"""Added inside BPR-max's log, as in the official code: floors each row's first term at
-log(1e-24) ≈ 55.3 when the target is far below every likely negative."""


class SampledBprMaxCache(NamedTuple):
    R: np.ndarray        # (B, M) scores
    R2: np.ndarray       # (B, M) squared scores
    s: np.ndarray        # (B, M) softmax over each row's negatives (0 on the diagonal)
    sig: np.ndarray      # (B, M) σ(r_i - r_j)
    A_bar: np.ndarray    # (B,) Σ_j s_ij σ(r_i - r_j)
    Q: np.ndarray        # (B,) Σ_j s_ij r_j²
    bpreg: float         # weight of the score regulariser


class SampledTop1MaxCache(NamedTuple):
    R: np.ndarray        # (B, M) scores
    s: np.ndarray        # (B, M) softmax over each row's negatives (0 on the diagonal)
    sig_diff: np.ndarray  # (B, M) σ(r_j - r_i)
    sig_sq: np.ndarray   # (B, M) σ(r_j²)
    F: np.ndarray        # (B,) the loss of each row


def negative_softmax(R: np.ndarray) -> np.ndarray:
    """Softmax of each row over its negatives: column i of row i is excluded (weight 0).

    The official code zeroes the diagonal and multiplies the exponentials by (1 - I);
    setting the diagonal to -inf before the usual max-shifted softmax is the same function.

    Args:
        R: (B, M) scores with M ≥ 2 (every row needs a negative).
    Returns:
        s (B, M), rows summing to 1, s[i, i] = 0.
    """
    B = R.shape[0]
    rows = np.arange(B)                                                 # (B,)
    s = R.copy()                                                        # (B, M)
    s[rows, rows] = -np.inf
    s -= s.max(axis=1, keepdims=True)                                   # largest negative at 0
    np.exp(s, out=s)                                                    # exp(-inf) = 0
    s /= s.sum(axis=1, keepdims=True)                                   # sums in [1, M - 1]
    return s


def sampled_bpr_max_forward(R: np.ndarray, bpreg: float
                            ) -> tuple[np.floating, SampledBprMaxCache]:
    """BPR-max with score regularisation (Hidasi & Karatzoglou 2018; GRU4Rec `bpr-max`).

        s_ij   = softmax over the negatives j ≠ i of row i
        loss_i = -log(Σ_j s_ij σ(r_i - r_j) + 1e-24) + bpreg Σ_j s_ij r_j²
        loss   = (1/B) Σ_i loss_i

    The 1e-24 is the official code's (`BPR_MAX_EPS`). The official PyTorch code applies
    ELU(elu_param) to the scores first; that is `nprec.layers.elu_forward`, before this loss.

    Args:
        R: (B, M) scores, M ≥ max(B, 2), row i's target at column i.
        bpreg: weight of the score regulariser (a Python float, no gradient).
    Returns:
        The loss (scalar of R's dtype) and the cache.
    """
    B = check_score_matrix(R, "sampled_bpr_max", min_columns=2)
    rows = np.arange(B)                                                 # (B,)
    s = negative_softmax(R)                                             # (B, M)
    # expit, not fast_sigmoid: the log below needs σ's relative precision for tiny values.
    sig = expit(R[rows, rows][:, None] - R)                             # (B, M) σ(r_i - r_j)
    A_bar = np.einsum("ij,ij->i", s, sig)                               # (B,)
    R2 = R * R                                                          # (B, M) r_j²
    Q = np.einsum("ij,ij->i", s, R2)                                    # (B,)
    per_row = -np.log(A_bar + BPR_MAX_EPS) + bpreg * Q                  # (B,)
    cache = SampledBprMaxCache(R, R2, s, sig, A_bar, Q, bpreg)
    return as_loss(per_row.mean(), R.dtype), cache


def sampled_bpr_max_backward(dloss: float, cache: SampledBprMaxCache
                             ) -> tuple[np.ndarray, None]:
    """Returns dR (B, M) and None (bpreg).

    For a negative j ≠ i, two paths meet: through the softmax weights s_ij (σ - Ā) and
    through r_j inside σ(r_i - r_j), -s_ij σ(1 - σ); together s_ij (σ² - Ā). The target r_i
    enters only σ(r_i - r_j), never the weights.
    """
    R, R2, s, sig, A_bar, Q, bpreg = cache
    B = R.shape[0]
    rows = np.arange(B)                                                 # (B,)
    scale = upstream_scale(dloss, B, R.dtype)
    # -log(A): dA = -1/A; w = s / A carries it to every column.
    w = s * (scale / (A_bar + BPR_MAX_EPS))[:, None]                    # (B, M)
    sig2 = sig * sig                                                    # (B, M)
    # Negatives, -log term: -(1/A) s (σ² - Ā) = w (Ā - σ²).
    dR = w * (A_bar[:, None] - sig2)                                    # (B, M)
    if bpreg:
        # Negatives, regulariser Σ s r²: through the weights s (r² - Q), through r² 2 s r.
        reg = R2 - Q[:, None]                                           # (B, M)
        reg += 2.0 * R
        reg *= s
        reg *= scale * bpreg
        dR += reg
    # The target (s_ii = 0, so dR_ii is still 0): -(1/A) Σ_j s_ij σ_ij (1 - σ_ij),
    # summed as Σ_j w σ - Σ_j w σ².
    dR[rows, rows] -= np.einsum("ij,ij->i", w, sig) - np.einsum("ij,ij->i", w, sig2)
    return dR, None


def sampled_top1_max_forward(R: np.ndarray) -> tuple[np.floating, SampledTop1MaxCache]:
    """TOP1-max (Hidasi & Karatzoglou 2018; GRU4Rec `top1-max`, Theano).

        s_ij   = softmax over the negatives j ≠ i of row i
        loss_i = Σ_j s_ij [σ(r_j - r_i) + σ(r_j²)]
        loss   = (1/B) Σ_i loss_i

    Args:
        R: (B, M) scores, M ≥ max(B, 2), row i's target at column i.
    Returns:
        The loss (scalar of R's dtype) and the cache.
    """
    B = check_score_matrix(R, "sampled_top1_max", min_columns=2)
    rows = np.arange(B)                                                 # (B,)
    s = negative_softmax(R)                                             # (B, M)
    sig_diff = fast_sigmoid(R - R[rows, rows][:, None])                 # (B, M) σ(r_j - r_i)
    sig_sq = fast_sigmoid(R * R)                                        # (B, M) σ(r_j²)
    F = np.einsum("ij,ij->i", s, sig_diff) + np.einsum("ij,ij->i", s, sig_sq)  # (B,)
    cache = SampledTop1MaxCache(R, s, sig_diff, sig_sq, F)
    return as_loss(F.mean(), R.dtype), cache


def sampled_top1_max_backward(dloss: float, cache: SampledTop1MaxCache) -> tuple[np.ndarray]:
    """Returns (dR,) with dR (B, M)."""
    R, s, sig_diff, sig_sq, F = cache
    B = R.shape[0]
    rows = np.arange(B)                                                 # (B,)
    scale = upstream_scale(dloss, B, R.dtype)
    d_diff = sig_diff * (1.0 - sig_diff)                                # (B, M) σ' at r_j - r_i
    # Negatives: through the softmax weights, s (f - F) with f = σ(r_j - r_i) + σ(r_j²) ...
    dR = sig_diff + sig_sq                                              # (B, M) f
    dR -= F[:, None]
    # ... and through r_j in both sigmoids: σ'(r_j - r_i) + 2 r_j σ'(r_j²).
    dR += d_diff
    dR += 2.0 * R * sig_sq * (1.0 - sig_sq)
    # Both paths carry the weight s_ij; s_ii = 0 clears the diagonal.
    dR *= s * scale                                                     # (B, M)
    # The target: -Σ_j s_ij σ'(r_j - r_i).
    dR[rows, rows] -= scale * np.einsum("ij,ij->i", s, d_diff)
    return (dR,)
