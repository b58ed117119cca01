"""The fused NCF output unit + log loss: finite differences, and dense + bce_with_logits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.layers import dense_backward, dense_forward
from nprec.losses import bce_with_logits_backward, bce_with_logits_forward
from nprec.losses.bce_output import bce_output_backward, bce_output_forward
from nprec.testing import check_grads
from nprec.testing.strategies import seeds


@settings(max_examples=25)
@given(seeds, st.integers(1, 6), st.integers(1, 7), st.sampled_from([0.1, 1.0, 5.0]))
def test_bce_output_gradients(seed, B, F, scale):
    rng = np.random.default_rng(seed)
    phi = scale * rng.standard_normal((B, F))                           # (B, F) float64
    h = rng.standard_normal(F)
    b = rng.standard_normal(1)
    labels = rng.integers(0, 2, B).astype(np.float64)
    check_grads(bce_output_forward, bce_output_backward, phi, h, b, labels, rng=rng,
                nondiff=(3,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dloss", [1.0, 0.3])
def test_bce_output_equals_dense_then_bce_with_logits(dtype, dloss):
    rng = np.random.default_rng(1)
    phi = rng.standard_normal((7, 5)).astype(dtype)
    h = rng.standard_normal(5).astype(dtype)
    b = rng.standard_normal(1).astype(dtype)
    labels = rng.integers(0, 2, 7).astype(dtype)
    loss, cache = bce_output_forward(phi, h, b, labels)
    logits, c_dense = dense_forward(phi, h[:, None], b)
    ref_loss, c_loss = bce_with_logits_forward(logits[:, 0], labels)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol)
    dlogits, _ = bce_with_logits_backward(dloss, c_loss)
    dphi, dW, db = dense_backward(dlogits[:, None], c_dense)
    got = bce_output_backward(dloss, cache)
    assert got[3] is None
    for mine, theirs in zip(got[:3], (dphi, dW[:, 0], db), strict=True):
        assert mine.dtype == dtype and mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, rtol=rtol * 10, atol=rtol)
