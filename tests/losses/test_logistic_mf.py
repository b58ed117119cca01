"""The fused logistic-MF loss: finite differences, and the layer composition it replaces."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.layers.products import rowdot_backward, rowdot_forward
from nprec.losses import (
    bce_with_logits_backward,
    bce_with_logits_forward,
    l2_penalty_backward,
    l2_penalty_forward,
)
from nprec.losses.logistic_mf import logistic_mf_backward, logistic_mf_forward
from nprec.testing import check_grads
from nprec.testing.strategies import seeds


def _args(rng: np.random.Generator, B: int, D: int, dtype=np.float64):
    p, q = rng.standard_normal((2, B, D)).astype(dtype)                 # (B, D) each
    b_u, b_i = rng.standard_normal((2, B, 1)).astype(dtype)             # (B, 1) each
    b = rng.standard_normal(1).astype(dtype)
    labels = rng.integers(0, 2, B).astype(dtype)
    return p, q, b_u, b_i, b, labels


@settings(max_examples=25)
@given(seeds, st.integers(1, 6), st.integers(1, 5), st.sampled_from([0.0, 0.3]))
def test_logistic_mf_gradients(seed, B, D, lam):
    rng = np.random.default_rng(seed)
    check_grads(logistic_mf_forward, logistic_mf_backward, *_args(rng, B, D), lam, rng=rng,
                nondiff=(5,))


def _composed(p, q, b_u, b_i, b, labels, lam, dloss):
    """rowdot + biases + bce_with_logits + l2_penalty, as the unfused model would build it."""
    B = p.shape[0]
    dot, c_dot = rowdot_forward(p, q)
    logits = b[0] + b_u[:, 0] + b_i[:, 0] + dot
    loss, c_loss = bce_with_logits_forward(logits, labels)
    reg = [l2_penalty_forward(x, lam / B) for x in (p, q, b_u, b_i)] + \
        [l2_penalty_forward(b, lam)]
    loss = loss + sum(r[0] for r in reg)
    dlogits, _ = bce_with_logits_backward(dloss, c_loss)
    dp, dq = rowdot_backward(dlogits, c_dot)
    dreg = [l2_penalty_backward(dloss, r[1])[0] for r in reg]
    return loss, (dp + dreg[0], dq + dreg[1], dlogits[:, None] + dreg[2],
                  dlogits[:, None] + dreg[3], np.array([dlogits.sum()]) + dreg[4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dloss", [1.0, 0.3])
def test_logistic_mf_equals_the_composition_of_layers(dtype, dloss):
    args = _args(np.random.default_rng(1), 9, 4, dtype)
    loss, cache = logistic_mf_forward(*args, 0.05)
    ref_loss, ref_grads = _composed(*args, 0.05, dloss)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol)
    got = logistic_mf_backward(dloss, cache)
    assert got[5:] == (None, None)
    for mine, theirs in zip(got[:5], ref_grads, strict=True):
        assert mine.dtype == dtype and mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, rtol=rtol * 10, atol=rtol)
