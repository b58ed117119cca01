"""Gradient tests for embedding, dense, activations and dropout, and for the checker itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nprec.layers import (
    RowGrad,
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    dropout_mask,
    elu_backward,
    elu_forward,
    embedding_backward,
    embedding_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from nprec.testing import GradientCheckError, check_grads
from nprec.testing.strategies import dims, ids_and_table, seeds


@given(ids_and_table())
def test_embedding_grads_with_duplicate_ids(case):
    ids, E, rng = case
    check_grads(embedding_forward, embedding_backward, ids, E, rng=rng)


@given(ids_and_table())
def test_embedding_gradient_is_row_sparse_sorted_unique(case):
    ids, E, rng = case
    out, cache = embedding_forward(ids, E)
    _, dE = embedding_backward(rng.standard_normal(out.shape), cache)
    assert isinstance(dE, RowGrad)
    assert dE.n_rows == E.shape[0]
    np.testing.assert_array_equal(dE.rows, np.unique(ids))


@given(seeds, dims(), dims(), dims())
def test_dense_grads(seed, B, I, O):
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((B, I)), rng.standard_normal((I, O)), rng.standard_normal(O)
    check_grads(dense_forward, dense_backward, x, W, b, rng=rng)


@pytest.mark.parametrize("pair", [(sigmoid_forward, sigmoid_backward),
                                  (tanh_forward, tanh_backward)])
@given(seed=seeds, B=dims(), H=dims())
def test_smooth_activation_grads(pair, seed, B, H):
    rng = np.random.default_rng(seed)
    x = 3.0 * rng.standard_normal((B, H))
    check_grads(*pair, x, rng=rng)


@given(seeds, dims(), dims())
def test_relu_grads_off_the_kink(seed, B, H):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, H))
    assume(np.abs(x).min() > 1e-3)
    check_grads(relu_forward, relu_backward, x, rng=rng)


@given(seeds, dims(), dims(), st.sampled_from([0.5, 1.0, 2.0]))
def test_elu_grads_off_the_kink(seed, B, H, alpha):
    rng = np.random.default_rng(seed)
    x = 2.0 * rng.standard_normal((B, H))
    assume(np.abs(x).min() > 1e-3)
    check_grads(elu_forward, elu_backward, x, alpha, rng=rng)


@given(seeds, dims(), dims(), st.sampled_from([0.0, 0.25, 0.5]))
def test_dropout_grads(seed, B, H, p):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, H))
    mask = dropout_mask(rng, (B, H), p, dtype=np.float64)
    check_grads(dropout_forward, dropout_backward, x, mask, rng=rng, nondiff=(1,))


def test_dropout_mask_scales_kept_units_and_keeps_the_mean():
    rng = np.random.default_rng(0)
    mask = dropout_mask(rng, (200, 500), 0.3)
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, np.float32(1 / 0.7)}
    assert abs(mask.mean() - 1.0) < 0.01


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_the_input_dtype(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4)).astype(dtype)
    W, b = rng.standard_normal((4, 2)).astype(dtype), np.zeros(2, dtype)
    y, cache = dense_forward(x, W, b)
    assert y.dtype == dtype and all(g.dtype == dtype for g in dense_backward(y, cache))
    for fwd, bwd, extra in [(sigmoid_forward, sigmoid_backward, ()),
                            (tanh_forward, tanh_backward, ()),
                            (relu_forward, relu_backward, ()),
                            (elu_forward, elu_backward, (0.5,))]:
        y, cache = fwd(x, *extra)
        assert y.dtype == dtype and bwd(y, cache)[0].dtype == dtype
    out, cache = embedding_forward(np.array([0, 2, 0]), x)
    assert out.dtype == dtype and embedding_backward(out, cache)[1].values.dtype == dtype


def test_sigmoid_is_stable_for_huge_inputs():
    y, _ = sigmoid_forward(np.array([-1e4, 0.0, 1e4], dtype=np.float32))
    np.testing.assert_array_equal(y, np.array([0.0, 0.5, 1.0], dtype=np.float32))


def _dense_backward_missing_bias_term(dy, cache):
    dx, dW, db = dense_backward(dy, cache)
    return dx, dW, np.zeros_like(db)


def _dense_backward_ignores_upstream(dy, cache):
    return dense_backward(np.ones_like(dy), cache)


@pytest.mark.parametrize("wrong", [_dense_backward_missing_bias_term,
                                   _dense_backward_ignores_upstream])
def test_check_grads_fails_on_a_wrong_backward(wrong):
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    with pytest.raises(GradientCheckError, match="argument"):
        check_grads(dense_forward, wrong, x, W, b, rng=rng)


def test_check_grads_refuses_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2)).astype(np.float32)
    with pytest.raises(TypeError, match="float64"):
        check_grads(tanh_forward, tanh_backward, x, rng=rng)


def test_numerical_grad_perturbs_non_contiguous_inputs():
    from nprec.testing import numerical_grad

    base = np.arange(12.0).reshape(3, 4)
    x = base[:, ::2]                     # a strided view, not contiguous
    dy = np.ones(x.shape)
    g = numerical_grad(lambda v: v ** 2, x, dy)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-6)
    np.testing.assert_array_equal(base, np.arange(12.0).reshape(3, 4))   # restored
