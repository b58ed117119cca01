"""Properties of the ranking metrics and the evaluator: chance level of a constant scorer,
monotonicity in k, policy order, invariance to monotone transforms, exclusion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from nprec.errors import ConfigError, DataError
from nprec.kernels.ranking import METRICS, POLICIES
from nprec.metrics import RankingEvaluator, evaluate_rankings, per_row_metric
from nprec.testing.strategies import seeds

RANK_METRICS = list(METRICS)


@st.composite
def scored_rows(draw, max_rows=5, max_items=15, single_target=False):
    """(scores (B, V) small integers, targets CSR pair, exclude CSR pair)."""
    rng = np.random.default_rng(draw(seeds))
    B = draw(st.integers(1, max_rows))
    V = draw(st.integers(2, max_items))
    scores = rng.integers(0, draw(st.integers(1, 6)), size=(B, V)).astype(np.float64)
    t_ptr, t_idx, e_ptr, e_idx = [0], [], [0], []
    for _ in range(B):
        perm = rng.permutation(V)
        n_t = 1 if single_target else int(rng.integers(1, V))
        n_e = int(rng.integers(0, V - n_t + 1))
        t_idx += perm[:n_t].tolist()
        e_idx += sorted(perm[n_t:n_t + n_e].tolist())
        t_ptr.append(len(t_idx))
        e_ptr.append(len(e_idx))
    return scores, (np.array(t_ptr), np.array(t_idx, dtype=np.int64)), \
        (np.array(e_ptr), np.array(e_idx, dtype=np.int64))


# -- chance level -----------------------------------------------------------------------------

@given(st.integers(1, 50), st.integers(1, 60), st.integers(0, 20))
def test_constant_scorer_scores_chance(V, k, n_excluded):
    """Single target among n candidates: pessimistic rank n, optimistic rank 1, expected
    hit@k = min(k, n)/n and MRR@k = H_min(k,n) / n."""
    n_excluded = min(n_excluded, V - 1)
    scores = np.full((3, V), 0.25)
    targets = np.full(3, V - 1)
    exclude = sp.csr_array(np.tile(np.arange(V) < n_excluded, (3, 1)))
    n = V - n_excluded
    res = evaluate_rankings(scores, targets, ks=(k,), metrics=("hit", "mrr", "ndcg"),
                            ties="all", exclude=exclude)
    assert res["pessimistic"][f"hit@{k}"] == (1.0 if n <= k else 0.0)
    assert res["pessimistic"][f"mrr@{k}"] == pytest.approx(1 / n if n <= k else 0.0)
    assert res["optimistic"][f"hit@{k}"] == 1.0
    assert res["optimistic"][f"ndcg@{k}"] == 1.0
    assert res["expected"][f"hit@{k}"] == pytest.approx(min(k, n) / n)
    harmonic = sum(1 / j for j in range(1, min(k, n) + 1))
    assert res["expected"][f"mrr@{k}"] == pytest.approx(harmonic / n)


def test_constant_scorer_multi_target_expected_recall_is_k_over_n():
    V, m = 20, 4
    scores = np.zeros((1, V))
    targets = (np.array([0, m]), np.arange(m))
    for k in (1, 5, 10, 20):
        res = evaluate_rankings(scores, targets, ks=k, metrics=("recall", "precision"),
                                ties="expected")
        assert res[f"recall@{k}"] == pytest.approx(k / V)
        assert res[f"precision@{k}"] == pytest.approx(m / V)


# -- orderings and invariances --------------------------------------------------------------

@given(scored_rows())
def test_pessimistic_le_expected_le_optimistic(case):
    scores, targets, exclude = case
    ks = (1, 3, 10)
    res = evaluate_rankings(scores, targets, ks=ks, metrics=RANK_METRICS, ties="all",
                            exclude=exclude)
    for key in res["expected"]:
        assert res["pessimistic"][key] <= res["expected"][key] + 1e-12
        assert res["expected"][key] <= res["optimistic"][key] + 1e-12


@given(scored_rows())
def test_hit_recall_mrr_non_decreasing_in_k(case):
    scores, targets, exclude = case
    ks = tuple(range(1, scores.shape[1] + 2))
    for ties in POLICIES:
        res = evaluate_rankings(scores, targets, ks=ks, metrics=("hit", "recall", "mrr"),
                                ties=ties, exclude=exclude)
        for name in ("hit", "recall", "mrr"):
            values = [res[f"{name}@{k}"] for k in ks]
            assert np.all(np.diff(values) >= -1e-12), (name, ties, values)


@given(scored_rows(single_target=True))
def test_ndcg_non_decreasing_in_k_for_one_target(case):
    scores, targets, exclude = case
    ks = tuple(range(1, scores.shape[1] + 2))
    for ties in POLICIES:
        res = evaluate_rankings(scores, targets, ks=ks, metrics="ndcg", ties=ties,
                                exclude=exclude)
        assert np.all(np.diff([res[f"ndcg@{k}"] for k in ks]) >= -1e-12)


def test_ndcg_and_precision_can_fall_with_k():
    # Two targets at ranks 1 and 3: NDCG@1 = 1 > NDCG@2 (IDCG grows) and P@1 = 1 > P@2.
    scores = np.array([[3.0, 2.0, 1.0]])
    res = evaluate_rankings(scores, (np.array([0, 2]), np.array([0, 2])), ks=(1, 2),
                            metrics=("ndcg", "precision"))
    assert res["ndcg@2"] < res["ndcg@1"] == 1.0
    assert res["precision@2"] == 0.5 < res["precision@1"]


@given(scored_rows())
def test_invariant_to_strictly_increasing_transform(case):
    scores, targets, exclude = case
    transformed = scores**3 + 2.0 * scores - 7.0                        # exact on small ints
    a = evaluate_rankings(scores, targets, ks=(1, 4), metrics=RANK_METRICS, ties="all",
                          exclude=exclude)
    b = evaluate_rankings(transformed, targets, ks=(1, 4), metrics=RANK_METRICS, ties="all",
                          exclude=exclude)
    for ties in POLICIES:
        assert a[ties] == pytest.approx(b[ties], abs=1e-12)


@given(scored_rows(), seeds)
def test_excluded_items_never_count(case, seed):
    """Excluding items = deleting their columns; their scores do not matter."""
    scores, targets, exclude = case
    rng = np.random.default_rng(seed)
    noisy = scores.copy()
    e_ptr, e_idx = exclude
    rows = np.repeat(np.arange(scores.shape[0]), np.diff(e_ptr))
    noisy[rows, e_idx] = rng.integers(-3, 10, size=e_idx.size)
    t_ptr, t_idx = targets
    for r in range(scores.shape[0]):
        keep = np.setdiff1d(np.arange(scores.shape[1]), e_idx[e_ptr[r]:e_ptr[r + 1]])
        new_id = np.searchsorted(keep, t_idx[t_ptr[r]:t_ptr[r + 1]])
        one = (np.array([0, new_id.size]), new_id)
        deleted = evaluate_rankings(scores[r:r + 1, keep], one, ks=(1, 3),
                                    metrics=RANK_METRICS, ties="all")
        row_t = (np.array([0, new_id.size]), t_idx[t_ptr[r]:t_ptr[r + 1]])
        row_e = (np.array([0, e_ptr[r + 1] - e_ptr[r]]), e_idx[e_ptr[r]:e_ptr[r + 1]])
        masked = evaluate_rankings(noisy[r:r + 1], row_t, ks=(1, 3), metrics=RANK_METRICS,
                                   ties="all", exclude=row_e)
        for ties in POLICIES:
            assert masked[ties] == pytest.approx(deleted[ties], abs=1e-12)


# -- definitions on a worked example --------------------------------------------------------

def test_recall_definitions_differ_as_documented():
    # 4 targets, 2 of them in the top 2: recall = 2/4, recall_capped@2 = 2/2.
    scores = np.array([[9.0, 8, 7, 6, 5, 4, 3]])
    targets = (np.array([0, 4]), np.array([0, 1, 5, 6]))
    res = evaluate_rankings(scores, targets, ks=2, metrics=("recall", "recall_capped",
                                                              "precision", "map", "ndcg"))
    assert res == pytest.approx({"recall@2": 0.5, "recall_capped@2": 1.0, "precision@2": 1.0,
                                 "map@2": 1.0, "ndcg@2": 1.0})
    res = evaluate_rankings(scores, targets, ks=7, metrics=("map", "ndcg"))
    ap = (1 / 1 + 2 / 2 + 3 / 6 + 4 / 7) / 4
    dcg = 1 + 1 / math.log2(3) + 1 / math.log2(7) + 1 / math.log2(8)
    idcg = sum(1 / math.log2(p + 1) for p in range(1, 5))
    assert res == pytest.approx({"map@7": ap, "ndcg@7": dcg / idcg})


# -- the evaluator ----------------------------------------------------------------------------

@given(scored_rows(max_rows=8), st.integers(1, 7))
def test_batches_accumulate_like_one_call(case, split):
    scores, (t_ptr, t_idx), (e_ptr, e_idx) = case
    split = min(split, scores.shape[0])
    whole = evaluate_rankings(scores, (t_ptr, t_idx), ks=(2, 5), metrics=RANK_METRICS,
                              exclude=(e_ptr, e_idx), ties="all")
    ev = RankingEvaluator(ks=(2, 5), metrics=RANK_METRICS, n_items=scores.shape[1])
    for lo, hi in ((0, split), (split, scores.shape[0])):
        t = (t_ptr[lo:hi + 1] - t_ptr[lo], t_idx[t_ptr[lo]:t_ptr[hi]])
        e = (e_ptr[lo:hi + 1] - e_ptr[lo], e_idx[e_ptr[lo]:e_ptr[hi]])
        ev.add(scores[lo:hi], t, exclude=e)
    assert ev.n_rows == scores.shape[0]
    for ties in POLICIES:
        assert ev.result(ties) == pytest.approx(whole[ties])


def test_target_forms_agree_and_negative_targets_are_skipped():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((5, 8))
    items = np.array([3, -1, 0, 7, -1])
    ev = RankingEvaluator(ks=(3,), metrics=("hit", "mrr"), n_items=8)
    ev.add(scores, items)
    assert (ev.n_rows, ev.n_skipped) == (3, 2)
    dense = np.zeros((5, 8))
    dense[[0, 2, 3], [3, 0, 7]] = 1
    assert evaluate_rankings(scores, sp.csr_array(dense), ks=3, metrics=("hit", "mrr")) \
        == pytest.approx(ev.result())


def test_coverage_counts_items_in_any_top_k_list():
    scores = np.array([[5.0, 4, 3, 2, 1, 0],
                       [0.0, 1, 2, 3, 4, 5]])
    ev = RankingEvaluator(ks=(1, 2), metrics=("coverage",), n_items=6)
    ev.add(scores, np.array([2, 2]), exclude=(np.array([0, 0, 1]), np.array([5])))
    # row 0 lists [0, 1]; row 1 (item 5 excluded) lists [4, 3]
    assert ev.result() == pytest.approx({"coverage@1": 2 / 6, "coverage@2": 4 / 6})


def test_per_row_metric_marks_rows_without_target():
    scores = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    out = per_row_metric(scores, np.array([2, -1]), "mrr", 3)
    assert out[0] == 1.0 and np.isnan(out[1])


def test_mistakes_raise_named_errors():
    with pytest.raises(ConfigError, match="unknown metric"):
        RankingEvaluator(metrics=("recal",))
    with pytest.raises(ConfigError, match="tie policy"):
        RankingEvaluator(ties="random")
    with pytest.raises(ConfigError, match="coverage needs n_items"):
        RankingEvaluator(metrics=("coverage",))
    ev = RankingEvaluator(n_items=4)
    with pytest.raises(DataError, match="columns"):
        ev.add(np.zeros((2, 5)), np.array([0, 1]))
    with pytest.raises(DataError, match="NaN"):
        ev.add(np.array([[0.0, np.nan, 1.0, 2.0]]), np.array([0]))
    with pytest.raises(DataError, match="no row"):
        RankingEvaluator().result()
