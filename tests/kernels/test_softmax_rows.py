"""The one-pass softmax losses against their twins, float32 and float64: softmax
cross-entropy with one target per row (NARM) and the multinomial likelihood of sparse counts
(Mult-DAE, Mult-VAE).

Both twins overwrite the logits with the gradient, so each gets its own copy; the losses and
the arrays they leave behind must agree. The cases cover what the fast float32 path does
differently: the integer-key row max (negative rows, -0.0, ties), the polynomial exp over
its whole range (logit spreads up to 1e3, so terms underflow), -inf logits and NaN; and, for
counts, empty rows, repeated columns and fractional counts.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_cases import softmax_ce_case, softmax_counts_case

from nprec.kernels.softmax_rows import (
    softmax_ce_rows,
    softmax_ce_rows_ref,
    softmax_counts_rows,
    softmax_counts_rows_ref,
)
from nprec.testing.strategies import seeds

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_softmax_ce_rows_matches_its_twin(dtype, data):
    logits, targets, scale = data.draw(softmax_ce_case(dtype))
    fast_grad, ref_grad = logits.copy(), logits.copy()
    fast_loss = softmax_ce_rows(fast_grad, targets, scale)
    ref_loss = softmax_ce_rows_ref(ref_grad, targets, scale)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fast_loss, ref_loss, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(fast_grad, ref_grad, rtol=tol * 10, atol=tol * scale)
    assert fast_grad.dtype == dtype and fast_loss.dtype == np.float64


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_ce_rows_is_the_textbook_formula(dtype):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 9)).astype(dtype)
    targets = np.array([0, 8, 4])
    p = np.exp(logits.astype(np.float64))
    p /= p.sum(axis=1, keepdims=True)                                   # (3, 9) softmax
    grad = logits.copy()
    loss = softmax_ce_rows(grad, targets, 0.5)
    np.testing.assert_allclose(loss, -np.log(p[np.arange(3), targets]), rtol=1e-6)
    p[np.arange(3), targets] -= 1.0
    np.testing.assert_allclose(grad, 0.5 * p, atol=1e-7)


def test_float32_exp_is_accurate_over_its_range():
    # Row [0, x]: the gradient's second entry is softmax = e^x / (1 + e^x) for x <= 0.
    x = -np.linspace(0.0, 87.0, 20001).astype(np.float32)               # (N,)
    logits = np.stack([np.zeros_like(x), x], axis=1)                    # (N, 2)
    softmax_ce_rows(logits, np.zeros(x.size, dtype=np.int64), 1.0)
    exact = np.exp(x.astype(np.float64)) / (1.0 + np.exp(x.astype(np.float64)))
    np.testing.assert_allclose(logits[:, 1], exact, rtol=3e-7, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_nan_score_makes_the_row_loss_nan(dtype):
    logits = np.zeros((3, 5), dtype=dtype)
    logits[0, 2] = np.nan
    logits[1, 3] = -np.float32(np.nan)            # negative NaN: sign bit set
    with np.errstate(invalid="ignore"):
        loss = softmax_ce_rows(logits, np.array([0, 0, 0]), 1.0)
    assert np.isnan(loss[0]) and np.isnan(loss[1]) and np.isfinite(loss[2])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="outside"):
        softmax_ce_rows(np.zeros((2, 3), np.float32), np.array([0, 3]), 1.0)
    with pytest.raises(ValueError, match="C-contiguous"):
        softmax_ce_rows(np.zeros((3, 2), np.float32).T, np.array([0, 1]), 1.0)
    with pytest.raises(ValueError, match="float32 or float64"):
        softmax_ce_rows(np.zeros((2, 3), np.float16), np.array([0, 1]), 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_softmax_counts_rows_matches_its_twin(dtype, data):
    logits, indptr, cols, counts, scale = data.draw(softmax_counts_case(dtype))
    fast_grad, ref_grad = logits.copy(), logits.copy()
    fast_loss = softmax_counts_rows(fast_grad, indptr, cols, counts, scale)
    ref_loss = softmax_counts_rows_ref(ref_grad, indptr, cols, counts, scale)
    rows = np.repeat(np.arange(logits.shape[0]), np.diff(indptr))
    n = np.bincount(rows, weights=counts, minlength=logits.shape[0]).max()  # largest total
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fast_loss, ref_loss, rtol=tol, atol=tol * 10 * (1 + n))
    np.testing.assert_allclose(fast_grad, ref_grad, rtol=tol * 10, atol=tol * scale * (1 + n))
    assert fast_grad.dtype == dtype and fast_loss.dtype == np.float64


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_counts_rows_is_the_textbook_formula(dtype):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 8)).astype(dtype)
    X = np.zeros((3, 8))
    X[0, [1, 5]] = [1.0, 2.0]
    X[2, 7] = 0.5                                                       # row 1: no counts
    indptr = np.array([0, 2, 2, 3])
    cols, counts = np.array([1, 5, 7]), np.array([1.0, 2.0, 0.5])
    logp = logits.astype(np.float64)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))            # (3, 8) log softmax
    grad = logits.copy()
    loss = softmax_counts_rows(grad, indptr, cols, counts, 0.5)
    np.testing.assert_allclose(loss, -(X * logp).sum(axis=1), rtol=1e-6, atol=1e-12)
    expected = 0.5 * (X.sum(axis=1, keepdims=True) * np.exp(logp) - X)
    np.testing.assert_allclose(grad, expected, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_target_per_row_is_softmax_ce_rows(dtype):
    rng = np.random.default_rng(2)
    logits = (5 * rng.standard_normal((6, 40))).astype(dtype)
    targets = rng.integers(0, 40, 6)
    ce, counts = logits.copy(), logits.copy()
    ce_loss = softmax_ce_rows(ce, targets, 0.125)
    counts_loss = softmax_counts_rows(counts, np.arange(7), targets, np.ones(6), 0.125)
    np.testing.assert_array_equal(ce_loss, counts_loss)
    np.testing.assert_array_equal(ce, counts)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_a_bias_given_is_added_first_to_the_bit(dtype, data):
    """softmax_counts_rows(logits, ..., bias) is softmax_counts_rows(logits + bias, ...): the
    same loss and gradient bit for bit (Mult-DAE and Mult-VAE rely on it to keep their
    numbers), in the kernel and in its twin."""
    logits, indptr, cols, counts, scale = data.draw(softmax_counts_case(dtype))
    rng = np.random.default_rng(data.draw(seeds))
    bias = (rng.choice([1e-3, 1.0, 30.0]) * rng.standard_normal(logits.shape[1])).astype(dtype)
    for kernel in (softmax_counts_rows, softmax_counts_rows_ref):
        fused, added = logits.copy(), logits + bias
        fused_loss = kernel(fused, indptr, cols, counts, scale, bias=bias)
        added_loss = kernel(added, indptr, cols, counts, scale)
        np.testing.assert_array_equal(fused_loss, added_loss)
        np.testing.assert_array_equal(fused, added)


def test_a_bias_of_the_wrong_size_or_dtype_is_refused():
    for bias in (np.zeros(2, np.float32), np.zeros(3, np.float64), np.zeros((1, 3), np.float32)):
        with pytest.raises(ValueError, match="bias must be"):
            softmax_counts_rows(np.zeros((2, 3), np.float32), np.array([0, 1, 1]),
                                np.array([0]), np.ones(1), 1.0, bias=bias)


def test_bad_counts_are_refused():
    logits = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="row pointers"):
        softmax_counts_rows(logits, np.array([0, 1]), np.array([0]), np.ones(1), 1.0)
    with pytest.raises(ValueError, match="row pointers"):
        softmax_counts_rows(logits, np.array([0, 2, 1]), np.array([0]), np.ones(1), 1.0)
    with pytest.raises(ValueError, match="outside"):
        softmax_counts_rows(logits, np.array([0, 1, 1]), np.array([3]), np.ones(1), 1.0)
    with pytest.raises(ValueError, match="same shape"):
        softmax_counts_rows(logits, np.array([0, 1, 1]), np.array([0]), np.ones(2), 1.0)
