"""Properties of the sampling kernels: negatives avoid positives and are uniform, CDF draws
follow their distribution, BPR users follow their activity, bad inputs raise.

The distribution tests use fixed seeds and a chi-square test at p > 1e-4: a biased sampler
(one off-by-one in the complement mapping) fails them by many orders of magnitude.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from nprec.kernels import (
    sample_bpr_triples,
    sample_cdf,
    sample_negatives,
    sample_negatives_distinct,
    standard_normal,
)
from nprec.testing.strategies import seeds


def _csr_from_rows(rows: list[list[int]]):
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    indices = np.array([i for r in rows for i in sorted(r)], dtype=np.int32)
    return indptr, indices


@st.composite
def csr_rows(draw):
    """(indptr, indices, V, dense) with every row leaving at least one item free."""
    rng = np.random.default_rng(draw(seeds))
    U, V = draw(st.integers(1, 6)), draw(st.integers(1, 20))
    dense = rng.random((U, V)) < draw(st.floats(0.0, 1.0))             # (U, V)
    dense[np.arange(U), rng.integers(0, V, U)] = False
    indptr = np.zeros(U + 1, dtype=np.int64)
    np.cumsum(dense.sum(axis=1), out=indptr[1:])
    return indptr, np.nonzero(dense)[1].astype(np.int32), V, dense, rng


@given(csr_rows())
def test_negatives_never_hit_a_positive(case):
    indptr, indices, V, dense, rng = case
    users = rng.integers(0, dense.shape[0], 200)
    neg = sample_negatives(indptr, indices, users, V, rng.random(200))
    assert neg.dtype == np.int64
    assert np.all((neg >= 0) & (neg < V))
    assert not dense[users, neg].any()


@given(csr_rows(), st.integers(1, 5))
def test_distinct_negatives_are_distinct_and_negative(case, n):
    indptr, indices, V, dense, rng = case
    free = V - dense.sum(axis=1)
    users = np.flatnonzero(free >= n)
    neg = sample_negatives_distinct(indptr, indices, users, V, rng.random((users.size, n)))
    assert neg.shape == (users.size, n)
    assert not dense[users[:, None], neg].any()
    assert all(np.unique(row).size == n for row in neg)


def test_negatives_are_uniform_over_the_complement():
    rng = np.random.default_rng(0)
    positives = [0, 1, 4, 5, 6, 11, 17, 18, 19]                         # edges and runs
    indptr, indices = _csr_from_rows([positives])
    V, n = 20, 55_000
    neg = sample_negatives(indptr, indices, np.zeros(n, dtype=np.int64), V, rng.random(n))
    counts = np.bincount(neg, minlength=V)
    assert counts[positives].sum() == 0
    free = np.setdiff1d(np.arange(V), positives)
    assert chisquare(counts[free]).pvalue > 1e-4


def test_distinct_negatives_include_each_free_item_equally_often():
    rng = np.random.default_rng(1)
    positives = [2, 3, 9]
    indptr, indices = _csr_from_rows([positives])
    V, n, N = 12, 4, 20_000                                             # 9 free items
    neg = sample_negatives_distinct(indptr, indices, np.zeros(N, dtype=np.int64), V,
                                    rng.random((N, n)))
    counts = np.bincount(neg.ravel(), minlength=V)
    free = np.setdiff1d(np.arange(V), positives)
    assert chisquare(counts[free]).pvalue > 1e-4          # inclusion probability n/9 each


def test_distinct_negative_pairs_are_uniform_subsets():
    rng = np.random.default_rng(4)
    indptr, indices = _csr_from_rows([[1, 4]])
    V, N = 8, 30_000                                      # 6 free items: 15 possible pairs
    neg = np.sort(sample_negatives_distinct(indptr, indices, np.zeros(N, dtype=np.int64), V,
                                            rng.random((N, 2))), axis=1)
    _, counts = np.unique(neg[:, 0] * V + neg[:, 1], return_counts=True)
    assert counts.size == 15
    assert chisquare(counts).pvalue > 1e-4


def test_cdf_draws_follow_the_distribution():
    rng = np.random.default_rng(2)
    w = np.array([3.0, 0.0, 1.0, 0.5, 0.0, 4.0, 1.5, 0.0])            # zeros inside and last
    cdf = np.cumsum(w) / w.sum()
    cdf[np.flatnonzero(w)[-1]:] = 1.0
    n = 50_000
    counts = np.bincount(sample_cdf(cdf, rng.random(n)), minlength=w.size)
    assert counts[w == 0].sum() == 0
    assert chisquare(counts[w > 0], n * w[w > 0] / w.sum()).pvalue > 1e-4


def test_bpr_triples_users_follow_their_activity():
    rng = np.random.default_rng(3)
    rows = [[0, 3], [1], [], [0, 2, 4, 5, 6], [7]]
    indptr, indices = _csr_from_rows(rows)
    V, n = 9, 40_000
    users, pos, neg = sample_bpr_triples(indptr, indices, V, rng.random(n), rng.random(n))
    lengths = np.array([len(r) for r in rows])
    counts = np.bincount(users, minlength=len(rows))
    assert counts[2] == 0
    assert chisquare(counts[lengths > 0], n * lengths[lengths > 0] / lengths.sum()).pvalue > 1e-4
    dense = np.zeros((len(rows), V), dtype=bool)
    for u, r in enumerate(rows):
        dense[u, r] = True
    assert dense[users, pos].all() and not dense[users, neg].any()
    # the positive is uniform among the user's items: user 3's five items
    items3 = np.bincount(pos[users == 3], minlength=V)[[0, 2, 4, 5, 6]]
    assert chisquare(items3).pvalue > 1e-4


def test_a_user_with_every_item_has_no_negative():
    indptr, indices = _csr_from_rows([[0], [0, 1, 2]])
    with pytest.raises(ValueError, match="user 1"):
        sample_negatives(indptr, indices, np.array([0, 1]), 3, np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="user 0"):
        sample_negatives_distinct(indptr, indices, np.array([0]), 3, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="user 1"):
        sample_bpr_triples(indptr, indices, 3, np.array([0.5]), np.array([0.5]))


def test_cdf_must_end_at_one():
    with pytest.raises(ValueError, match="1.0"):
        sample_cdf(np.array([0.2, 0.9]), np.array([0.5]))


@given(seed=seeds, shape=st.lists(st.integers(0, 40), max_size=3),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_standard_normal_is_numpys_draws_to_the_bit(seed, shape, dtype):
    """The same numbers as Generator.standard_normal, and the generator left in the same
    state: a run that switches between the two draws the same noise from the same seed."""
    fast, ref = np.random.default_rng(seed), np.random.default_rng(seed)
    x = standard_normal(fast, tuple(shape), dtype)
    y = ref.standard_normal(tuple(shape)).astype(dtype)
    assert x.dtype == dtype and x.shape == y.shape
    np.testing.assert_array_equal(x, y)
    assert fast.bit_generator.state == ref.bit_generator.state


def test_standard_normal_follows_the_normal_distribution():
    x = standard_normal(np.random.default_rng(0), (200_000,), np.float64)
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1.0) < 0.01
    assert abs((np.abs(x) > 3.0).mean() - 0.0027) < 0.0005          # both tails' mass


def test_standard_normal_rejects_what_it_cannot_draw():
    with pytest.raises(TypeError, match="rng must be a np.random.Generator"):
        standard_normal(np.random.RandomState(0), (2,), np.float32)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        standard_normal(np.random.default_rng(0), (2,), np.int64)
