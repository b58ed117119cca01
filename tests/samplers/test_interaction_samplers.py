"""NCF pointwise instances, BPR triples, uniform and popularity negatives, user batches:
coverage, no negative among a user's items, reproducibility, shapes and dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from nprec.data import Interactions
from nprec.errors import ConfigError, DataError
from nprec.samplers import (
    PopularitySampler,
    bpr_batches,
    negatives_for_users,
    pointwise_batches,
    user_batches,
)
from nprec.testing.strategies import seeds


@st.composite
def interactions(draw, min_free: int = 1):
    """Small implicit data (some users empty), every user with >= min_free unseen items."""
    rng = np.random.default_rng(draw(seeds))
    U, V = draw(st.integers(1, 7)), draw(st.integers(min_free + 1, 12))
    dense = rng.random((U, V)) < rng.uniform(0.1, 0.9)                  # (U, V)
    for u in range(U):
        taken = np.flatnonzero(dense[u])
        extra = taken.size - (V - min_free)
        if extra > 0:
            dense[u, taken[:extra]] = False
    if not dense.any():
        dense[0, 0] = True
    users, items = np.nonzero(dense)
    return Interactions.from_indices(users, items, U, V), dense


def _pairs(users, items, V):
    return users.astype(np.int64) * V + items


@given(interactions(), st.integers(0, 4), st.integers(1, 9), seeds)
def test_pointwise_epoch_covers_every_positive_once_with_n_neg_negatives(case, n_neg, bs, seed):
    data, dense = case
    batches = list(pointwise_batches(data, n_neg, bs, np.random.default_rng(seed)))
    assert all(b.users.size <= bs for b in batches)
    assert all(b.users.size == bs for b in batches[:-1])
    users = np.concatenate([b.users for b in batches])
    items = np.concatenate([b.items for b in batches])
    labels = np.concatenate([b.labels for b in batches])
    assert users.dtype == items.dtype == np.int64 and labels.dtype == np.float32
    assert users.size == data.nnz * (1 + n_neg)
    pos = labels == 1.0
    np.testing.assert_array_equal(np.sort(_pairs(users[pos], items[pos], data.n_items)),
                                  np.sort(_pairs(data.entry_users(), data.indices,
                                                 data.n_items)))
    assert not dense[users[~pos], items[~pos]].any()
    np.testing.assert_array_equal(np.bincount(users[~pos], minlength=data.n_users),
                                  n_neg * data.row_lengths())


def test_pointwise_is_reproducible_and_resampled_every_epoch():
    rng = np.random.default_rng(0)
    data = _random_data(rng)
    first = list(pointwise_batches(data, 4, 64, np.random.default_rng(7)))
    again = list(pointwise_batches(data, 4, 64, np.random.default_rng(7)))
    for a, b in zip(first, again, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    gen = np.random.default_rng(7)
    epoch1 = np.concatenate([b.items for b in pointwise_batches(data, 4, 64, gen)])
    epoch2 = np.concatenate([b.items for b in pointwise_batches(data, 4, 64, gen)])
    assert not np.array_equal(epoch1, epoch2)


def _random_data(rng, U=30, V=50, nnz=300):
    flat = rng.choice(U * V, nnz, replace=False)
    return Interactions.from_indices(flat // V, flat % V, U, V)


@given(interactions(), st.integers(1, 7), seeds)
def test_bpr_triples_per_epoch(case, bs, seed):
    data, dense = case
    batches = list(bpr_batches(data, bs, np.random.default_rng(seed)))
    users = np.concatenate([b.users for b in batches])
    pos = np.concatenate([b.pos for b in batches])
    neg = np.concatenate([b.neg for b in batches])
    assert users.size == data.nnz and users.dtype == pos.dtype == neg.dtype == np.int64
    assert dense[users, pos].all() and not dense[users, neg].any()
    again = list(bpr_batches(data, bs, np.random.default_rng(seed)))
    np.testing.assert_array_equal(np.concatenate([b.neg for b in again]), neg)


def test_bpr_n_triples_and_errors():
    data = _random_data(np.random.default_rng(1))
    assert sum(b.users.size for b in bpr_batches(data, 100, np.random.default_rng(0),
                                                 n_triples=1234)) == 1234
    full = Interactions.from_indices([0, 0, 1], [0, 1, 0], 2, 2)
    with pytest.raises(DataError, match="user 0"):
        next(bpr_batches(full, 4, np.random.default_rng(0)))
    with pytest.raises(ConfigError):
        next(bpr_batches(data, 0, np.random.default_rng(0)))


@given(interactions(min_free=3), st.booleans(), seeds)
def test_negatives_for_users(case, distinct, seed):
    data, dense = case
    users = np.arange(data.n_users).repeat(2)
    neg = negatives_for_users(data, users, 3, np.random.default_rng(seed), distinct=distinct)
    assert neg.shape == (users.size, 3) and neg.dtype == np.int64
    assert not dense[users[:, None], neg].any()
    if distinct:
        assert all(np.unique(row).size == 3 for row in neg)


def test_negatives_for_a_user_without_enough_unseen_items():
    data = Interactions.from_indices([0, 0, 1], [0, 1, 2], 2, 4)
    with pytest.raises(DataError, match="user 0"):
        negatives_for_users(data, np.array([1, 0]), 3, np.random.default_rng(0), distinct=True)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_popularity_sampler_frequencies_follow_counts_to_the_alpha(alpha):
    counts = np.array([0, 1, 5, 20, 0, 74])
    sampler = PopularitySampler(counts, alpha)
    draws = sampler.sample(60_000, np.random.default_rng(3))
    assert draws.dtype == np.int64
    freq = np.bincount(draws, minlength=counts.size)
    assert freq[counts == 0].sum() == 0
    w = counts[counts > 0] ** alpha
    np.testing.assert_allclose(sampler.probabilities[counts > 0], w / w.sum())
    assert chisquare(freq[counts > 0], draws.size * w / w.sum()).pvalue > 1e-4


def test_popularity_sampler_with_an_exponent_whose_powers_overflow():
    # 74^300 overflows float64: the distribution is the limit, the largest count's item
    # almost surely (the others have (c / 74)^300 < 1e-37 of its weight).
    sampler = PopularitySampler(np.array([0, 1, 5, 20, 0, 74]), 300.0)
    assert np.all(np.isfinite(sampler.probabilities))
    np.testing.assert_allclose(sampler.probabilities, [0, 0, 0, 0, 0, 1], atol=1e-30)
    assert np.all(sampler.sample(1000, np.random.default_rng(0)) == 5)


def test_popularity_sampler_validation():
    with pytest.raises(DataError, match="count 0"):
        PopularitySampler(np.zeros(3), 0.5)
    with pytest.raises(DataError, match="non-negative"):
        PopularitySampler(np.array([1, -1]), 0.5)
    with pytest.raises(ConfigError, match="alpha"):
        PopularitySampler(np.ones(3), -0.5)


@given(interactions(), st.integers(1, 5), seeds)
def test_user_batches_visit_every_user_once(case, bs, seed):
    data, dense = case
    batches = list(user_batches(data, bs, np.random.default_rng(seed)))
    users = np.concatenate([b.users for b in batches])
    np.testing.assert_array_equal(np.sort(users), np.arange(data.n_users))
    for b in batches:
        assert b.X.shape == (b.users.size, data.n_items) and b.X.dtype == np.float32
        np.testing.assert_array_equal(b.X.toarray(), dense[b.users].astype(np.float32))
    ordered = list(user_batches(data, bs))
    np.testing.assert_array_equal(np.concatenate([b.users for b in ordered]),
                                  np.arange(data.n_users))


def test_negatives_and_user_batches_are_reproducible_for_a_seed():
    data = _random_data(np.random.default_rng(2))
    users = np.arange(data.n_users)
    for distinct in (False, True):
        a = negatives_for_users(data, users, 5, np.random.default_rng(9), distinct=distinct)
        b = negatives_for_users(data, users, 5, np.random.default_rng(9), distinct=distinct)
        np.testing.assert_array_equal(a, b)
    runs = [[b.users for b in user_batches(data, 8, np.random.default_rng(4))]
            for _ in range(2)]
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
