"""The fused softmax cross-entropy: finite differences, and the same numbers as softmax_ce."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.errors import DataError
from nprec.losses import softmax_ce_backward, softmax_ce_forward
from nprec.losses.softmax_fused import softmax_ce_fused_backward, softmax_ce_fused_forward
from nprec.testing import check_grads
from nprec.testing.strategies import seeds


@settings(max_examples=25)
@given(seeds, st.integers(1, 5), st.integers(1, 8), st.sampled_from([1.0, 20.0]))
def test_softmax_ce_fused_gradients(seed, B, V, spread):
    rng = np.random.default_rng(seed)
    logits = spread * rng.standard_normal((B, V))                       # (B, V) float64
    targets = rng.integers(0, V, B)                                     # repeats when V small
    check_grads(softmax_ce_fused_forward, softmax_ce_fused_backward, logits, targets, rng=rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_ce_fused_equals_softmax_ce(dtype):
    rng = np.random.default_rng(1)
    logits = (3 * rng.standard_normal((6, 40))).astype(dtype)
    targets = rng.integers(0, 40, 6)
    loss, cache = softmax_ce_fused_forward(logits, targets)
    ref_loss, ref_cache = softmax_ce_forward(logits.copy(), targets)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol)
    for dloss in (1.0, 0.3):
        np.testing.assert_allclose(softmax_ce_fused_backward(dloss, cache)[0],
                                   softmax_ce_backward(dloss, ref_cache)[0],
                                   rtol=rtol * 10, atol=rtol / 40)


def test_overwrite_reuses_the_logits_buffer_and_the_default_does_not():
    logits = np.random.default_rng(2).standard_normal((4, 7)).astype(np.float32)
    kept = logits.copy()
    _, cache = softmax_ce_fused_forward(logits, np.arange(4))
    np.testing.assert_array_equal(logits, kept)
    _, cache2 = softmax_ce_fused_forward(logits, np.arange(4), overwrite=True)
    assert cache2.dlogits is logits
    np.testing.assert_array_equal(cache.dlogits, logits)


def test_bad_targets_raise_a_data_error():
    with pytest.raises(DataError, match="targets"):
        softmax_ce_fused_forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(DataError, match="targets"):
        softmax_ce_fused_forward(np.zeros((2, 3)), np.array([0.0, 1.0]))
