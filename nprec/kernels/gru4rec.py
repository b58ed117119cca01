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
gradients (docs/derivations/sampled_unique.md). BPR-max (the loss of the official best
settings) and TOP1-max are one compiled pass per row: the row (a few thousand items) stays
in the core's cache from the scores to the gradient, and its exponentials are a polynomial
whose loops vectorise (a library exp per number would not: it is a call). At DIGINETICA's
shapes (128 x 2,221) BPR-max took 1.3-2.0 ms against 2.7-3.9 ms for the whole-array NumPy
version with its eight temporaries, and a training step 1 ms less (23.6 against 24.6 ms).
Cross-entropy, TOP1 and BPR are whole-array NumPy (exp, tanh in SIMD loops) with compiled
row kernels.

Its twin `sampled_loss_ref` builds the full (B, M) matrix and calls the nprec losses
(`nprec.losses`) and the ELU layer, so the fast path is held to the library's definitions.
The GRU step and the session-state input are in `gru4rec_step`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from nprec.kernels._jit import jit
from nprec.kernels.lanes import SUM_LANES, lane_sum, lane_tree
from nprec.kernels.softmax_rows import (
    _LN2_HI,
    _LN2_LO,
    _LOG2E,
    _P0,
    _P1,
    _P2,
    _P3,
    _P4,
    _P5,
    _ROUND,
    _T_MIN,
)
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
    BPR-max and TOP1-max in one compiled pass per row; the others in NumPy over (B, K) plus
    row kernels.
    """
    cols = np.asarray(cols, dtype=np.int64)
    _check_sampled(S, by, cols, log_q, loss)
    B, K = S.shape
    dtype = S.dtype.type
    t = cols[:B]                                                        # (B,) targets
    per_row = np.empty(B)                                               # (B,) loss of each row
    if loss not in ("bpr-max", "top1-max"):
        R = S + by                                                      # (B, K)
    if loss == "cross-entropy":
        weights = None if log_q is None else np.exp(-np.asarray(log_q, dtype=np.float64))
        c = np.bincount(cols, weights=weights, minlength=K)             # (K,)
        target_q = np.zeros(B) if log_q is None else np.asarray(log_q[:B], dtype=np.float64)
        with np.errstate(divide="ignore"):       # items read only as inputs: log 0 = -inf
            log_c = np.log(c).astype(S.dtype)                           # (K,)
        G = _xe_fused(R, t, log_c, target_q, float(scale), per_row)
        return float(per_row.sum()) * float(scale), G
    n = np.bincount(cols, minlength=K).astype(S.dtype)                  # (K,)
    if loss in ("bpr-max", "top1-max"):
        G = np.empty_like(S)                                            # (B, K)
        parallel = _rows_in_parallel(S)
        by, alpha, poly = by.astype(S.dtype, copy=False), dtype(max(elu_param, 0.0)), \
            S.dtype == np.float32
        if loss == "bpr-max":
            (_bpr_max_parallel if parallel else _bpr_max_serial)(
                S, by, t, n, alpha, dtype(bpreg), dtype(scale), dtype(1.0),
                dtype(BPR_MAX_EPS), poly, G, per_row)
        else:
            (_top1_max_parallel if parallel else _top1_max_serial)(
                S, by, t, n, alpha, dtype(scale), dtype(1.0), poly, G, per_row)
        return float(per_row.sum()) * float(scale), G
    d_elu = np.ones((0, 0), dtype=S.dtype)
    if elu_param > 0:
        R, d_elu = _elu(R, dtype(elu_param))                            # (B, K) each
    per_row, G = (_top1_unique if loss == "top1" else _bpr_unique)(R, t, n, cols.size)
    if elu_param > 0:
        G *= d_elu                                                      # (B, K) through ELU
    G *= dtype(scale)
    return float(per_row.sum(dtype=np.float64)) * float(scale), G


def _xe_fused(R, t, log_c, target_q, scale, per_row):
    """Cross-entropy on unique items, returns G (B, K):

        P_ik   = c_k exp(r_ik) / Z_i,  Z_i = Σ_k c_k exp(r_ik)     (item masses)
        p_i    = exp(r_it - q_i) / Z_i                              (the target column)
        loss_i = -log(p_i + ε),  G_ik = (p_i / (p_i + ε)) (P_ik - [k = t_i])
    """
    B = R.shape[0]
    O = np.add(R, log_c)                                                # (B, K)
    m = O.max(axis=1)                                                   # (B,)
    O -= m[:, None]
    np.exp(O, out=O)                                                    # (B, K) SIMD exp
    p = R[np.arange(B), t] - target_q - m                               # (B,) log-numerators
    np.exp(p, out=p)
    rows = _xe_parallel if _rows_in_parallel(O) else _xe_serial
    acc = np.empty((B, SUM_LANES), dtype=O.dtype)                       # the row sums' lanes
    rows(O, t, p, R.dtype.type(scale), acc, per_row)
    return O


# Row kernels: `_<name>_row` handles row i; `_<name>_serial` and `_<name>_parallel` loop over
# the rows, the latter on Numba's threads (each row writes only its own outputs, so rows run
# in parallel safely) from PARALLEL_MIN_SIZE elements. Every sum over a row's columns has
# an order fixed by the code (`nprec.kernels.lanes`), not one LLVM picks for the CPU it
# compiles for, so a trained model's figures are the same on every CPU; no kernel here uses
# fastmath.
# Arithmetic stays in the arrays' dtype (`one` carries it): float64 constants would promote
# every float32 element.

PARALLEL_MIN_SIZE = 1 << 16
"""Elements (rows x columns) from which the row kernels run on Numba's threads: below it,
starting the threads costs more than they save (on a busy machine, far more)."""


def _rows_in_parallel(a: np.ndarray) -> bool:
    return a.size >= PARALLEL_MIN_SIZE


@jit()
def _xe_row(E, t, p, scale, acc, per_row, i):
    # E = exp(o - max) in, (p_i / (p_i + ε)) (P - e_t) · scale out; acc[i]: Z's lanes.
    Z = lane_sum(E[i], acc[i])
    pi = p[i] / Z
    per_row[i] = -math.log(pi + XE_EPS)
    w = pi / (pi + XE_EPS)
    c = (w / Z) * scale
    for k in range(E.shape[1]):
        E[i, k] *= c
    E[i, t[i]] -= w * scale


@jit()
def _xe_serial(E, t, p, scale, acc, per_row):
    for i in range(E.shape[0]):
        _xe_row(E, t, p, scale, acc, per_row, i)


@jit(parallel=True)
def _xe_parallel(E, t, p, scale, acc, per_row):
    for i in prange(E.shape[0]):
        _xe_row(E, t, p, scale, acc, per_row, i)


# Every float32 operand of the exp below must be float32: the rounding trick
# (x + 1.5·2^23) - 1.5·2^23 rounds to an integer only in float32 arithmetic. The exp is
# softmax_rows' (its constants; its arguments there are <= 0, here also clamped above), with
# the exponent bits from a float product, not an int32 shift, which Numba widens to int64.
# (The polynomial is written out again rather than shared: as a shared helper it compiled to
# different last bits here, and BPR-max's trained figures were measured with this code.)
_EXP_HI = np.float32(88.0)       # e^88 ≈ 1.7e38, below float32's largest number
_EXP_BIAS = np.float32(127.0)
_EXP_TWO23 = np.float32(8388608.0)


@jit()
def _exp_into(x, shift, out, p2, poly):
    """out = exp(x - shift) over a row.

    poly (float32 rows): Cephes' expf as in `softmax_rows` (a degree-7 polynomial on
    |r| <= ln2/2 times 2^t from exponent bits, relative error about 1e-7), whose loops
    vectorise, where a call of the library exp per number does not; arguments are clamped to
    [-87, 88], so an exponential that would underflow is 1.6e-38 instead of 0 and one that
    would overflow is 1.7e38 instead of inf (the callers use them only where that cannot
    matter: weights beside a term of 1, or entries they zero). Otherwise (float64 rows:
    gradient checks) the library exp.
    """
    n = x.shape[0]
    if not poly:
        for k in range(n):
            out[k] = math.exp(x[k] - shift)
        return
    for k in range(n):
        a = x[k] - shift
        a = _T_MIN if a < _T_MIN else a                                 # NaN stays NaN
        a = _EXP_HI if a > _EXP_HI else a
        t = (a * _LOG2E + _ROUND) - _ROUND                              # nearest integer
        r = a - t * _LN2_HI - t * _LN2_LO                               # |r| <= ln2 / 2
        out[k] = ((((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5) * r * r
                  + r + np.float32(1.0))
        p2[k] = np.int32((t + _EXP_BIAS) * _EXP_TWO23)                  # (t + 127) << 23
    pow2 = p2.view(np.float32)
    for k in range(n):
        out[k] *= pow2[k]


@jit()
def _max_loss_row_prefix(S, by, t, n, alpha, one, poly, i, r, e, d, de, p2, acc):
    """What BPR-max and TOP1-max share for row i, each a pass over the row (in cache):

        r_k = ELU_alpha(S_ik + by_k)    (alpha = 0: no ELU; de = dELU/dx otherwise)
        e_k = exp(r_k - max_neg)        softmax numerators over the negatives, 0 where item k
                                        is no negative (m_k = n_k - [k = t] = 0)
        d_k = exp(r_k - r_t)            for σ(r_t - r_k) = 1 / (1 + d_k)

    Returns 1 / Z, Z = Σ_k m_k e_k (acc: (SUM_LANES,) scratch).
    """
    K = S.shape[1]
    zero = one - one
    for k in range(K):
        r[k] = S[i, k] + by[k]
    if alpha > 0:
        # ELU: x if x > 0, else alpha (e^x - 1); its derivative 1 or alpha e^x.
        for k in range(K):
            e[k] = min(r[k], zero)
        _exp_into(e, zero, de, p2, poly)
        for k in range(K):
            if r[k] > 0:
                de[k] = one
            else:
                r[k] = alpha * (de[k] - one)
                de[k] = alpha * de[k]
    ti = t[i]
    # The largest score among the negatives: items with a column (n_k > 0), the target only
    # if it has another column. -inf in the rows' dtype (the exp's operands stay float32).
    top = r.dtype.type(-np.inf)
    for k in range(K):
        if n[k] > 0 and r[k] > top and (k != ti or n[k] > 1):
            top = r[k]
    _exp_into(r, top, e, p2, poly)
    _exp_into(r, r[ti], d, p2, poly)
    # Columns that are no negative were left out of the max, so their exponential may be
    # huge: their weight is 0 (input-only items, a target without another column).
    for k in range(K):
        if n[k] == 0:
            e[k] = zero
    if n[ti] == 1:
        e[ti] = zero
    # Z in `lane_sum`'s order: term k into lane k mod SUM_LANES (the tail to the first).
    full = K - K % SUM_LANES
    acc[:] = zero
    for k0 in range(0, full, SUM_LANES):
        for j in range(SUM_LANES):
            acc[j] += n[k0 + j] * e[k0 + j]
    for k in range(full, K):
        acc[k - full] += n[k] * e[k]
    return one / (lane_tree(acc) - e[ti])


@jit()
def _bpr_max_row(S, by, t, n, alpha, bpreg, scale, one, eps, poly, G, per_row, i):
    """BPR-max (after ELU_alpha when alpha > 0) of row i, from its unique-item scores S[i]:
    the row's loss into per_row[i], its gradient into G[i] (`_max_loss_row_prefix` first):

        s_k = m_k e_k / Z,  σ_k = σ(r_t - r_k)
        A = Σ_k s_k σ_k,  Q = Σ_k s_k r_k²,  loss = -log(A + eps) + bpreg Q
        g_k = s_k (A - σ_k²) / A + bpreg s_k (r_k² - Q + 2 r_k)   (then through the ELU)

    with the target's own column (σ(0) = 1/2) taken out of the sums over columns.
    """
    K = S.shape[1]
    half = one / (one + one)
    r = np.empty(K, dtype=S.dtype)                                      # scores, ELU'd
    e = np.empty(K, dtype=S.dtype)                                      # numerators
    d = np.empty(K, dtype=S.dtype)                                      # exp(r - r_t)
    de = np.empty(K if alpha > 0 else 0, dtype=S.dtype)                 # dELU/dx
    p2 = np.empty(K, dtype=np.int32)                                    # exp's scratch
    lanes = np.zeros((4, SUM_LANES), dtype=S.dtype)                     # A, Q, T, Z lanes
    inv_Z = _max_loss_row_prefix(S, by, t, n, alpha, one, poly, i, r, e, d, de, p2, lanes[3])
    ti = t[i]
    # A, Q and T in `lane_sum`'s order: term k into lane k mod SUM_LANES of each.
    A, Q, T = lanes[0], lanes[1], lanes[2]
    full = K - K % SUM_LANES
    for k0 in range(0, full, SUM_LANES):
        for j in range(SUM_LANES):
            _bpr_max_terms(n, e, d, r, inv_Z, one, A, Q, T, k0 + j, j)
    for k in range(full, K):
        _bpr_max_terms(n, e, d, r, inv_Z, one, A, Q, T, k, k - full)
    A, Q, T = lane_tree(A), lane_tree(Q), lane_tree(T)
    # The target's own column is no negative: take its terms out again (σ(0) = 1/2).
    s_t = e[ti] * inv_Z
    A -= s_t * half
    Q -= s_t * r[ti] * r[ti]
    T -= s_t * half * half
    inv = one / (A + eps)
    per_row[i] = -math.log(A + eps) + bpreg * Q
    c1 = A * inv - bpreg * Q
    c2 = (one + one) * bpreg
    for k in range(K):
        sk = n[k] * e[k] * inv_Z
        sig = one / (one + d[k])
        rk = r[k]
        G[i, k] = sk * (c1 - sig * sig * inv + bpreg * rk * rk + c2 * rk) * scale
    rk = r[ti]
    G[i, ti] -= (s_t * (c1 - half * half * inv + bpreg * rk * rk + c2 * rk) + T * inv) * scale
    if alpha > 0:
        for k in range(K):
            G[i, k] *= de[k]


@jit()
def _bpr_max_terms(n, e, d, r, inv_Z, one, A, Q, T, k, j):
    # Item k's terms of A, Q and T (`_bpr_max_row`) added into lane j.
    sk = n[k] * e[k] * inv_Z
    sig = one / (one + d[k])                                            # σ(r_t - r_k)
    A[j] += sk * sig
    Q[j] += sk * r[k] * r[k]
    T[j] += sk * sig * (one - sig)


@jit()
def _bpr_max_serial(S, by, t, n, alpha, bpreg, scale, one, eps, poly, G, per_row):
    for i in range(S.shape[0]):
        _bpr_max_row(S, by, t, n, alpha, bpreg, scale, one, eps, poly, G, per_row, i)


@jit(parallel=True)
def _bpr_max_parallel(S, by, t, n, alpha, bpreg, scale, one, eps, poly, G, per_row):
    for i in prange(S.shape[0]):
        _bpr_max_row(S, by, t, n, alpha, bpreg, scale, one, eps, poly, G, per_row, i)


@jit()
def _top1_max_row(S, by, t, n, alpha, scale, one, poly, G, per_row, i):
    """TOP1-max (after ELU_alpha when alpha > 0) of row i (`_max_loss_row_prefix` first):

        s_k = m_k e_k / Z,  σd_k = σ(r_k - r_t),  σq_k = σ(r_k²) = 1 / (1 + exp(-r_k²))
        loss = F = Σ_k s_k (σd_k + σq_k)
        g_k = s_k (σd_k + σq_k - F + σd_k (1 - σd_k) + 2 r_k σq_k (1 - σq_k))

    with the target's own column (σd = 1/2) taken out of the sums over columns.
    """
    K = S.shape[1]
    zero = one - one
    half = one / (one + one)
    two = one + one
    r = np.empty(K, dtype=S.dtype)                                      # scores, ELU'd
    e = np.empty(K, dtype=S.dtype)                                      # numerators
    d = np.empty(K, dtype=S.dtype)                                      # exp(r - r_t)
    q = np.empty(K, dtype=S.dtype)                                      # exp(-r²)
    de = np.empty(K if alpha > 0 else 0, dtype=S.dtype)                 # dELU/dx
    p2 = np.empty(K, dtype=np.int32)                                    # exp's scratch
    lanes = np.zeros((3, SUM_LANES), dtype=S.dtype)                     # F, T, Z lanes
    inv_Z = _max_loss_row_prefix(S, by, t, n, alpha, one, poly, i, r, e, d, de, p2, lanes[2])
    ti = t[i]
    for k in range(K):
        G[i, k] = -(r[k] * r[k])                                        # scratch: -r²
    _exp_into(G[i], zero, q, p2, poly)                                  # exp(-r²)
    # F and T in `lane_sum`'s order: term k into lane k mod SUM_LANES of each.
    F, T = lanes[0], lanes[1]
    full = K - K % SUM_LANES
    for k0 in range(0, full, SUM_LANES):
        for j in range(SUM_LANES):
            _top1_max_terms(n, e, d, q, inv_Z, one, F, T, k0 + j, j)
    for k in range(full, K):
        _top1_max_terms(n, e, d, q, inv_Z, one, F, T, k, k - full)
    F, T = lane_tree(F), lane_tree(T)
    s_t = e[ti] * inv_Z                                                 # the target out
    sq_t = one / (one + q[ti])
    F -= s_t * (half + sq_t)
    T -= s_t * half * half
    per_row[i] = F
    for k in range(K):
        sk = n[k] * e[k] * inv_Z
        sd = one - one / (one + d[k])
        sq = one / (one + q[k])
        rk = r[k]
        G[i, k] = sk * (sd + sq - F + sd * (one - sd) + two * rk * sq * (one - sq)) * scale
    rk = r[ti]
    G[i, ti] -= (s_t * (half + sq_t - F + half * half + two * rk * sq_t * (one - sq_t))
                 + T) * scale
    if alpha > 0:
        for k in range(K):
            G[i, k] *= de[k]


@jit()
def _top1_max_terms(n, e, d, q, inv_Z, one, F, T, k, j):
    # Item k's terms of F and T (`_top1_max_row`) added into lane j.
    sk = n[k] * e[k] * inv_Z
    sd = one - one / (one + d[k])                                       # σ(r_k - r_t)
    sq = one / (one + q[k])                                             # σ(r_k²)
    F[j] += sk * (sd + sq)
    T[j] += sk * sd * (one - sd)


@jit()
def _top1_max_serial(S, by, t, n, alpha, scale, one, poly, G, per_row):
    for i in range(S.shape[0]):
        _top1_max_row(S, by, t, n, alpha, scale, one, poly, G, per_row, i)


@jit(parallel=True)
def _top1_max_parallel(S, by, t, n, alpha, scale, one, poly, G, per_row):
    for i in prange(S.shape[0]):
        _top1_max_row(S, by, t, n, alpha, scale, one, poly, G, per_row, i)


def _sigmoid(x):
    """σ(x) = 1 / (1 + exp(-x)), relatively exact for negative x."""
    y = np.negative(x)                                                  # like x
    with np.errstate(over="ignore"):            # exp(-x) = inf gives σ = 0, as it should
        np.exp(y, out=y)
    y += 1.0
    return np.reciprocal(y, out=y)


def _elu(x, alpha):
    """ELU and its derivative, y = x or α (e^x - 1), dy/dx = 1 or α e^x (x > 0 or not).

    The exponential of min(x, 0) in NumPy's SIMD loop, the select in one compiled pass;
    equal to `nprec.layers.elu_forward` / `elu_backward`.
    """
    d = np.minimum(x, 0)                                                # like x
    np.exp(d, out=d)
    y = np.empty_like(x)                                                # like x
    select = _elu_parallel if _rows_in_parallel(x) else _elu_serial
    select(x, d, x.dtype.type(alpha), x.dtype.type(1.0), y)
    return y, d


@jit()
def _elu_row(x, e, alpha, one, y, i):
    # e = exp(min(x, 0)) in, the derivative out.
    for k in range(x.shape[1]):
        if x[i, k] > 0:
            y[i, k] = x[i, k]
            e[i, k] = one
        else:
            y[i, k] = alpha * (e[i, k] - one)
            e[i, k] = alpha * e[i, k]


@jit()
def _elu_serial(x, e, alpha, one, y):
    for i in range(x.shape[0]):
        _elu_row(x, e, alpha, one, y, i)


@jit(parallel=True)
def _elu_parallel(x, e, alpha, one, y):
    for i in prange(x.shape[0]):
        _elu_row(x, e, alpha, one, y, i)


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
