"""`topk_rows` against a full sort with the documented order: score descending, ties by
lower item index, NaN like -inf, -inf last."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nprec.kernels import topk_rows
from nprec.testing.strategies import seeds


@given(seeds, st.integers(1, 6), st.integers(1, 30), st.data())
def test_topk_equals_the_head_of_a_full_sort(seed, B, V, data):
    rng = np.random.default_rng(seed)
    k = data.draw(st.integers(1, V))
    scores = rng.integers(-3, 4, (B, V)).astype(np.float64)             # (B, V) many ties
    scores[rng.random((B, V)) < 0.2] = -np.inf
    scores[rng.random((B, V)) < 0.05] = np.nan
    top = topk_rows(scores, k)
    key = np.where(np.isnan(scores), -np.inf, scores)
    for b in range(B):
        order = np.lexsort((np.arange(V), -key[b]))        # by -score, then by index
        np.testing.assert_array_equal(top[b], order[:k])


def test_topk_tie_order_and_masked_items():
    scores = np.array([[1.0, 5.0, 5.0, -np.inf, 2.0, 5.0]])
    np.testing.assert_array_equal(topk_rows(scores, 4), [[1, 2, 5, 4]])
    np.testing.assert_array_equal(topk_rows(scores, 6), [[1, 2, 5, 4, 0, 3]])
    const = np.zeros((2, 5), dtype=np.float32)
    np.testing.assert_array_equal(topk_rows(const, 3), [[0, 1, 2], [0, 1, 2]])


def test_topk_rejects_bad_k():
    with pytest.raises(ValueError, match="k=4"):
        topk_rows(np.zeros((1, 3)), 4)
    with pytest.raises(ValueError, match="k=0"):
        topk_rows(np.zeros((1, 3)), 0)
