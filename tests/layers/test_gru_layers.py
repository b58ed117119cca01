"""Gradient and semantics tests for the GRU step and the masked GRU sequence (BPTT)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nprec.errors import DataError
from nprec.layers import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from nprec.testing import check_grads
from nprec.testing.strategies import dims, padded_sequences, seeds


def gru_params(rng: np.random.Generator, D: int, H: int, scale: float = 0.8,
               dtype: np.dtype = np.float64) -> tuple[np.ndarray, ...]:
    """W (D, 3H), U_zr (H, 2H), U_h (H, H), b (3H,), standard normal times scale."""
    shapes = [(D, 3 * H), (H, 2 * H), (H, H), (3 * H,)]
    return tuple((scale * rng.standard_normal(s)).astype(dtype) for s in shapes)


@st.composite
def gru_cases(draw: st.DrawFn, random_gaps: bool = False):
    """(x, mask, h0, W, U_zr, U_h, b, rng): left-aligned sequences (lengths 0..T, a length-1
    row forced often) or, with random_gaps, any pattern of real and padded steps."""
    mask, rng = draw(padded_sequences(max_batch=4, max_steps=5))
    B, T = mask.shape
    if random_gaps:
        mask = rng.random((B, T)) < 0.6                                 # gaps, empty rows
    D, H = draw(dims(1, 3)), draw(dims(1, 3))
    x = rng.standard_normal((B, T, D))
    h0 = 0.5 * rng.standard_normal((B, H))
    return (x, mask, h0, *gru_params(rng, D, H), rng)


@given(seeds, dims(1, 4), dims(1, 3), dims(1, 4))
def test_gru_step_grads(seed, B, D, H):
    rng = np.random.default_rng(seed)
    x, h_prev = rng.standard_normal((B, D)), rng.standard_normal((B, H))
    check_grads(gru_step_forward, gru_step_backward, x, h_prev, *gru_params(rng, D, H), rng=rng)


@given(gru_cases())
def test_gru_grads_through_padded_sequences(case):
    *args, rng = case
    check_grads(gru_forward, gru_backward, *args, rng=rng)


@given(gru_cases(random_gaps=True))
def test_gru_grads_with_gaps_in_the_mask(case):
    *args, rng = case
    check_grads(gru_forward, gru_backward, *args, rng=rng)


@given(gru_cases(random_gaps=True))
def test_gru_masked_steps_carry_the_state_exactly(case):
    x, mask, h0, W, U_zr, U_h, b, rng = case
    hs, cache = gru_forward(x, mask, h0, W, U_zr, U_h, b)
    prev = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)            # (B, T, H)
    np.testing.assert_array_equal(hs[~mask], prev[~mask])
    # Inputs at padded steps are never read: changing them changes nothing ...
    x2 = x.copy()
    x2[~mask] = 1e3 * rng.standard_normal(x2[~mask].shape)
    np.testing.assert_array_equal(gru_forward(x2, mask, h0, W, U_zr, U_h, b)[0], hs)
    # ... and get exactly zero gradient.
    dx = gru_backward(rng.standard_normal(hs.shape), cache)[0]
    assert not dx[~mask].any()


def test_gru_fully_padded_batch_returns_h0_and_passes_the_gradient_to_it():
    rng = np.random.default_rng(0)
    x, h0 = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 4))
    mask = np.zeros((2, 3), dtype=bool)
    hs, cache = gru_forward(x, mask, h0, *gru_params(rng, 2, 4))
    np.testing.assert_array_equal(hs, np.broadcast_to(h0[:, None], hs.shape))
    dhs = rng.standard_normal(hs.shape)
    dx, _, dh0, dW, dU_zr, dU_h, db = gru_backward(dhs, cache)
    np.testing.assert_allclose(dh0, dhs.sum(axis=1))
    for g in (dx, dW, dU_zr, dU_h, db):
        assert not g.any()


@given(seeds, dims(1, 4), dims(1, 3), dims(1, 4))
def test_gru_step_equals_gru_with_one_step(seed, B, D, H):
    rng = np.random.default_rng(seed)
    x, h0 = rng.standard_normal((B, 1, D)), rng.standard_normal((B, H))
    params = gru_params(rng, D, H)
    hs, seq_cache = gru_forward(x, np.ones((B, 1), dtype=bool), h0, *params)
    h, step_cache = gru_step_forward(x[:, 0], h0, *params)
    np.testing.assert_allclose(hs[:, 0], h, rtol=1e-13, atol=1e-14)
    dh = rng.standard_normal((B, H))
    seq_grads = gru_backward(dh[:, None], seq_cache)
    step_grads = gru_step_backward(dh, step_cache)
    np.testing.assert_allclose(seq_grads[0][:, 0], step_grads[0], rtol=1e-12, atol=1e-13)
    for got, want in zip(seq_grads[2:], step_grads[1:], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@given(seeds, dims(1, 3), dims(1, 4), dims(1, 3), dims(1, 3))
def test_gru_equals_a_loop_of_steps_forward_and_backward(seed, B, T, D, H):
    """Unmasked BPTT equals chaining gru_step by hand, weights' gradients summed over time."""
    rng = np.random.default_rng(seed)
    x, h0 = rng.standard_normal((B, T, D)), rng.standard_normal((B, H))
    params = gru_params(rng, D, H)
    hs, cache = gru_forward(x, np.ones((B, T), dtype=bool), h0, *params)
    dhs = rng.standard_normal(hs.shape)
    got = gru_backward(dhs, cache)
    h, caches = h0, []
    for t in range(T):
        h, c = gru_step_forward(x[:, t], h, *params)
        caches.append(c)
        np.testing.assert_allclose(hs[:, t], h, rtol=1e-13, atol=1e-14)
    dh = np.zeros((B, H))
    dx = np.zeros_like(x)
    dparams = [np.zeros_like(p) for p in params]
    for t in range(T - 1, -1, -1):
        dx[:, t], dh, *dp = gru_step_backward(dh + dhs[:, t], caches[t])
        dparams = [a + g for a, g in zip(dparams, dp, strict=True)]
    np.testing.assert_allclose(got[0], dx, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got[2], dh, rtol=1e-12, atol=1e-13)
    for g, want in zip(got[3:], dparams, strict=True):
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gru_keeps_the_dtype_and_float32_agrees_with_float64(dtype):
    rng = np.random.default_rng(5)
    B, T, D, H = 4, 6, 5, 7
    x = rng.standard_normal((B, T, D))
    mask = np.arange(T)[None] < np.array([6, 1, 0, 3])[:, None]         # (B, T)
    h0 = rng.standard_normal((B, H))
    params = gru_params(rng, D, H)
    dhs = rng.standard_normal((B, T, H))
    ref_out, ref_cache = gru_forward(x, mask, h0, *params)
    ref_grads = gru_backward(dhs, ref_cache)
    cast = [a.astype(dtype) for a in (x, h0, *params)]
    out, cache = gru_forward(cast[0], mask, cast[1], *cast[2:])
    grads = gru_backward(dhs.astype(dtype), cache)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    for g, ref in zip(grads, ref_grads, strict=True):
        if ref is None:
            assert g is None
            continue
        assert g.dtype == dtype
        np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-4)
    h, step_cache = gru_step_forward(cast[0][:, 0], cast[1], *cast[2:])
    assert h.dtype == dtype
    assert all(g.dtype == dtype for g in gru_step_backward(h, step_cache))


def test_gru_rejects_a_mask_of_the_wrong_shape():
    rng = np.random.default_rng(0)
    x, h0 = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 4))
    with pytest.raises(DataError, match="mask"):
        gru_forward(x, np.ones((3, 2), dtype=bool), h0, *gru_params(rng, 2, 4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_sigmoid_matches_expit_everywhere(dtype):
    from scipy.special import expit

    from nprec.layers.gru import fast_sigmoid

    x = np.concatenate([np.linspace(-60, 60, 2001), [-1e4, 1e4, 0.0]]).astype(dtype)
    with np.errstate(all="raise"):
        y = fast_sigmoid(x)
    assert y.dtype == dtype
    tol = 1e-7 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(y, expit(x.astype(np.float64)), rtol=0, atol=tol)
    assert y[-1] == 0.5 and y[-3] == 0.0 and y[-2] == 1.0
