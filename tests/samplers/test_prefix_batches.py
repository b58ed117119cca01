"""NARM's (prefix, next item) batches: every sample once per epoch, left-aligned padding with
a mask, most recent items kept under max_len, bucketing reduces padding, reproducible."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nprec.data import Sessions
from nprec.errors import ConfigError
from nprec.samplers import prefix_batches
from nprec.testing.strategies import seeds


@st.composite
def session_lists(draw):
    rng = np.random.default_rng(draw(seeds))
    lengths = rng.integers(0, 7, draw(st.integers(1, 10)))   # empty and length-1 included
    return [list(rng.integers(0, 6, n)) for n in lengths]


def naive_samples(lists, max_len=None):
    out = Counter()
    for s in lists:
        for end in range(1, len(s)):
            prefix = s[:end] if max_len is None else s[max(0, end - max_len):end]
            out[(tuple(int(i) for i in prefix), int(s[end]))] += 1
    return out


def batch_samples(batches):
    out = Counter()
    for b in batches:
        for row, m, t in zip(b.items, b.mask, b.targets, strict=True):
            out[(tuple(row[m].tolist()), int(t))] += 1
    return out


@given(session_lists(), st.integers(1, 5), st.sampled_from([None, 1, 2, 3]),
       st.sampled_from([None, 1, 3]), st.none() | seeds)
def test_every_prefix_once_per_epoch(lists, bs, max_len, bucket, seed):
    sessions = Sessions.from_lists(lists, n_items=6)
    rng = None if seed is None else np.random.default_rng(seed)
    batches = list(prefix_batches(sessions, bs, rng, max_len=max_len, bucket=bucket))
    assert batch_samples(batches) == naive_samples(lists, max_len)
    for b in batches:
        B, T = b.items.shape
        assert 1 <= B <= bs and b.mask.shape == (B, T) and b.targets.shape == (B,)
        assert b.items.dtype == b.targets.dtype == np.int64 and b.mask.dtype == bool
        lengths = b.mask.sum(axis=1)
        assert lengths.min() >= 1 and lengths.max() == T
        assert max_len is None or T <= max_len
        np.testing.assert_array_equal(b.mask, np.arange(T) < lengths[:, None])  # left-aligned
        assert not b.items[~b.mask].any()                                       # padded with 0


def test_prefixes_of_one_session_in_order():
    sessions = Sessions.from_lists([[3, 1, 4, 1, 5]])
    (b,) = prefix_batches(sessions, 10, None, max_len=2)
    np.testing.assert_array_equal(b.items, [[3, 0], [3, 1], [1, 4], [4, 1]])
    np.testing.assert_array_equal(b.targets, [1, 4, 1, 5])


def test_bucketing_reduces_padding_and_is_reproducible():
    rng = np.random.default_rng(0)
    lists = [list(rng.integers(0, 50, n)) for n in rng.integers(2, 40, 300)]
    sessions = Sessions.from_lists(lists, n_items=50)

    def padding(bucket, seed):
        return sum((~b.mask).sum() for b in prefix_batches(
            sessions, 32, np.random.default_rng(seed), bucket=bucket))

    assert padding(20, 1) < 0.5 * padding(None, 1)
    runs = [[b.targets for b in prefix_batches(sessions, 32, np.random.default_rng(5),
                                               bucket=20)] for _ in range(2)]
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_options():
    with pytest.raises(ConfigError, match="max_len"):
        next(prefix_batches(Sessions.from_lists([[1, 2]]), 4, None, max_len=0))
