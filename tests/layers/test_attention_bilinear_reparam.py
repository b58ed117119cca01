"""Tests for NARM's attention and bilinear decoder, and the VAE reparameterisation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given

from nprec.layers import (
    attention_backward,
    attention_forward,
    bilinear_backward,
    bilinear_forward,
    reparam_backward,
    reparam_forward,
)
from nprec.testing import check_grads
from nprec.testing.strategies import dims, padded_sequences, seeds


def attention_args(rng: np.random.Generator, mask: np.ndarray, H: int,
                   dtype: np.dtype = np.float64) -> tuple[np.ndarray, ...]:
    """hs (B, T, H), h_t (B, H), mask, A1, A2, v."""
    B, T = mask.shape
    hs = rng.standard_normal((B, T, H)).astype(dtype)
    h_t = rng.standard_normal((B, H)).astype(dtype)
    A1, A2 = (rng.standard_normal((H, H)).astype(dtype) for _ in range(2))
    v = (2.0 * rng.standard_normal(H)).astype(dtype)
    return hs, h_t, mask, A1, A2, v


@given(padded_sequences(), dims(1, 4))
def test_attention_grads_with_padded_and_empty_rows(case, H):
    mask, rng = case
    check_grads(attention_forward, attention_backward, *attention_args(rng, mask, H), rng=rng)


@given(padded_sequences(), dims(1, 4))
def test_attention_grads_with_gaps_in_the_mask(case, H):
    mask, rng = case
    mask = rng.random(mask.shape) < 0.5
    check_grads(attention_forward, attention_backward, *attention_args(rng, mask, H), rng=rng)


@given(padded_sequences(), dims(1, 4))
def test_attention_matches_the_formula_row_by_row(case, H):
    mask, rng = case
    hs, h_t, mask, A1, A2, v = attention_args(rng, mask, H)
    c, cache = attention_forward(hs, h_t, mask, A1, A2, v)
    for b in range(mask.shape[0]):
        real = np.flatnonzero(mask[b])
        if real.size == 0:
            np.testing.assert_array_equal(c[b], 0.0)
            continue
        e = np.array([v @ (1 / (1 + np.exp(-(h_t[b] @ A1 + hs[b, j] @ A2)))) for j in real])
        alpha = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
        np.testing.assert_allclose(cache.alpha[b, real], alpha, rtol=1e-12)
        np.testing.assert_allclose(c[b], alpha @ hs[b, real], rtol=1e-12, atol=1e-14)
    assert not cache.alpha[~mask].any()


def test_attention_on_an_all_padded_row_is_zero_without_nan_or_warning():
    rng = np.random.default_rng(2)
    mask = np.array([[True, True, False], [False, False, False]])
    args = attention_args(rng, mask, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c, cache = attention_forward(*args)
        dhs, dh_t, _, dA1, dA2, dv = attention_backward(rng.standard_normal(c.shape), cache)
    np.testing.assert_array_equal(c[1], 0.0)
    np.testing.assert_array_equal(dhs[1], 0.0)
    np.testing.assert_array_equal(dh_t[1], 0.0)
    for g in (dhs, dh_t, dA1, dA2, dv):
        assert np.isfinite(g).all()
    # The empty row contributes nothing to the shared weights either.
    one_row = attention_forward(*(a[:1] for a in args[:3]), *args[3:])[1]
    dc0 = rng.standard_normal((1, 3))
    dc = np.concatenate([dc0, rng.standard_normal((1, 3))])
    full = attention_backward(dc, cache)
    alone = attention_backward(dc0, one_row)
    for g_full, g_alone in zip(full[3:], alone[3:], strict=True):
        np.testing.assert_allclose(g_full, g_alone, rtol=1e-12, atol=1e-15)


@given(seeds, dims(1, 4), dims(1, 5), dims(1, 3), dims(1, 4))
def test_bilinear_grads(seed, B, V, D, C):
    rng = np.random.default_rng(seed)
    c, E, Bm = (rng.standard_normal(s) for s in [(B, C), (V, D), (D, C)])
    check_grads(bilinear_forward, bilinear_backward, c, E, Bm, rng=rng)


@given(seeds, dims(1, 4), dims(1, 5), dims(1, 3), dims(1, 4))
def test_bilinear_equals_scoring_against_mapped_embeddings(seed, B, V, D, C):
    rng = np.random.default_rng(seed)
    c, E, Bm = (rng.standard_normal(s) for s in [(B, C), (V, D), (D, C)])
    scores, _ = bilinear_forward(c, E, Bm)
    np.testing.assert_allclose(scores, c @ (E @ Bm).T, rtol=1e-12, atol=1e-12)


@given(seeds, dims(1, 4), dims(1, 4))
def test_reparam_grads_including_the_noise(seed, B, L):
    rng = np.random.default_rng(seed)
    mu, logvar, eps = (rng.standard_normal((B, L)) for _ in range(3))
    check_grads(reparam_forward, reparam_backward, mu, logvar, eps, rng=rng)


def test_reparam_is_the_mean_without_noise_and_scales_noise_by_the_std():
    mu = np.array([[1.0, -2.0]])
    logvar = np.log(np.array([[4.0, 0.25]]))
    z0, _ = reparam_forward(mu, logvar, np.zeros_like(mu))
    z1, _ = reparam_forward(mu, logvar, np.ones_like(mu))
    np.testing.assert_array_equal(z0, mu)
    np.testing.assert_allclose(z1 - mu, [[2.0, 0.5]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_the_dtype_and_float32_agrees_with_float64(dtype):
    rng = np.random.default_rng(4)
    mask = np.array([[True, True, True, False], [True, False, False, False],
                     [False, False, False, False]])
    args64 = attention_args(rng, mask, 5)
    cases = [
        (attention_forward, attention_backward, args64),
        (bilinear_forward, bilinear_backward,
         tuple(rng.standard_normal(s) for s in [(3, 6), (9, 4), (4, 6)])),
        (reparam_forward, reparam_backward,
         tuple(rng.standard_normal((3, 4)) for _ in range(3))),
    ]
    for forward, backward, args in cases:
        ref, ref_cache = forward(*args)
        dout = rng.standard_normal(ref.shape)
        ref_grads = backward(dout, ref_cache)
        cast = [a.astype(dtype) if a.dtype.kind == "f" else a for a in args]
        out, cache = forward(*cast)
        grads = backward(dout.astype(dtype), cache)
        assert out.dtype == dtype, forward.__name__
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
        for g, r in zip(grads, ref_grads, strict=True):
            assert (g is None) == (r is None)
            if g is not None:
                assert g.dtype == dtype, forward.__name__
                np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)
