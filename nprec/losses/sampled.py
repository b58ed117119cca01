"""GRU4Rec's sampled losses over a score matrix: cross-entropy (with logQ), BPR and TOP1.

The score matrix R (B, M) holds, for each of the B rows of a mini-batch, the scores of
M ≥ B items: the B targets of the mini-batch first (row i's own target at column i), then
the shared sampled negatives (Hidasi et al. 2016 "mini-batch sampling"; Hidasi & Karatzoglou
2018 additional samples). For row i, column i is the positive and every other column a
negative, including the other rows' targets. r_i = R[i, i] below, r_j = R[i, j].

All three reproduce the official GRU4Rec code (`hidasib/GRU4Rec` gru4rec.py, Theano, and
`hidasib/GRU4Rec_PyTorch_Official`); each docstring states the normalisation. The official
code sums over rows and divides by the configured batch size; nprec takes the mean over the
B rows given (the same whenever the mini-batch is full).

The softmax-over-negatives losses BPR-max and TOP1-max are in `sampled_max.py`. These
losses touch every entry of a (B, B + 2048) matrix at every GRU4Rec step, so sigmoids use
the tanh form `fast_sigmoid` wherever no log of them is taken.

Derivation: docs/derivations/sampled.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.errors import DataError
from nprec.layers.activations import fast_sigmoid
from nprec.losses._contract import as_loss, upstream_scale
from nprec.losses.stable import softplus


class SampledXeCache(NamedTuple):
    probs: np.ndarray    # (B, M) softmax of R - log_q over all columns


class SampledBprCache(NamedTuple):
    diff: np.ndarray     # (B, M) r_j - r_i


class SampledTop1Cache(NamedTuple):
    R: np.ndarray        # (B, M) scores
    sig_diff: np.ndarray  # (B, M) σ(r_j - r_i)
    sig_sq: np.ndarray   # (B, M) σ(r_j²)


def check_score_matrix(R: np.ndarray, loss: str, min_columns: int = 1) -> int:
    """Validate a sampled score matrix and return B: 2-D, at least as many columns as rows.

    Raises:
        DataError naming the loss when R cannot hold one target column per row.
    """
    if R.ndim != 2 or R.shape[0] < 1 or R.shape[1] < max(R.shape[0], min_columns):
        raise DataError(f"{loss}: scores must be (B, M) with M >= B >= 1 "
                        f"(and M >= {min_columns}), got shape {R.shape}")
    return R.shape[0]


def sampled_xe_forward(R: np.ndarray, log_q: np.ndarray | None = None
                       ) -> tuple[np.floating, SampledXeCache]:
    """Sampled softmax cross-entropy, optionally logQ-corrected (GRU4Rec `cross-entropy`).

        O = R - log_q                  (broadcast over rows; O = R without correction)
        loss = (1/B) Σ_i [log Σ_j exp(O_ij) - O_ii]

    The softmax runs over all M columns, the target included (Hidasi & Karatzoglou 2018).
    log_q is the caller's correction per column, e.g. logq · log(P0[item]) with the
    sampling probability of each column's item as in the official PyTorch code; it is data.
    The official code computes -log(softmax_ii + 1e-24); nprec uses the exact log-sum-exp
    form above, which differs only when the target's probability is below about 1e-20
    (there the official loss is floored at 55.3 and its gradient fades; nprec's keeps
    pushing). With M = V columns and no correction this is `softmax_ce` exactly.

    Args:
        R: (B, M) scores, row i's target at column i.  log_q: (M,) correction or None.
    Returns:
        The loss (scalar of R's dtype) and the cache (the softmax).
    """
    B = check_score_matrix(R, "sampled_xe")
    rows = np.arange(B)                                                 # (B,)
    O = R - log_q.astype(R.dtype, copy=False) if log_q is not None else R  # (B, M)
    shifted = O - O.max(axis=1, keepdims=True)                          # (B, M), max 0
    target_shifted = shifted[rows, rows]                                # (B,)
    probs = np.exp(shifted, out=shifted)                                # (B, M) unnormalised
    sum_exp = probs.sum(axis=1)                                         # (B,) in [1, M]
    probs /= sum_exp[:, None]                                           # (B, M)
    loss = np.mean(np.log(sum_exp) - target_shifted)
    return as_loss(loss, R.dtype), SampledXeCache(probs)


def sampled_xe_backward(dloss: float, cache: SampledXeCache) -> tuple[np.ndarray, None]:
    """Returns dR (B, M) = (softmax - I) dloss / B, and None for log_q (data)."""
    probs = cache.probs
    B = probs.shape[0]
    scale = upstream_scale(dloss, B, probs.dtype)
    rows = np.arange(B)                                                 # (B,)
    # log-sum-exp term: the softmax; target term: -1 at column i (log_q only shifts O).
    dR = probs * scale                                                  # (B, M)
    dR[rows, rows] -= scale
    return dR, None


def sampled_bpr_forward(R: np.ndarray) -> tuple[np.floating, SampledBprCache]:
    """BPR over every column of the score matrix (GRU4Rec `bpr`, Hidasi et al. 2016).

        loss = (1/B) Σ_i (1/M) Σ_j -log σ(r_i - r_j)

    As in the official Theano code (a mean over the whole (B, M) matrix), the mean over j
    includes the diagonal j = i: it adds the constant log(2)/M to every row and no gradient.

    Args:
        R: (B, M) scores, row i's target at column i.
    Returns:
        The loss (scalar of R's dtype) and the cache (r_j - r_i).
    """
    B = check_score_matrix(R, "sampled_bpr")
    rows = np.arange(B)                                                 # (B,)
    diff = R - R[rows, rows][:, None]                                   # (B, M) r_j - r_i
    # -log σ(r_i - r_j) = softplus(r_j - r_i)
    loss = softplus(diff).mean()
    return as_loss(loss, R.dtype), SampledBprCache(diff)


def sampled_bpr_backward(dloss: float, cache: SampledBprCache) -> tuple[np.ndarray]:
    """Returns (dR,) with dR (B, M)."""
    diff = cache.diff
    B, M = diff.shape
    rows = np.arange(B)                                                 # (B,)
    # d softplus(r_j - r_i) = σ(r_j - r_i) (dr_j - dr_i).
    G = fast_sigmoid(diff)                                              # (B, M)
    G *= upstream_scale(dloss, B * M, diff.dtype)
    # r_j role: every column gets its own term; r_i role: the target gets minus the row sum
    # (the diagonal's own +G_ii and -G_ii cancel, as they must for a constant term).
    dR = G                                                              # (B, M)
    dR[rows, rows] -= G.sum(axis=1)
    return (dR,)


def sampled_top1_forward(R: np.ndarray) -> tuple[np.floating, SampledTop1Cache]:
    """TOP1 over every column (GRU4Rec `top1`, Hidasi et al. 2016).

        loss_i = (1/M) Σ_j [σ(r_j - r_i) + σ(r_j²)] - σ(r_i²)/M
        loss   = (1/B) Σ_i loss_i

    Exactly the official Theano normalisation: the mean over j runs over all M columns
    (Theano's M + n_sample), diagonal included, and the target's own σ(r_i²) is then taken
    out again, so the diagonal contributes only the constant σ(0)/M = 0.5/M.

    Args:
        R: (B, M) scores, row i's target at column i.
    Returns:
        The loss (scalar of R's dtype) and the cache (R, σ(r_j - r_i), σ(r_j²)).
    """
    B = check_score_matrix(R, "sampled_top1")
    M = R.shape[1]
    rows = np.arange(B)                                                 # (B,)
    sig_diff = fast_sigmoid(R - R[rows, rows][:, None])                 # (B, M) σ(r_j - r_i)
    sig_sq = fast_sigmoid(R * R)                                        # (B, M) σ(r_j²)
    per_row = (sig_diff.sum(axis=1) + sig_sq.sum(axis=1) - sig_sq[rows, rows]) / M  # (B,)
    return as_loss(per_row.mean(), R.dtype), SampledTop1Cache(R, sig_diff, sig_sq)


def sampled_top1_backward(dloss: float, cache: SampledTop1Cache) -> tuple[np.ndarray]:
    """Returns (dR,) with dR (B, M)."""
    R, sig_diff, sig_sq = cache
    B, M = R.shape
    rows = np.arange(B)                                                 # (B,)
    k = upstream_scale(dloss, B * M, R.dtype)                           # dloss / (B M)
    d_diff = sig_diff * (1.0 - sig_diff)                                # (B, M) σ' at r_j - r_i
    d_sq = 2.0 * R * sig_sq * (1.0 - sig_sq)                            # (B, M) d σ(r_j²)/dr_j
    # r_j role of every column: σ(r_j - r_i) and σ(r_j²).
    dR = (d_diff + d_sq) * k                                            # (B, M)
    # r_i role of the target: -σ'(r_j - r_i) summed over the row, and the -σ(r_i²)/M term
    # (which cancels the diagonal's own σ(r_j²) gradient above).
    dR[rows, rows] -= k * (d_diff.sum(axis=1) + d_sq[rows, rows])
    return (dR,)
