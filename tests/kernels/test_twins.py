"""Every fast kernel against its NumPy twin, in float32 and float64 (DESIGN.md §4).

`CASES` maps each kernel's name to a hypothesis strategy that builds its arguments for a
given float dtype. The test calls both twins on private copies of the same arguments and
compares what they return AND what they leave in their array arguments (the optimizer
kernels work in place). Integer results must be identical; float results may differ by
rounding (the compiled loops may evaluate a formula in float64 before storing float32).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nprec.kernels import PAIRS
from nprec.testing.strategies import seeds

DTYPES = [np.float32, np.float64]


def _uniforms(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    """Uniforms in [0, 1) with both ends present: exactly 0 and the largest value below 1."""
    u = rng.random(shape).astype(dtype)
    flat = u.reshape(-1)
    flat[0] = 0.0
    if flat.size > 1:
        flat[-1] = np.nextafter(dtype(1.0), dtype(0.0))
    return u


def _csr(rng: np.random.Generator, U: int, V: int, min_free: int):
    """Random sorted CSR rows over V items with at least `min_free` items outside each row."""
    dense = rng.random((U, V)) < rng.uniform(0.0, 1.0)                 # (U, V)
    for r in range(U):                                                  # free up full rows
        taken = np.flatnonzero(dense[r])
        excess = taken.size - (V - min_free)
        if excess > 0:
            dense[r, rng.choice(taken, excess, replace=False)] = False
    indptr = np.zeros(U + 1, dtype=np.int64)
    np.cumsum(dense.sum(axis=1), out=indptr[1:])
    indices = np.nonzero(dense)[1].astype(np.int32)                     # sorted within rows
    return indptr, indices


@st.composite
def coalesce_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    N, V, D = draw(st.integers(1, 12)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    return rng.integers(0, V, N), rng.standard_normal((N, D)).astype(dtype)


@st.composite
def negatives_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    U, V, N = draw(st.integers(1, 6)), draw(st.integers(1, 12)), draw(st.integers(1, 30))
    indptr, indices = _csr(rng, U, V, 1)
    return indptr, indices, rng.integers(0, U, N), V, _uniforms(rng, N, dtype)


@st.composite
def distinct_negatives_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    U, V, N = draw(st.integers(1, 6)), draw(st.integers(1, 12)), draw(st.integers(1, 8))
    n = draw(st.integers(1, V))
    indptr, indices = _csr(rng, U, V, n)
    return indptr, indices, rng.integers(0, U, N), V, _uniforms(rng, (N, n), dtype)


@st.composite
def cdf_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    V, N = draw(st.integers(1, 10)), draw(st.integers(1, 40))
    w = rng.random(V) * (rng.random(V) < 0.7)                           # (V,) some zeros
    w[rng.integers(V)] += 0.5
    cdf = np.cumsum(w) / w.sum()                                        # (V,)
    cdf[np.flatnonzero(w)[-1]:] = 1.0
    return cdf, _uniforms(rng, N, dtype)


@st.composite
def bpr_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    U, V, N = draw(st.integers(1, 6)), draw(st.integers(2, 12)), draw(st.integers(1, 30))
    indptr, indices = _csr(rng, U, V, 1)
    if indices.size == 0:                                               # at least one entry
        indptr[1:] += 1
        indices = np.array([rng.integers(V)], dtype=np.int32)
    return indptr, indices, V, _uniforms(rng, N, dtype), _uniforms(rng, N, dtype)[::-1].copy()


@st.composite
def topk_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    B, V = draw(st.integers(1, 5)), draw(st.integers(1, 15))
    scores = rng.integers(-2, 3, (B, V)).astype(dtype)                  # (B, V) many ties
    scores[rng.random((B, V)) < 0.2] = -np.inf
    scores[rng.random((B, V)) < 0.05] = np.nan
    return scores, draw(st.integers(1, V))


@st.composite
def rows_case(draw, dtype, n_state: int):
    """(P, *state, rows, G): unique sorted rows of a (V, D) parameter."""
    rng = np.random.default_rng(draw(seeds))
    V, D = draw(st.integers(1, 8)), draw(st.integers(1, 4))
    rows = np.flatnonzero(rng.random(V) < 0.6).astype(np.int64)        # (K,)
    P = rng.standard_normal((V, D)).astype(dtype)
    state = [np.abs(rng.standard_normal((V, D))).astype(dtype) for _ in range(n_state)]
    G = rng.standard_normal((rows.size, D)).astype(dtype)
    return P, state, rows, G


@st.composite
def sgd_case(draw, dtype):
    P, (vel,), rows, G = draw(rows_case(dtype, 1))
    return P, vel, rows, G, 0.1, draw(st.sampled_from([0.0, 0.9]))


@st.composite
def adagrad_case(draw, dtype):
    P, (acc, mom), rows, G = draw(rows_case(dtype, 2))
    return P, acc, mom, rows, G, 0.05, draw(st.sampled_from([0.0, 0.4])), 1e-6


@st.composite
def adam_case(draw, dtype):
    P, (m, v), rows, G = draw(rows_case(dtype, 2))
    return P, m, v, rows, G, 1e-2, 0.9, 0.999, 1e-8, draw(st.integers(1, 50))


@st.composite
def sessions_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    lengths = rng.integers(2, 7, draw(st.integers(0, 15)))              # (S,)
    ends = np.cumsum(lengths)
    return ends - lengths, ends, draw(st.integers(1, 6))


@st.composite
def ranking_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    B, V = draw(st.integers(1, 5)), draw(st.integers(1, 12))
    scores = rng.integers(0, draw(st.integers(1, 5)), size=(B, V)).astype(dtype)  # ties
    t_ptr, t_idx, e_ptr, e_idx = [0], [], [0], []
    for _ in range(B):
        perm = rng.permutation(V)
        n_t = int(rng.integers(0, V + 1))
        n_e = int(rng.integers(0, V - n_t + 1))
        t_idx += perm[:n_t].tolist()
        e_idx += sorted(perm[n_t:n_t + n_e].tolist())
        t_ptr.append(len(t_idx))
        e_ptr.append(len(e_idx))
    ks = np.array(sorted(set(draw(st.lists(st.integers(1, V + 2), min_size=1, max_size=3)))))
    return (scores, np.array(t_ptr), np.array(t_idx, dtype=np.int64), np.array(e_ptr),
            np.array(e_idx, dtype=np.int64), ks)


@st.composite
def sknn_case(draw, dtype):
    from nprec.data import Sessions
    from nprec.models.baselines import VSKNN

    rng = np.random.default_rng(draw(seeds))
    V = draw(st.integers(2, 10))
    train = Sessions.from_lists([rng.integers(0, V, size=rng.integers(1, 6)).tolist()
                                 for _ in range(draw(st.integers(1, 20)))], n_items=V)
    index = VSKNN(idf_weighting=float(draw(st.integers(0, 2)))).fit(train).index
    lengths = rng.integers(1, 6, size=draw(st.integers(1, 4)))
    pre_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    pre_items = rng.integers(0, V, size=int(pre_ptr[-1])).astype(np.int64)
    pre_weights = rng.random(pre_items.size).astype(dtype)
    decay = np.concatenate([[0.0], 1.0 / np.arange(1, 7)]).astype(dtype)
    return (pre_ptr, pre_items, pre_weights, index, decay, draw(st.integers(1, 6)),
            draw(st.integers(0, 8)), draw(st.integers(0, 2)))


@st.composite
def parsing_case(draw, dtype):
    kinds = draw(st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=4))
    plain = {0: st.text("abc", max_size=3),
             1: st.integers(-10**6, 10**6).map(str),
             2: st.decimals(-1000, 1000, places=3, allow_nan=False).map(str)}
    lines = []
    for _ in range(draw(st.integers(0, 10))):
        fields = [draw(plain[k] if draw(st.integers(0, 7)) else st.text("x.-9", max_size=2))
                  for k in kinds]
        lines.append(",".join(fields) if draw(st.integers(0, 9)) else "")
    data = ("\n".join(lines) + "\n").encode()
    return np.frombuffer(data, dtype=np.uint8).copy(), ord(","), np.array(kinds)


CASES = {
    "coalesce_rows": coalesce_case,
    "sample_negatives": negatives_case,
    "sample_negatives_distinct": distinct_negatives_case,
    "sample_cdf": cdf_case,
    "sample_bpr_triples": bpr_case,
    "topk_rows": topk_case,
    "sgd_rows": sgd_case,
    "adagrad_rows": adagrad_case,
    "adam_rows": adam_case,
    "session_parallel_steps": sessions_case,
    "ranking_metrics": ranking_case,
    "sknn_scores": sknn_case,
    "parse_numeric_fields": parsing_case,
}


def _assert_same(fast, ref, what: str) -> None:
    if isinstance(ref, tuple):
        assert isinstance(fast, tuple) and len(fast) == len(ref), what
        for i, (a, b) in enumerate(zip(fast, ref, strict=True)):
            _assert_same(a, b, f"{what}[{i}]")
    elif isinstance(ref, np.ndarray):
        assert isinstance(fast, np.ndarray) and fast.shape == ref.shape, what
        if np.issubdtype(ref.dtype, np.floating):
            assert fast.dtype == ref.dtype, what
            tol = 1e-5 if ref.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(fast, ref, rtol=tol, atol=tol, err_msg=what)
        else:
            np.testing.assert_array_equal(fast, ref, err_msg=what)
    else:
        assert fast == ref, what


def test_every_pair_has_a_case():
    assert sorted(fast.__name__ for fast, _ in PAIRS) == sorted(CASES)
    for fast, ref in PAIRS:
        assert ref.__name__ == fast.__name__ + "_ref"


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("pair", PAIRS, ids=[fast.__name__ for fast, _ in PAIRS])
@given(data=st.data())
def test_fast_kernel_matches_reference(pair, dtype, data):
    fast, ref = pair
    args = data.draw(CASES[fast.__name__](dtype))
    args_fast, args_ref = copy.deepcopy(args), copy.deepcopy(args)
    out_fast, out_ref = fast(*args_fast), ref(*args_ref)
    _assert_same(out_fast, out_ref, f"{fast.__name__} result")
    for i, (a, b) in enumerate(zip(args_fast, args_ref, strict=True)):
        if isinstance(b, np.ndarray):
            _assert_same(a, b, f"{fast.__name__} argument {i} after the call")
