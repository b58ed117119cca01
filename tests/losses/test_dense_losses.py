"""BCE, BPR, softmax CE, multinomial NLL, Gaussian KL and L2: gradients, references, stability."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from scipy.special import log_softmax

from nprec.errors import DataError
from nprec.losses import (
    bce_with_logits_backward,
    bce_with_logits_forward,
    bpr_backward,
    bpr_forward,
    gaussian_kl_backward,
    gaussian_kl_forward,
    l2_penalty_backward,
    l2_penalty_forward,
    multinomial_nll_backward,
    multinomial_nll_forward,
    softmax_ce_backward,
    softmax_ce_forward,
)
from nprec.testing import check_grads
from nprec.testing.strategies import dims, seeds


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@given(seeds, dims(1, 6))
def test_bce_with_logits_grads_and_formula(seed, B):
    rng = np.random.default_rng(seed)
    logits, labels = 3.0 * rng.standard_normal(B), rng.random(B)
    labels[0] = float(rng.integers(0, 2))           # hard 0/1 labels as in implicit feedback
    check_grads(bce_with_logits_forward, bce_with_logits_backward, logits, labels, rng=rng)
    want = np.mean([-(y * math.log(sig(x)) + (1 - y) * math.log(1 - sig(x)))
                    for x, y in zip(logits, labels, strict=True)])
    assert bce_with_logits_forward(logits, labels)[0] == pytest.approx(want, rel=1e-12)


@given(seeds, dims(1, 6))
def test_bpr_grads_and_formula(seed, B):
    rng = np.random.default_rng(seed)
    pos, neg = 2.0 * rng.standard_normal(B), 2.0 * rng.standard_normal(B)
    check_grads(bpr_forward, bpr_backward, pos, neg, rng=rng)
    want = np.mean([-math.log(sig(p - n)) for p, n in zip(pos, neg, strict=True)])
    assert bpr_forward(pos, neg)[0] == pytest.approx(want, rel=1e-12)


@given(seeds, dims(1, 4), dims(1, 6))
def test_softmax_ce_grads_with_repeated_targets(seed, B, V):
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.standard_normal((B, V))
    targets = rng.integers(0, min(V, 2), size=B)    # few distinct targets: repeats are common
    check_grads(softmax_ce_forward, softmax_ce_backward, logits, targets, rng=rng)
    want = -np.mean(log_softmax(logits, axis=1)[np.arange(B), targets])
    assert softmax_ce_forward(logits, targets)[0] == pytest.approx(want, rel=1e-12)


@given(seeds, dims(1, 4), dims(1, 6))
def test_multinomial_nll_grads_and_formula(seed, B, V):
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.standard_normal((B, V))
    x = rng.integers(0, 3, size=(B, V)).astype(np.float64)
    x[0] = 0.0                                      # a user with no clicks contributes 0
    check_grads(multinomial_nll_forward, multinomial_nll_backward, logits, x, rng=rng)
    want = -np.sum(x * log_softmax(logits, axis=1)) / B
    assert multinomial_nll_forward(logits, x)[0] == pytest.approx(want, rel=1e-12, abs=1e-14)


@given(seeds, dims(1, 4), dims(1, 4))
def test_gaussian_kl_grads_and_closed_form(seed, B, L):
    rng = np.random.default_rng(seed)
    mu, logvar = rng.standard_normal((B, L)), rng.standard_normal((B, L))
    check_grads(gaussian_kl_forward, gaussian_kl_backward, mu, logvar, rng=rng)
    var = np.exp(logvar)
    # KL of N(mu, var) from N(0, 1), dimension by dimension: log(1/σ) + (σ² + mu²)/2 - 1/2.
    want = np.sum(-0.5 * logvar + (var + mu**2) / 2 - 0.5) / B
    assert gaussian_kl_forward(mu, logvar)[0] == pytest.approx(want, rel=1e-12, abs=1e-14)


def test_gaussian_kl_is_zero_at_the_prior():
    assert gaussian_kl_forward(np.zeros((3, 2)), np.zeros((3, 2)))[0] == 0.0


@given(seeds, dims(1, 4), dims(1, 4))
def test_l2_penalty_grads_and_value(seed, R, C):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((R, C))
    check_grads(l2_penalty_forward, l2_penalty_backward, W, 0.3, rng=rng)
    assert l2_penalty_forward(W, 0.3)[0] == pytest.approx(0.15 * np.sum(W * W), rel=1e-12)


def test_softmax_ce_rejects_float_or_misshapen_targets():
    logits = np.zeros((2, 3))
    with pytest.raises(DataError, match="targets"):
        softmax_ce_forward(logits, np.array([0.0, 1.0]))
    with pytest.raises(DataError, match="targets"):
        softmax_ce_forward(logits, np.array([0, 1, 2]))


HUGE = np.array([1e4, -1e4, 0.0, 3.0], dtype=np.float32)


def _stability_cases():
    L = np.stack([HUGE, HUGE[::-1], -HUGE])                             # (3, 4)
    return [
        (bce_with_logits_forward, bce_with_logits_backward,
         (HUGE, np.array([0, 1, 1, 0], np.float32))),
        (bpr_forward, bpr_backward, (HUGE, HUGE[::-1].copy())),
        (softmax_ce_forward, softmax_ce_backward, (L, np.array([1, 0, 2]))),
        (multinomial_nll_forward, multinomial_nll_backward, (L, np.ones_like(L))),
    ]


@pytest.mark.parametrize("case", _stability_cases(), ids=lambda c: c[0].__name__)
def test_huge_logits_in_float32_stay_finite_without_warnings(case):
    forward, backward, args = case
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        value, cache = forward(*args)
        grads = backward(np.float32(1.0), cache)
    assert np.isfinite(value)
    for g in grads:
        assert g is None or np.isfinite(g).all()


def test_huge_logits_give_the_right_limits():
    # A confidently right logit costs ~0, a confidently wrong one costs |logit|.
    assert bce_with_logits_forward(np.float32([1e4]), np.float32([1.0]))[0] == 0.0
    assert bce_with_logits_forward(np.float32([1e4]), np.float32([0.0]))[0] == 1e4
    assert bpr_forward(np.float32([-1e4]), np.float32([1e4]))[0] == 2e4
    logits = np.float32([[1e4, -1e4, 0.0]])
    assert softmax_ce_forward(logits, np.array([2]))[0] == 1e4


@pytest.mark.parametrize("loss", ["softmax_ce", "multinomial_nll"])
def test_a_confident_row_keeps_its_small_loss_in_float32(loss):
    # The sum of the shifted exponentials is 1 + ε with ε = 6e-6, below float32's step at 1
    # (1.2e-7) by only a few bits: summed in float32, log(1 + ε) came out 1 % off. (Found by
    # the randomised `deep` profile against the sparse kernel, which sums in float64.)
    logits = np.float32([[4.924233, -7.0954685]])
    if loss == "softmax_ce":                      # one click on item 0
        clicks, value_of = 1, lambda z: softmax_ce_forward(z, np.array([0]))[0]
    else:                                         # two clicks on item 0
        clicks, value_of = 2, lambda z: multinomial_nll_forward(z, np.float32([[2.0, 0.0]]))[0]
    exact = clicks * np.log1p(np.exp(-7.0954685 - 4.924233))          # = 6.0243e-6 a click
    assert value_of(logits.astype(np.float64)) == pytest.approx(exact, rel=1e-6)
    assert value_of(logits) == pytest.approx(exact, rel=1e-6)


def _dtype_cases(rng):
    L = rng.standard_normal((3, 5))
    return [
        (bce_with_logits_forward, bce_with_logits_backward, (L[0], rng.random(5))),
        (bpr_forward, bpr_backward, (L[0], L[1])),
        (softmax_ce_forward, softmax_ce_backward, (L, np.array([4, 0, 4]))),
        (multinomial_nll_forward, multinomial_nll_backward, (L, rng.random((3, 5)))),
        (gaussian_kl_forward, gaussian_kl_backward, (L, 0.5 * L[::-1].copy())),
        (l2_penalty_forward, l2_penalty_backward, (L, 0.01)),
    ]


@pytest.mark.parametrize("index", range(6))
def test_float32_in_float32_out_and_agrees_with_float64(index):
    forward, backward, args = _dtype_cases(np.random.default_rng(8))[index]
    ref, ref_cache = forward(*args)
    ref_grads = backward(1.7, ref_cache)
    cast = [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in args]
    value, cache = forward(*cast)
    grads = backward(np.float64(1.7), cache)        # a float64 scalar must not promote
    assert type(value) is np.float32 and type(ref) is np.float64
    assert value == pytest.approx(ref, rel=1e-5)
    for g, r in zip(grads, ref_grads, strict=True):
        assert (g is None) == (r is None)
        if g is not None:
            assert g.dtype == np.float32
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softplus_matches_logaddexp_including_the_tails(dtype):
    from nprec.losses.stable import softplus

    x = np.concatenate([np.linspace(-80, 80, 3001), [-1e4, 1e4]]).astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = softplus(x)
    assert y.dtype == dtype
    want = np.logaddexp(0, x.astype(np.float64))
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, want, rtol=rtol, atol=0)
