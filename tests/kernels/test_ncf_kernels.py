"""NCF's and logistic MF's fused kernels against their NumPy twins, in float32 and float64.

The cases cover logits from tiny to saturated (|s| up to 1e4, where exp(-|s|) underflows
and a naive sigmoid or softplus would overflow), labels 0 and 1 and in between, and a batch
of one row.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_cases import bce_output_case, logistic_mf_case

from nprec.kernels.ncf import (
    add_bias_relu,
    add_bias_relu_ref,
    bce_output,
    bce_output_ref,
    logistic_mf,
    logistic_mf_ref,
    relu_bias_grad,
    relu_bias_grad_ref,
)
from nprec.testing.strategies import seeds

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_bce_output_matches_its_twin(dtype, data):
    phi, h, b, labels = data.draw(bce_output_case(dtype))
    fast = bce_output(phi, h, b, labels)
    ref = bce_output_ref(phi, h, b, labels)
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    s = np.abs(phi.astype(np.float64) @ h).max() + abs(b)
    # A logit is a sum of F products: its rounding error grows with the terms' size.
    atol = rtol * (1.0 + s)
    assert np.isfinite(fast[0]) and np.isfinite(fast[3])
    np.testing.assert_allclose(fast[0], ref[0], rtol=rtol, atol=atol)
    for got, want in zip(fast[1:], ref[1:], strict=True):
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_allclose(got, want, rtol=rtol,
                                   atol=rtol * (1 + np.abs(phi).max() + np.abs(h).max()))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_output_saturates_without_overflow(dtype):
    phi = np.array([[1e4], [-1e4], [1e4], [-1e4]], dtype=dtype)
    h = np.ones(1, dtype=dtype)
    labels = np.array([1, 0, 0, 1], dtype=dtype)
    for kernel in (bce_output, bce_output_ref):
        loss, dphi, dh, db = kernel(phi, h, 0.0, labels)
        # Two confident right answers cost 0, two confident wrong ones 1e4 each.
        np.testing.assert_allclose(loss, 2e4 / 4, rtol=1e-6)
        np.testing.assert_array_equal(dphi[:, 0], np.array([0, 0, 0.25, -0.25], dtype=dtype))


def test_bce_output_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="bce_output"):
        bce_output(np.zeros((3, 2)), np.zeros(3), 0.0, np.zeros(3))
    with pytest.raises(ValueError, match="bce_output"):
        bce_output_ref(np.zeros((3, 2)), np.zeros(2), 0.0, np.zeros(2))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_logistic_mf_matches_its_twin(dtype, data):
    p, q, b_u, b_i, b, labels, lam = data.draw(logistic_mf_case(dtype))
    fast = logistic_mf(p, q, b_u, b_i, b, labels, lam)
    ref = logistic_mf_ref(p, q, b_u, b_i, b, labels, lam)
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    size = 1.0 + float(np.abs(p).max() * np.abs(q).max() * p.shape[1])
    np.testing.assert_allclose(fast[0], ref[0], rtol=rtol, atol=rtol * size * (1 + lam * size))
    for got, want in zip(fast[1:], ref[1:], strict=True):
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * size)


def test_logistic_mf_rejects_mismatched_shapes():
    z = np.zeros((3, 2))
    with pytest.raises(ValueError, match="logistic_mf"):
        logistic_mf(z, np.zeros((3, 3)), np.zeros(3), np.zeros(3), 0.0, np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="logistic_mf"):
        logistic_mf_ref(z, z, np.zeros(2), np.zeros(3), 0.0, np.zeros(3), 0.0)


@st.composite
def relu_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    B, O = draw(st.integers(1, 9)), draw(st.integers(1, 12))
    a = rng.standard_normal((B, O)).astype(dtype)                       # (B, O)
    a[rng.random((B, O)) < 0.2] = 0.0                                   # exact zeros too
    b = rng.standard_normal(O).astype(dtype)
    if draw(st.booleans()):
        b[:] = 0.0
    dy = rng.standard_normal((B, O)).astype(dtype)
    return a, b, dy


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_add_bias_relu_and_its_gradient_match_their_twins(dtype, data):
    a, b, dy = data.draw(relu_case(dtype))
    fast, ref = a.copy(), a.copy()
    add_bias_relu(fast, b)
    add_bias_relu_ref(ref, b)
    np.testing.assert_array_equal(fast, ref)
    da, db = relu_bias_grad(dy, fast)
    da_ref, db_ref = relu_bias_grad_ref(dy, ref)
    np.testing.assert_array_equal(da, da_ref)
    assert db.dtype == db_ref.dtype == dtype
    np.testing.assert_allclose(db, db_ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6)


def test_relu_kernels_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="add_bias_relu"):
        add_bias_relu(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="add_bias_relu"):
        add_bias_relu(np.zeros((3, 2)).T, np.zeros(3))
    with pytest.raises(ValueError, match="relu_bias_grad"):
        relu_bias_grad_ref(np.zeros((2, 3)), np.zeros((3, 2)))
