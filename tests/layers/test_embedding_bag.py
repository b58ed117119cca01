"""The weighted embedding bag (GRU4Rec's session-state input): gradients and special cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.errors import DataError
from nprec.layers import embedding_backward, embedding_forward
from nprec.layers.embedding_bag import embedding_bag_backward, embedding_bag_forward
from nprec.testing import check_grads
from nprec.testing.strategies import seeds


@st.composite
def bag_case(draw):
    """CSR rows over a small table (ids repeat across and within rows), empty rows allowed."""
    rng = np.random.default_rng(draw(seeds))
    B, V, D = draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    lengths = rng.integers(0, 4, B)
    if draw(st.booleans()):
        lengths[0] = 0                                      # an empty row
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    ids = rng.integers(0, V, indptr[-1])
    weights = rng.standard_normal(ids.size)
    return indptr, ids, weights, rng.standard_normal((V, D)), rng


@settings(max_examples=60)
@given(case=bag_case())
def test_embedding_bag_gradients(case):
    indptr, ids, weights, E, rng = case
    check_grads(embedding_bag_forward, embedding_bag_backward, indptr, ids, weights, E,
                rng=rng, nondiff=(2,))


@settings(max_examples=30)
@given(case=bag_case())
def test_embedding_bag_is_a_sparse_matrix_product(case):
    indptr, ids, weights, E, _ = case
    X = np.zeros((indptr.size - 1, E.shape[0]))
    for b in range(X.shape[0]):
        for n in range(indptr[b], indptr[b + 1]):
            X[b, ids[n]] += weights[n]
    out, _ = embedding_bag_forward(indptr, ids, weights, E)
    assert np.allclose(out, X @ E)


def test_one_id_of_weight_one_per_row_is_the_embedding_lookup():
    rng = np.random.default_rng(0)
    E = rng.standard_normal((7, 3)).astype(np.float32)
    ids = np.array([3, 1, 3, 6])
    out, cache = embedding_bag_forward(np.arange(5), ids, np.ones(4), E)
    ref, ref_cache = embedding_forward(ids, E)
    assert out.dtype == np.float32 and np.array_equal(out, ref)
    dout = rng.standard_normal((4, 3)).astype(np.float32)
    g, r = embedding_bag_backward(dout, cache)[3], embedding_backward(dout, ref_cache)[1]
    assert np.array_equal(g.rows, r.rows) and np.allclose(g.values, r.values)


def test_embedding_bag_rejects_a_broken_csr():
    with pytest.raises(DataError, match="CSR"):
        embedding_bag_forward(np.array([0, 2]), np.array([1]), np.ones(1), np.zeros((3, 2)))
