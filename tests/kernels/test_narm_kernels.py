"""NARM's kernels against their twins, float32 and float64: the fused softmax cross-entropy,
and the masked GRU sequence against the GRU layer.

Both twins overwrite the logits with the gradient, so each gets its own copy; the losses and
the arrays they leave behind must agree. The cases cover what the fast float32 path does
differently: the integer-key row max (negative rows, -0.0, ties), the polynomial exp over
its whole range (logit spreads up to 1e3, so terms underflow), -inf logits and NaN.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_cases import gru_sequence_case, softmax_ce_case

from nprec.kernels.narm import (
    bilinear_scores_into,
    bilinear_scores_into_ref,
    softmax_ce_rows,
    softmax_ce_rows_ref,
)
from nprec.kernels.narm_gru import (
    gru_sequence_backward,
    gru_sequence_backward_ref,
    gru_sequence_forward,
    gru_sequence_forward_ref,
)

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
def test_gru_sequence_matches_the_gru_layer(dtype, data):
    *args, dhs = data.draw(gru_sequence_case(dtype))
    hs, cache = gru_sequence_forward(*args)
    hs_ref, cache_ref = gru_sequence_forward_ref(*args)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(hs, hs_ref, rtol=tol, atol=tol)
    grads = gru_sequence_backward(dhs, cache)
    grads_ref = gru_sequence_backward_ref(dhs, cache_ref)
    assert len(grads) == len(grads_ref) == 7 and grads[1] is None and grads_ref[1] is None
    for g, g_ref in zip(grads, grads_ref, strict=True):
        if g_ref is not None:
            assert g.dtype == g_ref.dtype == dtype
            np.testing.assert_allclose(g, g_ref, rtol=tol * 5, atol=tol * 5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bilinear_scores_into_matches_the_layer(dtype):
    rng = np.random.default_rng(3)
    c, E, Bm = (rng.standard_normal(s).astype(dtype) for s in ((4, 6), (9, 3), (3, 6)))
    out, ref_out = np.empty((4, 9), dtype), np.empty((4, 9), dtype)
    scores, cache = bilinear_scores_into(c, E, Bm, out)
    ref, ref_cache = bilinear_scores_into_ref(c, E, Bm, ref_out)
    assert scores is out
    np.testing.assert_allclose(scores, ref, rtol=1e-6)
    np.testing.assert_allclose(cache.u, ref_cache.u, rtol=1e-6)
    with pytest.raises(ValueError, match="C-contiguous"):
        bilinear_scores_into(c, E, Bm, np.empty((9, 4), dtype).T)
