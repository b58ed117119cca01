"""The fused dense + ReLU layer: finite differences, and the two layers it replaces."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nprec.layers import dense_backward, dense_forward, relu_backward, relu_forward
from nprec.layers.dense_relu import dense_relu_backward, dense_relu_forward
from nprec.testing import check_grads
from nprec.testing.strategies import seeds


@settings(max_examples=25)
@given(seeds, st.integers(1, 5), st.integers(1, 6), st.integers(1, 6))
def test_dense_relu_gradients(seed, B, I, O):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, I))
    W = rng.standard_normal((I, O))
    b = rng.standard_normal(O)
    assume(np.abs(x @ W + b).min() > 1e-3)                # off the kink
    check_grads(dense_relu_forward, dense_relu_backward, x, W, b, rng=rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_relu_equals_dense_then_relu(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 5)).astype(dtype)
    W = rng.standard_normal((5, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    dy = rng.standard_normal((9, 4)).astype(dtype)
    y, cache = dense_relu_forward(x, W, b)
    a, c_dense = dense_forward(x, W, b)
    ref, c_relu = relu_forward(a)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, ref)
    (da,) = relu_backward(dy, c_relu)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    for mine, theirs in zip(dense_relu_backward(dy, cache), dense_backward(da, c_dense),
                            strict=True):
        assert mine.dtype == dtype
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=rtol)


def test_dense_relu_leaves_its_input_alone_and_passes_nothing_below_zero():
    x = np.array([[1.0, -2.0]])
    W = np.array([[1.0, -1.0], [1.0, 1.0]])
    y, cache = dense_relu_forward(x, W, np.array([0.5, 0.0]))
    np.testing.assert_array_equal(y, [[0.0, 0.0]])         # -0.5 and -3.0 are cut
    np.testing.assert_array_equal(x, [[1.0, -2.0]])
    dx, dW, db = dense_relu_backward(np.ones((1, 2)), cache)
    assert not dx.any() and not dW.any() and not db.any()
