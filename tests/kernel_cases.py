"""Hypothesis strategies for the model kernels' arguments, shared by each kernel's own test
file (tests/kernels/test_*_kernels.py) and the generic twin test (tests/kernels/test_twins.py).

Each strategy takes the float dtype and returns the kernel's arguments in the order its own
test file unpacks them; test_twins.py adapts the order where the kernel's signature differs.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st

from nprec.kernels.gru4rec import LOSSES
from nprec.testing.strategies import seeds


@st.composite
def bce_output_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    B, F = draw(st.integers(1, 9)), draw(st.integers(1, 12))
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0, 1e4]))
    phi = (scale * rng.standard_normal((B, F))).astype(dtype)           # (B, F)
    h = rng.standard_normal(F).astype(dtype)                            # (F,)
    labels = (rng.integers(0, 2, B) if draw(st.booleans())
              else rng.random(B)).astype(dtype)                          # (B,)
    return phi, h, float(rng.standard_normal()), labels


@st.composite
def logistic_mf_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    B, D = draw(st.integers(1, 9)), draw(st.integers(1, 8))
    scale = draw(st.sampled_from([1e-2, 1.0, 30.0]))
    p, q = (scale * rng.standard_normal((2, B, D))).astype(dtype)       # (B, D) each
    b_u, b_i = rng.standard_normal((2, B)).astype(dtype)                # (B,) each
    labels = rng.integers(0, 2, B).astype(dtype)                        # (B,)
    lam = draw(st.sampled_from([0.0, 0.005, 1.0]))
    return p, q, b_u, b_i, float(rng.standard_normal()), labels, lam


@st.composite
def softmax_ce_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    B, V = draw(st.integers(1, 6)), draw(st.integers(1, 70))
    spread = draw(st.sampled_from([1e-3, 1.0, 10.0, 100.0, 1e3]))
    shift = draw(st.sampled_from([0.0, -50.0, 30.0]))
    logits = (shift + spread * rng.standard_normal((B, V))).astype(dtype)  # (B, V)
    if draw(st.booleans()):                       # repeated values: ties at the max
        logits[:, rng.integers(0, V, V)] = logits[:, :1]
    if draw(st.booleans()):
        logits[rng.random((B, V)) < 0.2] = -np.inf
    targets = rng.integers(0, V, B)
    logits[np.arange(B), targets] = np.where(np.isinf(logits[np.arange(B), targets]),
                                             0.0, logits[np.arange(B), targets])
    return logits, targets, float(draw(st.sampled_from([1.0, 0.25, 1.0 / 512])))


@st.composite
def softmax_counts_case(draw, dtype):
    """Scores as in `softmax_ce_case` and counts as CSR rows: empty rows, repeated columns,
    fractional and integer counts (the count's column never holds -inf)."""
    logits, _, scale = draw(softmax_ce_case(dtype))
    rng = np.random.default_rng(draw(seeds))
    B, V = logits.shape
    per_row = rng.integers(0, 5, B)                                     # (B,) entries a row
    indptr = np.concatenate([[0], np.cumsum(per_row)])                  # (B + 1,)
    cols = rng.integers(0, V, indptr[-1])                               # (nnz,) repeats allowed
    counts = rng.choice([1.0, 2.0, 0.5, 3.25], indptr[-1])              # (nnz,)
    rows = np.repeat(np.arange(B), per_row)
    logits[rows, cols] = np.where(np.isinf(logits[rows, cols]), 0.0, logits[rows, cols])
    return logits, indptr, cols, counts, scale


def _padded_mask(draw, rng: np.random.Generator, B: int, T: int) -> np.ndarray:
    """(B, T) bool: prefixes of random lengths (empty rows too), sorted longest first as
    NARM lays them out or in any order, and sometimes with holes (any mask at all)."""
    lengths = rng.integers(0, T + 1, B)
    if draw(st.booleans()):
        lengths = np.sort(lengths)[::-1]
    mask = np.arange(T)[None, :] < lengths[:, None]                     # (B, T)
    if draw(st.booleans()):
        mask &= rng.random((B, T)) < 0.8                                # holes
    return mask


@st.composite
def gru_sequence_case(draw, dtype):
    """A padded batch: sorted longest first (NARM's layout) or in any order, holes allowed."""
    rng = np.random.default_rng(draw(seeds))
    B, T, D, H = (draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 4)),
                  draw(st.integers(1, 5)))
    mask = _padded_mask(draw, rng, B, T)                                # (B, T)
    args = [rng.standard_normal(s).astype(dtype) for s in
            ((B, T, D), (B, H), (D, 3 * H), (H, 2 * H), (H, H), (3 * H,))]
    x, h0, W, U_zr, U_h, b = args
    return x, mask, h0, W, U_zr, U_h, b, rng.standard_normal((B, T, H)).astype(dtype)


@st.composite
def attention_case(draw, dtype):
    """(hs, h_t, mask, A1, A2, v, dc): NARM's padded rows (longest first) or any mask, rows
    with no real position, length-1 rows, repeated states."""
    rng = np.random.default_rng(draw(seeds))
    B, T, H = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    mask = _padded_mask(draw, rng, B, T)                                # (B, T)
    scale = draw(st.sampled_from([0.1, 1.0, 3.0]))
    hs = (scale * rng.standard_normal((B, T, H))).astype(dtype)         # (B, T, H)
    if draw(st.booleans()):
        hs[:, -1] = hs[:, 0]                                            # a repeated state
    h_t, A1, A2 = (rng.standard_normal(s).astype(dtype) for s in ((B, H), (H, H), (H, H)))
    v, dc = rng.standard_normal(H).astype(dtype), rng.standard_normal((B, H)).astype(dtype)
    return hs, h_t, mask, A1, A2, v, dc


@st.composite
def sampled_loss_case(draw, dtype=np.float64):
    """(S, by, cols, log_q, loss, elu, bpreg): few items, so columns repeat items; some items
    of the block are not columns at all (read only as inputs)."""
    rng = np.random.default_rng(draw(seeds))
    loss = draw(st.sampled_from(LOSSES))
    B = draw(st.integers(1, 5))
    K = draw(st.integers(2, 8))
    extra = draw(st.integers(0 if loss in ("cross-entropy", "top1", "bpr") or B >= 2 else 1, 9))
    used = draw(st.integers(1, K))                      # items K-used.. are input-only
    cols = rng.integers(0, used, B + extra)
    S = (draw(st.sampled_from([0.5, 3.0])) * rng.standard_normal((B, K))).astype(dtype)
    by = rng.standard_normal(K).astype(dtype)
    log_q = rng.standard_normal(cols.size) if loss == "cross-entropy" and rng.random() < .7 \
        else None
    elu = draw(st.sampled_from([0.0, 0.5, 1.0]))
    return S, by, cols, log_q, loss, elu, float(rng.uniform(0, 2))


@st.composite
def session_state_case(draw):
    rng = np.random.default_rng(draw(seeds))
    N = draw(st.integers(1, 30))
    items = rng.integers(0, draw(st.integers(1, 6)), N)      # few items: repeats
    B = draw(st.integers(1, 6))
    pos = rng.integers(0, N, B)
    starts = np.array([rng.integers(0, p + 1) for p in pos])
    return items, starts, pos, draw(st.sampled_from([0.0, 1e-200, 0.3, 0.9, 1.0]))


@st.composite
def gru_train_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    B, D, H = draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    given = draw(st.booleans())                    # the one-hot mode passes a = x W itself
    x = rng.standard_normal((B, 3 * H if given else D)).astype(dtype)
    h_prev = np.tanh(rng.standard_normal((B, H))).astype(dtype)
    W = None if given else (0.5 * rng.standard_normal((D, 3 * H))).astype(dtype)
    U_zr = (0.5 * rng.standard_normal((H, 2 * H))).astype(dtype)
    U_h = (0.5 * rng.standard_normal((H, H))).astype(dtype)
    b = (0.1 * rng.standard_normal(3 * H)).astype(dtype)
    mask = None if draw(st.booleans()) else (
        (rng.random((B, H)) < 0.7) / dtype(0.7)).astype(dtype)
    return x, h_prev, W, U_zr, U_h, b, mask, rng.standard_normal((B, H)).astype(dtype)


@st.composite
def normalize_case(draw, dtype):
    """X (B, V) CSR (empty rows likely; counts, or values of any sign, zeros among them) and a
    dropout mask of its entries (all kept, none kept, or a random half at 1 / keep)."""
    rng = np.random.default_rng(draw(seeds))
    B, V = draw(st.integers(1, 7)), draw(st.integers(1, 9))
    present = rng.random((B, V)) < draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    values = rng.integers(1, 4, (B, V)) if draw(st.booleans()) else rng.standard_normal((B, V))
    values[rng.random((B, V)) < 0.1] = 0.0                             # stored zeros
    rows, cols = np.nonzero(present)
    X = sp.csr_array((values[rows, cols], (rows, cols)), shape=(B, V))
    p = draw(st.sampled_from([0.0, 0.5, 0.8, 1.0]))                    # drop probability
    keep = ((rng.random(X.nnz) >= p) / (1.0 - p if p < 1 else 1.0)).astype(dtype)
    return X.indptr, X.indices, X.data.astype(dtype), keep


@st.composite
def csr_case(draw, dtype):
    """X (B, V) CSR with empty rows and empty columns likely, plus W (V, H) and dY (B, H)."""
    rng = np.random.default_rng(draw(seeds))
    B, V, H = draw(st.integers(1, 7)), draw(st.integers(1, 9)), draw(st.integers(1, 20))
    density = draw(st.sampled_from([0.0, 0.2, 0.6, 1.0]))
    X = sp.csr_array((rng.random((B, V)) < density) * rng.standard_normal((B, V)))
    return (X.indptr, X.indices, X.data.astype(dtype), rng.standard_normal((V, H)).astype(dtype),
            rng.standard_normal((B, H)).astype(dtype), V)
