"""Softmax losses over all V columns in one pass per row: the loss and its gradient together.

NARM (Li et al. 2017) scores every item for every prefix, so a mini-batch of B = 512 prefixes
over V ≈ 40,000 items makes a (B, V) score matrix of 80 MB; Mult-DAE and Mult-VAE (Liang et
al. 2018) score every item for every user too. Their losses are the same function of a row
s_b of scores and a few weighted target columns — one target of weight 1 for NARM's
cross-entropy, a user's clicked items with their counts for the multinomial likelihood:

    m_b    = max_v s_bv                               (for stability)
    e_bv   = exp(s_bv - m_b),   Z_b = Σ_v e_bv,   n_b = Σ_k x_bk
    loss_b = n_b log Z_b - Σ_k x_bk (s_{b,c_bk} - m_b)   = -Σ_k x_bk log softmax(s_b)_{c_bk}
    g_bv   = scale · (n_b e_bv / Z_b - Σ_{k: c_bk = v} x_bk)   = scale · ∂loss_b / ∂s_bv

Done as separate NumPy operations (row max, subtract, exp, sum, log, divide, the targets'
subtraction) the matrix is swept from memory about eight times. The kernels read each row
once from memory and do every step while the row sits in the core's cache, turning the
score matrix into its own gradient in place, ready for the output layer's backward products.
Rows are independent and run in parallel.

    softmax_ce_rows(logits, targets, scale)                  one target per row (NARM)
    softmax_counts_rows(logits, indptr, cols, counts, scale, bias=None)
                                                             targets as a CSR matrix (Mult-*)

Two float32 details make the compiled loops vectorise (Numba has no vector exp and, without
fast-math, vectorises neither a float max nor a float sum):

- the row max is taken over the float bits read as integers, with negative numbers' lower
  31 bits flipped so that integer order is float order (an integer max vectorises);
- exp is Cephes' `expf`: t = n ln 2 + r with |r| <= ln2 / 2, a degree-7 polynomial for
  e^r, and 2^n built from its exponent bits (relative error about 1e-7, float32's own
  precision). Arguments below -87 (where e^t < 1.7e-38, the smallest normal float32)
  are raised to -87: they vanish in Z all the same. A NaN score makes the row's loss NaN;
- Z is accumulated in float64 in the pass that multiplies by 2^n, its additions allowed to
  be reordered (fastmath "reassoc" on that loop alone) so that they vectorise. LLVM then
  picks the order for the CPU it compiles for, and the losses' last float64 bits differ
  between CPUs; the float32 gradient, scaled by a float32 of n / Z, has the same bits
  (tests/kernels/test_lanes.py). A fixed order (`nprec.kernels.lanes`' 16 float64 lanes,
  as GRU4Rec's sampled losses have) made NARM's softmax (512 x 17,376) take 4.8-5.3 ms
  instead of 3.7-3.9 ms, three alternating runs each: the lanes' partial sums stay in
  memory, and their loop does not vectorise.

float64 (gradient tests) takes the same passes with the library exp, a plain max and Z in
`lane_sum`'s order (the same bits on every CPU). The target terms (n_b and the clicked
scores) are summed in float64.

`softmax_counts_rows` can add the output layer's bias itself: s_b = logits_b + bias, added
to the row while it is in cache instead of in a NumPy pass over the whole (B, V) matrix
before (Mult-VAE's step: 0.7 ms), the same additions so the same numbers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from nprec.kernels._jit import jit
from nprec.kernels.lanes import SUM_LANES, lane_sum

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)        # ln 2 = _LN2_HI + _LN2_LO, _LN2_HI exact in 9 bits
_LN2_LO = np.float32(-2.12194440e-4)
_ROUND = np.float32(12582912.0)          # 1.5 · 2^23: x + _ROUND - _ROUND rounds x to an integer
_T_MIN = np.float32(-87.0)
_PARALLEL_FROM = 1 << 16                 # matrices of fewer entries run on one thread
# Cephes expf: e^r ≈ 1 + r + r² (P5 + r (P4 + r (P3 + r (P2 + r (P1 + r P0))))) on |r| <= ln2/2.
_P0 = np.float32(1.9875691500e-4)
_P1 = np.float32(1.3981999507e-3)
_P2 = np.float32(8.3334519073e-3)
_P3 = np.float32(4.1665795894e-2)
_P4 = np.float32(1.6666665459e-1)
_P5 = np.float32(5.0000001201e-1)


def _check_logits(logits: np.ndarray, name: str) -> None:
    if logits.ndim != 2 or logits.dtype not in (np.float32, np.float64) \
            or not logits.flags.c_contiguous or not logits.flags.writeable:
        raise ValueError(f"{name}: logits must be a writeable C-contiguous (B, V) "
                         f"float32 or float64 array, got {logits.dtype} {logits.shape}")


def _check(logits: np.ndarray, targets: np.ndarray) -> None:
    _check_logits(logits, "softmax_ce_rows")
    B, V = logits.shape
    if targets.shape != (B,) or not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"softmax_ce_rows: targets must be {B} integers, got {targets.dtype} "
                         f"{targets.shape}")
    if B and (targets.min() < 0 or targets.max() >= V):
        raise ValueError(f"softmax_ce_rows: a target is outside [0, {V})")


def _check_counts(logits: np.ndarray, indptr: np.ndarray, cols: np.ndarray,
                  counts: np.ndarray) -> None:
    _check_logits(logits, "softmax_counts_rows")
    B, V = logits.shape
    if indptr.shape != (B + 1,) or not np.issubdtype(indptr.dtype, np.integer) \
            or indptr[0] != 0 or indptr[-1] != cols.size or np.any(np.diff(indptr) < 0):
        raise ValueError(f"softmax_counts_rows: indptr must be the {B + 1} non-decreasing row "
                         f"pointers of a CSR matrix with {cols.size} entries")
    if cols.ndim != 1 or not np.issubdtype(cols.dtype, np.integer) \
            or counts.shape != cols.shape:
        raise ValueError(f"softmax_counts_rows: cols must be integers and counts of the same "
                         f"shape, got {cols.dtype} {cols.shape} and {counts.shape}")
    if cols.size and (cols.min() < 0 or cols.max() >= V):
        raise ValueError(f"softmax_counts_rows: a column is outside [0, {V})")


def softmax_ce_rows_ref(logits: np.ndarray, targets: np.ndarray, scale: float) -> np.ndarray:
    """Per-row softmax cross-entropy; the logits are overwritten by its gradient (twin).

    Args:
        logits:  (B, V) scores s, float32 or float64, C-contiguous; on return they hold the
                 gradient scale · (softmax(s_b) - onehot(t_b)) of each row.
        targets: (B,) int target column t_b of each row.
        scale:   factor of the gradient (1/B for the mean over the batch).
    Returns:
        loss (B,) float64, loss_b = log Σ_v exp(s_bv) - s_{b,t_b}.
    """
    targets = np.asarray(targets)
    _check(logits, targets)
    B = logits.shape[0]
    rows = np.arange(B)                                                 # (B,)
    m = logits.max(axis=1, keepdims=True)                               # (B, 1)
    target_shifted = logits[rows, targets] - m[:, 0]                    # (B,)
    e = np.exp(logits - m)                                              # (B, V)
    Z = e.sum(axis=1, dtype=np.float64)                                 # (B,)
    loss = np.log(Z) - target_shifted                                   # (B,)
    logits[...] = e * (scale / Z)[:, None]                              # (B, V) softmax · scale
    logits[rows, targets] -= logits.dtype.type(scale)                   # minus the one-hot
    return loss


def softmax_ce_rows(logits: np.ndarray, targets: np.ndarray, scale: float) -> np.ndarray:
    """Per-row softmax cross-entropy, the logits overwritten by its gradient, one pass a row.

    Same contract as `softmax_ce_rows_ref`: `softmax_counts_rows` with one target of count
    1 per row.
    """
    targets = np.asarray(targets)
    _check(logits, targets)
    B = logits.shape[0]
    return _run(logits, np.arange(B + 1, dtype=np.int64), targets.astype(np.int64),
                np.ones(B, dtype=np.float64), scale)


def softmax_counts_rows_ref(logits: np.ndarray, indptr: np.ndarray, cols: np.ndarray,
                            counts: np.ndarray, scale: float,
                            bias: np.ndarray | None = None) -> np.ndarray:
    """Per-row multinomial negative log-likelihood; logits overwritten by its gradient (twin).

    Args:
        logits: (B, V) scores s, float32 or float64, C-contiguous; on return they hold the
                gradient scale · (n_b softmax(s_b) - x_b) of each row.
        indptr: (B + 1,) int row pointers of the counts x, a CSR matrix (B, V).
        cols:   (nnz,) int column of each stored count (repeats within a row add up).
        counts: (nnz,) float count x of each stored entry.
        scale:  factor of the gradient (1/B for the mean over the batch).
        bias:   optional (V,) bias of logits' dtype: the scores are s_b = logits_b + bias
                (added first, in logits' dtype; the gradient is the same for both).
    Returns:
        loss (B,) float64, loss_b = -Σ_v x_bv log softmax(s_b)_v.
    """
    indptr, cols = np.asarray(indptr), np.asarray(cols)
    counts = np.asarray(counts, dtype=np.float64)
    _check_counts(logits, indptr, cols, counts)
    if bias is not None:
        logits += _check_bias(logits, bias)                             # (B, V) the scores
    B = logits.shape[0]
    rows = np.repeat(np.arange(B), np.diff(indptr))                    # (nnz,)
    n = np.bincount(rows, weights=counts, minlength=B)                  # (B,) row totals
    m = logits.max(axis=1, keepdims=True)                               # (B, 1)
    shifted = (logits[rows, cols] - m[rows, 0]).astype(np.float64)      # (nnz,)
    e = np.exp(logits - m)                                              # (B, V)
    Z = e.sum(axis=1, dtype=np.float64)                                 # (B,)
    loss = n * np.log(Z) - np.bincount(rows, weights=counts * shifted, minlength=B)
    logits[...] = e * (scale * n / Z)[:, None]                          # (B, V) n softmax · scale
    np.subtract.at(logits, (rows, cols), (scale * counts).astype(logits.dtype))
    return loss


def softmax_counts_rows(logits: np.ndarray, indptr: np.ndarray, cols: np.ndarray,
                        counts: np.ndarray, scale: float,
                        bias: np.ndarray | None = None) -> np.ndarray:
    """Per-row multinomial NLL, the logits overwritten by its gradient, one pass a row.

    Same contract as `softmax_counts_rows_ref`.
    """
    indptr, cols = np.asarray(indptr), np.asarray(cols)
    counts = np.asarray(counts, dtype=np.float64)
    _check_counts(logits, indptr, cols, counts)
    bias = None if bias is None else _check_bias(logits, bias)
    return _run(logits, indptr.astype(np.int64), cols.astype(np.int64), counts, scale, bias)


def _check_bias(logits: np.ndarray, bias: np.ndarray) -> np.ndarray:
    bias = np.asarray(bias)
    if bias.shape != logits.shape[1:] or bias.dtype != logits.dtype:
        raise ValueError(f"softmax_counts_rows: bias must be ({logits.shape[1]},) "
                         f"{logits.dtype}, got {bias.dtype} {bias.shape}")
    return np.ascontiguousarray(bias)


def _run(logits, indptr, cols, counts, scale, bias=None) -> np.ndarray:
    loss = np.empty(logits.shape[0], dtype=np.float64)                  # (B,)
    if bias is None:
        bias = np.empty(0, dtype=logits.dtype)                          # (0,): no bias
    # Threads only for a large matrix: starting them costs more than a small one's work.
    parallel = logits.size >= _PARALLEL_FROM
    if logits.dtype == np.float32:       # the row max reads the float bits as integers
        rows = _rows_f32_parallel if parallel else _rows_f32
        rows(logits, logits.view(np.int32), indptr, cols, counts, np.float32(scale), bias,
             loss)
    else:
        rows = _rows_f64_parallel if parallel else _rows_f64
        rows(logits, indptr, cols, counts, float(scale), bias, loss)
    return loss


# The sum below may add its terms in any order (fastmath "reassoc" on this loop only), so
# that the compiler vectorises it: without it a float sum is one serial chain. The terms are
# accumulated in float64, so the order does not matter to float32 precision.
@jit(fastmath={"reassoc"})
def _times_pow2_and_sum(o, pow2):
    """o <- o · pow2 and return Σ o in float64, in one pass."""
    total = 0.0
    for i in range(o.shape[0]):
        a = o[i] * pow2[i]
        o[i] = a
        total += a
    return total


@jit()
def _targets_shifted(o, m, cols, counts):
    """(n, Σ_k x_k (s_{c_k} - m)) of one row's targets, in float64, before o is overwritten."""
    n = 0.0
    clicked = 0.0
    for k in range(cols.shape[0]):
        n += counts[k]
        clicked += counts[k] * (o[cols[k]] - m)
    return n, clicked


@jit()
def _scale_row(o, k, cols, counts, scale):
    """o <- k o, then o[c] -= scale x for each target: the scaled softmax minus the counts."""
    for v in range(o.shape[0]):
        o[v] *= k
    for j in range(cols.shape[0]):
        o[cols[j]] -= scale * counts[j]


@jit()
def _add_bias(o, bias):
    """o <- o + bias, unless bias is empty (no bias)."""
    if bias.shape[0]:
        for v in range(o.shape[0]):
            o[v] += bias[v]


@jit()
def _row_f32(o, bits, cols, counts, scale, bias):
    """One float32 row: o (V,) becomes its gradient; returns the row's loss."""
    V = o.shape[0]
    _add_bias(o, bias)                   # bits (o's memory) is read after this, not before
    # Row max over order-preserving integer keys of the float bits.
    kmax = np.int32(-2147483648)
    for v in range(V):
        x = bits[v]
        kmax = max(kmax, x ^ ((x >> 31) & np.int32(0x7FFFFFFF)))
    key = np.empty(1, dtype=np.int32)
    key[0] = kmax ^ ((kmax >> 31) & np.int32(0x7FFFFFFF))              # the key is an involution
    m = key.view(np.float32)[0]
    n, clicked = _targets_shifted(o, m, cols, counts)                   # read before overwriting
    # exp(s - m) = e^r 2^n: the polynomial into o, the exponent bits of 2^n into p2.
    p2 = np.empty(V, dtype=np.int32)
    for v in range(V):
        x = o[v] - m
        x = _T_MIN if x < _T_MIN else x                                 # NaN stays NaN
        t = (x * _LOG2E + _ROUND) - _ROUND                              # nearest integer
        r = x - t * _LN2_HI - t * _LN2_LO                               # |r| <= ln2 / 2
        o[v] = ((((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5) * r * r
                + r + np.float32(1.0))
        p2[v] = (np.int32(t) + np.int32(127)) << np.int32(23)
    Z = _times_pow2_and_sum(o, p2.view(np.float32))
    _scale_row(o, np.float32(scale * n / Z), cols, counts, scale)
    return n * math.log(Z) - clicked


@jit()
def _row_f64(o, cols, counts, scale, bias):
    """One float64 row: o (V,) becomes its gradient; returns the row's loss."""
    V = o.shape[0]
    _add_bias(o, bias)
    m = o[0]
    for v in range(1, V):
        if o[v] > m:
            m = o[v]
    n, clicked = _targets_shifted(o, m, cols, counts)
    for v in range(V):
        o[v] = math.exp(o[v] - m)
    Z = lane_sum(o, np.empty(SUM_LANES, dtype=np.float64))       # the same on every CPU
    _scale_row(o, scale * n / Z, cols, counts, scale)
    return n * math.log(Z) - clicked


# The four row loops: float32 or float64, on one thread or in parallel. (Passing the row
# function as an argument would make one loop of two, but Numba then recompiles it in every
# process instead of reading its cache.) Row b's targets are entries indptr[b]:indptr[b + 1].
@jit()
def _rows_f32(s, bits, indptr, cols, counts, scale, bias, loss):
    for b in range(s.shape[0]):
        k0, k1 = indptr[b], indptr[b + 1]
        loss[b] = _row_f32(s[b], bits[b], cols[k0:k1], counts[k0:k1], scale, bias)


@jit(parallel=True)
def _rows_f32_parallel(s, bits, indptr, cols, counts, scale, bias, loss):
    # Parallel over rows: row b writes s[b] and loss[b] only.
    for b in prange(s.shape[0]):
        k0, k1 = indptr[b], indptr[b + 1]
        loss[b] = _row_f32(s[b], bits[b], cols[k0:k1], counts[k0:k1], scale, bias)


@jit()
def _rows_f64(s, indptr, cols, counts, scale, bias, loss):
    for b in range(s.shape[0]):
        k0, k1 = indptr[b], indptr[b + 1]
        loss[b] = _row_f64(s[b], cols[k0:k1], counts[k0:k1], scale, bias)


@jit(parallel=True)
def _rows_f64_parallel(s, indptr, cols, counts, scale, bias, loss):
    # Parallel over rows: row b writes s[b] and loss[b] only.
    for b in prange(s.shape[0]):
        k0, k1 = indptr[b], indptr[b + 1]
        loss[b] = _row_f64(s[b], cols[k0:k1], counts[k0:k1], scale, bias)
