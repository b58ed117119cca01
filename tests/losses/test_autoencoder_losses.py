"""Gradient tests for the sparse multinomial likelihood and the squared errors, and their
agreement with the dense formulas they restate."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from nprec.errors import DataError
from nprec.losses import multinomial_nll_backward, multinomial_nll_forward
from nprec.losses.multinomial_sparse import (
    multinomial_nll_sparse_backward,
    multinomial_nll_sparse_forward,
)
from nprec.losses.squared import (
    masked_squared_error_backward,
    masked_squared_error_forward,
    squared_error_backward,
    squared_error_forward,
)
from nprec.testing import check_grads
from nprec.testing.strategies import dims, seeds


def _counts(rng: np.random.Generator, B: int, V: int, empty_row: bool) -> sp.csr_array:
    """Sparse non-negative counts (mostly 0/1 clicks, some larger), maybe an empty row."""
    x = (rng.random((B, V)) < 0.4) * rng.integers(1, 3, (B, V))          # (B, V)
    if empty_row:
        x[0] = 0
    return sp.csr_array(x.astype(np.float64))


@given(seeds, dims(), dims(1, 8), st.booleans(), st.sampled_from([0.5, 3.0, 40.0]))
def test_multinomial_sparse_grads(seed, B, V, empty_row, spread):
    rng = np.random.default_rng(seed)
    X = _counts(rng, B, V, empty_row)
    logits = spread * rng.standard_normal((B, V))
    check_grads(multinomial_nll_sparse_forward, multinomial_nll_sparse_backward, logits, X,
                rng=rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(seed=seeds, B=dims(), V=dims(1, 12), dloss=st.sampled_from([1.0, 0.3]))
def test_multinomial_sparse_equals_the_dense_loss(dtype, seed, B, V, dloss):
    rng = np.random.default_rng(seed)
    X = _counts(rng, B, V, empty_row=False)
    logits = (3.0 * rng.standard_normal((B, V))).astype(dtype)
    loss, cache = multinomial_nll_sparse_forward(logits, X)
    loss_ref, cache_ref = multinomial_nll_forward(logits, X.toarray())
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss, loss_ref, rtol=tol)
    dlogits, dX = multinomial_nll_sparse_backward(dloss, cache)
    dlogits_ref, _ = multinomial_nll_backward(dloss, cache_ref)
    assert dX is None and dlogits.dtype == dtype
    np.testing.assert_allclose(dlogits, dlogits_ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(seed=seeds, B=dims(), V=dims(1, 12))
def test_multinomial_sparse_bias_is_added_first_to_the_bit(dtype, seed, B, V):
    """bias=b gives the loss and gradient of logits + b, bit for bit, and leaves b alone."""
    rng = np.random.default_rng(seed)
    X = _counts(rng, B, V, empty_row=False)
    logits = (3.0 * rng.standard_normal((B, V))).astype(dtype)
    b = rng.standard_normal(V).astype(dtype)
    b_before = b.copy()
    loss, cache = multinomial_nll_sparse_forward(logits, X, bias=b)
    loss_ref, cache_ref = multinomial_nll_sparse_forward(logits + b, X)
    assert loss == loss_ref and loss.dtype == dtype
    np.testing.assert_array_equal(cache.dlogits, cache_ref.dlogits)
    np.testing.assert_array_equal(b, b_before)


def test_multinomial_sparse_overwrite_reuses_the_logits_and_sums_duplicates():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 5))
    X = sp.csr_array((np.ones(3), np.array([1, 1, 4]), np.array([0, 2, 3])), shape=(2, 5))
    assert not X.has_canonical_format            # item 1 twice in row 0: a count of 2
    expected, _ = multinomial_nll_forward(logits, X.toarray())
    loss, cache = multinomial_nll_sparse_forward(logits, X, overwrite=True)
    assert cache.dlogits is logits
    np.testing.assert_allclose(loss, expected)
    with pytest.raises(DataError, match="CSR"):
        multinomial_nll_sparse_forward(logits, X.toarray())
    with pytest.raises(DataError, match="non-negative"):
        multinomial_nll_sparse_forward(logits, sp.csr_array(-np.eye(2, 5)))


@given(seeds, dims(1, 9))
def test_squared_error_grads(seed, N):
    rng = np.random.default_rng(seed)
    check_grads(squared_error_forward, squared_error_backward, rng.standard_normal(N),
                rng.standard_normal(N), rng=rng)


@given(seeds, dims(), dims(1, 7), st.booleans())
def test_masked_squared_error_grads(seed, B, C, empty_row):
    rng = np.random.default_rng(seed)
    observed = rng.random((B, C)) < 0.5                                 # (B, C)
    if empty_row:
        observed[0] = False
    rows, cols = np.nonzero(observed)
    target = sp.csr_array((rng.integers(0, 6, rows.size).astype(np.float64), (rows, cols)),
                          shape=(B, C))                                 # stored zeros kept
    check_grads(masked_squared_error_forward, masked_squared_error_backward,
                rng.standard_normal((B, C)), target, rng=rng)


def test_masked_squared_error_counts_observed_entries_only():
    pred = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, 9.0]])
    target = sp.csr_array((np.array([0.0, 4.0, 1.0]), (np.array([0, 0, 1]),
                                                       np.array([0, 2, 0]))), shape=(2, 3))
    loss, cache = masked_squared_error_forward(pred, target)
    assert loss == pytest.approx(((1 - 0) ** 2 + (3 - 4) ** 2 + (0.5 - 1) ** 2) / 2)
    dpred, _ = masked_squared_error_backward(1.0, cache)
    np.testing.assert_allclose(dpred, [[1.0, 0.0, -1.0], [-0.5, 0.0, 0.0]])
