"""The ranking-metrics kernel against its NumPy twin, and every tie policy against brute force.

Scores are small integers, so ties are the normal case. The brute force enumerates every
order of every tie group of a tiny row, computes the metrics of each order from explicit
ranks, and checks: expected policy = mean over the orders, pessimistic = minimum,
optimistic = maximum (every metric only grows when a target moves up).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.errors import DataError
from nprec.kernels.ranking import METRICS, POLICIES, ranking_metrics, ranking_metrics_ref
from nprec.testing.strategies import seeds


def _random_rows(rng, B, V, n_levels, dtype):
    """Integer scores with many ties, random targets and disjoint sorted exclusions."""
    scores = rng.integers(0, n_levels, size=(B, V)).astype(dtype)       # (B, V)
    t_ptr, t_idx, e_ptr, e_idx = [0], [], [0], []
    for _ in range(B):
        perm = rng.permutation(V)
        n_t = int(rng.integers(0, V + 1))
        n_e = int(rng.integers(0, V - n_t + 1))
        t_idx += perm[:n_t].tolist()
        e_idx += sorted(perm[n_t:n_t + n_e].tolist())
        t_ptr.append(len(t_idx))
        e_ptr.append(len(e_idx))
    return scores, np.array(t_ptr), np.array(t_idx, dtype=np.int64), np.array(e_ptr), \
        np.array(e_idx, dtype=np.int64)


@st.composite
def ranking_cases(draw, max_rows=4, max_items=12):
    rng = np.random.default_rng(draw(seeds))
    B = draw(st.integers(1, max_rows))
    V = draw(st.integers(1, max_items))
    n_levels = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    ks = sorted(set(draw(st.lists(st.integers(1, max_items + 2), min_size=1, max_size=3))))
    return (*_random_rows(rng, B, V, n_levels, dtype), np.array(ks))


@given(ranking_cases())
def test_kernel_matches_twin(case):
    scores, t_ptr, t_idx, e_ptr, e_idx, ks = case
    fast, n_fast = ranking_metrics(scores, t_ptr, t_idx, e_ptr, e_idx, ks)
    ref, n_ref = ranking_metrics_ref(scores, t_ptr, t_idx, e_ptr, e_idx, ks)
    np.testing.assert_array_equal(n_fast, n_ref)
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12)


def test_kernel_matches_twin_on_a_wide_row_with_many_targets():
    rng = np.random.default_rng(5)
    case = _random_rows(rng, 6, 400, 30, np.float64)
    ks = np.array([1, 5, 20, 100, 500])
    fast, _ = ranking_metrics(*case, ks)
    ref, _ = ranking_metrics_ref(*case, ks)
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12)


def _metrics_of_order(order, targets, k):
    """The seven METRICS of one explicit ranking (order[0] is rank 1), from their definitions."""
    ranks = sorted(order.index(t) + 1 for t in targets)
    top = [r for r in ranks if r <= k]
    m, cap = len(targets), min(k, len(targets))
    dcg = sum(1 / math.log2(r + 1) for r in top)
    idcg = sum(1 / math.log2(p + 1) for p in range(1, cap + 1))
    ap = sum((i + 1) / r for i, r in enumerate(top)) / cap
    return [float(bool(top)), len(top) / m, len(top) / cap, len(top) / k, dcg / idcg,
            1 / ranks[0] if top else 0.0, ap]


def _all_tie_orders(scores, candidates):
    """Every ranking of the candidates consistent with the scores (ties in any order)."""
    levels = sorted({scores[c] for c in candidates}, reverse=True)
    groups = [[c for c in candidates if scores[c] == s] for s in levels]
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        yield [c for p in perms for c in p]


@settings(max_examples=60)
@given(seeds, st.integers(1, 7), st.integers(1, 3))
def test_policies_against_every_tie_order(seed, V, n_levels):
    rng = np.random.default_rng(seed)
    scores, t_ptr, t_idx, e_ptr, e_idx = _random_rows(rng, 1, V, n_levels, np.float64)
    if t_idx.size == 0:
        t_idx, t_ptr = np.array([0]), np.array([0, 1])
        e_idx, e_ptr = e_idx[e_idx != 0], np.array([0, int((e_idx != 0).sum())])
    ks = np.arange(1, V + 2)
    values, _ = ranking_metrics(scores, t_ptr, t_idx, e_ptr, e_idx, ks)
    candidates = [v for v in range(V) if v not in set(e_idx.tolist())]
    for q, k in enumerate(ks.tolist()):
        per_order = np.array([_metrics_of_order(o, t_idx.tolist(), k)
                              for o in _all_tie_orders(scores[0], candidates)])
        np.testing.assert_allclose(values[0, 0, :, q], per_order.min(axis=0), atol=1e-12)
        np.testing.assert_allclose(values[0, 1, :, q], per_order.max(axis=0), atol=1e-12)
        np.testing.assert_allclose(values[0, 2, :, q], per_order.mean(axis=0), atol=1e-12)


def test_hand_computed_row():
    # items 0..5 with scores 5 4 4 4 1 0; targets {2, 5}; item 0 excluded.
    scores = np.array([[5.0, 4, 4, 4, 1, 0]])
    values, n = ranking_metrics(scores, [0, 2], [2, 5], [0, 1], [0], [3])
    assert n.tolist() == [2]
    pess, opt, expd = values[0, :, :, 0]
    # pessimistic: item 2 at rank 3, item 5 at rank 5 -> one hit in the top 3
    assert pess[METRICS.index("hit")] == 1.0
    assert pess[METRICS.index("recall")] == 0.5
    assert pess[METRICS.index("recall_capped")] == 0.5
    assert pess[METRICS.index("mrr")] == pytest.approx(1 / 3)
    assert pess[METRICS.index("ndcg")] == pytest.approx(0.5 / (1 + 1 / math.log2(3)))
    assert pess[METRICS.index("map")] == pytest.approx((1 / 3) / 2)
    # optimistic: item 2 at rank 1
    assert opt[METRICS.index("mrr")] == 1.0
    assert opt[METRICS.index("ndcg")] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    # expected: item 2 uniform over ranks 1..3
    assert expd[METRICS.index("mrr")] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert expd[METRICS.index("hit")] == pytest.approx(1.0)


@pytest.mark.parametrize("fn", [ranking_metrics, ranking_metrics_ref])
@pytest.mark.parametrize("bad, message", [
    ("nan", "NaN"), ("dup", "twice"), ("excluded", "excluded"), ("unsorted", "sorted"),
])
def test_row_errors_name_the_row(fn, bad, message):
    scores = np.arange(12, dtype=np.float64).reshape(2, 6)
    t_ptr, t_idx, e_ptr, e_idx = [0, 1, 2], [0, 1], [0, 0, 2], [3, 4]
    if bad == "nan":
        scores[1, 5] = np.nan
    elif bad == "dup":
        t_ptr, t_idx = [0, 1, 3], [0, 1, 1]
    elif bad == "excluded":
        e_idx = [1, 4]
    else:
        e_idx = [4, 3]
    with pytest.raises(DataError, match=rf"row 1: .*{message}"):
        fn(scores, t_ptr, t_idx, e_ptr, e_idx, [2])


@pytest.mark.parametrize("fn", [ranking_metrics, ranking_metrics_ref])
def test_bad_shapes_and_indices(fn):
    scores = np.zeros((2, 4))
    with pytest.raises(DataError, match="outside"):
        fn(scores, [0, 1, 2], [0, 4], [0, 0, 0], [], [1])
    with pytest.raises(DataError, match="CSR"):
        fn(scores, [0, 1], [0], [0, 0, 0], [], [1])
    with pytest.raises(DataError, match="cutoffs"):
        fn(scores, [0, 1, 2], [0, 1], [0, 0, 0], [], [0])


def test_policy_order_constant():
    assert POLICIES == ("pessimistic", "optimistic", "expected")
