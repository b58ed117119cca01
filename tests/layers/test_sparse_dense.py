"""Gradient tests for the sparse-input affine layer, and its agreement with `dense`."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from nprec.layers import dense_backward, dense_forward, dropout_mask, dropout_sparse_input
from nprec.layers.sparse_dense import sparse_dense_backward, sparse_dense_forward
from nprec.testing import check_grads
from nprec.testing.strategies import dims, seeds


def _sparse(rng: np.random.Generator, B: int, I: int, density: float) -> sp.csr_array:
    """A random CSR matrix; rows may be empty (a user with nothing folded in)."""
    dense = (rng.random((B, I)) < density) * rng.standard_normal((B, I))   # (B, I)
    return sp.csr_array(dense)


@given(seeds, dims(), dims(1, 7), dims(), st.sampled_from([0.0, 0.3, 1.0]))
def test_sparse_dense_grads(seed, B, I, O, density):
    rng = np.random.default_rng(seed)
    X = _sparse(rng, B, I, density)
    W, b = rng.standard_normal((I, O)), rng.standard_normal(O)
    check_grads(sparse_dense_forward, sparse_dense_backward, X, W, b, rng=rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(seed=seeds, B=dims(), I=dims(1, 9), O=dims())
def test_sparse_dense_equals_dense_on_the_densified_input(dtype, seed, B, I, O):
    rng = np.random.default_rng(seed)
    X = _sparse(rng, B, I, 0.4)
    W = rng.standard_normal((I, O)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    dy = rng.standard_normal((B, O)).astype(dtype)
    y, cache = sparse_dense_forward(X, W, b)
    y_ref, cache_ref = dense_forward(X.toarray().astype(dtype), W, b)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert y.dtype == dtype
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
    dX, dW, db = sparse_dense_backward(dy, cache)
    _, dW_ref, db_ref = dense_backward(dy, cache_ref)
    assert dX is None and dW.dtype == dtype
    np.testing.assert_allclose(dW, dW_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(db, db_ref, rtol=tol, atol=tol)


def test_sparse_dense_refuses_a_dense_or_misshapen_input():
    W, b = np.ones((4, 2)), np.zeros(2)
    with pytest.raises(ValueError, match="CSR"):
        sparse_dense_forward(np.ones((3, 4)), W, b)
    with pytest.raises(ValueError, match="columns"):
        sparse_dense_forward(sp.csr_array(np.ones((3, 5))), W, b)


@given(seed=seeds, B=dims(), I=dims(1, 9), p=st.sampled_from([0.0, 0.5, 0.9]))
def test_dropout_sparse_input_is_dropout_on_the_dense_matrix_without_stored_zeros(seed, B, I, p):
    rng = np.random.default_rng(seed)
    X = _sparse(rng, B, I, 0.5)
    mask = dropout_mask(rng, (X.nnz,), p, dtype=np.float64)           # (nnz,)
    dense_mask = np.zeros((B, I))
    dense_mask[np.repeat(np.arange(B), np.diff(X.indptr)), X.indices] = mask
    Xd = dropout_sparse_input(X, mask)
    np.testing.assert_array_equal(Xd.toarray(), X.toarray() * dense_mask)
    assert Xd.nnz == np.count_nonzero(mask)                             # dropped entries left
    assert Xd.indptr.size == B + 1 and Xd.indptr[-1] == Xd.nnz
    # The sparse layer on the compact matrix gives exactly what it gives with stored zeros,
    # forward and backward.
    W, b = rng.standard_normal((I, 3)), rng.standard_normal(3)
    dy = rng.standard_normal((B, 3))
    zeros_kept = sp.csr_array((X.data * mask, X.indices, X.indptr), shape=X.shape)
    y, cache = sparse_dense_forward(Xd, W, b)
    y_zeros, cache_zeros = sparse_dense_forward(zeros_kept, W, b)
    np.testing.assert_array_equal(y, y_zeros)
    np.testing.assert_array_equal(sparse_dense_backward(dy, cache)[1],
                                  sparse_dense_backward(dy, cache_zeros)[1])


def test_dropout_sparse_input_refuses_a_mask_of_another_size():
    with pytest.raises(ValueError, match="mask"):
        dropout_sparse_input(sp.csr_array(np.eye(3)), np.ones(2))
