"""GRU4Rec's recurrent step without BPTT, and its session-state input.

GRU4Rec takes one GRU step per mini-batch and never back-propagates into the state it
started from (the official code detaches it). The backward pass therefore needs no dh_prev:
`gru_train_backward` skips that (B, 2H) x (2H, H) product and its elementwise chain, which
`nprec.layers.gru_step_backward` must compute for a sequence. The elementwise chains between
the matrix products (the blend h = h_prev + z (h_cand - h_prev) with the dropout mask, the
gate gradients) run as single compiled passes over rows, on Numba's threads from
`PARALLEL_MIN_SIZE` elements; sigmoid and tanh stay in NumPy's SIMD loops. The twins compose
the layer functions themselves (`gru_step_forward`, `gru_step_backward`, dropout), so the
fast path is held to the layer's definition.

The step (Hidasi et al. 2016, eqs. (1)-(4); weights packed as in `nprec.layers.gru`):

    a = x W + b                              (B, 3H) input projection (given in one-hot mode)
    z = σ(a_z + h_prev U_z),  r = σ(a_r + h_prev U_r)
    h_cand = tanh(a_h + (r ⊙ h_prev) U_h)
    h = h_prev + z ⊙ (h_cand - h_prev),      out = h ⊙ mask (dropout; mask = 1 without)

`session_state` builds the session-state input of Hidasi et al. (2016, §3.1) as a sparse
matrix, row by row from the events of each row's session so far.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import prange

from nprec.kernels._jit import jit
from nprec.layers import gru_step_backward, gru_step_forward


class GRUTrainCache(NamedTuple):
    x: np.ndarray | None  # (B, D) input, None when the projection a was given
    h_prev: np.ndarray    # (B, H) state the step started from
    zr: np.ndarray        # (B, 2H) gates [z | r]
    h_cand: np.ndarray    # (B, H) candidate
    rh: np.ndarray        # (B, H) r ⊙ h_prev
    mask: np.ndarray | None  # (B, H) dropout mask of the output, or None
    W: np.ndarray | None  # (D, 3H) input weights, None when a was given
    U_h: np.ndarray       # (H, H)


def _check_step(a_or_x, h_prev, W, U_zr, U_h, b, mask) -> None:
    B, H = h_prev.shape
    width = 3 * H if W is None else W.shape[0]
    if a_or_x.shape != (B, width) or U_zr.shape != (H, 2 * H) or U_h.shape != (H, H) \
            or b.shape != (3 * H,) or (W is not None and W.shape[1] != 3 * H) \
            or (mask is not None and mask.shape != (B, H)):
        raise ValueError(f"gru_train_forward: shapes x/a {a_or_x.shape}, h_prev {h_prev.shape}, "
                         f"W {None if W is None else W.shape}, U_zr {U_zr.shape}, U_h "
                         f"{U_h.shape}, b {b.shape}, mask {None if mask is None else mask.shape} "
                         f"do not fit one GRU step")


def gru_train_forward_ref(x: np.ndarray, h_prev: np.ndarray, W: np.ndarray | None,
                          U_zr: np.ndarray, U_h: np.ndarray, b: np.ndarray,
                          mask: np.ndarray | None) -> tuple[np.ndarray, tuple]:
    """One GRU step followed by dropout (reference twin, from the layers).

    Args:
        x:      (B, D) input, or with W None the input projection a = x W (B, 3H) itself.
        h_prev: (B, H).  W: (D, 3H) or None.  U_zr: (H, 2H).  U_h: (H, H).  b: (3H,).
        mask:   (B, H) dropout mask (already scaled by 1/keep), or None.
    Returns:
        out (B, H) and a cache for `gru_train_backward_ref`.
    """
    _check_step(x, h_prev, W, U_zr, U_h, b, mask)
    W_in = np.eye(3 * h_prev.shape[1], dtype=x.dtype) if W is None else W  # a = a I
    h, cache = gru_step_forward(x, h_prev, W_in, U_zr, U_h, b)
    return (h if mask is None else h * mask), (cache, mask, W is None)


def gru_train_backward_ref(dout: np.ndarray, cache: tuple) -> tuple:
    """Backward of `gru_train_forward_ref` without dh_prev (reference twin).

    Returns dx (B, D) (or da (B, 3H) when a was given), dW (D, 3H) (None when a was
    given), dU_zr (H, 2H), dU_h (H, H), db (3H,).
    """
    layer_cache, mask, given = cache
    dh = dout if mask is None else dout * mask
    dx, _, dW, dU_zr, dU_h, db = gru_step_backward(dh, layer_cache)
    return dx, (None if given else dW), dU_zr, dU_h, db


def gru_train_forward(x: np.ndarray, h_prev: np.ndarray, W: np.ndarray | None,
                      U_zr: np.ndarray, U_h: np.ndarray, b: np.ndarray,
                      mask: np.ndarray | None) -> tuple[np.ndarray, GRUTrainCache]:
    """One GRU step followed by dropout; contract of `gru_train_forward_ref`."""
    _check_step(x, h_prev, W, U_zr, U_h, b, mask)
    H = h_prev.shape[1]
    a = x @ W if W is not None else x.copy()                            # (B, 3H)
    a += b
    zr = h_prev @ U_zr                                                  # (B, 2H)
    zr += a[:, :2 * H]
    # σ(v) = (1 + tanh(v/2)) / 2, in place: NumPy's tanh is a SIMD loop.
    zr *= 0.5
    np.tanh(zr, out=zr)
    zr *= 0.5
    zr += 0.5
    rh = zr[:, H:] * h_prev                                             # (B, H)
    h_cand = rh @ U_h                                                   # (B, H)
    h_cand += a[:, 2 * H:]
    np.tanh(h_cand, out=h_cand)
    out = np.empty_like(h_prev)                                         # (B, H)
    blend = _blend_parallel if _rows_in_parallel(out) else _blend_serial
    blend(zr, h_cand, h_prev, np.ones((0, 0), h_prev.dtype) if mask is None else mask, out,
          h_prev.dtype.type(1.0))
    return out, GRUTrainCache(None if W is None else x, h_prev, zr, h_cand, rh, mask, W, U_h)


def gru_train_backward(dout: np.ndarray, cache: GRUTrainCache) -> tuple:
    """Backward of `gru_train_forward` without dh_prev; contract of the twin."""
    x, h_prev, zr, h_cand, rh, mask, W, U_h = cache
    B, H = h_prev.shape
    da = np.empty((B, 3 * H), dtype=dout.dtype)                         # (B, 3H)
    no_mask = np.ones((0, 0), dout.dtype)
    one = dout.dtype.type(1.0)
    parallel = _rows_in_parallel(dout)
    # Through the dropout and the blend into z and h_cand, then through σ and tanh.
    gate_grads = _gate_grads_parallel if parallel else _gate_grads_serial
    gate_grads(dout, no_mask if mask is None else mask, zr, h_cand, h_prev, da, one)
    # h_cand = tanh(a_h + (r h_prev) U_h): through U_h into r h_prev, then into a_r.
    drh = da[:, 2 * H:] @ U_h.T                                         # (B, H)
    (_reset_grad_parallel if parallel else _reset_grad_serial)(drh, zr, h_prev, da, one)
    # The weights: each product's gradient (h_prev gets none: no BPTT).
    dU_zr = h_prev.T @ da[:, :2 * H]                                    # (H, 2H)
    dU_h = rh.T @ da[:, 2 * H:]                                         # (H, H)
    db = da.sum(axis=0)                                                 # (3H,)
    if W is None:
        return da, None, dU_zr, dU_h, db
    return da @ W.T, x.T @ da, dU_zr, dU_h, db


PARALLEL_MIN_SIZE = 1 << 16
"""Elements (rows x columns) from which a row kernel runs on Numba's threads: below it,
starting the threads costs more than they save (on a busy machine, far more)."""


def _rows_in_parallel(a: np.ndarray) -> bool:
    return a.size >= PARALLEL_MIN_SIZE


@jit()
def _blend_row(zr, h_cand, h_prev, mask, out, i, one):
    for j in range(h_prev.shape[1]):
        h = h_prev[i, j] + zr[i, j] * (h_cand[i, j] - h_prev[i, j])
        out[i, j] = h * mask[i, j] if mask.size else h


@jit()
def _blend_serial(zr, h_cand, h_prev, mask, out, one):
    for i in range(h_prev.shape[0]):
        _blend_row(zr, h_cand, h_prev, mask, out, i, one)


@jit(parallel=True)
def _blend_parallel(zr, h_cand, h_prev, mask, out, one):
    # Parallel over rows: row i writes only out[i].
    for i in prange(h_prev.shape[0]):
        _blend_row(zr, h_cand, h_prev, mask, out, i, one)


@jit()
def _gate_grads_row(dout, mask, zr, h_cand, h_prev, da, i, one):
    # dh = dout ⊙ mask;  da_z = dh (h_cand - h_prev) z (1 - z);  da_h = dh z (1 - h_cand²)
    H = h_prev.shape[1]
    for j in range(H):
        dh = dout[i, j] * mask[i, j] if mask.size else dout[i, j]
        z = zr[i, j]
        c = h_cand[i, j]
        da[i, j] = dh * (c - h_prev[i, j]) * z * (one - z)
        da[i, 2 * H + j] = dh * z * (one - c * c)


@jit()
def _gate_grads_serial(dout, mask, zr, h_cand, h_prev, da, one):
    for i in range(h_prev.shape[0]):
        _gate_grads_row(dout, mask, zr, h_cand, h_prev, da, i, one)


@jit(parallel=True)
def _gate_grads_parallel(dout, mask, zr, h_cand, h_prev, da, one):
    # Parallel over rows: row i writes only da[i].
    for i in prange(h_prev.shape[0]):
        _gate_grads_row(dout, mask, zr, h_cand, h_prev, da, i, one)


@jit()
def _reset_grad_row(drh, zr, h_prev, da, i, one):
    # da_r = drh h_prev r (1 - r)
    H = h_prev.shape[1]
    for j in range(H):
        r = zr[i, H + j]
        da[i, H + j] = drh[i, j] * h_prev[i, j] * r * (one - r)


@jit()
def _reset_grad_serial(drh, zr, h_prev, da, one):
    for i in range(h_prev.shape[0]):
        _reset_grad_row(drh, zr, h_prev, da, i, one)


@jit(parallel=True)
def _reset_grad_parallel(drh, zr, h_prev, da, one):
    # Parallel over rows: row i writes only da[i].
    for i in prange(h_prev.shape[0]):
        _reset_grad_row(drh, zr, h_prev, da, i, one)


# -- the session-state input (Hidasi et al. 2016, §3.1) ---------------------------------------


def _check_state(items: np.ndarray, starts: np.ndarray, pos: np.ndarray, decay: float) -> None:
    if items.dtype.kind not in "iu":
        raise ValueError(f"session_state: items must be integers, got {items.dtype}")
    if starts.shape != pos.shape or starts.ndim != 1:
        raise ValueError("session_state: starts and pos must be 1-d arrays of equal length")
    if np.any(starts > pos) or (pos.size and (starts.min() < 0 or pos.max() >= items.size)):
        raise ValueError("session_state: need 0 <= starts <= pos < number of events")
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"session_state: decay={decay} must be in [0, 1]")


def session_state_ref(items: np.ndarray, starts: np.ndarray, pos: np.ndarray, decay: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The session-state input of each row as a sparse matrix (reference twin).

        u_b = Σ_{k = starts_b}^{pos_b} decay^(pos_b - k) e_{items_k}      (V,) per row
        x_b = u_b / ‖u_b‖₂

    Hidasi et al. (2016, §3.1): the events of the session so far, earlier ones discounted,
    normalised. A repeated item adds up its weights. decay = 0 leaves the current item only
    (the one-hot input); items whose weight underflows to 0 are left out.

    Args:
        items: (N,) item of every event.  starts: (B,) first event of each row's session.
        pos:   (B,) each row's current event (inclusive).  decay: in [0, 1].
    Returns:
        indptr (B + 1,) int64, ids (nnz,) int64 sorted within each row, weights (nnz,)
        float64: row b holds ids[indptr[b]:indptr[b + 1]] with those weights.
    """
    items = np.asarray(items)
    starts = np.asarray(starts, dtype=np.int64)
    pos = np.asarray(pos, dtype=np.int64)
    _check_state(items, starts, pos, decay)
    lengths = pos - starts + 1                                          # (B,)
    row = np.repeat(np.arange(pos.size), lengths)                       # (E,)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)            # (E,)
    event = np.repeat(starts, lengths) + np.arange(row.size) - first    # (E,)
    age = pos[row] - event                                              # (E,)
    w = np.power(float(decay), age.astype(np.float64))                  # (E,) 0^0 = 1
    V = int(items.max()) + 1 if items.size else 1
    key, slot = np.unique(row * V + items[event].astype(np.int64), return_inverse=True)
    summed = np.bincount(slot, weights=w, minlength=key.size)           # (nnz,)
    keep = summed > 0
    key, summed = key[keep], summed[keep]
    key_row = key // V                                                  # (nnz,)
    norm = np.sqrt(np.bincount(key_row, weights=summed * summed, minlength=pos.size))
    indptr = np.zeros(pos.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(key_row, minlength=pos.size), out=indptr[1:])
    return indptr, key % V, summed / norm[key_row]


def session_state(items: np.ndarray, starts: np.ndarray, pos: np.ndarray, decay: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The session-state input of each row as a sparse matrix; contract of the twin."""
    items = np.asarray(items)
    starts = np.asarray(starts, dtype=np.int64)
    pos = np.asarray(pos, dtype=np.int64)
    _check_state(items, starts, pos, decay)
    n = int(np.sum(pos - starts + 1))
    ids = np.empty(n, dtype=np.int64)
    weights = np.empty(n, dtype=np.float64)
    indptr = np.zeros(pos.size + 1, dtype=np.int64)
    # items as given (the whole epoch's events, int32 in `Sessions`): a copy per step would
    # cost more than the kernel; the kernel reads only the rows' own events.
    nnz = _session_state(items, starts, pos, float(decay), indptr, ids, weights)
    return indptr, ids[:nnz].copy(), weights[:nnz].copy()


@jit()
def _session_state(items, starts, pos, decay, indptr, ids, weights):
    # Serial: each row's output starts where the previous row's ended.
    out = 0
    for b in range(pos.size):
        n = pos[b] - starts[b] + 1
        row_items = items[starts[b]:pos[b] + 1].copy()
        order = np.argsort(row_items, kind="mergesort")
        row_start = out
        last = -1
        for t in range(n):
            k = order[t]
            w = decay ** (n - 1 - k)
            if row_items[k] == last:
                weights[out - 1] += w
            else:
                ids[out] = row_items[k]
                weights[out] = w
                last = row_items[k]
                out += 1
        kept = row_start                             # drop items whose weight underflowed
        norm = 0.0
        for t in range(row_start, out):
            if weights[t] > 0.0:
                ids[kept] = ids[t]
                weights[kept] = weights[t]
                norm += weights[t] * weights[t]
                kept += 1
        out = kept
        norm = math.sqrt(norm)
        for t in range(row_start, out):
            weights[t] /= norm
        indptr[b + 1] = out
    return out
