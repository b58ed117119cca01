"""SKNN and V-SKNN: the compiled kernel against session-rec's algorithm, and hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.data.containers import Sessions
from nprec.errors import ConfigError, UnknownIdError
from nprec.kernels.sknn import SIMILARITIES, sknn_scores, sknn_scores_ref
from nprec.models.baselines import SKNN, VSKNN
from nprec.models.baselines import sknn as sknn_module
from nprec.samplers.prefixes import prefix_batches
from nprec.testing.strategies import seeds

WEIGHTS = ["same", "div", "linear", "quadratic", "log"]

# training sessions in time order: s0 {0,1}, s1 {1,2}, s2 {2,3}, s3 {1,3}
TRAIN = Sessions.from_lists([[0, 1], [1, 2], [2, 3], [1, 3]], n_items=5)


def _score(model, prefix):
    items = np.array([prefix])
    return model.score_prefixes(items, np.ones_like(items, dtype=bool))[0]


@settings(max_examples=30)
@given(seeds, st.booleans(), st.sampled_from(SIMILARITIES), st.sampled_from(WEIGHTS),
       st.sampled_from(WEIGHTS), st.integers(1, 6), st.integers(0, 8), st.integers(0, 2))
def test_kernel_matches_session_rec_algorithm(seed, vsknn, similarity, weighting, decay, k,
                                              sample_size, idf):
    rng = np.random.default_rng(seed)
    V = int(rng.integers(2, 12))
    train = Sessions.from_lists([rng.integers(0, V, size=rng.integers(1, 6)).tolist()
                                 for _ in range(int(rng.integers(1, 25)))], n_items=V,
                                times=None)
    test = Sessions.from_lists([rng.integers(0, V, size=rng.integers(2, 7)).tolist()
                                for _ in range(3)], n_items=V)
    options = dict(weighting=weighting, weighting_score=decay, idf_weighting=idf) \
        if vsknn else {}
    model = (VSKNN if vsknn else SKNN)(k=k, sample_size=sample_size, similarity=similarity,
                                       **options).fit(train)
    for batch in prefix_batches(test, 4, None):
        fast = model.score_prefixes(batch.items, batch.mask)
        sknn_module.sknn_scores = sknn_scores_ref
        try:
            ref = model.score_prefixes(batch.items, batch.mask)
        finally:
            sknn_module.sknn_scores = sknn_scores
        np.testing.assert_allclose(fast, ref, rtol=1e-6, atol=1e-7)


def test_sknn_cosine_by_hand():
    c = 1 / math.sqrt(2)                        # prefix {1} against any 2-item session
    np.testing.assert_allclose(_score(SKNN(k=10, sample_size=0).fit(TRAIN), [1]),
                               [c, 3 * c, c, c, 0], rtol=1e-6)
    # k = 2: three equal similarities, the two most recent sessions (s3, s1) vote
    np.testing.assert_allclose(_score(SKNN(k=2, sample_size=0).fit(TRAIN), [1]),
                               [0, 2 * c, c, c, 0], rtol=1e-6)
    # sample_size = 1: only the most recent session holding item 1 (s3) is a candidate
    np.testing.assert_allclose(_score(SKNN(k=10, sample_size=1).fit(TRAIN), [1]),
                               [0, c, 0, c, 0], rtol=1e-6)
    # jaccard of {1, 2} with s1 = 1, with s0, s2, s3 = 1/3
    np.testing.assert_allclose(_score(SKNN(similarity="jaccard").fit(TRAIN), [1, 2, 1]),
                               [1 / 3, 1 + 2 / 3, 1 + 1 / 3, 2 / 3, 0], rtol=1e-6)


def test_vsknn_by_hand():
    # prefix [2, 1], div weights: w(2) = 1/2, w(1) = 1; vec: overlap weight / 2 items
    #   s0 {0,1} 0.5, s1 {1,2} 0.75, s2 {2,3} 0.25, s3 {1,3} 0.5
    # div decay by the step of the most recent shared click: s2 shares only item 2 -> 1/2
    model = VSKNN(k=10, sample_size=0).fit(TRAIN)
    np.testing.assert_allclose(_score(model, [2, 1]), [0.5, 1.75, 0.875, 0.625, 0],
                               rtol=1e-6)
    # idf weighting: votes for y times 1 + log(4 sessions / clicks(y))
    model = VSKNN(k=10, sample_size=0, idf_weighting=1.0).fit(TRAIN)
    idf = 1 + np.log(4 / np.array([1, 3, 2, 2]))
    np.testing.assert_allclose(_score(model, [2, 1])[:4],
                               np.array([0.5, 1.75, 0.875, 0.625]) * idf, rtol=1e-6)


def test_recency_follows_times_when_given():
    # same sessions, but s0 is the most recent by time
    timed = Sessions(TRAIN.offsets, TRAIN.items, 5, times=np.array([9, 9, 1, 1, 2, 2, 3, 3.]))
    np.testing.assert_allclose(_score(SKNN(k=10, sample_size=1).fit(timed), [1]),
                               [1 / math.sqrt(2), 1 / math.sqrt(2), 0, 0, 0], rtol=1e-6)


def test_unknown_prefix_items_and_bad_options():
    model = SKNN().fit(TRAIN)
    assert _score(model, [4]).sum() == 0.0      # an item no training session holds
    with pytest.raises(UnknownIdError, match="outside"):
        _score(model, [7])
    with pytest.raises(ConfigError, match="weighting"):
        VSKNN(weighting="exp")
    with pytest.raises(ConfigError, match="model.k: must be >= 1"):
        SKNN(k=0)
    with pytest.raises(ConfigError, match="fit"):
        SKNN().score_prefixes(np.zeros((1, 1), int), np.ones((1, 1), bool))
